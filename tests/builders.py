"""Small builders for hand-written scenarios: flow records written as AWS writes them,
ingested through the real ingest, and metadata tables committed through the real store."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

from pipeline.analysis import connection as analysis
from pipeline.analysis import findings
from pipeline.ingest import load as ingest
from pipeline.ingest.sources.local import local_sources
from pipeline.lake import store as lake
from pipeline.metadata import schema as meta_schema
from pipeline.metadata import store as meta_store

FORMAT = ("version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
          "log-status tcp-flags flow-direction pkt-srcaddr pkt-dstaddr subnet-id vpc-id account-id")
#: The default format (v2): no tcp-flags, no flow-direction, no packet-level addresses.
V2_FORMAT = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
T0 = 1795770000  # 2026-11-27T09:00:00Z, a multiple of 60


def rec(eni, src, dst, sport, dport, start, action="ACCEPT", flags="-", direction="-", proto=6, packets=3,
        pkt_src=None, pkt_dst=None, subnet="-", vpc="vpc-1", length=55, size=None) -> str:
    """One record in FORMAT (60-second windows: ``start`` is the window start); ``size`` bytes, else 60 a packet."""
    return " ".join(str(v) for v in (
        5, eni, src, dst, sport, dport, proto, packets, packets * 60 if size is None else size, start, start + length,
        action, "OK", flags, direction, pkt_src or src, pkt_dst or dst, subnet, vpc, "123456789012"))


def rec_v2(eni, src, dst, sport, dport, start, packets, size, action="ACCEPT", proto=6, length=55) -> str:
    """One record in V2_FORMAT, the default format."""
    return " ".join(str(v) for v in (
        2, "123456789012", eni, src, dst, sport, dport, proto, packets, size, start, start + length, action, "OK"))


def write_flow_file(directory: Path, name: str, lines: list[str], log_format: str = FORMAT) -> Path:
    path = directory / f"123456789012_vpcflowlogs_eu-west-1_fl-0abc_{name}.log.gz"
    path.write_bytes(gzip.compress(("\n".join([log_format, *lines]) + "\n").encode(), mtime=0))
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


def trail_call(t, event_source, source_ip, tls_host=None, vpc_endpoint_id=None, session="task-a") -> dict:
    """One CloudTrail record of an API call (``t``: epoch seconds)."""
    return {"eventVersion": "1.09", "eventTime": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": event_source, "eventName": "Publish", "awsRegion": "eu-west-1", "sourceIPAddress": source_ip,
            "userIdentity": {"type": "AssumedRole", "accountId": "123456789012",
                             "arn": f"arn:aws:sts::123456789012:assumed-role/app/{session}"},
            "eventID": f"{t}-{event_source}", "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
            **({"vpcEndpointId": vpc_endpoint_id} if vpc_endpoint_id else {}),
            **({"tlsDetails": {"clientProvidedHostHeader": tls_host}} if tls_host else {})}


def make_lake(tmp_path: Path, lines: list[str], tables: dict[str, list[dict]] | None = None, log_format: str = FORMAT,
              dns: list[dict] | None = None, trail: list[dict] | None = None):
    store = lake.open_lake(tmp_path / "lake")
    src_dir = tmp_path / "logs"
    src_dir.mkdir(exist_ok=True)
    write_flow_file(src_dir, "20261128T0620Z_00000000", lines, log_format)
    if dns:
        day = src_dir / "AWSLogs/123456789012/vpcdnsquerylogs/vpc-1/2026/11/27"
        day.mkdir(parents=True, exist_ok=True)
        (day / "vpc-1_dns.log.gz").write_bytes(gzip.compress(
            "".join(json.dumps(r) + "\n" for r in dns).encode(), mtime=0))
    if trail:
        day = src_dir / "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/11/27"
        day.mkdir(parents=True, exist_ok=True)
        (day / "123456789012_CloudTrail_eu-west-1_20261127T0900Z_test.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": trail}).encode(), mtime=0))
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
    doc = findings.find(con, analysis.load_network(con), settle=settle, lake=store.uri)
    return con, doc
