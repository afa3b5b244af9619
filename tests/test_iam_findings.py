"""access_denied and task_start_failed: a small account (IAM, task definitions, an endpoint with
a policy, a queue policy, ECS task events) imported as CLI JSON, CloudTrail calls in an
``api_calls`` relation with the lake table's columns, and the findings they give."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest

from conftest import shared
from pipeline.analysis import denials, iam_findings
from pipeline.lake.storage import Store
from pipeline.metadata import import_files, register_views
from pipeline.tables import TABLES

ACCOUNT = "123456789012"
REGION = "eu-west-1"
VPC = "vpc-0aaa"
SUBNET = "subnet-0aaa"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
TASK_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-task"
PAY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/payments-task"
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/billing-exec"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:payments"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:billing-db-AbCdEf"
VPCE_SNS = "vpce-0sns0000000000001"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111aaaa-2222-3333-4444-555566667777"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/9999aaaa-2222-3333-4444-555566667777"
TASKS = {"orders": "a" * 32, "payments": "b" * 32, "healthy": "c" * 32}
BILLING_TASKS = [f"{i:032x}" for i in range(1, 4)]
NET_TASK = "d" * 32


def _doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _task(task_id: str, service: str, ip: str, definition: str, *, stopped_reason=None, started=True, minute=0) -> dict:
    created = T0 + timedelta(minutes=minute)
    task = {"taskArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/prod/{task_id}",
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod", "group": f"service:{service}",
            "taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{definition}:1",
            "lastStatus": "STOPPED" if stopped_reason else "RUNNING", "createdAt": created.isoformat(),
            "attachments": [{"id": f"att-{task_id[:8]}", "type": "ElasticNetworkInterface", "status": "ATTACHED",
                             "details": [{"name": "subnetId", "value": SUBNET},
                                         {"name": "networkInterfaceId", "value": f"eni-{task_id[:17]}"},
                                         {"name": "privateIPv4Address", "value": ip}]}],
            "containers": [{"name": "app"}]}
    if started:
        task["startedAt"] = (created + timedelta(seconds=30)).isoformat()
    if stopped_reason:
        task.update(stoppedReason=stopped_reason, stopCode="TaskFailedToStart",
                    stoppedAt=(created + timedelta(seconds=50)).isoformat())
    return task


def _definition(family: str, task_role: str | None, exec_role: str) -> dict:
    return {"taskDefinition": {"taskDefinitionArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:1",
                               "family": family, "revision": 1, "taskRoleArn": task_role, "executionRoleArn": exec_role,
                               "containerDefinitions": [{"name": "app", "image": f"{family}:1",
                                                         "secrets": [{"name": "DB", "valueFrom": SECRET}]}]}}


def _role(name: str, inline: dict | None) -> dict:
    return {"RoleName": name, "RoleId": f"AROA{name.upper()[:8]}", "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "Path": "/", "AssumeRolePolicyDocument": _doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "ecs-tasks.amazonaws.com"}}),
            "RolePolicyList": [{"PolicyName": "app", "PolicyDocument": inline}] if inline else [],
            "AttachedManagedPolicies": []}


def _denial_message(role: str, task: str, action: str, resource: str, why: str) -> str:
    return (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{task} is not authorized to perform: {action} "
            f"on resource: {resource} {why}")


STOP_IAM = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
            "unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret "
            f"{SECRET} from secrets manager: AccessDeniedException: "
            + _denial_message("billing-exec", "{task}", "secretsmanager:GetSecretValue", SECRET,
                              "because no identity-based policy allows the secretsmanager:GetSecretValue action")
            + " status code: 400, request id: 359958d1-e041-4547-9bfa-1e289cd3a745")
STOP_NET = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
            "unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request "
            'failed caused by: Post "https://api.ecr.eu-west-1.amazonaws.com/": dial tcp 52.95.0.1:443: i/o timeout. '
            "Please check your task network configuration.")


def _metadata(directory):
    directory.mkdir()
    roles = [_role("orders-task", _doc({"Sid": "Receive", "Effect": "Allow", "Action": "sqs:ReceiveMessage",
                                        "Resource": QUEUE},
                                       {"Sid": "OwnKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY})),
             _role("payments-task", _doc({"Effect": "Allow", "Action": "sns:Publish", "Resource": TOPIC})),
             _role("healthy-task", _doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})),
             _role("billing-exec", _doc({"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}))]
    files = {
        "auth.json": {"RoleDetailList": roles, "Policies": [], "UserDetailList": [], "GroupDetailList": []},
        "task-definitions.json": [_definition("orders", TASK_ROLE, EXEC_ROLE), _definition("payments", PAY_ROLE, EXEC_ROLE),
                                  _definition("healthy", f"arn:aws:iam::{ACCOUNT}:role/healthy-task", EXEC_ROLE),
                                  _definition("billing", None, EXEC_ROLE), _definition("reports", None, EXEC_ROLE)],
        "describe-vpc-endpoints.json": {"VpcEndpoints": [{
            "VpcEndpointId": VPCE_SNS, "VpcEndpointType": "Interface", "VpcId": VPC,
            "ServiceName": f"com.amazonaws.{REGION}.sns", "State": "available", "PrivateDnsEnabled": True,
            "PolicyDocument": json.dumps(_doc(
                {"Sid": "OnlyOrders", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
                {"Sid": "NoPayments", "Effect": "Deny", "Principal": {"AWS": PAY_ROLE}, "Action": "sns:Publish",
                 "Resource": "*"}))},
            {"VpcEndpointId": "vpce-0ecrapi", "VpcEndpointType": "Interface", "VpcId": VPC,
             "ServiceName": f"com.amazonaws.{REGION}.ecr.api", "State": "available", "PrivateDnsEnabled": True},
            {"VpcEndpointId": "vpce-0kms", "VpcEndpointType": "Interface", "VpcId": VPC,
             "ServiceName": f"com.amazonaws.{REGION}.kms", "State": "available", "PrivateDnsEnabled": True,
             "PolicyDocument": json.dumps(_doc({"Sid": "LedgerKeyOnly", "Effect": "Allow", "Principal": "*",
                                                "Action": "kms:*", "Resource": OTHER_KEY}))}]},
        "describe-trails.json": {"trailList": [{"Name": "main", "TrailARN": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main",
                                                "HomeRegion": REGION, "S3BucketName": "trail", "IsMultiRegionTrail": True}]},
        "get-event-selectors.json": {"TrailARN": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main",
                                     "AdvancedEventSelectors": [
            {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
            {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["NetworkActivity"]},
                                {"Field": "eventSource", "Equals": ["sns.amazonaws.com"]}]}]},
        "describe-subnets.json": {"Subnets": [{"SubnetId": SUBNET, "VpcId": VPC, "CidrBlock": "10.0.1.0/24"}]},
        "orders.get-queue-attributes.json": {"Attributes": {"Policy": json.dumps(_doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/healthy-task"}, "Action": "sqs:*",
             "Resource": QUEUE}))}},
        "describe-tasks.json": {"tasks": [
            _task(TASKS["orders"], "orders", "10.0.1.10", "orders"),
            _task(TASKS["payments"], "payments", "10.0.1.11", "payments"),
            _task(TASKS["healthy"], "healthy", "10.0.1.12", "healthy"),
            *[_task(t, "billing", f"10.0.1.{20 + i}", "billing", stopped_reason=STOP_IAM.format(task=t), started=False,
                    minute=i) for i, t in enumerate(BILLING_TASKS)],
            _task(NET_TASK, "reports", "10.0.1.30", "reports", stopped_reason=STOP_NET, started=False, minute=5)]},
    }
    for name, doc in files.items():
        (directory / name).write_text(json.dumps(doc))


def _call(minute: int, task: str, role_name: str, source: str, name: str, *, error=None, message=None,
          vpce=None, ip="10.0.1.10", category="Data", event_type="AwsApiCall", params=None) -> dict:
    record = {"eventSource": source, "eventName": name, "requestParameters": params or {}}
    return {"event_time": T0 + timedelta(minutes=minute), "event_source": source, "event_name": name,
            "region": REGION, "error_code": error, "error_message": message,
            "principal_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{task}", "principal_type": "AssumedRole",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}", "session_name": task, "account_id": ACCOUNT,
            "source_ip": ip, "vpc_endpoint_id": vpce, "user_agent": "aws-sdk exec-env/AWS_ECS_FARGATE",
            "tls_host": None, "event_category": category, "event_type": event_type,
            "event_id": f"{task[:4]}-{minute}-{name}", "resources": None, "record": json.dumps(record)}


def _api_calls() -> list[dict]:
    calls = []
    for m in range(3):  # orders: the task role lacks sqs:SendMessage (NAT path: no endpoint)
        calls.append(_call(m, TASKS["orders"], "orders-task", "sqs.amazonaws.com", "SendMessage", error="AccessDenied",
                           message=_denial_message("orders-task", TASKS["orders"], "sqs:sendmessage", QUEUE,
                                                   "because no identity-based policy allows the sqs:sendmessage action"),
                           ip="52.1.2.3"))
    for m in range(4):  # payments: the SNS endpoint policy denies (network activity event: no message resource)
        calls.append(_call(10 + m, TASKS["payments"], "payments-task", "sns.amazonaws.com", "Publish",
                           error="VpceAccessDenied", message="The request was denied due to a VPC endpoint policy",
                           vpce=VPCE_SNS, ip="10.0.1.11", category="NetworkActivity", event_type="AwsVpceEvent",
                           params={"topicArn": TOPIC}))
    for m in range(2):  # orders: kms:Decrypt of its own key through an endpoint whose policy names another key
        calls.append(_call(20 + m, TASKS["orders"], "orders-task", "kms.amazonaws.com", "Decrypt",
                           error="VpceAccessDenied", message="The request was denied due to a VPC endpoint policy",
                           vpce="vpce-0kms", category="NetworkActivity", event_type="AwsVpceEvent"))
    for i, t in enumerate(BILLING_TASKS):  # billing: the execution role's denied secret fetch, one per failed start
        calls.append(_call(i, t, "billing-exec", "secretsmanager.amazonaws.com", "GetSecretValue",
                           error="AccessDeniedException", message=STOP_IAM.format(task=t).split("AccessDeniedException: ")[1],
                           ip=f"10.0.1.{20 + i}", category="Management"))
    for m in range(5):  # healthy: allowed calls only
        calls.append(_call(m, TASKS["healthy"], "healthy-task", "sqs.amazonaws.com", "SendMessage", ip="10.0.1.12"))
    return calls


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("iam")
    _metadata(root / "metadata")
    store = Store.open(root / "lake")
    import_files(store, [root / "metadata"], snapshot_time=T0)
    return store


@pytest.fixture(scope="module")
def con(lake):
    store = lake
    c = duckdb.connect()
    register_views(c, store)
    c.register("api_calls_rows", pa.Table.from_pylist(_api_calls(), schema=TABLES["api_calls"].schema))  # the lake's types
    c.execute("CREATE VIEW api_calls AS SELECT * FROM api_calls_rows")
    # the payments task talked to the SNS endpoint: one established conversation in the window
    # and the orders task reached AWS public addresses through the NAT gateway while SendMessage was denied
    c.execute("CREATE TEMP TABLE destinations AS SELECT * FROM (VALUES "
              f"('10.0.1.200', 'vpc_endpoint', '{VPCE_SNS}', 'sns'), ('52.95.1.1', 'aws_service', NULL, 'AMAZON')) "
              "AS d(addr, type, id, aws_service)")
    first, start = int((T0 + timedelta(minutes=10)).timestamp()), int(T0.timestamp())
    c.execute("CREATE TEMP TABLE conversations AS SELECT * FROM (VALUES "
              f"('10.0.1.11', '10.0.1.200', 443, 'established', {first}, {first + 200}), "
              f"('10.0.1.10', '52.95.1.1', 443, 'established', {start}, {start + 100}), "
              f"('10.0.1.10', '52.95.1.1', 443, 'established', {start + 4000}, {start + 4100})) "
              "AS c(client_addr, server_addr, server_port, state, first_seen, last_seen)")
    return c


WINDOW = {"since": int(T0.timestamp()) - 3600, "until": int(T0.timestamp()) + 7200}


def test_a_task_role_without_the_action_is_an_identity_policy_denial(con):
    found = {(f["service"], f["api"]["event_name"]): f for f in iam_findings.access_denied(con, WINDOW)}
    # the healthy service's allowed calls are no finding; billing's execution role is (see below)
    assert {s for s, _ in found} == {"orders", "payments", "billing"}
    f = found[("orders", "SendMessage")]
    assert (f["kind"], f["observed_at"], f["task_id"], f["events"]) == ("access_denied", "api_call", TASKS["orders"], 3)
    assert f["destination"]["aws_service"] == "sqs" and f["destination"]["id"] is None  # NAT path
    assert f["source_addr"] == "10.0.1.10" and f["source_eni"] == f"eni-{TASKS['orders'][:17]}"  # not the NAT's address
    assert f["api"]["role"] == "task" and f["state"] == "established" and f["api"]["role_arn"] == TASK_ROLE and f["api"]["error_code"] == "AccessDenied"
    cause = f["likely_causes"][0]
    assert (cause["cause"], cause["confirmed"], cause["resource"]) == ("identity_policy", True, TASK_ROLE)
    assert cause["fix"].startswith("aws iam put-role-policy --role-name orders-task ")
    assert '"Action":"sqs:SendMessage"' in cause["fix"] and QUEUE in cause["fix"]
    assert f["state"] == "established" and f["cross_evidence"] == (
        "The network lets it through (1 established conversation to AWS public addresses (sqs, through the NAT "
        "gateway or a public IP) in that time); the role's policy says no.")


def test_a_message_naming_no_resource_takes_the_one_the_event_lists(lake):
    """Some denials name no resource ("… is not authorized to perform: sqs:sendmessage because …"); the
    event's ``resources`` list then says what was asked for, and the fix grants that."""
    call = _call(1, TASKS["orders"], "orders-task", "sqs.amazonaws.com", "SendMessage", error="AccessDenied",
                 message=f"User: arn:aws:sts::{ACCOUNT}:assumed-role/orders-task/{TASKS['orders']} is not authorized "
                         "to perform: sqs:sendmessage because no identity-based policy allows the sqs:sendmessage action")
    call["resources"] = [{"arn": QUEUE, "account_id": ACCOUNT, "type": "AWS::SQS::Queue"}]
    c = duckdb.connect()
    register_views(c, lake)
    c.register("api_calls_rows", pa.Table.from_pylist([call], schema=TABLES["api_calls"].schema))
    c.execute("CREATE VIEW api_calls AS SELECT * FROM api_calls_rows")
    c.execute("CREATE TEMP TABLE destinations AS SELECT 'x' AS addr, 'x' AS type, 'x' AS id, 'x' AS aws_service WHERE false")
    [f] = iam_findings.access_denied(c, WINDOW)
    cause = f["likely_causes"][0]
    assert (cause["cause"], cause["resource"]) == ("identity_policy", TASK_ROLE)
    assert QUEUE in cause["fix"]


def test_an_event_without_a_resource_is_about_what_the_role_may_use(con):
    """A network activity event names no key: the call was for the key the role's policy allows."""
    f = next(f for f in iam_findings.access_denied(con, WINDOW) if f["api"]["event_name"] == "Decrypt")
    assert (f["destination"]["aws_service"], f["destination"]["id"], f["events"]) == ("kms", "vpce-0kms", 2)
    cause = f["likely_causes"][0]
    assert (cause["cause"], cause["confirmed"], cause["resource"], cause["rule"]) == (
        "endpoint_policy", True, "vpce-0kms", None)
    assert KEY in cause["fix"] and "LedgerKeyOnly" in cause["fix"]


def test_the_denied_secret_fetches_of_tasks_that_never_started_are_that_start_failure(con):
    access = iam_findings.access_denied(con, WINDOW)
    starts = iam_findings.task_start_failed(con, WINDOW, [])
    assert sum(f["service"] == "billing" for f in access) == 3 and all(
        f["api"]["role"] == "execution" for f in access if f["service"] == "billing")
    kept = iam_findings.fold_start_denials(access, starts)
    assert not any(f["service"] == "billing" for f in kept) and len(kept) == len(access) - 3
    start = next(f for f in starts if f["service"] == "billing")
    assert start["api"]["event_source"] == "secretsmanager.amazonaws.com"
    assert start["api"]["error_code"] == "AccessDeniedException"


def test_an_endpoint_policy_deny_names_the_endpoint_and_statement_and_the_network_is_fine(con):
    f = next(f for f in iam_findings.access_denied(con, WINDOW) if f["service"] == "payments")
    assert f["api"]["role"] == "task" and f["state"] == "established"
    assert f["destination"] == {"type": "vpc_endpoint", "id": VPCE_SNS, "name": f"com.amazonaws.{REGION}.sns",
                                "aws_service": "sns", "region": REGION}
    assert f["api"]["vpc_endpoint_id"] == VPCE_SNS and f["api"]["error_code"] == "VpceAccessDenied"
    cause = f["likely_causes"][0]
    assert (cause["cause"], cause["confirmed"], cause["resource"], cause["rule"]) == (
        "endpoint_policy", True, VPCE_SNS, "Sid NoPayments")
    assert cause["fix"].startswith(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {VPCE_SNS} --policy-document ")
    assert "NoPayments" not in cause["fix"] and "OnlyOrders" in cause["fix"]
    assert f["cross_evidence"] == ("The network lets it through (1 established conversation to "
                                   f"{VPCE_SNS} in that time); the endpoint policy says no.")


def test_an_execution_role_that_cannot_read_the_secret_is_one_finding_for_the_start_loop(con):
    found = iam_findings.task_start_failed(con, WINDOW, [])
    iam = [f for f in found if f["service"] == "billing"]
    assert len(iam) == 1
    f = iam[0]
    assert (f["kind"], f["observed_at"], f["events"]) == ("task_start_failed", "task_event", 3)
    assert f["task_ids"] == BILLING_TASKS and f["stopped_reason"] == STOP_IAM.format(task=BILLING_TASKS[-1])
    assert f["destination"]["aws_service"] == "secretsmanager"
    assert f["api"]["role"] == "execution" and f["api"]["role_arn"] == EXEC_ROLE
    cause = f["likely_causes"][0]
    assert (cause["cause"], cause["confirmed"], cause["resource"]) == ("identity_policy", True, EXEC_ROLE)
    assert "secretsmanager:GetSecretValue" in cause["fix"] and SECRET in cause["fix"]


def test_a_start_that_timed_out_takes_the_cause_of_the_task_flow_finding(con):
    flow_cause = {"cause": "route_missing", "confirmed": True, "resource": "rtb-0aaa", "rule": None,
                  "explanation": "no route", "fix": "aws ec2 create-route …"}
    found = iam_findings.task_start_failed(con, WINDOW, [{"task_id": NET_TASK, "likely_causes": [flow_cause]}])
    f = next(f for f in found if f["service"] == "reports")
    assert f["likely_causes"] == [flow_cause] and f["destination"]["aws_service"] == "ecr.api"
    unlinked = next(f for f in iam_findings.task_start_failed(con, WINDOW, []) if f["service"] == "reports")
    assert [c["confirmed"] for c in unlinked["likely_causes"]] == [False] * 3


# ------------------------------------------------------------------ every real stoppedReason



def _real_reasons() -> list[str]:
    root = shared("real_samples", "ecs-events")
    reasons = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".txt":
            reasons += [line.rstrip("\n") for line in path.read_text().splitlines() if line.strip()]
        elif path.suffix == ".json" and "INVALID" not in path.name:
            doc = json.loads(path.read_text())
            task = doc.get("detail") or doc.get("task") or {}
            if task.get("stoppedReason"):
                reasons.append(task["stoppedReason"])
    return reasons


def test_every_real_stopped_reason_is_classified():
    reasons = _real_reasons()
    kinds = {r: iam_findings.start_failure(r)[0] for r in reasons}
    assert len(reasons) >= 25
    iam = [r for r, k in kinds.items() if k == "iam"]
    network = [r for r, k in kinds.items() if k == "network"]
    neither = [r for r, k in kinds.items() if k in ("image", "other")]
    # the three AccessDeniedException reasons, one of them with the full wording
    assert len(iam) == 3 and all("AccessDeniedException" in r for r in iam)
    full = denials.classify(next(r for r in iam if "26e17af95b5e431893308026b892584f" in r))
    assert (full.policy_type, full.explicit, full.role_name, full.task_id, full.action) == (
        "identity_policy", False, "ecsTaskExecutionRole", "26e17af95b5e431893308026b892584f",
        "secretsmanager:GetSecretValue")
    assert full.resource == "arn:aws:secretsmanager:ap-south-1:221192224682:secret:awsExampleSecret-7qFlRJ"
    # timeouts and cancelled requests are the network; image-not-found, OOM, user stops are neither
    assert len(network) == 5 and all(re.search(r"timeout|deadline|cancel|send request failed", r, re.I) for r in network)
    assert {"Task stopped by user", "Essential container in task exited",
            "CannotPullContainerError: API error (404)"} <= set(neither)
    assert len(iam) + len(network) + len(neither) == len(set(reasons))


# ------------------------------------------------------------------ every report format

def test_every_format_renders_the_new_kinds_and_the_html_gives_them_their_own_section(con):
    from pipeline.report import FORMATS, render_to_string

    starts = iam_findings.task_start_failed(con, WINDOW, [])
    found = iam_findings.fold_start_denials(iam_findings.access_denied(con, WINDOW), starts) + starts
    from pipeline.analysis import trail_coverage

    doc = {"generated_at": "2026-11-27T12:00:00Z", "lake": "x", "window": {}, "findings": found,
           "trail_gaps": trail_coverage.gaps(con)}
    for fmt in FORMATS:
        text = render_to_string(doc, fmt)
        assert "payments" in text and "billing" in text, fmt
    html = render_to_string(doc, "html")
    assert "Permissions and task starts" in html and "the endpoint policy says no." in html
    assert "Sid NoPayments" in html and BILLING_TASKS[0] in html
    assert "What this account's trails cannot show" in html and "vpce-0kms" in html
    parsed = json.loads(render_to_string(doc, "json"))["findings"]
    assert [f["kind"] for f in parsed] == ["access_denied"] * 3 + ["task_start_failed"] * 2
    assert list(parsed[0]["api"]) == ["event_source", "event_name", "error_code", "error_message", "principal_arn",
                                      "role_arn", "role", "vpc_endpoint_id"]
    assert {"stopped_reason", "task_ids"} <= set(parsed[3]) and "task_ids" not in parsed[0]


def test_the_trail_configuration_says_which_denials_cannot_be_seen(con):
    from pipeline.analysis import trail_coverage

    gaps = {(g["service"], g["gap"]): g for g in trail_coverage.gaps(con)}
    assert set(gaps) == {("sns", "data_events"), ("ecr.api", "network_activity_unsupported"),
                         ("kms", "network_activity_off")}
    assert gaps[("kms", "network_activity_off")]["vpc_endpoint_id"] == "vpce-0kms"
    assert "kms.amazonaws.com" in gaps[("kms", "network_activity_off")]["sentence"]
    assert "AWS::SNS::Topic" in gaps[("sns", "data_events")]["sentence"]


# ------------------------------------------------------------------ flowlogs explain with a lake

PUBLISH_DENIED = (f"An error occurred (AuthorizationError) when calling the Publish operation: User: "
                  f"arn:aws:sts::{ACCOUNT}:assumed-role/payments-task/{TASKS['payments']} is not authorized to perform: "
                  f"SNS:Publish on resource: {TOPIC} with an explicit deny in a VPC endpoint policy")


def test_explain_with_a_lake_names_the_endpoint_statement_and_a_verified_fix(lake):
    from pipeline.analysis.explain import explain

    e = explain(PUBLISH_DENIED, lake)
    assert (e.evaluation.policy_type, e.evaluation.owner, e.evaluation.statement_label) == (
        "endpoint_policy", VPCE_SNS, "Sid NoPayments")
    [fix] = e.fixes
    assert fix.verified and fix.remove["Sid"] == "NoPayments"
    assert fix.command.startswith(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {VPCE_SNS} ")
    assert VPCE_SNS in e.note  # the message does not name the endpoint: the lake's one SNS endpoint is assumed


def test_explain_cli_with_the_lake(lake):
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["--lake", str(lake.uri), "explain", "-f", "json", PUBLISH_DENIED])
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)
    assert doc["evaluation"]["statement"] == "Sid NoPayments" and doc["fixes"][0]["verified"] is True


def test_has_relation_sees_duckdbs_tables_views_and_temp_tables():
    from pipeline.analysis.connection import has_relation

    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE conversations AS SELECT 1 AS x")
    con.execute("CREATE VIEW api_calls AS SELECT 1 AS x")
    assert has_relation(con, "conversations") and has_relation(con, "api_calls")
    assert not has_relation(con, "destinations")
