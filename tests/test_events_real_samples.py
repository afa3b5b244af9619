"""Every real CloudTrail and Resolver query-log sample in ../shared/real_samples, through ``flowlogs ingest``.

The expectations were written by reading each file (SOURCES.md next to them describes them):
rows per lake table, quarantined records and why, refused files, and typed values of chosen
records. Test-harness files that wrap a record with its expected parse (``input``/``expected``)
and YAML test data are not delivery formats: nothing of them reaches the event tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from conftest import shared
from test_real_samples import Case as FlowCase
from test_real_samples import _ingest as ingest_sample
from test_real_samples import _records as stored_rows

NOT_DELIVERY = "not a flow-log"  # the refusal of JSON that is no delivery shape


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@dataclass
class Case:
    path: str
    tables: dict[str, int] = field(default_factory=dict)
    quarantined: dict[int, str] = field(default_factory=dict)  # line (or position) -> part of the reason
    refused: str | None = None
    digest: bool = False
    rows: dict[int, dict] = field(default_factory=dict)  # line/position -> column values
    partitions: dict[int, str] = field(default_factory=dict)
    text_lines: bool = False  # not JSON at all: the text reader quarantines every line, nothing is stored


VPCE_DENIED = "The request was denied due to a VPC endpoint policy"
CASES = [
    # --- CloudTrail: Records files (the S3 delivery shape) ---------------------------------------
    Case("cloudtrail/trailscraper/111111111111_CloudTrail_eu-central-1_20171211T1505Z_A6kvhMoVeCsc7v8U.json.gz",
         {"api_calls": 2}, rows={
             1: dict(event_source="autoscaling.amazonaws.com", event_name="DescribeLaunchConfigurations",
                     principal_type="AssumedRole", session_name="AutoScalingDescribeHandlerSession",
                     role_arn="arn:aws:iam::111111111111:role/someRole", region="eu-central-1",
                     _format="cloudtrail-records"),
             2: dict(event_name="AssumeRole", principal_type="AWSService", role_arn=None, session_name=None)},
         partitions={1: "aws_account=111111111111/aws_region=eu-central-1/dt=2017-12-11"}),
    Case("cloudtrail/trailscraper/events-for-smoke-test.json", {"api_calls": 3},
         rows={2: dict(event_source="apigateway.amazonaws.com", event_name="GetResource")}),
    Case("cloudtrail/aws-docs/log-file-example-ec2-startinstances.records.json", {"api_calls": 1}, rows={
        1: dict(event_name="StartInstances", event_id=None, event_type=None, account_id=None,
                event_time=utc("2014-03-06T21:22:54Z"), principal_arn="arn:aws:iam::123456789012:user/Alice",
                principal_type="IAMUser")},
        partitions={1: "aws_account=unknown/aws_region=us-east-2/dt=2014-03-06"}),
    Case("cloudtrail/aws-docs/log-file-example-error-TrailNotFoundException.records.json", {"api_calls": 1},
         rows={1: dict(error_code="TrailNotFoundException", event_source="cloudtrail.amazonaws.com")}),
    Case("cloudtrail/aws-docs/console-signin-iamuser-success.records.json", {"api_calls": 1},
         rows={1: dict(event_type="AwsConsoleSignIn", event_name="ConsoleLogin", error_code=None)}),
    Case("cloudtrail/aws-docs/log-file-example-iam-createrole.records.INVALID-raw-newline-in-string.json",
         refused="invalid JSON at line 19"),
    # --- CloudTrail: single events (a CloudWatch Logs message, EventBridge detail) ----------------
    Case("cloudtrail/aws-docs/network-activity-kms-listkeys-VpceAccessDenied.json", {"api_calls": 1}, rows={
        1: dict(error_code="VpceAccessDenied", error_message=VPCE_DENIED, event_type="AwsVpceEvent",
                event_category="NetworkActivity", vpc_endpoint_id="vpce-EXAMPLE08c1b6b9b7",
                vpc_endpoint_account_id="123456789012", account_id="123456789012",
                principal_type="AWSAccount", principal_account_id="777788889999", source_ip="192.0.2.0",
                event_source="kms.amazonaws.com", event_name="ListKeys", event_time=utc("2024-07-15T23:57:12Z"),
                _format="json")},
        partitions={1: "aws_account=123456789012/aws_region=us-east-1/dt=2024-07-15"}),
    Case("cloudtrail/aws-docs/network-activity-kms-listkeys-via-vpce.json", {"api_calls": 1}, rows={
        1: dict(error_code=None, vpc_endpoint_id="vpce-EXAMPLE08c1b6b9b7", role_arn="arn:aws:iam::123456789012:role/Admin",
                session_name="role-name", principal_arn="arn:aws:sts::123456789012:assumed-role/Admin/role-name")}),
    Case("cloudtrail/aws-docs/management-event-starteventdatastoreingestion-tlsdetails-odd-accesskey.json",
         {"api_calls": 1}, rows={1: dict(tls_host="cloudtrail.us-east-1.amazonaws.com",
                                         event_id="d97ca7e2-04fe-45b4-882d-EXAMPLEa9b2c")}),
    Case("cloudtrail/aws-docs/console-signin-iamuser-failed-authentication.json", {"api_calls": 1},
         rows={1: dict(error_code=None, error_message="Failed authentication", event_name="ConsoleLogin")}),
    # The doc's fragment holds only eventVersion and userIdentity: no event to store.
    Case("cloudtrail/aws-docs/useridentity-assumedrole-example.json", refused=NOT_DELIVERY),
    Case("cloudtrail/flaws2-via-brootware-writeup/flaws2-listbuckets-ecs-task-role-uuid-session.json",
         {"api_calls": 1}, rows={1: dict(role_arn="arn:aws:iam::653711331788:role/level3",
                                         session_name="d190d14a-2404-45d6-9113-4eda22d7f2c7",
                                         event_name="ListBuckets", principal_type="AssumedRole")}),
    Case("cloudtrail/flaws2-via-brootware-writeup/flaws2-getobject-anonymous-principal.json", {"api_calls": 1},
         rows={1: dict(principal_type="AWSAccount", principal_account_id="ANONYMOUS_PRINCIPAL",
                       principal_arn=None, event_name="GetObject")}),
    Case("cloudtrail/sekoia-intake-formats/event_cluster_name-pretty-printed.json", {"api_calls": 1},
         rows={1: dict(account_id="007", event_name="PutClusterCapacityProviders")}),
    Case("cloudtrail/panther-labs-panther/eventbridge-aws-api-call-via-cloudtrail.json", {"api_calls": 1},
         rows={2: dict(event_name="CreateBucket", principal_type="Root", _format="eventbridge",
                       event_time=utc("2017-12-22T18:43:48Z"))}),
    # --- CloudTrail: JSON lines -------------------------------------------------------------------
    Case("cloudtrail/elastic-integrations/test-tls-details-json.log", {"api_calls": 3},
         rows={1: dict(principal_type="IAMUser", _format="json-lines")}),
    Case("cloudtrail/elastic-integrations/test-console-login-json.log", {"api_calls": 3}, rows={
        2: dict(error_message="Failed authentication", error_code=None, event_type=None)}),
    Case("cloudtrail/elastic-integrations/test-us-gov-arn.log", {"api_calls": 1}, rows={
        1: dict(role_arn="arn:aws-us-gov:iam::111111111111:role/ExampleRole", session_name="i-example1234567890",
                region="us-gov-east-1")}),
    Case("cloudtrail/elastic-integrations/test-assume-role-json.log", {"api_calls": 2}, rows={
        1: dict(principal_arn="arn:aws:sts::111111111111:assumed-role/JohnDoe/JohnRole1", session_name="JohnRole1",
                event_name="AssumeRole")}),
    Case("cloudtrail/elastic-integrations/test-get-password-data-json.log", {"api_calls": 1}, rows={
        1: dict(read_only=True, management_event=None, event_category="Management", account_id="000000000",
                event_id="8e09c825-df0e-43d5-898d-92504bb56c4f")}),
    Case("cloudtrail/elastic-integrations/test-cloudtrail-digest-json.log", digest=True),
    Case("cloudtrail/elastic-integrations/test-us-gov-arn.log-expected.json", refused=NOT_DELIVERY),
    Case("cloudtrail/sekoia-intake-formats/aws-cloudtrail-test-messages.jsonl", {"api_calls": 14}, rows={
        3: dict(error_code="Client.AuthFailure", event_name="CreateInstanceExportTask"),
        12: dict(event_type="AwsCloudTrailInsight", event_name=None, event_id="7a9130fc-ca15-49d9-b4aa-685f7a0c182a")}),
    Case("cloudtrail/sekoia-intake-formats/test_service_event.test-with-expected.json", refused=NOT_DELIVERY),
    Case("cloudtrail/sekoia-intake-formats/event_ec2-error.test-with-expected.json", refused=NOT_DELIVERY),
    Case("cloudtrail/panther-analysis/denied-calls-rule-tests.jsonl", {"api_calls": 37}, rows={
        2: dict(event_time=utc("2025-01-20T15:59:33Z"), error_code="AccessDenied"),  # Panther's time form
        6: dict(event_time=utc("2021-01-24T04:55:45Z"), error_code="UnauthorizedOperation")}),
    # Line 7 has no eventTime.
    Case("cloudtrail/panther-analysis/network-activity-vpce-rule-tests.jsonl", {"api_calls": 8},
         quarantined={7: "no eventTime"},
         rows={1: dict(error_code="VpceAccessDenied", event_type="AwsVpceEvent", account_id="222222222222")}),
    # --- CloudTrail: lookup-events output ---------------------------------------------------------
    Case("cloudtrail/aws-cli-examples/lookup-events-consolelogin-output.json", {"api_calls": 1}, rows={
        1: dict(event_id="654ccbc0-ba0d-486a-9076-dbf7274677a7", event_time=utc("2016-01-26T21:42:12Z"),
                session_name="my-session-name", role_arn="arn:aws:iam::123456789012:role/my-role",
                _format="lookup-events")}),
    Case("cloudtrail/aws-docs/lookup-events-insight-output.json", {"api_calls": 2},
         rows={1: dict(event_type="AwsCloudTrailInsight", event_category="Insight")}),
    Case("cloudtrail/aws-docs/lookup-events-output.INVALID-multiline-string.json", refused="invalid JSON at line"),
    Case("cloudtrail/panther-labs-panther/cloudtrail_tests.yml", text_lines=True),
    # --- Route 53 Resolver query logs -------------------------------------------------------------
    Case("route53resolver/elastic-integrations/test-route53.log", {"dns_queries": 34}, rows={
        1: dict(query_name="does-not-exist.abc.com.", name="does-not-exist.abc.com", rcode="NXDOMAIN",
                answers=[], answer_addresses=[], srcaddr="172.31.86.159", srcport=48701, transport="UDP",
                vpc_id="vpc-01e31a7c", query_time=utc("2021-12-11T22:46:23Z"), srcids_instance=None,
                _format="json-lines")},
        partitions={1: "aws_account=626345947581/aws_region=us-east-1/dt=2021-12-11"}),
    Case("route53resolver/aws-docs/resolver-query-log-example-firewall-block.json", {"dns_queries": 1}, rows={
        2: dict(firewall_rule_action="BLOCK", firewall_rule_group_id="rslvr-frg-01234567890abcdef",
                query_name="15.3.4.32.in-addr.arpa.", answer_addresses=[],
                answers=[{"rdata": "203.0.113.9", "type": "PTR", "class": "IN"}])}),
    Case("route53resolver/panther-analysis/vpcdns-rule-tests.jsonl", {"dns_queries": 13}, rows={
        1: dict(name="dynamodb.us-west-2.amazonaws.com", answer_addresses=["1.2.3.4"],
                query_time=utc("2022-06-25T00:27:53Z"), srcids_instance="i-0abc234"),
        2: dict(query_name="dynamodb.us-west-2.amazonaws.com.", name="dynamodb.us-west-2.amazonaws.com"),
        12: dict(answers=[])}),
    Case("route53resolver/aws-samples-r53resolver-query-log-parser/decoded-firehose-data-records.jsonl",
         {"dns_queries": 3}, rows={
             1: dict(name="ec2messages.us-east-1.amazonaws.com", query_type="AAAA", transport=None,
                     account_id="999999999", _format="firehose-message"),
             2: dict(query_name="tarik.test.akrpublicschool.com")}),
    Case("route53resolver/aws-samples-r53resolver-query-log-parser/README-sample-v1.000000-Address-key-srcids-array.json",
         {"dns_queries": 1}),
    Case("route53resolver/aws-samples-r53resolver-query-log-parser/README-sample.INVALID-smart-quotes.json",
         refused="invalid JSON at line"),
    Case("route53resolver/aws-samples-r53resolver-query-log-parser/testEventSampleData.txt", text_lines=True),
    Case("route53resolver/panther-labs-panther/vpc_dns_tests.yml", text_lines=True),
]
EVENT_TABLES = ("api_calls", "dns_queries")


def test_every_event_sample_has_a_case():
    root = shared("real_samples")
    files = {str(p.relative_to(root)) for folder in ("cloudtrail", "route53resolver")
             for p in (root / folder).rglob("*") if p.is_file()}
    assert files == {c.path for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.path.split("/", 1)[1])
def test_event_sample(tmp_path, case: Case):
    path = shared("real_samples", case.path)
    lake, result, info = ingest_sample(tmp_path, FlowCase(case.path))  # the flow samples' helper, same CLI
    stored = {name: t.get("stored", t["records"]) for name, t in info["tables"].items() if t["records"]}
    assert stored == case.tables
    quarantine = [r for p in sorted((lake / "quarantine").rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    if case.text_lines:
        assert result.exit_code == 1, result.output
        assert quarantine and all(q["_line"] for q in quarantine)
        return
    if case.refused:
        assert result.exit_code == 1, result.output
        assert case.refused in next(iter(info["refused"].values()))
        return
    assert info["refused"] == {}
    assert result.exit_code == (1 if case.quarantined else 0), result.output
    if case.digest:
        assert "CloudTrail digest" in result.output
    assert {q["_line"]: q["reason"] for q in quarantine}.keys() == case.quarantined.keys()
    for q in quarantine:
        assert case.quarantined[q["_line"]] in q["reason"] and q["text"]
    rows = stored_rows(lake, EVENT_TABLES)
    for number, expected in case.rows.items():
        table, _, row = rows[number]
        assert {k: row[k] for k in expected} == expected, f"record {number}"
        assert row["_source"] == str(path)
        json.loads(row["record"])  # the whole record, as JSON text
    for number, partition in case.partitions.items():
        assert rows[number][1] == partition
