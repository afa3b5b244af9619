"""CloudTrail and Resolver query logs through ``flowlogs ingest``: S3 and CloudWatch on moto, local files.

One bucket holding flow logs, trails (management, network activity, organisation) and
query logs side by side lands each file in its own table; digests are counted, not read;
a run again adds nothing; an event CloudTrail delivered twice is one row in ``api_calls``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from event_builders import (ACCOUNT, REGION, digest_file, network_activity_denial, query_log_file, query_log_key,
                            query_record, trail_event, trail_file, trail_key)
from test_ingest_s3 import BUCKET, cli, make_bucket, put_flow_log

AT = datetime(2024, 6, 20, 10, 0, tzinfo=timezone.utc)
ORG_ACCOUNT = "210987654321"


def sql(lake, query: str) -> list[list]:
    result = cli("--lake", lake, "sql", "--format", "json", query)
    assert result.exit_code == 0, result.output
    return [list(row.values()) for row in json.loads(result.stdout)]


def info(lake) -> dict:
    result = cli("--lake", lake, "lake", "info", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_bucket_of_flow_logs_trails_and_query_logs(aws, tmp_path):
    s3 = make_bucket()
    put_flow_log(s3, AT, 20)
    put = lambda key, body: s3.put_object(Bucket=BUCKET, Key=key, Body=body)  # noqa: E731
    put(trail_key(AT), trail_file([trail_event(k, AT + timedelta(seconds=k)) for k in range(30)]))
    put(trail_key(AT, folder="CloudTrail-NetworkActivity"),
        trail_file([network_activity_denial(k, AT + timedelta(seconds=k)) for k in range(5)]))
    put(trail_key(AT, org="o-a1b2c3d4e5", account=ORG_ACCOUNT),
        trail_file([dict(trail_event(k, AT, event_id=f"org-{k}"), recipientAccountId=ORG_ACCOUNT) for k in range(4)]))
    put(trail_key(AT, folder="CloudTrail-Digest"), digest_file(AT))
    put(trail_key(AT + timedelta(hours=1), folder="CloudTrail-Digest"), digest_file(AT + timedelta(hours=1)))
    put(query_log_key(AT), query_log_file([query_record(k, AT + timedelta(seconds=k)) for k in range(46)]))
    put(trail_key(AT, tag="broken"), b"\x1f\x8b\x08\x00 not really gzip")  # one bad file
    lake = tmp_path / "lake"

    result = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "--quiet", "--workers", 1)
    assert result.exit_code == 1, result.output  # the broken file is refused; everything else is in
    assert "skipped 2 CloudTrail digest files" in result.output
    assert "not a valid gzip file" in result.output
    tables = info(lake)["tables"]
    assert {name: t["records"] for name, t in tables.items() if t["records"]} == {
        "flows": 20, "api_calls": 30 + 5 + 4, "dns_queries": 46}

    assert sql(lake, "SELECT event_category, error_code, count(*) FROM api_calls "
                     "WHERE event_type = 'AwsVpceEvent' GROUP BY ALL") == [["NetworkActivity", "VpceAccessDenied", 5]]
    # the organisation trail's events are partitioned by the member account, from the key and the record
    assert sql(lake, "SELECT DISTINCT aws_account, aws_region, dt FROM api_calls WHERE event_id LIKE 'org-%'") == [
        [ORG_ACCOUNT, REGION, "2024-06-20"]]
    assert sql(lake, "SELECT role_arn, session_name, vpc_endpoint_id, tls_host FROM api_calls "
                     "WHERE event_id = (SELECT event_id FROM api_calls WHERE event_type = 'AwsApiCall' "
                     "ORDER BY event_time, event_id LIMIT 1)") != []
    first = trail_event(1, AT)
    assert sql(lake, f"SELECT role_arn, session_name, vpc_endpoint_id, tls_host, read_only FROM api_calls "
                     f"WHERE event_id = '{first['eventID']}'") == [[
        first["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"], first["userIdentity"]["arn"].rsplit("/", 1)[1],
        first["vpcEndpointId"], first["tlsDetails"]["clientProvidedHostHeader"], first["readOnly"]]]
    # query logs: names normalised, addresses of A answers, the VPC from the record
    third = query_record(3, AT)
    assert sql(lake, "SELECT name, query_name, answer_addresses, vpc_id, srcport FROM dns_queries "
                     f"WHERE srcaddr = '{third['srcaddr']}' AND query_time = TIMESTAMPTZ '{AT + timedelta(seconds=3)}'") == [[
        third["query_name"].rstrip("."), third["query_name"], [a["Rdata"] for a in third["answers"] if a["Type"] == "A"],
        third["vpc_id"], int(third["srcport"])]]

    again = cli("--lake", lake, "ingest", f"s3://{BUCKET}", "--quiet", "--workers", 1)
    assert "ingested 0 of" in again.output, again.output
    assert {name: t["records"] for name, t in info(lake)["tables"].items() if t["records"]} == {
        "flows": 20, "api_calls": 39, "dns_queries": 46}


def test_an_event_delivered_twice_is_one_row(tmp_path):
    """CloudTrail may deliver an event again in a later file: same eventID, time, source and name."""
    root = tmp_path / "trail"
    events = [trail_event(k, AT + timedelta(seconds=k)) for k in range(10)]
    reused_id = dict(trail_event(99, AT), eventID=events[0]["eventID"], eventName="DifferentCall")  # not a copy
    for name, batch in (("a", events[:6]), ("b", events[4:] + [reused_id])):
        path = root / trail_key(AT, tag=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(trail_file(batch))
    lake = tmp_path / "lake"
    assert cli("--lake", lake, "ingest", "--quiet", "--workers", 1, root).exit_code == 0
    table = info(lake)["tables"]["api_calls"]
    assert (table["records"], table["stored"]) == (11, 13)
    assert sql(lake, "SELECT count(*), count(DISTINCT event_id) FROM api_calls") == [[11, 10]]
    assert sql(lake, "SELECT count(*) FROM _api_calls_rows") == [[13]]
    # the copy kept is the first by source and position
    assert sql(lake, f"SELECT _line FROM api_calls WHERE event_id = '{events[4]['eventID']}'") == [[5]]


def test_bad_records_are_quarantined_the_rest_kept(tmp_path):
    good = [json.dumps(trail_event(k, AT)) for k in range(3)]
    lines = [good[0], "{not json", good[1], json.dumps(dict(trail_event(7, AT), eventTime="yesterday")), good[2],
             json.dumps(query_record(1, AT)), json.dumps(dict(query_record(2, AT), srcport="http"))]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", "--quiet", "--workers", 1, path)
    assert result.exit_code == 1, result.output
    assert {n: t["records"] for n, t in info(lake)["tables"].items() if t["records"]} == {"api_calls": 3,
                                                                                         "dns_queries": 1}
    rows = sql(lake, "SELECT _line, reason FROM quarantine ORDER BY _line")
    assert [r[0] for r in rows] == [2, 4, 7]
    assert "invalid JSON" in rows[0][1] and "'yesterday' is not a time" in rows[1][1]
    assert "srcport is not a port number: 'http'" in rows[2][1]


def _log_group(name: str, messages: list[tuple[datetime, str]], stream: str):
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=name)
    logs.create_log_stream(logGroupName=name, logStreamName=stream)
    logs.put_log_events(logGroupName=name, logStreamName=stream, logEvents=[
        {"timestamp": int(t.timestamp() * 1000), "message": m} for t, m in sorted(messages)])


def test_cloudwatch_groups_of_a_trail_and_of_query_logs(aws, tmp_path):
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    events = [trail_event(k, hour + timedelta(minutes=k)) for k in range(12)]
    _log_group("aws-cloudtrail-logs-trail", [(hour + timedelta(minutes=k), json.dumps(e)) for k, e in enumerate(events)],
               f"{ACCOUNT}_CloudTrail_{REGION}")
    queries = [query_record(k, hour + timedelta(minutes=2 * k)) for k in range(40)]
    _log_group("/resolver/query-logs", [(hour + timedelta(minutes=2 * k), json.dumps(q)) for k, q in enumerate(queries)],
               "vpc-0a1b2c3d4e5f60718_1a2b3c")
    lake = tmp_path / "lake"
    result = cli("--lake", lake, "ingest", "cloudwatch", "aws-cloudtrail-logs-trail", "/resolver/query-logs",
                 "--quiet", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert {n: t["records"] for n, t in info(lake)["tables"].items() if t["records"]} == {"api_calls": 12,
                                                                                         "dns_queries": 40}
    assert sql(lake, "SELECT DISTINCT _format FROM api_calls") == [["cloudwatch-logs"]]
    assert sql(lake, f"SELECT event_name, error_code FROM api_calls WHERE event_id = '{events[0]['eventID']}'") == [
        [events[0]["eventName"], events[0].get("errorCode")]]
    again = cli("--lake", lake, "ingest", "cloudwatch", "aws-cloudtrail-logs-trail", "/resolver/query-logs",
                "--quiet", "--workers", 1)
    assert again.exit_code == 0, again.output
    assert {n: t.get("stored", t["records"]) for n, t in info(lake)["tables"].items() if t["records"]} == {
        "api_calls": 12, "dns_queries": 40}


@pytest.mark.parametrize("shape", ["lookup-events", "eventbridge", "firehose"])
def test_other_shapes_of_the_same_events(tmp_path, shape):
    events = [trail_event(k, AT) for k in range(3)]
    if shape == "lookup-events":
        doc = json.dumps({"Events": [{"EventId": e["eventID"], "EventName": e["eventName"],
                                      "CloudTrailEvent": json.dumps(e)} for e in events]}, indent=4)
    elif shape == "eventbridge":
        doc = "\n".join(json.dumps({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.sqs",
                                    "detail": e}) for e in events)
    else:
        doc = "\n".join(json.dumps({"message": json.dumps(e)}) for e in events)
    path = tmp_path / "events.json"
    path.write_text(doc)
    lake = tmp_path / "lake"
    assert cli("--lake", lake, "ingest", "--quiet", "--workers", 1, path).exit_code == 0
    assert sql(lake, "SELECT event_id FROM api_calls ORDER BY _line") == [[e["eventID"]] for e in events]


def _record_by_record(data: bytes):
    from pipeline.ingest import jsonlogs
    from pipeline.ingest.events import Events

    _, _, found = jsonlogs.split(data, found=Events("s", "i", {"vpc_id": "vpc-key", "account_id": "000000000000"}))
    batches = [table for table, _ in found.batches() if table.num_rows]
    return batches[0].schema.empty_table() if not batches else __import__("pyarrow").concat_tables(batches)


@pytest.mark.parametrize("name", ["generated", "real"])
def test_query_logs_typed_by_arrow_equal_the_record_by_record_path(name):
    """Resolver JSON lines take a C++ path (Arrow's JSON reader); it must give the same rows."""
    import gzip

    from conftest import shared
    from pipeline.ingest.arrowjson import query_log_lines

    if name == "generated":
        records = [query_record(k, AT + timedelta(seconds=k)) for k in range(300)]
        records[5]["answers"][0:0] = [{"Rdata": "alias.example.com. ", "Type": "CNAME", "Class": "IN"}] if records[5]["answers"] else []
        records[7].update(srcids={"instance": "i-0abc"}, firewall_rule_action="BLOCK")
        del records[9]["vpc_id"]
        data = b"\n" + gzip.decompress(query_log_file(records)) + b"\n\n"
    else:
        data = shared("real_samples", "route53resolver/elastic-integrations/test-route53.log").read_bytes()
    fast = query_log_lines(data, "s", "i", {"vpc_id": "vpc-key"})
    assert fast is not None and fast.num_rows == len([line for line in data.splitlines() if line.strip()])
    assert fast.to_pylist() == _record_by_record(data).to_pylist()


@pytest.mark.parametrize("change", [{"srcport": "http"}, {"srcport": "70000"}, {"query_timestamp": "yesterday"},
                                    {"srcids": ["i-0abc"]}, {"answers": {"Rdata": "1.2.3.4", "Type": "A", "Class": "IN"}},
                                    {"answers": [{"Address": "1.2.3.4", "Type": "A", "Class": "IN"}]}])
def test_query_log_lines_the_arrow_path_leaves_to_the_record_path(change):
    lines = [json.dumps(query_record(k, AT)) for k in range(3)] + [json.dumps(dict(query_record(4, AT), **change))]
    from pipeline.ingest.arrowjson import query_log_lines

    assert query_log_lines(("\n".join(lines) + "\n").encode(), "s", "i", {}) is None


def test_trail_records_typed_by_arrow_equal_the_record_by_record_path():
    """Trail objects take a C++ path too; generated (every field kind) and the real gzipped trail file."""
    import gzip

    from conftest import shared
    from pipeline.ingest.arrowjson import trail_records

    events = [trail_event(k, AT + timedelta(seconds=k)) for k in range(200)] + [network_activity_denial(3, AT)]
    events[4]["userIdentity"] = {"type": "AWSService", "invokedBy": "ecs-tasks.amazonaws.com"}
    events[6]["userIdentity"]["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/no-session"
    events[8]["errorMessage"] = 'quotes " and }},{"eventVersion": inside a string'
    del events[10]["recipientAccountId"]
    for data in (gzip.decompress(trail_file(events)),
                 gzip.decompress(shared("real_samples", "cloudtrail/trailscraper/"
                                        "111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz")
                                 .read_bytes())):
        fast = trail_records(data, "s", "i", {"account_id": "000000000000"})
        if data.startswith(b'{"Records":[{'):
            assert fast is not None and fast.num_rows == json.loads(data)["Records"].__len__()
        if fast is not None:
            assert fast.to_pylist() == _record_by_record(data).to_pylist()


@pytest.mark.parametrize("change", [{"readOnly": "true"}, {"eventTime": "yesterday"}, {"eventTime": None},
                                    {"resources": "arn:aws:sqs:eu-west-1:123456789012:q"}])
def test_trail_records_the_arrow_path_leaves_to_the_record_path(change):
    from pipeline.ingest.arrowjson import trail_records

    events = [trail_event(k, AT) for k in range(3)]
    events[1].update(change)
    assert trail_records(json.dumps({"Records": events}, separators=(",", ":")).encode(), "s", "i", {}) is None
