"""Probe results as evidence in findings: a probe run on a service's network, to a destination of one of
its findings, is attached to that finding (``probes``); other services' findings, and the finding's own
``observed_at`` and causes, stay as the logs say."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.analysis import findings as F
from pipeline.analysis.connection import connect, load_network
from pipeline.ingest.sources.probe_output import probe_output
from pipeline.jobs.probe import import_output
from pipeline.lake import store as lake


def find(store) -> list[dict]:
    con = connect(store)
    return F.find(con, load_network(con))["findings"]


def probe_lines(cluster: str, service: str, target: str, host: str, addresses: list[str], error: str | None) -> str:
    base = {"probe": "flowlogs/1", "time": "2026-12-05T09:00:00Z", "run": f"probe-{service}", "cluster": cluster,
            "service": service, "account": "123456789012", "region": "eu-west-1", "source_ip": "10.20.1.250"}
    where = {"target": target, "host": host, "port": 443}
    steps = [{"step": "identity", "ok": True}, {"step": "dns", **where, "ok": True, "addresses": addresses}]
    steps += [{"step": "tcp", **where, "address": a, "ok": True} for a in addresses]
    steps += [{"step": "call", **where, "ok": error is None, **({"error": error} if error else {})},
              {"step": "done", "targets": 1}]
    return "\n".join(json.dumps({**base, **s}) for s in steps)


@pytest.fixture
def store(sample_lake, tmp_path):
    """A copy of the sample account's lake (the session's stays as it is)."""
    shutil.copytree(sample_lake.root, tmp_path / "lake")
    return lake.open_lake(tmp_path / "lake")


def test_a_probe_becomes_evidence_of_its_services_findings_only(store, tmp_path):
    before = find(store)
    assert not any("probes" in f for f in before)
    orders = [f for f in before if f["service"] == "orders" and f["destination"]["aws_service"] == "sqs"]
    assert orders
    cluster, addresses = orders[0]["cluster"], orders[0]["dest_addrs"]
    denied = ("An error occurred (AccessDeniedException) when calling the ListQueues operation: User: "
              "arn:aws:sts::123456789012:assumed-role/orders-task/probe is not authorized to perform: sqs:listqueues "
              "because no VPC endpoint policy allows the sqs:listqueues action")
    text = "\n".join([probe_lines(cluster, "orders", "sqs", "sqs.eu-west-1.amazonaws.com", addresses, denied),
                      probe_lines(cluster, "billing", "sqs", "sqs.eu-west-1.amazonaws.com", addresses, None)])
    import_output(store, probe_output(str(tmp_path / "probe.jsonl"), text))

    after = find(store)
    with_probes = [f for f in after if "probes" in f]
    assert {(f["service"], f["destination"]["aws_service"]) for f in with_probes} == {("orders", "sqs")}
    assert len(with_probes) == len(orders)
    for f in with_probes:
        (p,) = f["probes"]
        assert p["run_id"] == "probe-orders" and p["verdict"] == "failed" and p["failed_step"] == "call"
        assert p["cause"] == "endpoint_policy" and p["error"] == denied and p["probe_time"] == "2026-12-05T09:00:00Z"
    # what the logs said is unchanged (compared as sets: findings that tie in the sort may come in either order)
    def canonical(found):
        return sorted(json.dumps(f, sort_keys=True, default=str) for f in found)

    assert canonical({k: v for k, v in f.items() if k != "probes"} for f in after) == canonical(before)
