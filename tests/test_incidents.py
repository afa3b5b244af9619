"""Incidents: findings (one per task) rolled up by cluster, service, destination, port, kind and
top cause, with a stable id; built once in the analysis (``document.roll_up``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.analysis import document as F

FIXTURE = Path(__file__).parent / "fixtures" / "findings_example.json"


@pytest.fixture
def doc() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _finding(doc, of, **changes) -> dict:
    f = copy.deepcopy(next(f for f in doc["findings"] if f["service"] == of))
    f.update(changes)
    return f


def _roll(findings, until="2025-03-14T10:00:00Z", settle=900) -> dict:
    return F.roll_up({"window": {"since": "2025-03-14T09:00:00Z", "until": until, "settle": settle},
                      "findings": findings})


def test_tasks_of_one_problem_are_one_incident(doc):
    a = _finding(doc, "billing")
    b = _finding(doc, "billing", task_id="1" * 32, task_arn="arn:…/" + "1" * 32, flows=10, conversations=4,
                 first_seen="2025-03-14T09:01:00Z", last_seen="2025-03-14T09:30:00Z")
    other = _finding(doc, "orders")
    out = _roll([other, b, a])
    assert len(out["incidents"]) == 2
    [billing] = [i for i in out["incidents"] if i["service"] == "billing"]
    assert (billing["tasks"], billing["task_ids"]) == (2, sorted([a["task_id"], b["task_id"]]))
    assert (billing["flows"], billing["conversations"]) == (a["flows"] + 10, a["conversations"] + 4)
    assert (billing["first_seen"], billing["last_seen"]) == ("2025-03-14T09:01:00Z", a["last_seen"])
    assert [out["findings"][n]["task_id"] for n in billing["findings"]] == sorted([a["task_id"], b["task_id"]])
    assert billing["cause"]["cause"] == "security_group_egress" and billing["cause"]["fix"].startswith("aws ")
    assert (billing["kind"], billing["dest_port"], billing["destination"]["id"]) == (
        "reject", 443, "vpce-0a1b2c3d4e5f60001")


@pytest.mark.parametrize("change", [
    {"dest_port": 8443},
    {"service": "payments"},
    {"cluster": "staging"},
    {"kind": "no_return", "state": "no_reply"},
    {"destination": {"type": "vpc_endpoint", "id": "vpce-other", "name": None, "aws_service": "secretsmanager",
                     "region": "eu-west-1"}},
])
def test_a_different_key_is_another_incident_with_another_id(doc, change):
    a = _finding(doc, "billing")
    b = _finding(doc, "billing", task_id="2" * 32, **change)
    out = _roll([a, b])
    assert len(out["incidents"]) == 2 and len({i["id"] for i in out["incidents"]}) == 2


def test_another_top_cause_is_another_incident(doc):
    a = _finding(doc, "billing")
    b = _finding(doc, "billing", task_id="3" * 32)
    b["likely_causes"] = list(reversed(b["likely_causes"])) if len(b["likely_causes"]) > 1 else [
        dict(b["likely_causes"][0], cause="network_acl_outbound")]
    assert len(_roll([a, b])["incidents"]) == 2


def test_the_id_is_stable_across_runs(doc):
    """Same (cluster, service, destination, port, kind, top cause): same id, whatever the tasks and times."""
    a = _finding(doc, "billing")
    later = _finding(doc, "billing", task_id="4" * 32, flows=1, first_seen="2025-03-15T09:00:00Z",
                     last_seen="2025-03-15T09:05:00Z", dest_addrs=["10.20.9.9"])
    [today] = _roll([a])["incidents"]
    [tomorrow] = _roll([later], until="2025-03-15T10:00:00Z")["incidents"]
    assert today["id"] == tomorrow["id"] == F.incident_id(F.incident_key(a))
    assert today["id"].startswith("inc-")
    # the key is the documented one, and the document's id is a pure function of it
    assert F.incident_key(a) == ("prod", "billing", "vpce-0a1b2c3d4e5f60001", 443, "reject", "security_group_egress")
    assert [i["id"] for i in doc["incidents"]] == [F.incident_id(F.incident_key(doc["findings"][i["findings"][0]]))
                                                  for i in doc["incidents"]]


def test_still_happening_at_the_end_of_the_window(doc):
    def ongoing(last_seen, kind="reject", state="blocked", settle=900):
        f = _finding(doc, "billing", kind=kind, state=state, last_seen=last_seen)
        return _roll([f], settle=settle)["incidents"][0]["ongoing"]

    assert ongoing("2025-03-14T09:58:41Z") is True
    assert ongoing("2025-03-14T09:40:00Z") is False
    # no_reply is only judged after the settle time: its last sighting is that much earlier
    assert ongoing("2025-03-14T09:40:00Z", "no_return", "no_reply") is True
    assert ongoing("2025-03-14T09:40:00Z", "no_return", "no_reply", settle=0) is False
    assert ongoing("2025-03-14T09:20:00Z", "no_return", "no_reply") is False


def test_kinds_the_roll_up_does_not_know_roll_up_too(doc):
    """A later kind (from API or DNS logs) with no flows and no conversations still rolls up."""
    def denied(task):
        f = _finding(doc, "billing", kind="access_denied", state=None, task_id=task, flows=None)
        f.pop("conversations")
        f["likely_causes"] = [dict(f["likely_causes"][0], cause="endpoint_policy")]
        return f

    out = _roll([denied("5" * 32), denied("6" * 32), _finding(doc, "billing")])
    [new] = [i for i in out["incidents"] if i["kind"] == "access_denied"]
    assert new["tasks"] == 2 and new["flows"] is None and new["conversations"] is None
    assert [i["kind"] for i in out["incidents"]] == ["reject", "access_denied"]  # known kinds first


def test_canonical_order_keeps_incidents_pointing_at_their_findings(doc):
    reordered = copy.deepcopy(doc)
    reordered["findings"].reverse()
    last = len(doc["findings"]) - 1
    for incident in reordered["incidents"]:
        incident["findings"] = [last - n for n in incident["findings"]]
    assert F.canonical_document(reordered)["incidents"] == doc["incidents"]
    # a document without incidents (an older one) gets them from the same roll-up
    older = {k: v for k, v in doc.items() if k != "incidents"}
    assert F.canonical_document(older)["incidents"] == doc["incidents"]
