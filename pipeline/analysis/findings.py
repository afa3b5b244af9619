"""Findings: failing task conversations, grouped per destination endpoint, with causes.

The analysis is SQL (``queries/conversations.sql``, ``destinations.sql``,
``findings.sql``) run by DuckDB over the lake; Python only resolves the few distinct
addresses, evaluates the configuration rules (``causes``), and assembles the
document whose shape is the output contract (see the README).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from pipeline import queries
from pipeline.analysis import names
from pipeline.analysis.causes import Diagnoser
from pipeline.analysis.network import Network

DEFAULT_SETTLE = 15 * 60
EVIDENCE = 5
DNS_EVIDENCE_COLUMNS = ("query_time", "vpc_id", "query_name", "query_type", "rcode", "answers", "srcaddr", "srcport",
                        "transport")
EVIDENCE_COLUMNS = ("version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
                    "packets", "bytes", "start", "end", "action", "log_status", "tcp_flags", "flow_direction",
                    "pkt_srcaddr", "pkt_dstaddr", "_source", "_line")


@dataclass(frozen=True)
class Window:
    since: int | None = None  # epoch seconds
    until: int | None = None


def iso(seconds) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lake_bounds(con: duckdb.DuckDBPyConnection) -> tuple[int | None, int | None]:
    return con.execute('SELECT min("start"), max("end") FROM flows').fetchone()


def build_conversations(con, window: Window, settle: int = DEFAULT_SETTLE) -> dict:
    """Create the ``conversations`` table for the window; returns the window actually used."""
    first, last = lake_bounds(con)
    since = window.since if window.since is not None else (first or 0)
    until = window.until if window.until is not None else ((last or 0) + 1)
    as_of = min(int(time.time()), last or 0, until)
    con.execute(f"CREATE OR REPLACE TEMP TABLE conversations AS {queries.get('conversations').sql}",
                {"since": since, "until": until, "as_of": as_of, "settle": settle})
    return {"since": since, "until": until, "as_of": as_of}


def build_destinations(con) -> None:
    """Resolve the distinct server addresses of the conversations (``destinations`` table) and name them
    where a DNS answer or a CloudTrail call does (``conversation_names``)."""
    con.execute("CREATE OR REPLACE TEMP TABLE addresses AS SELECT DISTINCT server_addr AS address FROM conversations")
    con.execute(f"CREATE OR REPLACE TEMP TABLE destinations AS {queries.get('destinations').sql}")
    first, last = con.execute("SELECT min(first_seen), max(last_seen) FROM conversations").fetchone()
    names.build_names(con, first or 0, (last or 0) + 1)


def rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or {})
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def evidence(con, finding_keys: list[dict]) -> dict[int, list[dict]]:
    """Up to EVIDENCE raw records per finding, REJECTs first, then in time order."""
    import pyarrow as pa

    if not finding_keys:
        return {}
    both = [dict(k, src=a, dst=b, src_port=ap, dst_port=bp)
            for k in finding_keys
            for a, b, ap, bp in ((k["client"], k["server"], k["client_port"], k["server_port"]),
                                 (k["server"], k["client"], k["server_port"], k["client_port"]))]
    con.register("finding_keys", pa.Table.from_pylist(both))
    cols = ", ".join(f'f."{c}"' for c in EVIDENCE_COLUMNS)
    found = rows(con, f"""
        SELECT k.finding, {cols}
        FROM flows AS f
        JOIN finding_keys AS k  -- both directions: one equality join (an OR here would compare every record to every key)
          ON coalesce(f.pkt_srcaddr, f.srcaddr) = k.src AND coalesce(f.pkt_dstaddr, f.dstaddr) = k.dst
         AND f.srcport = k.src_port AND f.dstport = k.dst_port
         AND f.protocol = k.protocol AND f."start" >= k.first_seen AND f."end" <= k.last_seen
        QUALIFY row_number() OVER (PARTITION BY k.finding ORDER BY (f.action = 'REJECT') DESC, f."start", f._line) <= {EVIDENCE}
        ORDER BY k.finding, (f.action = 'REJECT') DESC, f."start", f._line
    """)
    out: dict[int, list[dict]] = {}
    for row in found:
        out.setdefault(row.pop("finding"), []).append(row)
    return out


def find(con, network: Network, window: Window = Window(), settle: int = DEFAULT_SETTLE, lake: str = "") -> dict:
    """The findings document (the output contract) for the flows and metadata registered on ``con``."""
    used = build_conversations(con, window, settle)
    build_destinations(con)
    groups = rows(con, queries.get("findings").sql)
    diagnoser = Diagnoser(network)
    keys, findings = [], []
    for index, g in enumerate(groups):
        sample = con.execute(
            """SELECT client_addr, client_port, server_addr, server_port, first_seen, last_seen FROM conversations
               WHERE server_addr IN (SELECT unnest($addrs)) AND server_port = $port AND protocol = $proto
                 AND client_addr = $client ORDER BY (state = $state) DESC, first_seen LIMIT 3""",
            {"addrs": g["dest_addrs"], "port": g["dest_port"], "proto": g["protocol"], "client": g["source_addr"],
             "state": g["state"]}).fetchall()
        for c in sample:
            keys.append({"finding": index, "client": c[0], "client_port": c[1], "server": c[2], "server_port": c[3],
                         "protocol": g["protocol"], "first_seen": c[4], "last_seen": c[5]})
        g["client_port"] = sample[0][1] if sample else None
        findings.append(g)
    records = evidence(con, keys)
    for g in findings:
        g["dest_via"] = _via(network, g)
        g["dns"] = _dns(con, g) if g.get("named_by") == "dns_query" else None
    document = []
    for i, g in enumerate(findings):
        causes = diagnoser.diagnose(g)
        if g["kind"] == "endpoint_bypassed" and g["dest_type"] == "proxy" and not causes:
            continue  # through the proxy, but NO_PROXY keeps the endpoints' names and the credentials off it
        document.append(_finding(g, causes, records.get(i, [])))
    document += dns_failures(con, diagnoser, window)
    return {
        "generated_at": iso(time.time()),
        "lake": lake,
        "window": {"since": iso(used["since"]), "until": iso(used["until"])},
        "findings": document,
        "timeline": timeline(con, document),
    }


STATE_OF_KIND = {"reject": "blocked", "no_return": "no_reply", "refused": "refused", "endpoint_bypassed": "established"}


def _via(network: Network, g: dict) -> str | None:
    """The NAT or internet gateway a conversation to a public address left through (the task subnet's route)."""
    if g.get("dest_type") not in ("aws_service", "internet") or not g.get("source_subnet"):
        return None
    _, route = network.route(g["source_subnet"], g["dest_addr"])
    if route and route.get("target_type") in ("nat_gateway", "internet_gateway"):
        return route.get("target_id")
    return None


def _dns(con, g: dict) -> dict:
    """The ``dns`` object of a finding named by a query log: the last answer used, and how many queries the task made."""
    queries_made = con.execute(
        """SELECT count(*) FROM dns_queries WHERE srcaddr = $client AND name = $name
             AND query_time >= to_timestamp($since) AND query_time < to_timestamp($until)""",
        {"client": g["source_addr"], "name": g["dest_name"], "since": g["first_seen"] - names.MAX_AGE,
         "until": g["last_seen"] + 1}).fetchone()[0]
    try:
        answers = json.loads(g["dns_answers"]) if g.get("dns_answers") else []
    except ValueError:
        answers = g["dns_answers"]
    return {"query_name": g.get("dns_query_name"), "rcode": g.get("dns_rcode"), "answers": answers,
            "queries": int(queries_made)}


def dns_failures(con, diagnoser: Diagnoser, window: Window) -> list[dict]:
    """``dns_failure`` findings: names the tasks asked for and did not get, with their causes (the whole query
    log when the window is open: queries need not fall within the flow records' time span)."""
    out = []
    bounds = {"since": window.since if window.since is not None else 0,
              "until": window.until if window.until is not None else 1 << 40}
    for g in rows(con, queries.get("dns_failures").sql, bounds):
        g["aws_service"], g["region"] = con.execute("SELECT aws_service_of_host($n), aws_region_of_host($n)",
                                                    {"n": g["name"]}).fetchone()
        try:
            answers = json.loads(g["answers"]) if g.get("answers") else []
        except ValueError:
            answers = g["answers"]
        cols = ", ".join(f'"{c}"' for c in DNS_EVIDENCE_COLUMNS)
        records = rows(con, f"""SELECT {cols} FROM dns_queries WHERE srcaddr = $client AND name = $name
                                  AND query_time >= to_timestamp($first) AND query_time <= to_timestamp($last)
                                ORDER BY query_time LIMIT {EVIDENCE}""",
                       {"client": g["source_addr"], "name": g["name"], "first": g["first_seen"], "last": g["last_seen"]})
        for r in records:
            r["query_time"] = iso(r["query_time"].timestamp()) if r.get("query_time") else None
        f = {"kind": "dns_failure", "observed_at": "dns_query", "dest_port": 53, "protocol": 17,
             "dest_addr": None, "dest_addrs": [], "dest_type": "aws_service" if g["aws_service"] else "unknown",
             "dest_id": None, "dest_name": g["name"], "dest_service": g["aws_service"], "dest_region": g["region"],
             "dest_via": None, "state": None, "flows": 0, "packets": 0, "bytes": 0, **g,
             "dns": {"query_name": g["query_name"], "rcode": g["rcode"], "answers": answers, "queries": g["queries"]}}
        out.append(_finding(f, diagnoser.diagnose(f), records))
    return out


def timeline(con, document: list[dict]) -> list[dict]:
    """Flow records per minute (of each conversation's start) per destination and kind."""
    from pipeline.analysis.document import destination_label

    out = []
    for f in document:
        if f["kind"] not in STATE_OF_KIND:  # not a conversation (dns_failure)
            continue
        for bucket, flows in con.execute(
            """SELECT first_seen - first_seen % 60 AS minute, sum(records) FROM conversations
               WHERE client_addr = $client AND server_addr IN (SELECT unnest($addrs)) AND server_port = $port
                 AND protocol = $proto AND state = $state
               GROUP BY minute ORDER BY minute""",
            {"client": f["source_addr"], "addrs": f["dest_addrs"], "port": f["dest_port"], "proto": f["protocol"],
             "state": STATE_OF_KIND[f["kind"]]},
        ).fetchall():
            out.append({"bucket": iso(bucket), "destination": destination_label(f), "kind": f["kind"], "flows": int(flows)})
    return out


def _finding(g: dict, causes: list[dict], records: list[dict]) -> dict:
    return {
        "kind": g["kind"],
        "state": g["state"],
        "observed_at": g["observed_at"],
        "cluster": g["cluster"],
        "service": g["service"],
        "task_id": g["task_id"],
        "task_arn": g["task_arn"],
        "source_eni": g["source_eni"],
        "source_addr": g["source_addr"],
        "dest_addr": g["dest_addr"],
        "dest_addrs": list(g["dest_addrs"]),
        "dest_port": g["dest_port"],
        "protocol": g["protocol"],
        "destination": {
            "type": g["dest_type"],
            "id": g["dest_id"],
            "name": g["dest_name"],
            "aws_service": g["dest_service"],
            "region": g["dest_region"],
            "via": g.get("dest_via"),
            "named_by": g.get("named_by") or ("dns_query" if g["kind"] == "dns_failure" else None),
        },
        "flows": g["flows"],
        "packets": g["packets"],
        "bytes": g["bytes"],
        "first_seen": iso(g["first_seen"]),
        "last_seen": iso(g["last_seen"]),
        "likely_causes": causes,
        "evidence": records,
        **({"dns": g["dns"]} if g.get("dns") else {}),
    }
