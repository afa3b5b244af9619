"""Import the hand-written AWS-CLI-shaped fixtures; the expected values are read off the JSON files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.addresses import cidr_bounds
from pipeline.metadata import SCHEMAS, import_files, register_views
from pipeline.metadata.store import committed_files, read_manifests
from pipeline.lake.storage import Store

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
SNAPSHOT = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)
UTC = timezone.utc


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("lake"))
    result = import_files(store, [FIXTURES], snapshot_time=SNAPSHOT)
    return store, result


def rows(store: Store, table: str, **where) -> list[dict]:
    files = committed_files(store, table)
    out = []
    for f in files:
        out += pq.read_table(store.path(f)).to_pylist()
    return [r for r in out if all(r[k] == v for k, v in where.items())]


def one(store: Store, table: str, **where) -> dict:
    found = rows(store, table, **where)
    assert len(found) == 1, found
    return found[0]


def test_every_fixture_is_recognised_and_counted(lake):
    store, result = lake
    assert sorted(result.sources) == sorted(p.name for p in FIXTURES.iterdir())
    assert result.counts == {
        "vpcs": 2, "subnets": 3, "route_tables": 5 + 3 + 1, "security_groups": 3, "security_group_rules": 1 + 2 + 3 + 2 + 2,
        "network_acls": 5 + 5, "vpc_endpoints": 3, "nat_gateways": 1, "network_interfaces": 10, "flow_logs": 2,
        "prefix_lists": 2 + 3, "ecs_tasks": 3 + 5 + 1, "ecs_services": 2, "aws_ip_ranges": 9 + 4,
        # describe-tasks: 3 tasks, 4 addresses; events: T4 running+stopped, T2 pending+stopped, T1 v4+v6;
        # snapshot: the two task ENIs, 3 addresses
        "eni_assignments": 4 + 6 + 3,
    }
    assert len(result.snapshot_id) == 20
    manifest = read_manifests(store)[0]
    assert {d["source"] for d in manifest["documents"]} == set(result.sources)


def test_common_columns(lake):
    store, result = lake
    for table in SCHEMAS:
        for r in rows(store, table):
            assert r["snapshot_id"] == result.snapshot_id
            assert r["snapshot_time"].tzinfo is not None
        for f in committed_files(store, table):
            assert pq.read_schema(store.path(f)) == SCHEMAS[table].remove_metadata()
    # the observation time: the given snapshot time, an event's own time, ip-ranges' createDate
    assert {r["snapshot_time"] for r in rows(store, "vpcs")} == {SNAPSHOT}
    assert {r["source"] for r in rows(store, "vpcs")} == {"describe-vpcs.json"}
    assert {r["snapshot_time"] for r in rows(store, "aws_ip_ranges")} == {datetime(2024, 5, 1, 6, 12, 3, tzinfo=UTC)}
    stopped = one(store, "ecs_tasks", task_id="dd44ee55ff6677889900aabbccddeeff", last_status="STOPPED")
    assert stopped["snapshot_time"] == ts("2024-05-01T07:10:30Z") and stopped["source"] == "ecs-task-events.ndjson"


def test_vpcs_and_subnets(lake):
    store, _ = lake
    vpc = one(store, "vpcs", vpc_id="vpc-0a1b2c3d4e5f60001")
    assert vpc["cidr_blocks"] == ["10.20.0.0/16", "10.21.0.0/16"]  # the disassociated block is left out
    assert vpc["ipv6_cidr_blocks"] == ["2600:1f18:4a2:b300::/56"] and vpc["is_default"] is False
    assert one(store, "vpcs", vpc_id="vpc-0def0def0def0def0")["is_default"] is True
    a = one(store, "subnets", subnet_id="subnet-0a1b2c3d4e5f6000a")
    assert (a["vpc_id"], a["cidr_block"], a["ipv6_cidr_blocks"], a["availability_zone"], a["availability_zone_id"],
            a["map_public_ip_on_launch"]) == ("vpc-0a1b2c3d4e5f60001", "10.20.1.0/24", ["2600:1f18:4a2:b301::/64"],
                                             "us-east-1a", "use1-az1", False)
    assert one(store, "subnets", subnet_id="subnet-0a1b2c3d4e5f6000c")["map_public_ip_on_launch"] is True


def test_route_tables_one_row_per_route(lake):
    store, _ = lake
    main = rows(store, "route_tables", route_table_id="rtb-0a1b2c3d4e5f60011")
    assert {r["is_main"] for r in main} == {True} and {tuple(r["subnet_ids"]) for r in main} == {("subnet-0a1b2c3d4e5f6000a",)}
    assert {(r["destination"], r["destination_type"], r["target_type"], r["target_id"], r["state"]) for r in main} == {
        ("10.20.0.0/16", "ipv4", "local", "local", "active"),
        ("2600:1f18:4a2:b300::/56", "ipv6", "local", "local", "active"),
        ("0.0.0.0/0", "ipv4", "nat_gateway", "nat-0a1b2c3d4e5f60031", "active"),
        ("pl-63a5400a", "prefix_list", "vpc_endpoint", "vpce-0a1b2c3d4e5f60044", "active"),
        ("192.168.0.0/16", "ipv4", "transit_gateway", "tgw-0a1b2c3d4e5f60023", "blackhole"),
    }
    public = rows(store, "route_tables", route_table_id="rtb-0a1b2c3d4e5f60012")
    assert {(r["destination"], r["target_type"], r["target_id"]) for r in public} == {
        ("10.20.0.0/16", "local", "local"), ("0.0.0.0/0", "internet_gateway", "igw-0a1b2c3d4e5f60021"),
        ("::/0", "egress_only_internet_gateway", "eigw-0a1b2c3d4e5f60022")}
    assert {r["is_main"] for r in public} == {False}
    empty = one(store, "route_tables", route_table_id="rtb-0a1b2c3d4e5f60013")
    assert empty["subnet_ids"] == ["subnet-0a1b2c3d4e5f6000b"] and empty["destination"] is None
    assert empty["target_type"] is None


def test_security_groups_and_rules(lake):
    store, _ = lake
    assert one(store, "security_groups", group_id="sg-0a1b2c3d4e5f60052")["group_name"] == "vpce"
    rules = {(r["group_id"], r["direction"], r["protocol"], r["from_port"], r["to_port"], r["peer_type"], r["peer"],
              r["description"]) for r in rows(store, "security_group_rules")}
    web, vpce, alb = "sg-0a1b2c3d4e5f60051", "sg-0a1b2c3d4e5f60052", "sg-0a1b2c3d4e5f60053"
    assert rules == {
        (web, "ingress", 6, 8080, 8080, "security_group", alb, "from the ALB"),
        (web, "egress", -1, None, None, "cidr_ipv4", "0.0.0.0/0", None),
        (web, "egress", -1, None, None, "cidr_ipv6", "::/0", None),
        (vpce, "ingress", 6, 443, 443, "cidr_ipv4", "10.20.0.0/16", "VPC"),
        (vpce, "ingress", 6, 443, 443, "security_group", web, None),
        (alb, "ingress", 6, 443, 443, "cidr_ipv4", "0.0.0.0/0", None),
        (alb, "ingress", 6, 443, 443, "cidr_ipv6", "::/0", "anyone v6"),
        (alb, "ingress", 1, None, None, "cidr_ipv4", "10.20.0.0/16", None),
        (alb, "egress", 6, 8080, 8080, "security_group", web, None),
        (alb, "egress", 6, 443, 443, "prefix_list", "pl-63a5400a", "S3"),
    }


def test_network_acls_one_row_per_entry(lake):
    store, _ = lake
    private = rows(store, "network_acls", network_acl_id="acl-0a1b2c3d4e5f60062")
    assert {tuple(r["subnet_ids"]) for r in private} == {("subnet-0a1b2c3d4e5f6000a", "subnet-0a1b2c3d4e5f6000b")}
    assert {r["is_default"] for r in private} == {False}
    assert {(r["rule_number"], r["egress"], r["protocol"], r["rule_action"], r["cidr_block"], r["from_port"],
             r["to_port"], r["icmp_type"], r["icmp_code"]) for r in private} == {
        (90, True, 6, "deny", "10.99.0.0/16", 443, 443, None, None),
        (100, True, -1, "allow", "0.0.0.0/0", None, None, None, None),
        (110, False, 6, "allow", "0.0.0.0/0", 1024, 65535, None, None),
        (120, False, 1, "allow", "10.20.0.0/16", None, None, 3, 4),
        (32767, False, -1, "deny", "0.0.0.0/0", None, None, None, None),
    }
    v6 = one(store, "network_acls", network_acl_id="acl-0a1b2c3d4e5f60061", rule_number=101)
    assert (v6["ipv6_cidr_block"], v6["cidr_block"], v6["egress"], v6["is_default"]) == ("::/0", None, False, True)


def test_endpoints_nat_flow_logs_prefix_lists(lake):
    store, _ = lake
    sqs = one(store, "vpc_endpoints", endpoint_id="vpce-0a1b2c3d4e5f60041")
    assert (sqs["aws_service"], sqs["endpoint_type"], sqs["state"], sqs["private_dns_enabled"]) == (
        "sqs", "interface", "available", True)
    assert sqs["network_interface_ids"] == ["eni-0a1b2c3d4e5f60141", "eni-0a1b2c3d4e5f60142"]
    assert sqs["security_group_ids"] == ["sg-0a1b2c3d4e5f60052"] and len(sqs["dns_names"]) == 2
    assert json.loads(sqs["policy_document"])["Statement"][0]["Effect"] == "Allow"
    dkr = one(store, "vpc_endpoints", endpoint_id="vpce-0a1b2c3d4e5f60043")
    assert (dkr["aws_service"], dkr["private_dns_enabled"]) == ("ecr.dkr", False)
    s3 = one(store, "vpc_endpoints", endpoint_id="vpce-0a1b2c3d4e5f60044")
    assert (s3["aws_service"], s3["endpoint_type"], s3["route_table_ids"]) == ("s3", "gateway", ["rtb-0a1b2c3d4e5f60011"])
    nat = one(store, "nat_gateways", nat_gateway_id="nat-0a1b2c3d4e5f60031")
    assert (nat["eni_id"], nat["private_ip"], nat["public_ip"], nat["state"], nat["connectivity_type"], nat["subnet_id"]) == (
        "eni-0a1b2c3d4e5f60131", "10.20.100.10", "54.210.10.20", "available", "public", "subnet-0a1b2c3d4e5f6000c")
    s3_log = one(store, "flow_logs", flow_log_id="fl-0a1b2c3d4e5f60091")
    assert (s3_log["destination_type"], s3_log["destination"], s3_log["max_aggregation_interval"],
            s3_log["traffic_type"], s3_log["log_group_name"]) == (
        "s3", "arn:aws:s3:::flowlogs-111122223333/vpc", 60, "ALL", None)
    assert s3_log["log_format"].endswith("${ecs-task-arn} ${ecs-task-id}")
    cwl = one(store, "flow_logs", flow_log_id="fl-0a1b2c3d4e5f60092")
    assert (cwl["resource_id"], cwl["log_group_name"], cwl["max_aggregation_interval"]) == (
        "subnet-0a1b2c3d4e5f6000a", "/vpc/flowlogs", 600)
    assert {(r["prefix_list_id"], r["prefix_list_name"], r["cidr"]) for r in rows(store, "prefix_lists")} == {
        ("pl-63a5400a", "com.amazonaws.us-east-1.s3", None), ("pl-02cd2c6b", "com.amazonaws.us-east-1.dynamodb", None),
        ("pl-63a5400a", None, "3.5.0.0/19"), ("pl-63a5400a", None, "52.216.0.0/15"), ("pl-63a5400a", None, "54.231.0.0/16")}


@pytest.mark.parametrize("eni_id, kind, resource_id", [
    ("eni-0a1b2c3d4e5f60101", "fargate_task", "1f2e3d4c-0000-4000-8000-000000000101"),
    ("eni-0a1b2c3d4e5f60141", "vpc_endpoint", "vpce-0a1b2c3d4e5f60041"),
    ("eni-0a1b2c3d4e5f60131", "nat_gateway", "nat-0a1b2c3d4e5f60031"),
    ("eni-0a1b2c3d4e5f60151", "load_balancer", "app/web-alb/50dc6c495c0c9188"),
    ("eni-0a1b2c3d4e5f60161", "lambda", "orders-handler-3f2a1b0c-1111-4222-8333-444455556666"),
    ("eni-0a1b2c3d4e5f60171", "ec2_instance", "i-0a1b2c3d4e5f60171"),
    ("eni-0a1b2c3d4e5f60181", "other", None),
])
def test_network_interface_kinds(lake, eni_id, kind, resource_id):
    store, _ = lake
    r = one(store, "network_interfaces", eni_id=eni_id)
    assert (r["kind"], r["resource_id"]) == (kind, resource_id)


def test_network_interface_addresses(lake):
    store, _ = lake
    task = one(store, "network_interfaces", eni_id="eni-0a1b2c3d4e5f60101")
    assert (task["private_ip"], task["private_ips"], task["ipv6_addresses"], task["public_ip"]) == (
        "10.20.1.25", ["10.20.1.25"], ["2600:1f18:4a2:b301::25"], None)
    assert (task["requester_managed"], task["requester_id"], task["interface_type"], task["security_group_ids"],
            task["status"], task["subnet_id"], task["vpc_id"]) == (
        True, "578734482556", "interface", ["sg-0a1b2c3d4e5f60051"], "in-use", "subnet-0a1b2c3d4e5f6000a",
        "vpc-0a1b2c3d4e5f60001")
    assert one(store, "network_interfaces", eni_id="eni-0a1b2c3d4e5f60151")["public_ip"] == "3.210.20.51"
    assert one(store, "network_interfaces", eni_id="eni-0a1b2c3d4e5f60131")["public_ip"] == "54.210.10.20"
    ec2 = one(store, "network_interfaces", eni_id="eni-0a1b2c3d4e5f60171")
    assert ec2["private_ips"] == ["10.20.2.71", "10.20.2.72"] and ec2["instance_id"] == "i-0a1b2c3d4e5f60171"


def test_ecs_tasks_and_services(lake):
    store, _ = lake
    t1 = one(store, "ecs_tasks", task_id="6b3f7d1e2a4c4b9f8e0d1c2b3a4f5e61", source="describe-tasks.json")
    assert (t1["cluster_name"], t1["service_name"], t1["task_group"], t1["last_status"], t1["launch_type"],
            t1["platform_version"], t1["version"]) == ("prod", "web", "service:web", "RUNNING", "FARGATE", "1.4.0", 3)
    assert (t1["eni_id"], t1["private_ip"], t1["ipv6_address"], t1["subnet_id"]) == (
        "eni-0a1b2c3d4e5f60101", "10.20.1.25", "2600:1f18:4a2:b301::25", "subnet-0a1b2c3d4e5f6000a")
    assert t1["container_names"] == ["web", "envoy"]
    assert (t1["created_at"], t1["pull_started_at"], t1["started_at"], t1["stopped_at"]) == (
        ts("2024-05-01T09:05:00Z"), ts("2024-05-01T09:05:20.5Z"), ts("2024-05-01T09:05:50Z"), None)
    # CLI v1 prints ECS times as epoch seconds
    t2 = one(store, "ecs_tasks", task_id="aa11bb22cc33dd44ee55ff6677889900", source="describe-tasks.json")
    assert (t2["created_at"], t2["pull_started_at"], t2["stopping_at"], t2["stopped_at"], t2["started_at"]) == (
        ts("2024-05-01T08:00:00Z"), ts("2024-05-01T08:00:15.123Z"), ts("2024-05-01T08:05:00Z"),
        ts("2024-05-01T08:05:30Z"), None)
    assert (t2["stop_code"], t2["service_name"]) == ("TaskFailedToStart", "worker")
    assert t2["stopped_reason"].startswith("ResourceInitializationError: unable to pull secrets or registry auth")
    migrate = rows(store, "ecs_tasks", task_id="dd44ee55ff6677889900aabbccddeeff")
    assert [r["last_status"] for r in sorted(migrate, key=lambda r: r["version"])] == ["PROVISIONING", "RUNNING", "STOPPED"]
    assert {r["service_name"] for r in migrate} == {None} and {r["task_group"] for r in migrate} == {"family:db-migrate"}
    web = one(store, "ecs_services", service_name="web")
    assert (web["cluster_name"], web["launch_type"], web["desired_count"], web["running_count"], web["subnet_ids"],
            web["security_group_ids"], web["assign_public_ip"]) == (
        "prod", "FARGATE", 2, 2, ["subnet-0a1b2c3d4e5f6000a", "subnet-0a1b2c3d4e5f6000b"], ["sg-0a1b2c3d4e5f60051"],
        "DISABLED")
    assert one(store, "ecs_services", service_name="worker")["launch_type"] == "FARGATE_SPOT"


def test_eni_assignment_evidence(lake):
    store, _ = lake
    t1 = rows(store, "eni_assignments", task_id="6b3f7d1e2a4c4b9f8e0d1c2b3a4f5e61", source="describe_tasks")
    # the describe-tasks IPv6 text "2600:1f18:4a2:b301:0:0:0:25" is stored canonical
    assert sorted((r["ip"], r["ip_version"]) for r in t1) == [("10.20.1.25", 4), ("2600:1f18:4a2:b301::25", 6)]
    for r in t1:  # valid from createdAt (pre-start traffic: secrets, image pull), open while RUNNING
        assert (r["valid_from"], r["valid_to"], r["eni_id"], r["attachment_id"], r["service_name"],
                r["cluster_name"], r["source_file"]) == (
            ts("2024-05-01T09:05:00Z"), None, "eni-0a1b2c3d4e5f60101", "1f2e3d4c-0000-4000-8000-000000000101", "web",
            "prod", "describe-tasks.json")
    t2 = one(store, "eni_assignments", task_id="aa11bb22cc33dd44ee55ff6677889900", source="describe_tasks")
    assert (t2["ip"], t2["valid_from"], t2["valid_to"], t2["task_last_status"]) == (
        "10.20.1.37", ts("2024-05-01T08:00:00Z"), ts("2024-05-01T08:05:30Z"), "STOPPED")
    events = rows(store, "eni_assignments", task_id="dd44ee55ff6677889900aabbccddeeff")
    # PROVISIONING (attachment PRECREATED, subnet only) gives no row; RUNNING is open; STOPPED closes
    assert sorted((r["task_last_status"], r["valid_to"]) for r in events) == [
        ("RUNNING", None), ("STOPPED", ts("2024-05-01T07:10:25Z"))]
    assert {(r["ip"], r["eni_id"], r["valid_from"], r["source"]) for r in events} == {
        ("10.20.2.90", "eni-0a1b2c3d4e5f60104", ts("2024-05-01T07:00:00Z"), "ecs_event")}
    snap = rows(store, "eni_assignments", source="eni_snapshot")
    assert sorted((r["eni_id"], r["ip"]) for r in snap) == [
        ("eni-0a1b2c3d4e5f60101", "10.20.1.25"), ("eni-0a1b2c3d4e5f60101", "2600:1f18:4a2:b301::25"),
        ("eni-0a1b2c3d4e5f60102", "10.20.1.37")]
    for r in snap:
        assert (r["valid_from"], r["valid_to"], r["task_arn"], r["vpc_id"], r["security_group_ids"]) == (
            SNAPSHOT, SNAPSHOT, None, "vpc-0a1b2c3d4e5f60001", ["sg-0a1b2c3d4e5f60051"])


def test_ip_ranges_bounds(lake):
    store, _ = lake
    s3 = one(store, "aws_ip_ranges", prefix="52.216.0.0/15", service="S3")
    assert (s3["ip_version"], s3["region"], s3["network_border_group"], s3["prefix_length"], s3["sync_token"]) == (
        4, "us-east-1", "us-east-1", 15, "1714543923")
    assert (s3["range_start"], s3["range_end"]) == (b"\0" * 10 + b"\xff\xff" + bytes([52, 216, 0, 0]),
                                                    b"\0" * 10 + b"\xff\xff" + bytes([52, 217, 255, 255]))
    v6 = one(store, "aws_ip_ranges", prefix="2a05:d07a:a000::/40", service="S3")
    assert (v6["ip_version"], v6["prefix_length"], (v6["range_start"], v6["range_end"])) == (
        6, 40, cidr_bounds("2a05:d07a:a000::/40"))


def test_importing_the_same_files_again_adds_nothing(lake):
    store, first = lake
    before = {t: len(committed_files(store, t)) for t in SCHEMAS}
    again = import_files(store, [FIXTURES])  # other snapshot time: still the same documents
    assert again.snapshot_id is None and again.counts == {} and sorted(again.skipped) == sorted(first.sources)
    assert {t: len(committed_files(store, t)) for t in SCHEMAS} == before
    assert len(read_manifests(store)) == 1


def test_new_file_next_to_old_ones_imports_only_the_new_one(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES / "describe-vpcs.json"], snapshot_time=SNAPSHOT)
    result = import_files(store, [FIXTURES / "describe-vpcs.json", FIXTURES / "describe-subnets.json"])
    assert result.sources == ["describe-subnets.json"] and result.skipped == ["describe-vpcs.json"]
    assert result.counts == {"subnets": 3}


def test_current_views_keep_the_latest_snapshot_per_resource(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES / "describe-vpc-endpoints.json"], snapshot_time=SNAPSHOT)
    later = json.loads((FIXTURES / "describe-vpc-endpoints.json").read_text())
    later["VpcEndpoints"] = [e for e in later["VpcEndpoints"] if e["VpcEndpointId"] == "vpce-0a1b2c3d4e5f60041"]
    later["VpcEndpoints"][0]["PrivateDnsEnabled"] = False
    (tmp_path / "later.json").write_text(json.dumps(later))
    import_files(store, [tmp_path / "later.json"], snapshot_time=datetime(2024, 5, 2, tzinfo=UTC))
    con = duckdb.connect()
    register_views(con, store)
    assert con.execute("SELECT count(*) FROM vpc_endpoints").fetchone()[0] == 4
    current = dict(con.execute("SELECT endpoint_id, private_dns_enabled FROM current_vpc_endpoints").fetchall())
    # the endpoint missing from the newer snapshot keeps its last known state
    assert current == {"vpce-0a1b2c3d4e5f60041": False, "vpce-0a1b2c3d4e5f60043": False,
                       "vpce-0a1b2c3d4e5f60044": False}


def test_unfinished_snapshot_is_invisible(tmp_path):
    """Table files without their manifest (a crash before the commit) are not read."""
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES / "describe-vpcs.json"], snapshot_time=SNAPSHOT)
    orphan = committed_files(store, "vpcs")[0].replace(".parquet", "")
    store.write_bytes(f"{orphan}0.parquet", store.read_bytes(committed_files(store, "vpcs")[0]))
    con = duckdb.connect()
    register_views(con, store)
    assert con.execute("SELECT count(*) FROM vpcs").fetchone()[0] == 2


def test_prefix_list_names_and_entries_combine_in_the_current_view(lake):
    store, _ = lake
    con = duckdb.connect()
    register_views(con, store)
    assert sorted(con.execute("SELECT prefix_list_id, prefix_list_name, cidr FROM current_prefix_lists").fetchall(),
                  key=str) == sorted([
        ("pl-02cd2c6b", "com.amazonaws.us-east-1.dynamodb", None),
        ("pl-63a5400a", "com.amazonaws.us-east-1.s3", "3.5.0.0/19"),
        ("pl-63a5400a", "com.amazonaws.us-east-1.s3", "52.216.0.0/15"),
        ("pl-63a5400a", "com.amazonaws.us-east-1.s3", "54.231.0.0/16")], key=str)
