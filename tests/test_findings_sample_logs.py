"""On the bundled sample account, every injected fault is found with the right kind, place
and top cause, and nothing else is reported. The expectations come from the generator's
ground truth (sample_logs/faults.json), not from the engine."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE_LOGS
from pipeline.analysis import reports

TRUTH = json.loads((SAMPLE_LOGS / "faults.json").read_text())
#: Without Resolver query logs (or CloudTrail) nothing names the service behind a public address, so an
#: endpoint_bypassed finding is a warning whose cause stays unconfirmed.
NAMES_KNOWN = any(SAMPLE_LOGS.rglob("*vpcdnsquerylogs*"))


@pytest.fixture(scope="module")
def document(sample_lake):
    return reports.findings_document(sample_lake)


@pytest.mark.parametrize("fault", TRUTH["faults"], ids=[f["id"] for f in TRUTH["faults"]])
def test_each_fault_is_found_with_kind_place_and_top_cause(document, fault):
    expected = fault["expected"]
    mine = [f for f in document["findings"] if f["service"] == fault["service"]]
    assert mine, f"{fault['id']} ({fault['service']}) not found"
    for f in mine:
        assert f["task_id"] in fault["task_ids"]
        assert (f["kind"], f["state"], f["observed_at"]) == (expected["kind"], expected["state"], expected["observed_at"])
        assert f["destination"]["type"] == fault["destination"]["type"]
        if fault["destination"]["id"]:
            assert f["destination"]["id"] == fault["destination"]["id"]
        assert set(f["dest_addrs"]) <= set(fault["destination"]["addresses"])
        assert (f["dest_port"], f["protocol"]) == (fault["destination"]["port"], fault["destination"]["protocol"])
        top = f["likely_causes"][0]
        assert (top["cause"], top["confirmed"]) == (expected["top_cause"], NAMES_KNOWN or f["kind"] != "endpoint_bypassed")
        assert expected["resource"]["id"] in top["resource"]
        if expected["resource"].get("rule"):
            assert top["rule"] == f"rule {expected['resource']['rule']}"
        assert top["fix"].startswith("aws ")
        assert 0 < len(f["evidence"]) <= 5
    # every task of the faulty service that made the failing calls is reported
    assert {f["task_id"] for f in mine} == set(fault.get("failing_task_ids", fault["task_ids"]))


def test_no_healthy_pair_is_reported(document):
    faulty = {(f["service"], f["expected"]["kind"]) for f in TRUTH["faults"]}
    reported = {(f["service"], f["kind"]) for f in document["findings"]}
    assert reported == faulty


def test_reused_ip_is_blamed_on_the_task_that_held_it(document):
    for case in TRUTH["ip_reuse"]:
        blamed = {f["task_id"] for f in document["findings"] if f["source_addr"] == case["ip"]}
        assert case["earlier"]["task_id"] not in blamed
        if case["later"]["service"] in {f["service"] for f in TRUTH["faults"]}:
            assert case["later"]["task_id"] in blamed
