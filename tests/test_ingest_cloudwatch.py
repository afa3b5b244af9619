"""Ingest from CloudWatch Logs against the moto server: formats, streams, cursors, faults.

The flow logs are created with ec2.create_flow_logs (moto keeps their LogFormat), so
the record format is found through DescribeFlowLogs as it is on AWS.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone

import boto3
import duckdb
import pytest

from pipeline.ingest.sources import cloudwatch
from pipeline.lake import store as lake
from pipeline.settings import Settings
from pipeline.ingest.load import ingest
from pipeline.lake.views import register_record_views
from pipeline.ingest.logformat import parse_log_format
from pipeline.lake.storage import Store
from test_ingest_s3 import ACCOUNT, REGION, cli, lake_digest
from throttle_proxy import ThrottleProxy, access_denied

FORMAT_A = ("${version} ${account-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} "
            "${start} ${end} ${action} ${log-status} ${flow-direction}")  # no interface-id: the stream says it
FORMAT_B = ("${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
            "${packets} ${bytes} ${start} ${end} ${action} ${log-status}")
ENIS = ["eni-0a1b2c3d4e5f60001", "eni-0a1b2c3d4e5f60002", "eni-0b9b8b7b6b5b40003"]
HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)  # events must stay in the past: a run reads up to now


def message(fmt: str, eni: str, at: datetime, k: int) -> str:
    values = {"version": "5" if "flow-direction" in fmt else "2", "account-id": ACCOUNT, "interface-id": eni,
              "srcaddr": f"10.0.1.{k % 200 + 10}", "dstaddr": f"52.94.5.{k % 250}", "srcport": str(40000 + k),
              "dstport": "443", "protocol": "6", "packets": str(k % 30 + 1), "bytes": str(k * 97 % 50000 + 60),
              "start": str(int(at.timestamp())), "end": str(int(at.timestamp()) + 60),
              "action": "REJECT" if k % 7 == 0 else "ACCEPT", "log-status": "OK", "flow-direction": "egress"}
    return " ".join(values[name] for name in parse_log_format(fmt))


def put_events(group: str, fmt: str, eni: str, times: list[datetime], first: int = 0):
    logs = boto3.client("logs")
    stream = f"{eni}-all"
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    events = [{"timestamp": int(t.timestamp() * 1000), "message": message(fmt, eni, t, first + i)}
              for i, t in enumerate(times)]
    for i in range(0, len(events), 5000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=sorted(
            events[i:i + 5000], key=lambda e: e["timestamp"]))
    return len(events)


def flow_log_group(group: str, *formats: str | None):
    """A log group that one flow log per format writes to (each on its own VPC)."""
    ec2 = boto3.client("ec2")
    boto3.client("logs").create_log_group(logGroupName=group)
    for n, fmt in enumerate(formats):
        vpc = ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
        ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogGroupName=group,
                             LogDestinationType="cloud-watch-logs", **({"LogFormat": fmt} if fmt else {}),
                             DeliverLogsPermissionArn=f"arn:aws:iam::{ACCOUNT}:role/flow-logs")


def every(minutes: int, hours: int, start: datetime = HOUR) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(0, hours * 60, minutes)]


def views(path):
    con = duckdb.connect()
    register_record_views(con, Store.open(path))
    return con


def test_streams_of_groups_with_their_own_formats(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    flow_log_group("/vpc/default-flows", None)
    counts = {eni: put_events("/vpc/task-flows", FORMAT_A, eni, every(2 + n, 3)) for n, eni in enumerate(ENIS)}
    put_events("/vpc/default-flows", FORMAT_B, "eni-0ddd0ddd0ddd0ddd0", every(10, 2))
    result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/task-flows", "/vpc/default-flows", "-q")
    assert result.exit_code == 0, result.output
    con = views(tmp_path / "lake")
    got = dict(con.execute("SELECT interface_id, count(*) FROM flows GROUP BY 1").fetchall())
    assert got == {**counts, "eni-0ddd0ddd0ddd0ddd0": 12}
    formats = dict(con.execute("SELECT interface_id = 'eni-0ddd0ddd0ddd0ddd0', any_value(_format) FROM flows "
                               "GROUP BY 1").fetchall())
    assert formats == {False: " ".join(parse_log_format(FORMAT_A)), True: " ".join(parse_log_format(FORMAT_B))}
    assert con.execute("SELECT DISTINCT flow_direction, aws_account, aws_region FROM flows WHERE NOT "
                       "interface_id = 'eni-0ddd0ddd0ddd0ddd0'").fetchall() == [("egress", ACCOUNT, REGION)]
    sources = {s for (s,) in con.execute("SELECT DISTINCT _source FROM flows").fetchall()}
    assert f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/task-flows:log-stream:{ENIS[0]}-all@" \
           f"{HOUR:%Y-%m-%dT%H}Z" in sources


def test_two_formats_in_one_group_need_log_format(aws, tmp_path):
    flow_log_group("/vpc/mixed", FORMAT_A, FORMAT_B)
    put_events("/vpc/mixed", FORMAT_B, ENIS[0], every(10, 1))
    result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/mixed", "-q")
    assert result.exit_code == 2
    assert "flow logs with different formats write to the log group /vpc/mixed" in result.output
    assert "--log-format" in result.output
    result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/mixed", "-q", "--log-format", FORMAT_B)
    assert result.exit_code == 0, result.output
    assert views(tmp_path / "lake").execute("SELECT count(*) FROM flows").fetchone() == (6,)


def test_incremental_runs_count_each_event_once(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    total = sum(put_events("/vpc/task-flows", FORMAT_A, eni, every(5, 3)) for eni in ENIS[:2])
    location = tmp_path / "lake"
    args = ("--lake", location, "ingest", "cloudwatch", "/vpc/task-flows", "-q", "--late-margin", "3h")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    # new events, a late event in an hour already ingested, a new stream
    total += put_events("/vpc/task-flows", FORMAT_A, ENIS[0], every(5, 1, HOUR + timedelta(hours=3)), first=100)
    total += put_events("/vpc/task-flows", FORMAT_A, ENIS[1], [HOUR + timedelta(hours=2, minutes=1)], first=200)
    total += put_events("/vpc/task-flows", FORMAT_A, ENIS[2], every(30, 1, HOUR + timedelta(hours=1)))
    second = cli(*args)
    assert second.exit_code == 0, second.output
    assert views(location).execute("SELECT count(*) FROM flows").fetchone() == (total,)
    third = cli(*args)
    assert "ingested 0 of" in third.output and views(location).execute(
        "SELECT count(*) FROM flows").fetchone() == (total,), third.output
    cursors = lake.cursors(lake.runs(Store.open(location)))
    assert set(cursors) == {f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/task-flows:log-stream:{e}-all"
                            for e in ENIS}
    assert max(cursors.values()) == int((HOUR + timedelta(hours=3, minutes=55)).timestamp() * 1000)
    clean = tmp_path / "clean"
    cli("--lake", clean, "ingest", "cloudwatch", "/vpc/task-flows", "-q")
    assert lake_digest(str(location)) == lake_digest(str(clean))


def test_stream_prefix(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    for eni in ENIS:
        put_events("/vpc/task-flows", FORMAT_A, eni, every(10, 1))
    result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/task-flows", "--stream-prefix",
                 "eni-0a1b", "-q")
    assert result.exit_code == 0, result.output
    got = views(tmp_path / "lake").execute("SELECT DISTINCT interface_id FROM flows ORDER BY 1").fetchall()
    assert got == [(ENIS[0],), (ENIS[1],)]


def test_pages_with_a_repeated_next_token(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    total = sum(put_events("/vpc/task-flows", FORMAT_A, eni, every(1, 2)) for eni in ENIS)
    store = Store.open(tmp_path / "lake")
    with ThrottleProxy(aws, repeat_token=True) as proxy, tempfile.TemporaryDirectory() as work:
        plan = cloudwatch.plan(Settings(endpoint_url=proxy.url), "/vpc/task-flows", work, known={}, cursors={},
                               limit=50)
        ingest(store, plan.sources, workers=1)
    tokens = [json.loads(r.body).get("nextToken") for r in proxy.seen("logs", "FilterLogEvents")]
    assert len(tokens) > 2 * (total // 50) and len(set(tokens)) < len(tokens)  # each token was answered twice
    con = views(store.root)
    assert con.execute("SELECT count(*), count(DISTINCT (interface_id, srcport)) FROM flows").fetchone() == (total, total)


def test_throttling_is_retried_and_the_lake_equals_a_clean_run(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    for eni in ENIS:
        put_events("/vpc/task-flows", FORMAT_A, eni, every(1, 3))
    clean = tmp_path / "clean"
    assert cli("--lake", clean, "ingest", "cloudwatch", "/vpc/task-flows", "-q").exit_code == 0
    faulty = tmp_path / "faulty"
    with ThrottleProxy(aws, every=2, drop=[5]) as proxy:  # --since 30h: five 6-hour chunks to page through
        result = cli("--lake", faulty, "ingest", "cloudwatch", "/vpc/task-flows", "-q", "--since", "30h",
                     env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.exit_code == 0, result.output
    assert proxy.throttled >= 2 and "retried" in result.output
    assert lake_digest(str(faulty)) == lake_digest(str(clean))


def test_chunks_left_after_the_retries_keep_the_cursors_back(aws, tmp_path):
    flow_log_group("/vpc/task-flows", FORMAT_A)
    for eni in ENIS:
        put_events("/vpc/task-flows", FORMAT_A, eni, every(5, 3))
    location = tmp_path / "lake"

    def throttle_filter(seen):
        return (400, {"Content-Type": "application/x-amz-json-1.1"},
                b'{"__type":"ThrottlingException","message":"Rate exceeded"}') if seen.action == "FilterLogEvents" else None

    with ThrottleProxy(aws, rule=throttle_filter) as proxy:
        result = cli("--lake", location, "ingest", "cloudwatch", "/vpc/task-flows", "-q",
                     env={"AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2"})
    assert result.exit_code == 2, result.output
    assert f"left arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpc/task-flows events" in result.output
    assert lake.cursors(lake.runs(Store.open(location))) == {}
    assert cli("--lake", location, "ingest", "cloudwatch", "/vpc/task-flows", "-q").exit_code == 0
    clean = tmp_path / "clean"
    cli("--lake", clean, "ingest", "cloudwatch", "/vpc/task-flows", "-q")
    assert lake_digest(str(location)) == lake_digest(str(clean)) and lake_digest(str(clean))[0] == 3 * 36


@pytest.mark.parametrize("case", ["missing", "denied"])
def test_errors_name_the_group_and_the_action(aws, tmp_path, case):
    if case == "missing":
        result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/nope")
        assert result.exit_code == 2 and "log group /vpc/nope" in result.output and "not found" in result.output
        return
    flow_log_group("/vpc/task-flows", FORMAT_A)
    with ThrottleProxy(aws, rule=lambda seen: access_denied("logs") if seen.service == "logs" else None) as proxy:
        result = cli("--lake", tmp_path / "lake", "ingest", "cloudwatch", "/vpc/task-flows",
                     env={"AWS_ENDPOINT_URL": proxy.url})
    assert result.exit_code == 2
    assert "access denied: logs:DescribeLogStreams on log group /vpc/task-flows" in result.output, result.output
