"""On the bundled sample account, every injected fault is found with the right kind, place
and top cause, and nothing else is reported. The expectations come from the generator's
ground truth (sample_logs/faults.json), not from the engine."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest

from conftest import SAMPLE_LOGS
from pipeline.analysis import reports

TRUTH = json.loads((SAMPLE_LOGS / "faults.json").read_text())
# Faults the flow logs show (F1-F5, F10, F11); F6-F9 live in CloudTrail, task events and Resolver query logs.
EVENT_KINDS = ("access_denied", "task_start_failed", "dns_failure")
FLOW_FAULTS = [f for f in TRUTH["faults"] if f["expected"]["kind"] not in EVENT_KINDS]


def from_flows(fault: dict) -> dict:
    """The verdict on a fault that only the flow logs show (F11: its v2 task's refusals inferred from sizes);
    a fault with other evidence (F10: the task definition's proxy) gets its full verdict."""
    if fault.get("evidence") == ["flow_logs"] and fault.get("expected_from_flows"):
        return fault["expected_from_flows"]
    return fault["expected"]


@pytest.fixture(scope="module")
def document(sample_lake):
    return reports.findings_document(sample_lake)


@pytest.mark.parametrize("fault", FLOW_FAULTS, ids=[f["id"] for f in FLOW_FAULTS])
def test_each_fault_is_found_with_kind_place_and_top_cause(document, fault):
    expected = from_flows(fault)
    mine = [f for f in document["findings"] if f["service"] == fault["service"]]
    assert mine, f"{fault['id']} ({fault['service']}) not found"
    for f in mine:
        assert f["task_id"] in fault["task_ids"]
        assert (f["kind"], f["state"], f["observed_at"]) == (expected["kind"], expected["state"], expected["observed_at"])
        assert f["destination"]["type"] == expected.get("destination_type", fault["destination"]["type"])
        if expected.get("destination_id", fault["destination"]["id"]):
            assert f["destination"]["id"] == expected.get("destination_id", fault["destination"]["id"])
        assert set(f["dest_addrs"]) <= set(fault["destination"]["addresses"])
        assert (f["dest_port"], f["protocol"]) == (fault["destination"]["port"], fault["destination"]["protocol"])
        top = f["likely_causes"][0]
        assert (top["cause"], top["confirmed"]) == (expected["top_cause"], expected.get("confirmed", True))
        if top["confirmed"]:
            assert expected["resource"]["id"] in top["resource"]
            if expected["resource"].get("rule"):
                assert top["rule"] == f"rule {expected['resource']['rule']}"
            assert "aws " in top["fix"]  # the command (a proxy's fix says which of two to take first)
        if expected.get("network_cause"):  # through a proxy: the proxy first, the network's reason under it
            network = f["likely_causes"][1]
            assert (network["cause"], network["confirmed"]) == (expected["network_cause"]["cause"], True)
            assert expected["network_cause"]["resource"] in network["resource"]
        assert 0 < len(f["evidence"]) <= 5
    # every task of the faulty service that made the failing calls is reported; where the flow log has no
    # tcp-flags (the default format), the verdict is inferred from the packet sizes and says so
    by_sizes = set(expected.get("by_sizes") or [])
    tasks = set(expected.get("task_ids") or fault.get("failing_task_ids", fault["task_ids"])) | by_sizes
    assert {f["task_id"] for f in mine} == tasks
    for f in mine:
        assert ("Inferred from packet sizes" in f["likely_causes"][0]["explanation"]) == (f["task_id"] in by_sizes)


# Faults only CloudTrail and the task events show: a task role without the action (F6), an endpoint
# policy that denies (F7), an execution role that cannot read a secret, its tasks in a start loop (F8).
IAM_FAULTS = [f for f in TRUTH["faults"] if f["expected"]["kind"] in ("access_denied", "task_start_failed")]
# Only the Resolver query logs show it: a private zone that shadows the API's public name (F9).
DNS_FAULTS = [f for f in TRUTH["faults"] if f["expected"]["kind"] == "dns_failure"]
FAULTY = {(f["service"], from_flows(f)["kind"]) for f in TRUTH["faults"]}


def test_no_healthy_pair_is_reported(document):
    """With the query logs naming the public destinations, no bypass is flagged on a service without an
    endpoint (inventory's SSM calls through the NAT): exactly the faults are reported."""
    assert {(f["service"], f["kind"]) for f in document["findings"]} == FAULTY


@pytest.mark.parametrize("fault", DNS_FAULTS, ids=[f["id"] for f in DNS_FAULTS])
def test_each_dns_fault_is_found_with_its_confirmed_zone(document, fault):
    expected = fault["expected"]
    mine = [f for f in document["findings"] if f["service"] == fault["service"]]
    assert {f["task_id"] for f in mine} == set(fault["task_ids"])
    for f in mine:
        assert (f["kind"], f["state"], f["observed_at"]) == (expected["kind"], expected["state"], expected["observed_at"])
        assert (f["destination"]["name"], f["destination"]["aws_service"], f["destination"]["named_by"]) == (
            fault["destination"]["name"], fault["destination"]["aws_service"], "dns_query")
        assert (f["dns"]["query_name"], f["dns"]["rcode"], f["dns"]["answers"]) == (
            fault["dns"]["query_name"], fault["dns"]["rcode"], [])
        assert f["source_addr"] in fault["source"]["addresses"]
        top = f["likely_causes"][0]
        assert (top["cause"], top["confirmed"], top["resource"]) == (expected["top_cause"], True, expected["resource"]["id"])
        assert 0 < len(f["evidence"]) <= 5 and all(r["rcode"] == "NXDOMAIN" for r in f["evidence"])
    assert sum(f["dns"]["queries"] for f in mine) == fault["dns"]["queries"]


def test_reused_ip_is_blamed_on_the_task_that_held_it(document):
    for case in TRUTH["ip_reuse"]:
        blamed = {f["task_id"] for f in document["findings"] if f["source_addr"] == case["ip"]}
        assert case["earlier"]["task_id"] not in blamed
        if case["later"]["service"] in {f["service"] for f in TRUTH["faults"]}:
            assert case["later"]["task_id"] in blamed


def test_one_incident_per_fault(document):
    """The on-call view: the findings (one per task) roll up to exactly one incident per fault."""
    incidents = document["incidents"]
    assert {(i["service"], i["kind"]) for i in incidents} == FAULTY
    assert len(incidents) == len(TRUTH["faults"]) < len(document["findings"])
    for fault in FLOW_FAULTS:
        expected = from_flows(fault)
        [incident] = [i for i in incidents if (i["service"], i["kind"]) == (fault["service"], expected["kind"])]
        assert incident["cause"]["cause"] == expected["top_cause"]
        tasks = set(expected.get("task_ids") or fault.get("failing_task_ids", fault["task_ids"]))
        assert set(incident["task_ids"]) == tasks | set(expected.get("by_sizes") or [])
        assert incident["tasks"] == len(incident["task_ids"])
        mine = [document["findings"][n] for n in incident["findings"]]
        assert {(f["service"], f["kind"]) for f in mine} == {(incident["service"], incident["kind"])}
        assert {f["task_id"] for f in mine} == set(incident["task_ids"])
        assert incident["flows"] == sum(f["flows"] for f in mine)
        assert incident["conversations"] == sum(f["conversations"] for f in mine)
        assert incident["first_seen"] == min(f["first_seen"] for f in mine)
        assert incident["last_seen"] == max(f["last_seen"] for f in mine)
    # every finding belongs to exactly one incident
    assert sorted(n for i in incidents for n in i["findings"]) == list(range(len(document["findings"])))


def test_filters_roll_up_the_findings_they_keep(sample_lake):
    fault = FLOW_FAULTS[0]
    doc = reports.findings_document(sample_lake, reports.Filters(service=fault["service"]))
    [incident] = doc["incidents"]
    assert incident["service"] == fault["service"] and incident["findings"] == list(range(len(doc["findings"])))


def test_the_views_show_one_line_per_fault(document):
    """Table: one row per fault and nothing else; HTML summary: one sentence and one row per fault;
    JSON: both arrays."""
    from pipeline.report import render_to_string

    faults = TRUTH["faults"]
    text = render_to_string(document, "table", width=120)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1
    rows = lines[start:start + next(i for i, line in enumerate(lines[start:]) if not line.strip())]
    assert len(rows) == len(faults)
    assert sorted(row.split()[1] for row in rows) == sorted(f["service"] for f in faults)
    plain = render_to_string(document, "plain").splitlines()
    assert len(plain) == 1 + len(faults)
    summary = render_to_string(document, "html").split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert summary.count('<li id="incident-') == len(faults) == summary.count('<tr><td class="n">')
    parsed = json.loads(render_to_string(document, "json"))
    assert len(parsed["incidents"]) == len(faults) and len(parsed["findings"]) == len(document["findings"])


@pytest.mark.parametrize("fault", IAM_FAULTS, ids=[f["id"] for f in IAM_FAULTS])
def test_each_permission_fault_is_found_with_its_confirmed_cause(document, fault):
    expected = fault["expected"]
    mine = [f for f in document["findings"] if f["service"] == fault["service"] and f["kind"] == expected["kind"]]
    assert mine, f"{fault['id']} ({fault['service']}) not found"
    for f in mine:
        assert (f["state"], f["observed_at"]) == (expected["state"], expected["observed_at"])
        assert f["destination"]["aws_service"] == fault["destination"]["aws_service"]
        assert f["destination"]["id"] == fault["api"]["vpc_endpoint_id"]
        assert (f["api"]["role"], f["api"]["role_arn"]) == (fault["api"]["role"], fault["api"]["role_arn"])
        top = f["likely_causes"][0]
        assert (top["cause"], top["confirmed"], top["resource"]) == (
            expected["top_cause"], True, expected["resource"]["id"])
        if expected["resource"].get("statement"):
            assert top["rule"] == f"Sid {expected['resource']['statement']}"
        assert top["fix"].startswith("aws ")
    if expected["kind"] == "task_start_failed":  # a start loop is one finding
        assert len(mine) == 1 and set(mine[0]["task_ids"]) == set(fault["task_ids"])
        assert mine[0]["events"] == len(fault["task_ids"]) and mine[0]["stopped_reason"].startswith(
            "ResourceInitializationError")
    else:  # one finding per task; every denied call counted once
        assert {f["task_id"] for f in mine} == set(fault["task_ids"])
        assert sum(f["events"] for f in mine) == fault["api"]["events"]
        assert all(f["cross_evidence"].startswith("The network lets it through") for f in mine)


def test_no_healthy_service_gets_an_access_denied_finding(document):
    denied = {f["service"] for f in document["findings"] if f["kind"] == "access_denied"}
    assert denied == {f["service"] for f in IAM_FAULTS if f["expected"]["kind"] == "access_denied"}
    assert not denied & set(TRUTH["no_access_denied"])


def test_pushed_down_filters_find_what_filtering_the_whole_analysis_finds(sample_lake, document):
    """--service, --task and --port narrow the flow records read (the addresses the tasks held, the port);
    the findings are those of the whole analysis that pass the same filters."""
    def same(flt):
        doc = reports.findings_document(sample_lake, flt)
        wanted = [f for f in document["findings"] if reports.keep(f, flt)]
        assert doc["findings"] == wanted, flt
        return wanted

    for service in ("orders", "indexer", "mailer"):  # an endpoint, a server reached from two ENIs, a proxy
        assert same(reports.Filters(service=service))
    one = next(f for f in document["findings"] if f["kind"] == "refused")
    assert same(reports.Filters(task=one["task_id"], port=one["dest_port"]))
def test_every_confirmed_network_fix_is_verified_and_opens_no_more_than_the_evidence(document):
    """Each confirmed cause's network fix, applied to a copy of the sample's configuration, lets the failing
    conversations through and changes nothing else; the ACL fix stays inside the deny's own CIDR and ports,
    and opens only the endpoint's addresses the failing tasks talked to."""
    checked = set()
    for f in document["findings"]:
        for cause in f["likely_causes"]:
            if not cause["confirmed"] or cause["fix_scope"] is None:
                continue
            assert cause["fix_verified"] is True, (f["service"], cause)
            assert "also allows: no other observed conversation" in cause["explanation"]
            checked.add(cause["cause"])
    assert checked == {"security_group_egress", "security_group_ingress_destination", "network_acl_return",
                       "route_missing"}
    # the settings, DNS-zone and policy fixes are checked by their own evaluation; a proxy's fix is advice
    # (fix the path under it, which is verified, or change the task definition): not evaluable
    others = {(c["cause"], c["fix_verified"]) for f in document["findings"] for c in f["likely_causes"]
              if c["confirmed"] and c["fix_scope"] is None}
    assert others == {("endpoint_private_dns_disabled", True), ("dns_nxdomain", True), ("identity_policy", True),
                      ("endpoint_policy", True), ("proxy", None)}
    [fault] = [f for f in TRUTH["faults"] if f["expected"]["top_cause"] == "network_acl_return"]
    deny_cidr = ipaddress.ip_network(re.search(r"from (\S+)", fault["expected"]["resource"]["detail"]).group(1))
    deny_ports = [int(p) for p in re.search(r"(\d+)-(\d+)", fault["expected"]["resource"]["detail"]).groups()]
    for f in document["findings"]:
        if f["service"] != fault["service"]:
            continue
        scope = f["likely_causes"][0]["fix_scope"]
        assert deny_ports[0] <= scope["ports"][0] <= scope["ports"][1] <= deny_ports[1]
        peers = [ipaddress.ip_network(p) for p in scope["peers"]]
        assert all(p.subnet_of(deny_cidr) and p.num_addresses == 1 for p in peers)
        assert {str(p.network_address) for p in peers} <= set(fault["destination"]["addresses"])
        assert "replace-network-acl-entry" not in f["likely_causes"][0]["fix"]
        assert f"--rule-number {fault['expected']['resource']['rule_number']}" not in f["likely_causes"][0]["fix"]
