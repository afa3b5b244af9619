"""Small builders for hand-written scenarios: flow records written as AWS writes them,
ingested through the real ingest, and metadata tables committed through the real store."""

from __future__ import annotations

import gzip
import importlib.util
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.ingest import load as ingest
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import store as lake
from pipeline.metadata import schema as meta_schema
from pipeline.metadata import store as meta_store

FORMAT = ("version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status tcp-flags flow-direction pkt-srcaddr pkt-dstaddr subnet-id vpc-id account-id")
T0 = 1795770000  # 2026-11-27T09:00:00Z, a multiple of 60


def rec(eni, src, dst, sport, dport, start, action="ACCEPT", flags="-", direction="-", proto=6, packets=3,
        pkt_src=None, pkt_dst=None, subnet="-", vpc="vpc-1", length=55) -> str:
    """One record in FORMAT (60-second windows: ``start`` is the window start)."""
    return " ".join(str(v) for v in (
        5, eni, src, dst, sport, dport, proto, packets, packets * 60, start, start + length, action, "OK", flags,
        direction, pkt_src or src, pkt_dst or dst, subnet, vpc, "123456789012"))


def write_flow_file(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / f"123456789012_vpcflowlogs_eu-west-1_fl-0abc_{name}.log.gz"
    path.write_bytes(gzip.compress(("\n".join([FORMAT, *lines]) + "\n").encode(), mtime=0))
    return path


def dns_query(t, client, name, addresses=(), rcode="NOERROR", qtype="A", cnames=(), vpc="vpc-1") -> dict:
    """One Route 53 Resolver query-log record as AWS writes it (``t``: epoch seconds)."""
    answers = [{"Rdata": c, "Type": "CNAME", "Class": "IN"} for c in cnames]
    answers += [{"Rdata": a, "Type": "AAAA" if ":" in a else "A", "Class": "IN"} for a in addresses]
    return {"version": "1.100000", "account_id": "123456789012", "region": "eu-west-1", "vpc_id": vpc,
            "query_timestamp": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "query_name": name, "query_type": qtype, "query_class": "IN", "rcode": rcode, "answers": answers,
            "srcaddr": client, "srcport": "53000", "transport": "UDP",
            "srcids": {"instance": None, "resolver_endpoint": None}}


def _ingested(table: str) -> bool:
    """Does this checkout ingest this evidence (lake table ``dns_queries`` / ``api_calls``)?"""
    if importlib.util.find_spec("pipeline.tables") is None:
        return False
    from pipeline import tables

    return table in tables.TABLES


def trail_call(t, event_source, source_ip, tls_host=None, vpc_endpoint_id=None, session="task-a") -> dict:
    """One CloudTrail record of an API call (``t``: epoch seconds)."""
    return {"eventVersion": "1.09", "eventTime": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": event_source, "eventName": "Publish", "awsRegion": "eu-west-1", "sourceIPAddress": source_ip,
            "userIdentity": {"type": "AssumedRole", "accountId": "123456789012",
                             "arn": f"arn:aws:sts::123456789012:assumed-role/app/{session}"},
            "eventID": f"{t}-{event_source}", "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
            **({"vpcEndpointId": vpc_endpoint_id} if vpc_endpoint_id else {}),
            **({"tlsDetails": {"clientProvidedHostHeader": tls_host}} if tls_host else {})}


#: Until the lake ingests query logs and CloudTrail, a store's records are registered on its connection
#: (run_findings): {store uri: {"dns": [...], "trail": [...]}}.
_UNINGESTED: dict[str, dict[str, list[dict]]] = {}


def _register_dns(con, records: list[dict]) -> None:
    rows = [{"query_time": datetime.fromisoformat(r["query_timestamp"].replace("Z", "+00:00")),
             "vpc_id": r["vpc_id"], "srcaddr": r["srcaddr"], "name": r["query_name"].rstrip(".").lower(),
             "query_name": r["query_name"], "query_type": r["query_type"], "rcode": r["rcode"],
             "answers": json.dumps(r["answers"]), "srcport": int(r["srcport"]), "transport": r["transport"],
             "answer_addresses": [a["Rdata"] for a in r["answers"] if a["Type"] in ("A", "AAAA")]} for r in records]
    _register_rows(con, "dns_queries", rows)


def _register_trail(con, records: list[dict]) -> None:
    rows = [{"event_time": datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")),
             "event_source": r["eventSource"], "region": r["awsRegion"], "source_ip": r["sourceIPAddress"],
             "vpc_endpoint_id": r.get("vpcEndpointId"), "tls_host": (r.get("tlsDetails") or {}).get("clientProvidedHostHeader"),
             "session_name": r["userIdentity"]["arn"].rsplit("/", 1)[-1]} for r in records]
    _register_rows(con, "api_calls", rows)


def _register_rows(con, table: str, rows: list[dict]) -> None:
    con.register("_rows", pa.Table.from_pylist(rows))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _rows")
    con.unregister("_rows")


def make_lake(tmp_path: Path, lines: list[str], tables: dict[str, list[dict]] | None = None,
              dns: list[dict] | None = None, trail: list[dict] | None = None):
    store = lake.open_lake(tmp_path / "lake")
    src_dir = tmp_path / "logs"
    src_dir.mkdir(exist_ok=True)
    write_flow_file(src_dir, "20261128T0620Z_00000000", lines)
    if dns and _ingested("dns_queries"):
        day = src_dir / "AWSLogs/123456789012/vpcdnsquerylogs/vpc-1/2026/11/27"
        day.mkdir(parents=True, exist_ok=True)
        (day / "vpc-1_dns.log.gz").write_bytes(gzip.compress(
            "".join(json.dumps(r) + "\n" for r in dns).encode(), mtime=0))
    elif dns:
        _UNINGESTED.setdefault(store.uri, {})["dns"] = dns
    if trail and _ingested("api_calls"):
        day = src_dir / "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/27"
        day.mkdir(parents=True, exist_ok=True)
        (day / "123456789012_CloudTrail_eu-west-1_20261127T0900Z_test.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": trail}).encode(), mtime=0))
    elif trail:
        _UNINGESTED.setdefault(store.uri, {})["trail"] = trail
    ingest.ingest(store, local_sources([src_dir]), workers=1)
    if tables:
        when = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
        data = {}
        for name, rows in tables.items():
            rows = [{"snapshot_id": "test", "snapshot_time": when, "source": "test", **r} for r in rows]
            data[name] = meta_schema.to_table(name, rows)
        meta_store.write_snapshot(store, "test", data, {"snapshot_id": "test", "documents": []})
    return store


def run_findings(store, settle: int = 900):
    con = analysis.connect(store)
    pending = _UNINGESTED.get(store.uri, {})
    if pending.get("dns"):
        _register_dns(con, pending["dns"])
    if pending.get("trail"):
        _register_trail(con, pending["trail"])
    doc = findings.find(con, analysis.load_network(con), settle=settle, lake=store.uri)
    return con, doc
