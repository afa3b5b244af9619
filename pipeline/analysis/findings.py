"""Findings: failing task conversations, grouped per destination endpoint, with causes.

The analysis is SQL (``queries/conversations.sql``, ``destinations.sql``,
``findings.sql``) run by DuckDB over the lake; Python only resolves the few distinct
addresses, evaluates the configuration rules (``causes``), and assembles the
document whose shape is the output contract (see the README).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from pipeline import queries, vocabulary
from pipeline.analysis import conversations, iam_findings, names, probes, trail_coverage
from pipeline.analysis.causes import Diagnoser
from pipeline.analysis.connection import has_relation
from pipeline.analysis.document import destination_label, roll_up
from pipeline.analysis.network import Network
from pipeline.lake import derived as lake_derived
from pipeline.times import iso

DEFAULT_SETTLE = 15 * 60
EVENTS_UNTIL = 2**33  # "no end" for the API-call and task-event queries (epoch seconds, year 2242)
EVIDENCE = 5
SAMPLES = 3  # conversations per finding whose records are the evidence


@dataclass(frozen=True)
class Window:
    since: int | None = None  # epoch seconds
    until: int | None = None


@dataclass(frozen=True)
class Scope:
    """Which flow records the analysis reads: all of them, or those to or from ``addrs`` / on ``port``."""
    addrs: tuple[str, ...] | None = None
    port: int | None = None


def lake_bounds(con: duckdb.DuckDBPyConnection, store=None) -> tuple[int | None, int | None]:
    """(first start, last end) of the flow records, once per connection (the lake does not change under a
    reading connection): from the derived tables' commit records where they cover every data file of
    ``store`` (the lake's Store; ``pipeline.lake.derived.bounds``), else a scan of two columns."""
    if not has_relation(con, "flow_bounds"):
        sql = queries.get("flow_bounds").sql
        known = lake_derived.bounds(store) if store is not None else None
        if known is not None:
            sql = "SELECT " + ", ".join(f"CAST({'NULL' if v is None else int(v)} AS BIGINT) AS {name}"
                                        for v, name in zip(known, ("first", "last")))
        con.execute(f"CREATE TEMP TABLE flow_bounds AS {sql}")
    return con.execute("SELECT * FROM flow_bounds").fetchone()


def materialise(con, name: str, params: dict | None = None) -> None:
    """The query ``name`` as the temp table ``name``."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {queries.get(name).sql}", params or {})


def build_conversations(con, window: Window, settle: int = DEFAULT_SETTLE, scope: Scope = Scope(),
                        derived=None) -> dict:
    """Create the ``conversations`` table for the window (and the scope); returns the window actually used.
    ``derived`` (the lake's Store): read the flow records' reduction the lake keeps derived where it is
    fresh (``pipeline.lake.derived``), the same conversations for less work."""
    first, last = lake_bounds(con, derived)
    since = window.since if window.since is not None else (first or 0)
    until = window.until if window.until is not None else ((last or 0) + 1)
    as_of = min(int(time.time()), last or 0, until)
    addrs = list(scope.addrs) if scope.addrs is not None else None
    rows = lake_derived.window_reduction(con, derived, since, until) if derived is not None else None
    conversations.build(con, {"since": since, "until": until, "as_of": as_of, "settle": settle, "addrs": addrs,
                              "port": scope.port}, rows)
    return {"since": since, "until": until, "as_of": as_of}


def build_destinations(con, findings_only: bool = False) -> None:
    """Resolve the distinct server addresses of the conversations (``destinations`` table) and name them
    where a DNS answer or a CloudTrail call does (``conversation_names``; ``findings_only``: the
    conversations the findings look at)."""
    materialise(con, "addresses")
    materialise(con, "destinations")
    names.build_names(con, findings_only)


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
    found = rows(con, queries.get("evidence").sql, {"records": EVIDENCE,
                                                     "since": min(k["first_seen"] for k in finding_keys),
                                                     "until": max(k["last_seen"] for k in finding_keys)})
    out: dict[int, list[dict]] = {}
    for row in found:
        out.setdefault(row.pop("finding"), []).append(row)
    return out


def find(con, network: Network, window: Window = Window(), settle: int = DEFAULT_SETTLE, lake: str = "",
         scope: Scope = Scope(), derived=None) -> dict:
    """The findings document (the output contract) for the flows and metadata registered on ``con``
    (the flow findings of ``scope`` only; the caller filters the rest). ``derived``: the lake's Store,
    to read its derived reduction where fresh (``build_conversations``)."""
    used = build_conversations(con, window, settle, scope, derived)
    build_destinations(con, findings_only=True)
    groups = rows(con, queries.get("findings").sql)
    diagnoser = Diagnoser(network, observed=lambda: rows(con, queries.get("observed_conversations").sql))
    register_targets(con, groups)
    keys = []
    for g in groups:
        g["client_port"] = None
    for c in rows(con, queries.get("finding_samples").sql, {"samples": SAMPLES}):
        g = groups[c["finding"]]
        keys.append({"finding": c["finding"], "client": c["client_addr"], "client_port": c["client_port"],
                     "server": c["server_addr"], "server_port": c["server_port"], "protocol": g["protocol"],
                     "first_seen": c["first_seen"], "last_seen": c["last_seen"]})
        if g["client_port"] is None:
            g["client_port"] = c["client_port"]
    records = evidence(con, keys)
    dns_objects(con, groups)
    document = []
    for i, g in enumerate(groups):
        g["dest_via"] = _via(network, g)
        causes = diagnoser.diagnose(g)
        if g["kind"] == "endpoint_bypassed" and g["dest_type"] == "proxy" and not causes:
            continue  # through the proxy, but NO_PROXY keeps the endpoints' names and the credentials off it
        document.append(_finding(g, causes, records.get(i, [])))
    # API calls and task events: the window asked for, else all of them (not just the flows' span)
    events = {"since": window.since if window.since is not None else 0,
              "until": window.until if window.until is not None else EVENTS_UNTIL}
    starts = iam_findings.task_start_failed(con, events, document)
    document += iam_findings.fold_start_denials(iam_findings.access_denied(con, events), starts) + starts
    document += dns_failures(con, diagnoser, events)
    probes.attach(con, document)
    return roll_up({
        "generated_at": iso(time.time()),
        "lake": lake,
        "window": {"since": iso(used["since"]), "until": iso(used["until"]), "settle": settle},
        "findings": document,
        "timeline": timeline(con, document),
        "trail_gaps": trail_coverage.gaps(con),
    })


def _via(network: Network, g: dict) -> str | None:
    """The NAT or internet gateway a conversation to a public address left through (the task subnet's route)."""
    if g.get("dest_type") not in ("aws_service", "internet") or not g.get("source_subnet"):
        return None
    _, route = network.route(g["source_subnet"], g["dest_addr"])
    if route and route.get("target_type") in ("nat_gateway", "internet_gateway"):
        return route.get("target_id")
    return None


def dns_objects(con, groups: list[dict]) -> None:
    """The ``dns`` object of each finding named by a query log: the last answer used, and how many queries the
    task made for the name (within an answer's life before the finding, to its end)."""
    import pyarrow as pa

    named = [{"finding": i, "client": g["source_addr"], "name": g["dest_name"],
              "since": int(g["first_seen"] - names.MAX_AGE), "until": int(g["last_seen"] + 1)}
             for i, g in enumerate(groups) if g.get("named_by") == "dns_query"]
    schema = pa.schema([("finding", pa.int64()), ("client", pa.string()), ("name", pa.string()),
                        ("since", pa.int64()), ("until", pa.int64())])
    con.register("named_findings", pa.Table.from_pylist(named, schema=schema))
    made = {r["finding"]: int(r["queries"]) for r in rows(con, queries.get("dns_queries_made").sql)} if named else {}
    for i, g in enumerate(groups):
        g["dns"] = {"query_name": g.get("dns_query_name"), "rcode": g.get("dns_rcode"),
                    "answers": g.get("dns_answers") or [], "queries": made[i]} if i in made else None


def dns_failures(con, diagnoser: Diagnoser, events: dict) -> list[dict]:
    """``dns_failure`` findings: names the tasks asked for and did not get, with their causes (the window asked
    for, else the whole query log: queries need not fall within the flow records' time span)."""
    out = []
    for g in rows(con, queries.get("dns_failures").sql, events):
        records = rows(con, queries.get("dns_evidence").sql, {
            "client": g["source_addr"], "name": g["name"], "first": g["first_seen"], "last": g["last_seen"],
            "records": EVIDENCE})
        for r in records:
            r["query_time"] = iso(r["query_time"].timestamp()) if r.get("query_time") else None
        f = {"kind": "dns_failure", "observed_at": "dns_query", "dest_port": 53, "protocol": 17,
             "dest_addr": None, "dest_addrs": [], "dest_type": "aws_service" if g["aws_service"] else "unknown",
             "dest_id": None, "dest_name": g["name"], "dest_service": g["aws_service"], "dest_region": g["region"],
             "dest_via": None, "state": None, "conversations": None, "flows": None, "packets": None, "bytes": None,
             **g, "dns": {"query_name": g["query_name"], "rcode": g["rcode"], "answers": g["answers"] or [],
                          "queries": g["queries"]}}
        out.append(_finding(f, diagnoser.diagnose(f), records))
    return out


def register_targets(con, findings: list[dict]) -> None:
    """The ``finding_targets`` table: one row per flow finding (its index) and destination address."""
    import pyarrow as pa

    rows_ = [{"finding": i, "client": f["source_addr"], "addr": a, "port": f["dest_port"], "proto": f["protocol"],
              "state": f["state"]}
             for i, f in enumerate(findings) if f["kind"] not in vocabulary.EVENT_KINDS
             for a in f["dest_addrs"] or []]
    schema = pa.schema([("finding", pa.int64()), ("client", pa.string()), ("addr", pa.string()),
                        ("port", pa.int32()), ("proto", pa.int32()), ("state", pa.string())])
    con.register("finding_targets", pa.Table.from_pylist(rows_, schema=schema))


def timeline(con, document: list[dict]) -> list[dict]:
    """Flow records per minute (of each conversation's start) per destination and kind."""
    register_targets(con, document)
    return [{"bucket": iso(r["minute"]), "destination": destination_label(document[r["finding"]]),
             "kind": document[r["finding"]]["kind"], "flows": int(r["flows"])}
            for r in rows(con, queries.get("timeline").sql)]


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
        "conversations": g["conversations"],
        "flows": g["flows"],
        "packets": g["packets"],
        "bytes": g["bytes"],
        "first_seen": iso(g["first_seen"]),
        "last_seen": iso(g["last_seen"]),
        "likely_causes": causes,
        "evidence": records,
        **({"dns": g["dns"]} if g.get("dns") else {}),
    }
