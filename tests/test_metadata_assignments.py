"""Time-valid task assignments: IP reuse, the merge rule, and evidence from flow records."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from pipeline.metadata import (assignments_from_flows, import_files, import_flow_assignments, register_views)
from pipeline.lake.storage import Store

FIXTURES = Path(__file__).parent / "fixtures" / "metadata"
UTC = timezone.utc
SNAPSHOT = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
ACCOUNT = "111122223333"
WORKER_TASK = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/aa11bb22cc33dd44ee55ff6677889900"  # 10.20.1.37 08:00-08:05:30
WEB_TASK = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/bb22cc33dd44ee55ff66778899001122"  # 10.20.1.37 from 09:00
FLOW_COLUMNS = ("interface_id", "srcaddr", "dstaddr", "flow_direction", "start", "end", "ecs_task_arn", "ecs_task_id",
                "ecs_cluster_name", "ecs_cluster_arn", "ecs_service_name", "ecs_task_definition_arn")


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def make_flows(con: duckdb.DuckDBPyConnection, records: list[tuple]) -> None:
    """A ``flows`` view with the columns the lead's ingest provides ('-' where a field is empty)."""
    con.execute("CREATE TABLE flow_records (" + ", ".join(
        f'"{c}" {"BIGINT" if c in ("start", "end") else "VARCHAR"}' for c in FLOW_COLUMNS) + ")")
    for r in records:
        full = list(r) + ["-"] * (len(FLOW_COLUMNS) - len(r))
        con.execute(f"INSERT INTO flow_records VALUES ({', '.join('?' * len(FLOW_COLUMNS))})", full)
    con.execute("CREATE VIEW flows AS SELECT * FROM flow_records")


@pytest.fixture(scope="module")
def fixture_lake(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("lake"))
    import_files(store, [FIXTURES], snapshot_time=SNAPSHOT)
    return store


@pytest.mark.parametrize("materialize", [False, True])
def test_ip_reuse_each_flow_resolves_to_the_task_of_its_time(fixture_lake, materialize):
    con = duckdb.connect()
    # Both flows are seen on the SQS endpoint ENI: the client address alone does not say which task.
    make_flows(con, [
        ("eni-0a1b2c3d4e5f60141", "10.20.1.37", "10.20.1.41", "ingress", epoch("2024-05-01T08:03:00Z"),
         epoch("2024-05-01T08:03:40Z")),
        ("eni-0a1b2c3d4e5f60141", "10.20.1.37", "10.20.1.41", "ingress", epoch("2024-05-01T09:40:00Z"),
         epoch("2024-05-01T09:40:40Z")),
        ("eni-0a1b2c3d4e5f60141", "10.20.1.37", "10.20.1.41", "ingress", epoch("2024-05-01T08:30:00Z"),
         epoch("2024-05-01T08:30:40Z")),
    ])
    created = register_views(con, fixture_lake, materialize=materialize)
    assert ("flow_address_owners_data" in created) is materialize

    # The naive join on the IP alone is ambiguous: two tasks of two services.
    naive = con.execute("""
        SELECT f.start, count(DISTINCT a.task_arn), list(DISTINCT a.service_name ORDER BY a.service_name)
        FROM flows f JOIN eni_assignments a ON a.ip = f.srcaddr GROUP BY f.start ORDER BY f.start""").fetchall()
    assert [(n, services) for _, n, services in naive] == [(2, ["web", "worker"])] * 3

    resolved = con.execute("""
        SELECT start, src_owner_kind, src_owner_id, src_owner_name, dst_owner_kind, dst_owner_id, dst_aws_service
        FROM flows_with_owners ORDER BY start""").fetchall()
    assert resolved == [
        (epoch("2024-05-01T08:03:00Z"), "ecs_task", WORKER_TASK, "worker", "vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs"),
        # between the two tasks nobody held the address: it is only a VPC address then
        (epoch("2024-05-01T08:30:00Z"), "vpc_internal", None, None, "vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs"),
        (epoch("2024-05-01T09:40:00Z"), "ecs_task", WEB_TASK, "web", "vpc_endpoint", "vpce-0a1b2c3d4e5f60041", "sqs"),
    ]


def test_resolve_view_for_address_and_time(fixture_lake):
    con = duckdb.connect()
    register_views(con, fixture_lake)
    con.execute("INSERT INTO resolve_input VALUES "
                "('10.20.1.37', '2024-05-01T08:03:00Z', NULL), ('10.20.1.37', '2024-05-01T09:40:00Z', NULL), "
                "('10.20.1.37', NULL, NULL), ('10.20.2.90', '2024-05-01T07:05:00Z', NULL), "
                "('10.20.2.90', '2024-05-01T07:20:00Z', NULL)")
    got = con.execute("SELECT address, at_time, owner_kind, task_arn, service_name, is_task_address FROM resolve "
                      "ORDER BY address, at_time NULLS LAST").fetchall()
    at = {(a, t.astimezone(UTC).isoformat() if t else None): (k, arn, s, is_task) for a, t, k, arn, s, is_task in got}
    assert at[("10.20.1.37", "2024-05-01T08:03:00+00:00")] == ("ecs_task", WORKER_TASK, "worker", True)
    assert at[("10.20.1.37", "2024-05-01T09:40:00+00:00")] == ("ecs_task", WEB_TASK, "web", True)
    assert at[("10.20.1.37", None)] == ("ecs_task", WEB_TASK, "web", True)  # now: the open-ended holder
    migrate = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/dd44ee55ff6677889900aabbccddeeff"
    assert at[("10.20.2.90", "2024-05-01T07:05:00+00:00")] == ("ecs_task", migrate, None, True)
    assert at[("10.20.2.90", "2024-05-01T07:20:00+00:00")] == ("vpc_internal", None, None, True)


def test_merged_assignments_of_the_fixtures(fixture_lake):
    con = duckdb.connect()
    register_views(con, fixture_lake)
    got = con.execute("""
        SELECT task_id, ip, eni_id, service_name, valid_from, valid_to, source, sources, vpc_id, security_group_ids
        FROM eni_assignments ORDER BY ip, valid_from""").fetchall()
    t = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    rows = [(r[0][:6], r[1], r[2][-3:], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in got]
    vpc, sg = "vpc-0a1b2c3d4e5f60001", ["sg-0a1b2c3d4e5f60051"]
    assert rows == [
        ("6b3f7d", "10.20.1.25", "101", "web", t("2024-05-01T09:05:00"), None, "describe_tasks",
         ["describe_tasks", "ecs_event", "eni_snapshot"], vpc, sg),
        ("aa11bb", "10.20.1.37", "103", "worker", t("2024-05-01T08:00:00"), t("2024-05-01T08:05:30"), "describe_tasks",
         ["describe_tasks", "ecs_event"], vpc, None),
        # the ENI snapshot (no task in it) joined its task through the ENI id
        ("bb22cc", "10.20.1.37", "102", "web", t("2024-05-01T09:00:00"), None, "describe_tasks",
         ["describe_tasks", "eni_snapshot"], vpc, sg),
        ("dd44ee", "10.20.2.90", "104", None, t("2024-05-01T07:00:00"), t("2024-05-01T07:10:25"), "ecs_event",
         ["ecs_event"], vpc, None),
        ("6b3f7d", "2600:1f18:4a2:b301::25", "101", "web", t("2024-05-01T09:05:00"), None, "describe_tasks",
         ["describe_tasks", "ecs_event", "eni_snapshot"], vpc, sg),
    ]


def _event(path: Path, events: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path


def _task_event(task: str, ip: str, status: str, created: str, *, service: str, eni: str, time: str,
                stopped: str | None = None, subnet: str = "subnet-0a1b2c3d4e5f6000a") -> dict:
    detail = {
        "taskArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/{task}",
        "clusterArn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod", "group": f"service:{service}",
        "lastStatus": status, "desiredStatus": "RUNNING", "createdAt": created,
        "attachments": [{"id": f"att-{task}", "type": "eni", "status": "ATTACHED", "details": [
            {"name": "subnetId", "value": subnet}, {"name": "networkInterfaceId", "value": eni},
            {"name": "privateIPv4Address", "value": ip}]}],
    }
    if stopped:
        detail["stoppedAt"] = stopped
    return {"detail-type": "ECS Task State Change", "source": "aws.ecs", "time": time, "detail": detail}


def test_overlapping_holders_the_later_start_wins(tmp_path):
    """Task x's stop was never seen; task y got the same IP at 11:00: x ends just before."""
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES / "describe-subnets.json", _event(tmp_path / "ev.ndjson", [
        _task_event("x", "10.20.1.99", "RUNNING", "2024-05-01T10:00:00Z", service="a", eni="eni-0x", time="2024-05-01T10:01:00Z"),
        _task_event("y", "10.20.1.99", "RUNNING", "2024-05-01T11:00:00Z", service="b", eni="eni-0y", time="2024-05-01T11:01:00Z"),
    ])], snapshot_time=SNAPSHOT)
    con = duckdb.connect()
    register_views(con, store)
    got = con.execute("SELECT task_id, valid_from, valid_to, observed_to, truncated, conflict FROM eni_assignments "
                      "ORDER BY valid_from").fetchall()
    eleven = datetime(2024, 5, 1, 11, tzinfo=UTC)
    assert got == [("x", eleven - timedelta(hours=1), eleven - timedelta(microseconds=1), None, True, False),
                   ("y", eleven, None, None, False, False)]
    intervals = con.execute("SELECT task_id, to_epoch FROM eni_assignment_intervals ORDER BY from_epoch").fetchall()
    assert intervals == [("x", eleven.timestamp() - 1e-6), ("y", 1e18)]


def test_same_start_is_a_conflict_resolved_deterministically(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [_event(tmp_path / "ev.ndjson", [
        _task_event("p", "10.20.1.98", "RUNNING", "2024-05-01T10:00:00Z", service="a", eni="eni-0p", time="2024-05-01T10:01:00Z"),
        _task_event("q", "10.20.1.98", "RUNNING", "2024-05-01T10:00:00Z", service="b", eni="eni-0q", time="2024-05-01T10:01:00Z"),
    ])], snapshot_time=SNAPSHOT)
    con = duckdb.connect()
    register_views(con, store)
    got = con.execute("SELECT task_id, conflict FROM eni_assignments ORDER BY task_id").fetchall()
    assert got == [("p", True), ("q", False)]  # ordered by task key: the last one keeps the address
    con.execute("INSERT INTO resolve_input VALUES ('10.20.1.98', '2024-05-01T10:30:00Z', NULL)")
    assert con.execute("SELECT task_id FROM resolve").fetchall() == [("q",)]
    assert con.execute("SELECT task_id FROM eni_assignment_intervals").fetchall() == [("q",)]


def test_the_same_ip_in_two_vpcs_at_once(tmp_path):
    """Overlapping VPC CIDRs: per VPC both tasks keep the address; a vpc hint picks one."""
    store = Store.open(tmp_path / "lake")
    subnets = {"Subnets": [
        {"SubnetId": "subnet-0aaa", "VpcId": "vpc-0aaa", "CidrBlock": "10.0.0.0/24"},
        {"SubnetId": "subnet-0bbb", "VpcId": "vpc-0bbb", "CidrBlock": "10.0.0.0/24"}]}
    (tmp_path / "subnets.json").write_text(json.dumps(subnets))
    import_files(store, [tmp_path / "subnets.json", _event(tmp_path / "ev.ndjson", [
        _task_event("m", "10.0.0.7", "RUNNING", "2024-05-01T10:00:00Z", service="a", eni="eni-0m",
                    time="2024-05-01T10:01:00Z", subnet="subnet-0aaa"),
        _task_event("n", "10.0.0.7", "RUNNING", "2024-05-01T10:05:00Z", service="b", eni="eni-0n",
                    time="2024-05-01T10:06:00Z", subnet="subnet-0bbb"),
    ])], snapshot_time=SNAPSHOT)
    con = duckdb.connect()
    register_views(con, store)
    assert con.execute("SELECT task_id, vpc_id, valid_to, truncated FROM eni_assignments ORDER BY task_id").fetchall() == [
        ("m", "vpc-0aaa", None, False), ("n", "vpc-0bbb", None, False)]
    con.execute("INSERT INTO resolve_input VALUES ('10.0.0.7', '2024-05-01T10:30:00Z', 'vpc-0aaa'), "
                "('10.0.0.7', '2024-05-01T10:30:00Z', 'vpc-0bbb'), ('10.0.0.7', '2024-05-01T10:30:00Z', NULL)")
    got = dict(((v, t) for v, t in con.execute("SELECT vpc_hint, task_id FROM resolve").fetchall()))
    assert got == {"vpc-0aaa": "m", "vpc-0bbb": "n", None: "n"}


def test_an_eni_snapshot_alone_still_names_the_eni(tmp_path):
    store = Store.open(tmp_path / "lake")
    doc = json.loads((FIXTURES / "describe-network-interfaces.json").read_text())
    doc["NetworkInterfaces"] = [doc["NetworkInterfaces"][0]]
    (tmp_path / "eni.json").write_text(json.dumps(doc))
    import_files(store, [tmp_path / "eni.json"], snapshot_time=SNAPSHOT)
    con = duckdb.connect()
    register_views(con, store)
    con.execute("INSERT INTO resolve_input VALUES ('10.20.1.25', ?, NULL)", [SNAPSHOT])
    assert con.execute("SELECT owner_kind, owner_id, task_arn FROM resolve").fetchall() == [
        ("ecs_task", "eni-0a1b2c3d4e5f60101", None)]
    assert con.execute("SELECT task_key, valid_from, valid_to FROM eni_assignments WHERE ip = '10.20.1.25'").fetchall() == [
        ("eni:eni-0a1b2c3d4e5f60101", SNAPSHOT, SNAPSHOT)]


ECS = (f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/prod/feedfacefeedfacefeedfacefeedface", "feedfacefeedfacefeedfacefeedface",
       "prod", f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/prod", "api", f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/api:9")


def _flow_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    make_flows(con, [
        ("eni-0feed", "10.20.2.50", "10.20.1.41", "egress", 1714557600, 1714557650, *ECS),
        ("eni-0feed", "10.20.1.41", "10.20.2.50", "ingress", 1714557700, 1714557750, *ECS),
        ("eni-0feed", "10.20.2.50", "52.216.8.8", "egress", 1714558000, 1714558030, *ECS),
        ("eni-0feed", "10.20.2.50", "52.216.8.8", "-", 1714558100, 1714558130, *ECS),
        ("eni-0other", "10.20.2.51", "52.216.8.8", "egress", 1714558000, 1714558030),  # no ECS fields
    ])
    return con


def test_assignments_from_flows():
    table = assignments_from_flows(_flow_con())
    got = sorted(table.to_pylist(), key=lambda r: str(r["ip"]))
    assert [(r["eni_id"], r["ip"], r["ip_version"], r["task_arn"], r["task_id"], r["cluster_name"], r["service_name"],
             r["valid_from"], r["valid_to"], r["source"]) for r in got] == [
        ("eni-0feed", "10.20.2.50", 4, ECS[0], ECS[1], "prod", "api",
         datetime.fromtimestamp(1714557600, UTC), datetime.fromtimestamp(1714558030, UTC), "flow_ecs_fields"),
        # the record without a flow direction names the ENI only
        ("eni-0feed", None, None, ECS[0], ECS[1], "prod", "api",
         datetime.fromtimestamp(1714558100, UTC), datetime.fromtimestamp(1714558130, UTC), "flow_ecs_fields"),
    ]


def test_flow_evidence_is_merged_live_and_can_be_stored(tmp_path):
    store = Store.open(tmp_path / "lake")
    import_files(store, [FIXTURES / "describe-subnets.json"], snapshot_time=SNAPSHOT)
    con = _flow_con()
    register_views(con, store)
    assert con.execute("SELECT task_id, ip, sources, valid_from, valid_to, vpc_id FROM eni_assignments "
                       "WHERE ip IS NOT NULL").fetchall() == [
        (ECS[1], "10.20.2.50", ["flow_ecs_fields"], datetime.fromtimestamp(1714557600, UTC),
         datetime.fromtimestamp(1714558030, UTC), None)]
    first = import_flow_assignments(store, con)
    assert first.counts == {"eni_assignments": 2}
    again = import_flow_assignments(store, con)
    assert again.snapshot_id is None and again.skipped == ["flows"]
    plain = duckdb.connect()  # no flows view: the stored evidence alone
    register_views(plain, store)
    assert plain.execute("SELECT task_id, source FROM eni_assignments WHERE ip = '10.20.2.50'").fetchall() == [
        (ECS[1], "flow_ecs_fields")]
