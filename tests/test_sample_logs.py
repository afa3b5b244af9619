"""The bundled sample account (sample_logs/): reproducible from its generator, and consistent with
itself and with its ground truth (faults.json). Read back with plain Python only (gzip, split, json),
so these checks do not depend on the pipeline they exist to test."""

from __future__ import annotations

import gzip
import ipaddress
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parent.parent / "sample_logs"
GENERATOR = SAMPLE / "generate.py"
HAND_WRITTEN = {"README.md", "generate.py"}
WINDOW = (1795770000, 1795777200)  # 2026-11-27 09:00 to 11:00 UTC
SNAPSHOT = WINDOW[1] + 300


def generate(out: Path, *extra: str) -> None:
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *extra], check=True, capture_output=True)


def files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def epoch(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample_logs")
    generate(out)
    return out


class Sample:
    """The committed sample, parsed once."""

    def __init__(self, root: Path):
        self.root = root
        self.lines: list[tuple[str, list[str], list[str]]] = []  # (file, header, fields)
        for name, path in files(root).items():
            if name.endswith(".log.gz") and "_vpcflowlogs_" in name:
                text = gzip.decompress(path.read_bytes()).decode()
                header, *rows = text.splitlines()
                self.lines += [(name, header.split(), row.split()) for row in rows]
        self.records = [dict(zip(h, f)) for _, h, f in self.lines]
        meta = root / "metadata"
        self.meta = {p.stem: json.loads(p.read_text()) for p in meta.glob("*.json")}
        events = (meta / "ecs-task-state-change-events.jsonl").read_text().splitlines()
        self.events = [json.loads(line) for line in events]
        self.truth = json.loads((root / "faults.json").read_text())
        self.enis = {e["NetworkInterfaceId"]: e for e in self.meta["describe-network-interfaces"]["NetworkInterfaces"]}
        self.event_enis: dict[str, str] = {}  # eni -> ip, from the task-state-change events
        for event in self.events:
            for attachment in event["detail"]["attachments"]:
                details = {d["name"]: d["value"] for d in attachment["details"]}
                self.event_enis[details["networkInterfaceId"]] = details["privateIPv4Address"]

    def ok(self) -> list[dict]:
        return [r for r in self.records if r["log-status"] == "OK"]

    def matching(self, pattern: dict) -> list[dict]:
        def fits(rec):
            return all(k in rec and (rec[k] in v if isinstance(v, list) else rec[k] == v) for k, v in pattern.items())
        return [r for r in self.ok() if fits(r)]

    def fault(self, fid: str) -> dict:
        return next(f for f in self.truth["faults"] if f["id"] == fid)

    def endpoint(self, service: str) -> dict:
        return next(e for e in self.meta["describe-vpc-endpoints"]["VpcEndpoints"]
                    if e["ServiceName"] == f"com.amazonaws.eu-west-1.{service}")

    def endpoint_ips(self, service: str) -> set[str]:
        return {self.enis[i]["PrivateIpAddress"] for i in self.endpoint(service)["NetworkInterfaceIds"]}

    def service_sg(self, service: str) -> str:
        svc = next(s for s in self.meta["describe-services"]["services"] if s["serviceName"] == service)
        return svc["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"][0]

    def security_group(self, group_id: str) -> dict:
        return next(g for g in self.meta["describe-security-groups"]["SecurityGroups"] if g["GroupId"] == group_id)

    def amazon_ranges(self, region: str) -> list:
        return [ipaddress.ip_network(p["ip_prefix"]) for p in self.meta["ip-ranges"]["prefixes"]
                if p["service"] == "AMAZON" and p["region"] == region]


@pytest.fixture(scope="module")
def sample() -> Sample:
    return Sample(SAMPLE)


# ---------------------------------------------------------------- reproducibility

def test_regenerating_with_the_default_seed_is_byte_identical(regenerated):
    committed = {k: p for k, p in files(SAMPLE).items() if k not in HAND_WRITTEN}
    fresh = files(regenerated)
    assert sorted(fresh) == sorted(committed), "the generator writes a different set of files than is committed"
    differing = [k for k in fresh if fresh[k].read_bytes() != committed[k].read_bytes()]
    assert not differing, f"regenerate with `python sample_logs/generate.py`: {differing[:5]}"


def test_another_seed_gives_other_data(regenerated, tmp_path):
    generate(tmp_path, "--seed", "8")
    other = files(tmp_path)
    assert set(other) != set(files(regenerated))  # file names carry flow-log ids and hashes
    assert (tmp_path / "faults.json").read_bytes() != (regenerated / "faults.json").read_bytes()
    for name in ("describe-network-interfaces.json", "describe-tasks.json"):
        assert (tmp_path / "metadata" / name).read_bytes() != (regenerated / "metadata" / name).read_bytes()


def test_size_is_small_but_realistic(sample):
    assert 10_000 <= len(sample.records) <= 60_000
    total = sum(p.stat().st_size for k, p in files(SAMPLE).items() if k not in HAND_WRITTEN)
    assert total < 5_000_000


# ---------------------------------------------------------------- flow-log files

def test_every_record_has_as_many_fields_as_its_header(sample):
    bad = [(name, len(h), len(f)) for name, h, f in sample.lines if len(h) != len(f)]
    assert not bad


def test_two_formats_with_the_layouts_aws_uses(sample):
    headers = {(name.split("/")[2].startswith("aws-account-id="), " ".join(h)) for name, h, _ in sample.lines}
    assert len(headers) == 2
    plain = next(h for hive, h in headers if not hive)
    custom = next(h for hive, h in headers if hive)
    assert plain.split() == ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
                             "packets bytes start end action log-status").split()
    fields = custom.split()
    assert {"tcp-flags", "pkt-srcaddr", "pkt-dstaddr", "flow-direction", "traffic-path", "pkt-dst-aws-service",
            "az-id", "ecs-task-id", "ecs-service-name"} <= set(fields)
    assert fields.index("bytes") < fields.index("packets")  # not the documentation order
    versions = {r["version"] for r in sample.records}
    assert versions == {"2", "7"}
    formats = {f["LogFormat"] for f in sample.meta["describe-flow-logs"]["FlowLogs"]}
    assert formats == {" ".join(f"${{{x}}}" for x in h.split()) for _, h in headers}


def test_files_hold_the_five_minutes_their_name_says(sample):
    for name, header, fields in sample.lines:
        stamp = name.rsplit("_", 2)[-2]
        slot = int(datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=timezone.utc).timestamp())
        end = int(fields[header.index("end")])
        assert slot <= end < slot + 300, name
        assert WINDOW[0] <= end < WINDOW[1]
        if "/hour=" in name:
            assert name.split("/hour=")[1][:2] == stamp[9:11]


def test_each_eni_is_logged_by_exactly_one_flow_log(sample):
    flow_log_of = defaultdict(set)
    for name, header, fields in sample.lines:
        flow_log_of[fields[header.index("interface-id")]].add(name.rsplit("_", 3)[-3])
    assert all(len(ids) == 1 for ids in flow_log_of.values())


def test_every_interface_is_known_from_metadata_or_events(sample):
    seen = {r["interface-id"] for r in sample.records}
    unknown = seen - set(sample.enis) - set(sample.event_enis)
    assert not unknown
    # ENIs of tasks stopped long before the snapshot are only in the events
    assert seen - set(sample.enis)


def test_noise_is_present(sample):
    statuses = {r["log-status"] for r in sample.records}
    assert statuses == {"OK", "NODATA", "SKIPDATA"}
    nat = next(i for i, e in sample.enis.items() if e["InterfaceType"] == "nat_gateway")
    albs = {i for i, e in sample.enis.items() if e["InterfaceType"] == "load_balancer"}
    public = lambda ip: not ipaddress.ip_address(ip).is_private  # noqa: E731
    scans = [r for r in sample.ok() if r["interface-id"] in albs | {nat} and public(r["srcaddr"])
             and r["action"] == "REJECT"]
    assert {r["interface-id"] for r in scans} == albs | {nat}


def test_long_connection_spans_windows_with_flags_zero_in_the_middle(sample):
    logs_ips = sample.endpoint_ips("logs")
    web = [r for r in sample.ok() if r.get("ecs-service-name") == "web" and r["dstaddr"] in logs_ips]
    by_tuple = defaultdict(list)
    for r in web:
        by_tuple[(r["interface-id"], r["srcport"])].append(r)
    longest = max(by_tuple.values(), key=len)
    assert len(longest) >= 60
    assert {r["tcp-flags"] for r in longest[1:-1]} == {"0"}


def test_s3_goes_through_the_gateway_endpoint(sample):
    s3 = [r for r in sample.ok() if r.get("pkt-dst-aws-service") == "S3" and r.get("flow-direction") == "egress"]
    assert s3 and {r["traffic-path"] for r in s3} == {"7"}


def test_replies_landing_in_the_next_window(sample):
    for case in sample.truth["reply_in_next_window"]:
        out = sample.matching({"interface-id": case["interface-id"], "srcaddr": case["srcaddr"],
                               "srcport": str(case["srcport"]), "dstport": str(case["dstport"])})
        back = sample.matching({"interface-id": case["interface-id"], "dstaddr": case["srcaddr"],
                                "dstport": str(case["srcport"])})
        syn = [r for r in out if r["tcp-flags"] == "2"]
        syn_ack = [r for r in back if int(r["tcp-flags"]) & 16]
        assert syn and syn_ack
        assert int(syn_ack[0]["start"]) > int(syn[0]["end"])


# ---------------------------------------------------------------- metadata

def test_describe_tasks_is_a_snapshot_at_1105(sample):
    tasks = sample.meta["describe-tasks"]["tasks"]
    for task in tasks:
        stopped = epoch(task.get("stoppedAt"))
        assert stopped is None or SNAPSHOT - 3600 < stopped <= SNAPSHOT
        assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
    assert any(t["lastStatus"] == "STOPPED" for t in tasks)
    started = {e["detail"]["taskArn"] for e in sample.events if e["detail"]["lastStatus"] == "RUNNING"}
    stopped = {e["detail"]["taskArn"] for e in sample.events if e["detail"]["lastStatus"] == "STOPPED"}
    ran = {t["taskArn"] for t in tasks if t.get("stopCode") != "TaskFailedToStart"}  # exporter's never ran
    assert ran <= started and ran != {t["taskArn"] for t in tasks}
    assert {t["taskArn"] for t in tasks if t["lastStatus"] == "STOPPED"} <= stopped
    assert stopped - {t["taskArn"] for t in tasks}  # some stops are older than an hour: events only


def test_task_enis_look_like_fargate_enis(sample):
    for eni in sample.enis.values():
        if eni["InterfaceType"] == "interface" and "InstanceId" in eni["Attachment"]:  # the proxy, the search host
            assert eni["RequesterManaged"] is False and "RequesterId" not in eni
        elif eni["InterfaceType"] == "interface":
            assert eni["Description"].startswith("arn:aws:ecs:eu-west-1:123456789012:attachment/")
            assert eni["RequesterManaged"] is True
    for event in sample.events:
        assert event["detail-type"] == "ECS Task State Change"
        assert event["detail"]["attachments"][0]["type"] == "eni"


def test_ip_ranges_and_prefix_list_agree(sample):
    entries = {e["Cidr"] for e in sample.meta["get-managed-prefix-list-entries.pl-6da54004"]["Entries"]}
    s3 = {p["ip_prefix"] for p in sample.meta["ip-ranges"]["prefixes"]
          if p["service"] == "S3" and p["region"] == "eu-west-1"}
    assert entries == s3


# ---------------------------------------------------------------- ground truth

@pytest.mark.parametrize("fid", ["F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F10", "F11"])
def test_fault_records_have_the_described_shape(sample, fid):
    fault = sample.fault(fid)
    names = {name for _, header, _ in sample.lines for name in header}
    for pattern in fault["expected_records"] + fault["absent_records"]:
        assert set(pattern["match"]) <= names  # else an absent pattern would hold vacuously
    for expected in fault["expected_records"]:
        assert sample.matching(expected["match"]), f"{fid}: no record for {expected['where']}"
    for absent in fault["absent_records"]:
        assert not sample.matching(absent["match"]), f"{fid}: unexpected records: {absent['where']}"


def test_fault_1_billing_security_group_egress(sample):
    fault = sample.fault("F1")
    sg = sample.security_group(sample.service_sg("billing"))
    assert fault["expected"]["resource"]["id"] == sg["GroupId"]
    endpoint_sg = sample.endpoint("secretsmanager")["Groups"][0]["GroupId"]
    https = [p for p in sg["IpPermissionsEgress"]
             if p["IpProtocol"] == "-1" or p.get("FromPort", 0) <= 443 <= p.get("ToPort", -1)]
    assert not any(r["CidrIp"] == "0.0.0.0/0" for p in https for r in p["IpRanges"])
    assert endpoint_sg not in {g["GroupId"] for p in https for g in p["UserIdGroupPairs"]}
    rejects = sample.matching({"ecs-service-name": "billing", "flow-direction": "egress", "action": "REJECT",
                               "dstport": "443"})
    assert rejects and {r["dstaddr"] for r in rejects} <= sample.endpoint_ips("secretsmanager")


def test_fault_2_sqs_endpoint_lets_api_in_but_not_orders(sample):
    sg = sample.security_group(sample.fault("F2")["expected"]["resource"]["id"])
    assert sg["GroupId"] == sample.endpoint("sqs")["Groups"][0]["GroupId"]
    allowed = {g["GroupId"] for p in sg["IpPermissions"] for g in p["UserIdGroupPairs"]}
    assert allowed == {sample.service_sg("api")}
    sqs = sample.endpoint_ips("sqs")
    orders_ips = set(sample.fault("F2")["source"]["addresses"])
    assert sample.matching({"srcaddr": list(orders_ips), "dstaddr": list(sqs), "action": "REJECT"})
    assert not sample.matching({"srcaddr": list(sqs), "dstaddr": list(orders_ips)})
    api_replies = sample.matching({"ecs-service-name": "api", "srcaddr": list(sqs), "flow-direction": "ingress"})
    assert any(r["tcp-flags"] in ("18", "19") for r in api_replies)


def test_fault_3_ledger_network_acl_drops_replies(sample):
    fault = sample.fault("F3")
    acl = next(a for a in sample.meta["describe-network-acls"]["NetworkAcls"]
               if a["NetworkAclId"] == fault["expected"]["resource"]["id"])
    ledger_subnets = {sample.enis.get(e, {}).get("SubnetId") for e in fault["source"]["interface_ids"]}
    assert ledger_subnets <= {a["SubnetId"] for a in acl["Associations"]}
    rule = next(e for e in acl["Entries"] if e["RuleNumber"] == fault["expected"]["resource"]["rule_number"])
    assert (rule["Egress"], rule["RuleAction"], rule["Protocol"], rule["PortRange"]) == (
        False, "deny", "6", {"From": 1024, "To": 65535})
    dropped = sample.matching({"interface-id": fault["source"]["interface_ids"], "srcport": "443", "action": "REJECT"})
    assert dropped and {r["srcaddr"] for r in dropped} <= sample.endpoint_ips("secretsmanager")


def test_fault_4_reports_has_no_route_out(sample):
    fault = sample.fault("F4")
    table = next(t for t in sample.meta["describe-route-tables"]["RouteTables"]
                 if t["RouteTableId"] == fault["expected"]["resource"]["id"])
    subnets = {sample.enis[e]["SubnetId"] for e in fault["source"]["interface_ids"]}
    assert subnets <= {a.get("SubnetId") for a in table["Associations"]}
    assert not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table["Routes"])
    sts = fault["destination"]["addresses"]
    ranges = sample.amazon_ranges("eu-west-1")
    assert all(any(ipaddress.ip_address(ip) in n for n in ranges) for ip in sts)
    assert sample.matching({"srcaddr": fault["source"]["addresses"], "dstaddr": sts, "action": "ACCEPT"})
    assert not sample.matching({"srcaddr": sts})


def test_fault_5_notifier_bypasses_the_sns_endpoint(sample):
    fault = sample.fault("F5")
    endpoint = sample.endpoint("sns")
    assert endpoint["VpcEndpointId"] == fault["expected"]["resource"]["id"]
    assert endpoint["PrivateDnsEnabled"] is False
    others = [e for e in sample.meta["describe-vpc-endpoints"]["VpcEndpoints"]
              if e["VpcEndpointType"] == "Interface" and e is not endpoint]
    assert all(e["PrivateDnsEnabled"] for e in others)
    ranges = sample.amazon_ranges("eu-west-1")
    assert all(any(ipaddress.ip_address(ip) in n for n in ranges) for ip in fault["destination"]["addresses"])
    nat = sample.meta["describe-nat-gateways"]["NatGateways"][0]["NatGatewayAddresses"][0]
    assert fault["destination"]["type"] == "aws_service"
    assert sample.meta["describe-nat-gateways"]["NatGateways"][0]["NatGatewayId"] in fault["destination"]["name"]
    assert sample.matching({"interface-id": nat["NetworkInterfaceId"], "srcaddr": nat["PrivateIp"],
                            "dstaddr": fault["destination"]["addresses"]})


def test_healthy_pairs_got_replies(sample):
    truth = sample.truth
    fault_pairs = {(f["service"], f["destination"]["name"]) for f in truth["faults"]}
    for pair in truth["healthy"]:
        assert (pair["service"], pair["destination"]["name"]) not in fault_pairs
        replies = sample.matching({"srcaddr": pair["destination"]["addresses"], "action": "ACCEPT",
                                   "srcport": str(pair["destination"]["port"])})
        assert replies, pair
    assert {(h["service"], h["destination"]["aws_service"]) for h in truth["healthy"]} >= {
        ("web", "logs"), ("web", "s3"), ("web", "ecr"), ("api", "sqs")}


def test_ip_reuse_is_seen_during_both_lifetimes(sample):
    cases = sample.truth["ip_reuse"]
    assert cases and all(c["earlier"]["service"] != c["later"]["service"] for c in cases)
    for case in cases:
        for side in ("earlier", "later"):
            lo, hi = epoch(case[side]["from"]), epoch(case[side]["to"]) or WINDOW[1]
            flows = [r for r in sample.ok()
                     if case["ip"] in (r["srcaddr"], r["dstaddr"]) and lo <= int(r["start"]) <= hi]
            assert flows, (side, case[side]["service"])
            assert case[side]["interface_id"] in {r["interface-id"] for r in flows}



# ---------------------------------------------------------------- the later services' evidence (issues 11-13)

ACCOUNT = "123456789012"


def json_gz(path: Path):
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.fixture(scope="module")
def trail() -> dict:
    """CloudTrail objects by folder: {folder: [(key, records)]}."""
    out = defaultdict(list)
    for name, path in files(SAMPLE).items():
        if "/CloudTrail" in name:
            out[name.split("/")[3]].append((name, json_gz(path)))
    return out


@pytest.fixture(scope="module")
def queries() -> list[dict]:
    return [json.loads(line) for name, path in files(SAMPLE).items() if "/vpcdnsquerylogs/" in name
            for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


def records(trail, folder="CloudTrail") -> list[dict]:
    return [r for _, doc in trail[folder] for r in doc["Records"]]


def test_trail_objects_have_the_cloudtrail_layout(trail):
    import re
    key = re.compile(rf"s3/AWSLogs/{ACCOUNT}/(CloudTrail|CloudTrail-NetworkActivity)/eu-west-1/2026/11/27/"
                     rf"{ACCOUNT}_CloudTrail_eu-west-1_20261127T\d{{4}}Z_[A-Za-z0-9]{{16}}\.json\.gz$")
    for folder in ("CloudTrail", "CloudTrail-NetworkActivity"):
        assert trail[folder] and all(key.match(name) for name, _ in trail[folder])
        assert all(set(doc) == {"Records"} for _, doc in trail[folder])
    times = [[r["eventTime"] for r in doc["Records"]] for _, doc in trail["CloudTrail"]]
    assert any(t != sorted(t) for t in times)  # CloudTrail files are not ordered
    by_id = defaultdict(set)
    for name, doc in trail["CloudTrail"]:
        for r in doc["Records"]:
            by_id[r["eventID"]].add(name)
    assert [len(v) for v in by_id.values() if len(v) > 1] == [2]  # one event delivered twice, in two files
    assert SAMPLE.joinpath("faults.json").read_text().count(next(k for k, v in by_id.items() if len(v) > 1)) == 1


def test_digests_list_each_delivered_file_with_its_hash(trail):
    import hashlib
    listed = {}
    for _, digest in trail["CloudTrail-Digest"]:
        assert digest["awsAccountId"] == ACCOUNT and digest["digestSignatureAlgorithm"] == "SHA256withRSA"
        listed.update({f["s3Object"]: f["hashValue"] for f in digest["logFiles"]})
    assert listed
    for name, path in files(SAMPLE).items():
        if name[3:] in listed:
            assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == listed[name[3:]]
    before_11 = {n[3:] for n, _ in trail["CloudTrail"] if n.rsplit("_", 2)[-2][9:11] in ("09", "10")}
    assert set(listed) == before_11  # the 12:00 digest (for 11:00-12:00) is not delivered yet


def test_denials_are_the_faulty_services_only(sample, trail):
    denied = [r for r in records(trail) if r.get("errorCode")]
    roles = {r["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] for r in denied}
    assert roles == {"inventory-task-role", "exporter-execution-role"}
    tasks = {t: f["service"] for f in sample.truth["faults"] for t in f["task_ids"]}
    assert {tasks[r["userIdentity"]["arn"].rsplit("/", 1)[1]] for r in denied} == {"inventory", "exporter"}
    for fid in ("F6", "F8"):
        api = sample.fault(fid)["api"]
        mine = [r for r in denied if r["eventName"] == api["event_name"]]
        assert len(mine) == api["events"] and {r["errorMessage"] for r in mine} >= {api["error_message"]}
        assert f"is not authorized to perform: {api['action']} on resource: {api['resource']} because no " \
               f"identity-based policy allows the {api['action']} action" in api["error_message"]
    healthy = [r for r in records(trail) if r["userIdentity"].get("arn", "").split("/")[1:2] in (["api-task-role"],
                                                                                                ["payouts-task-role"])]
    assert len(healthy) >= 20 and not any(r.get("errorCode") for r in healthy)
    ssm = [r for r in denied if r["eventSource"] == "ssm.amazonaws.com"]
    nat_ip = sample.meta["describe-nat-gateways"]["NatGateways"][0]["NatGatewayAddresses"][0]["PublicIp"]
    assert {r["sourceIPAddress"] for r in ssm} == {nat_ip} and not any("vpcEndpointId" in r for r in ssm)


def test_endpoint_policy_denial_is_only_a_network_activity_event(sample, trail):
    fault = sample.fault("F7")
    network = records(trail, "CloudTrail-NetworkActivity")
    assert {(r["eventType"], r["errorCode"], r["eventCategory"], r["vpcEndpointId"]) for r in network} == {
        ("AwsVpceEvent", "VpceAccessDenied", "NetworkActivity", fault["expected"]["resource"]["id"])}
    assert {r["sourceIPAddress"] for r in network} <= set(fault["source"]["addresses"])
    assert {r["userIdentity"]["arn"].rsplit("/", 1)[1] for r in network} == set(fault["task_ids"])
    assert not [r for r in records(trail) if r["eventSource"] == "kms.amazonaws.com"]  # KMS does not record it
    endpoint = sample.endpoint("kms")
    policy = json.loads(endpoint["PolicyDocument"])
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert deny["Sid"] == fault["expected"]["resource"]["statement"] and fault["api"]["resource"] != deny["NotResource"]
    assert sample.matching(fault["expected_records"][1]["match"])  # the network lets it through


def test_exporter_tasks_never_run_and_say_why(sample, trail):
    fault = sample.fault("F8")
    assert len(fault["failing_task_ids"]) == 20
    arns = {f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/prod/{t}" for t in fault["failing_task_ids"]}
    mine = [e["detail"] for e in sample.events if e["detail"]["taskArn"] in arns]
    assert {d["lastStatus"] for d in mine} == {"PENDING", "STOPPED"}
    request_ids = {r["requestID"] for r in records(trail) if r.get("errorCode") == "AccessDenied"}
    for d in mine:
        if d["lastStatus"] == "STOPPED":
            task_id = d["taskArn"].rsplit("/", 1)[1]
            assert d["stopCode"] == "TaskFailedToStart" and "startedAt" not in d
            assert d["stoppedReason"].startswith("ResourceInitializationError: unable to pull secrets or registry "
                                                 "auth: execution resource retrieval failed: ")
            assert f"assumed-role/exporter-execution-role/{task_id} is not authorized" in d["stoppedReason"]
            assert d["stoppedReason"].rsplit("request id: ", 1)[1] in request_ids
    shown = [t for t in sample.meta["describe-tasks"]["tasks"] if t["taskArn"] in arns]
    assert shown and all(t["stopCode"] == "TaskFailedToStart" for t in shown)


def test_query_logs_name_every_public_address(sample, queries):
    assert {q["version"] for q in queries} == {"1.100000"} and all(q["query_name"].endswith(".") for q in queries)
    answered = defaultdict(set)  # (srcaddr, address) -> names
    for q in queries:
        for a in q["answers"]:
            if a["Type"] == "A":
                answered[(q["srcaddr"], a["Rdata"])].add(q["query_name"].rstrip("."))
    ip_of = {e["detail"]["taskArn"].rsplit("/", 1)[1]: d["value"] for e in sample.events
             for d in e["detail"]["attachments"][0]["details"] if d["name"] == "privateIPv4Address"}
    found = 0
    for entry in sample.truth["public_addresses"]:
        if not entry["in_query_log"]:
            continue
        names = answered.get((ip_of[entry["task_id"]], entry["address"]), set())
        assert names & set(entry["names"]), entry
        found += 1
    assert found >= 40
    assert sum(e["in_query_log"] for e in sample.truth["public_addresses"]) > 0.9 * len(sample.truth["public_addresses"])
    assert {e["aws_service"] for e in sample.truth["public_addresses"]} >= {"s3", "sns", "sts", "ssm", None}


def test_query_logs_agree_with_the_endpoints_and_zones(sample, queries):
    prefix = "com.amazonaws.eu-west-1."
    private = {e["ServiceName"][len(prefix):]: sample.endpoint_ips(e["ServiceName"][len(prefix):])
               for e in sample.meta["describe-vpc-endpoints"]["VpcEndpoints"]
               if e["VpcEndpointType"] == "Interface" and e["PrivateDnsEnabled"]}
    for service in ("secretsmanager", "sqs", "kms", "logs"):
        got = {a["Rdata"] for q in queries if q["query_name"] == f"{service}.eu-west-1.amazonaws.com."
               for a in q["answers"]}
        assert got == private[service]
    sns = {a["Rdata"] for q in queries if q["query_name"] == "sns.eu-west-1.amazonaws.com." for a in q["answers"]}
    assert sns == set(sample.fault("F5")["destination"]["addresses"])  # private DNS off: public answers
    assert all(not q["answers"] or {a["Type"] for a in q["answers"]} == {"CNAME"}
               for q in queries if q["query_type"] == "AAAA")
    assert any([a["Type"] for a in q["answers"]][:2] == ["CNAME", "A"] for q in queries)
    fault = sample.fault("F9")
    nx = [q for q in queries if q["rcode"] == "NXDOMAIN"]
    assert {q["query_name"] for q in nx} == {fault["dns"]["query_name"]} and len(nx) == fault["dns"]["queries"] > 100
    assert {q["srcaddr"] for q in nx} == set(fault["source"]["addresses"])
    vpc = sample.meta["describe-vpcs"]["Vpcs"][0]["VpcId"]
    zone = next(z for z in sample.meta[f"list-hosted-zones-by-vpc.{vpc}"]["HostedZoneSummaries"]
                if z["HostedZoneId"] == fault["expected"]["resource"]["id"])
    assert fault["dns"]["query_name"].endswith("." + zone["Name"])
    sets = sample.meta[f"list-resource-record-sets.{zone['HostedZoneId']}"]["ResourceRecordSets"]
    assert fault["dns"]["query_name"] not in {r["Name"] for r in sets}
    assert not sample.matching({"srcaddr": fault["source"]["addresses"], "dstport": "443",
                                "pkt-dst-aws-service": ["AMAZON", "EC2"]})  # no flow to the API
    assert sample.meta["describe-vpc-attribute.enableDnsSupport"]["EnableDnsSupport"]["Value"] is True
    servers = [c for o in sample.meta["describe-dhcp-options"]["DhcpOptions"] for c in o["DhcpConfigurations"]
               if c["Key"] == "domain-name-servers"]
    assert servers[0]["Values"] == [{"Value": "AmazonProvidedDNS"}]
    vpc = sample.meta["describe-vpcs"]["Vpcs"][0]["VpcId"]
    assert [a["ResourceId"] for a in sample.meta["list-resolver-query-log-config-associations"][
        "ResolverQueryLogConfigAssociations"]] == [vpc] == list({q["vpc_id"] for q in queries})


def test_task_definitions_and_roles_cover_every_task(sample):
    defs = {d["taskDefinition"]["taskDefinitionArn"]: d["taskDefinition"]
            for d in sample.meta["describe-task-definition"]}
    used = {e["detail"]["taskDefinitionArn"] for e in sample.events}
    assert used == set(defs)
    roles = {r["Arn"]: r for r in sample.meta["get-account-authorization-details"]["RoleDetailList"]}
    for d in defs.values():
        assert d["taskRoleArn"] in roles and d["executionRoleArn"] in roles
    inventory = roles[sample.fault("F6")["expected"]["resource"]["id"]]
    actions = {a for p in inventory["RolePolicyList"] for s in p["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert "ssm:GetParameters" in actions and "ssm:GetParameter" not in actions
    exporter = roles[sample.fault("F8")["expected"]["resource"]["id"]]
    allowed = [s["Resource"] for p in exporter["RolePolicyList"] for s in p["PolicyDocument"]["Statement"]]
    assert sample.fault("F8")["api"]["resource"] not in allowed
    secret = next(c["secrets"][0]["valueFrom"] for d in defs.values() for c in d["containerDefinitions"]
                  if d["family"] == "exporter")
    assert secret == sample.fault("F8")["api"]["resource"]


def test_mailer_goes_to_a_proxy_that_does_not_let_it_in(sample):
    fault = sample.fault("F10")
    proxy = fault["proxy"]
    family, revision = fault["expected"]["resource"]["id"].split(":")
    d = next(x["taskDefinition"] for x in sample.meta["describe-task-definition"]
             if (x["taskDefinition"]["family"], str(x["taskDefinition"]["revision"])) == (family, revision))
    env = {e["name"]: e["value"] for c in d["containerDefinitions"] for e in c["environment"]}
    assert env["HTTPS_PROXY"] == f"http://{proxy['address']}:{proxy['port']}"
    assert "169.254.170.2" not in env["NO_PROXY"]
    eni = sample.enis[proxy["interface_id"]]
    assert eni["Attachment"]["InstanceId"] == proxy["instance_id"] and eni["PrivateIpAddress"] == proxy["address"]
    sg = sample.security_group(proxy["security_group"])
    allowed = {g["GroupId"] for p in sg["IpPermissions"] for g in p["UserIdGroupPairs"]}
    assert sample.service_sg("mailer") not in allowed


def test_resets_in_the_default_format_are_one_packet_of_40_bytes(sample):
    fault = sample.fault("F11")
    v2 = fault["flow_log_formats"]["default"]
    search = fault["destination"]["addresses"]
    replies = [r for r in sample.ok() if r["interface-id"] in v2 and r["srcaddr"] in search]
    requests = [r for r in sample.ok() if r["interface-id"] in v2 and r["dstaddr"] in search]
    assert len(replies) > 100 and "tcp-flags" not in replies[0]
    assert {(r["packets"], r["bytes"]) for r in replies} == {("1", "40")}
    assert {r["packets"] for r in requests} <= {"1", "2"}
    flagged = sample.matching({"interface-id": fault["flow_log_formats"]["custom"], "srcaddr": search})
    assert flagged and {r["tcp-flags"] for r in flagged} == {"4"}
