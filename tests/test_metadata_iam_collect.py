"""IAM, task definitions, resource policies and trails: ``collect`` against a moto server
equals ``import`` of what the real AWS CLI prints for the same account.

moto 5.2.5 notes: GetKeyPolicy returns no ``PolicyName`` (the output is then told apart
from a bucket policy by its kms actions); services are created without running tasks
(their task definition is what matters here).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import running_moto_server
from test_metadata_collect_moto import _cli as cli_output, _cli_works
from pipeline.metadata import collect, import_files
from pipeline.metadata.store import committed_files
from pipeline.lake.storage import Store

REGION = "eu-west-1"
ACCOUNT = "123456789012"
T = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
TABLES = ("iam_roles", "iam_policies", "task_definitions", "resource_policies", "trails", "trail_event_selectors")
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _build(session: boto3.Session, url: str) -> dict:
    c = lambda name: session.client(name, endpoint_url=url, region_name=REGION)  # noqa: E731
    iam = c("iam")
    boundary = iam.create_policy(PolicyName="boundary", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": ["sqs:*", "sns:*"], "Resource": "*"}))["Policy"]["Arn"]
    shared = iam.create_policy(PolicyName="read-config", PolicyDocument=_doc(
        {"Sid": "ReadConfig", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"}))["Policy"]["Arn"]
    task_role = iam.create_role(RoleName="orders-task", AssumeRolePolicyDocument=json.dumps(TRUST),
                                PermissionsBoundary=boundary)["Role"]["Arn"]
    iam.put_role_policy(RoleName="orders-task", PolicyName="send", PolicyDocument=_doc(
        {"Sid": "Send", "Effect": "Allow", "Action": "sqs:SendMessage",
         "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"}))
    iam.attach_role_policy(RoleName="orders-task", PolicyArn=shared)
    exec_role = iam.create_role(RoleName="orders-exec", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    pull = iam.create_policy(PolicyName="pull-images", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken", "ecr:BatchGetImage"], "Resource": "*"}))
    iam.attach_role_policy(RoleName="orders-exec", PolicyArn=pull["Policy"]["Arn"])
    iam.create_policy(PolicyName="unused", PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))

    ecs = c("ecs")
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="orders", taskRoleArn=task_role, executionRoleArn=exec_role, networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[
            {"name": "app", "image": "orders:1", "essential": True,
             "environment": [{"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"},
                             {"name": "no_proxy", "value": "169.254.170.2,.amazonaws.com"}],
             "secrets": [{"name": "DB", "valueFrom": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"}]},
            {"name": "sidecar", "image": "envoy:1", "essential": False},
        ])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="prod", serviceName="orders", taskDefinition=td, desiredCount=0)

    queue = c("sqs").create_queue(QueueName="orders")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    c("sqs").set_queue_attributes(QueueUrl=queue, Attributes={"Policy": _doc(
        {"Sid": "OnlyThroughTheEndpoint", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}})})
    c("sqs").create_queue(QueueName="no-policy")
    topic = c("sns").create_topic(Name="alerts")["TopicArn"]
    c("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=_doc(
        {"Sid": "Publish", "Effect": "Allow", "Principal": {"AWS": task_role}, "Action": "sns:Publish", "Resource": topic}))
    secret = c("secretsmanager").create_secret(Name="db", SecretString="x")["ARN"]
    c("secretsmanager").put_resource_policy(SecretId=secret, ResourcePolicy=_doc(
        {"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:PrincipalArn": exec_role}}}))
    s3 = c("s3")
    s3.create_bucket(Bucket="orders.exports", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket="orders.exports", Policy=_doc(
        {"Effect": "Allow", "Principal": {"AWS": task_role}, "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::orders.exports/*"}))
    s3.create_bucket(Bucket="trail-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    key = c("kms").create_key(Description="orders")["KeyMetadata"]["KeyId"]
    trail = c("cloudtrail").create_trail(Name="main", S3BucketName="trail-logs", IsMultiRegionTrail=True)["TrailARN"]
    c("cloudtrail").put_event_selectors(TrailName="main", AdvancedEventSelectors=[
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "sqs data", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                               {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]}]},
        {"Name": "vpce denials", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["NetworkActivity"]},
                                                   {"Field": "eventSource", "Equals": ["kms.amazonaws.com"]}]},
    ])
    return {"task_role": task_role, "exec_role": exec_role, "boundary": boundary, "shared": shared, "td": td,
            "pull": pull["Policy"]["Arn"],
            "queue": queue, "queue_arn": queue_arn, "topic": topic, "secret": secret, "key": key, "trail": trail}


@pytest.fixture(scope="module")
def account():
    with running_moto_server() as url:
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        yield {"url": url, "session": session, "ids": _build(session, url)}


@pytest.fixture(scope="module")
def collected(account, tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("collected"))
    result = collect(store, account["session"], snapshot_time=T, endpoint_url=account["url"])
    return store, result


def _rows(store: Store, table: str) -> list[dict]:
    files = committed_files(store, table)
    if not files:
        return []
    data = pa.concat_tables([pq.read_table(store.path(f)) for f in files])
    rows = data.drop_columns(["snapshot_id", "snapshot_time", "source"]).to_pylist()
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_collect_reads_roles_definitions_policies_and_trails(collected, account):
    store, result = collected
    ids = account["ids"]
    assert result.warnings == []
    roles = {r["role_name"]: r for r in _rows(store, "iam_roles")}
    assert roles["orders-task"]["permissions_boundary_arn"] == ids["boundary"]
    assert roles["orders-task"]["managed_policy_arns"] == [ids["shared"]]
    assert roles["orders-task"]["inline_policy_names"] == ["send"]
    assert json.loads(roles["orders-task"]["trust_policy"]) == TRUST
    policies = _rows(store, "iam_policies")
    inline = next(p for p in policies if p["role_arn"] == ids["task_role"])
    assert (inline["policy_type"], inline["policy_name"]) == ("inline", "send")
    assert json.loads(inline["document"])["Statement"][0]["Sid"] == "Send"
    managed = {p["policy_arn"]: p for p in policies if p["policy_type"] == "managed"}
    # the boundary and the attached policies; not the unused one
    assert set(managed) == {ids["boundary"], ids["shared"], ids["pull"]}
    assert "ecr:GetAuthorizationToken" in managed[ids["pull"]]["document"]
    defs = {r["container_name"]: r for r in _rows(store, "task_definitions")}
    assert set(defs) == {"app", "sidecar"}
    app = defs["app"]
    assert (app["family"], app["revision"], app["task_role_arn"], app["execution_role_arn"]) == (
        "orders", 1, ids["task_role"], ids["exec_role"])
    assert (app["https_proxy"], app["no_proxy"], app["http_proxy"]) == (
        "http://proxy.internal:3128", "169.254.170.2,.amazonaws.com", None)
    assert json.loads(app["secrets"]) == {"DB": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"}
    assert json.loads(defs["sidecar"]["environment"]) == {}
    policies = {r["resource_type"]: r for r in _rows(store, "resource_policies")}
    assert set(policies) == {"sqs", "sns", "secretsmanager", "s3", "kms"}  # the queue without a policy has no row
    assert policies["sqs"]["resource_arn"] == ids["queue_arn"] and policies["sqs"]["resource_name"] == "orders"
    assert policies["sns"]["resource_arn"] == ids["topic"]
    assert policies["secretsmanager"]["resource_arn"] == ids["secret"]
    assert policies["s3"]["resource_arn"] == "arn:aws:s3:::orders.exports"
    assert policies["kms"]["resource_name"] == ids["key"]
    trails = _rows(store, "trails")
    assert [t["trail_arn"] for t in trails] == [ids["trail"]] and trails[0]["is_multi_region"] is True
    selectors = _rows(store, "trail_event_selectors")[0]
    assert selectors["management_events"] is True
    assert selectors["data_resource_types"] == ["AWS::SQS::Queue"]
    assert selectors["network_activity_sources"] == ["kms.amazonaws.com"]


def _cli(url: str, *args: str) -> dict:
    return cli_output(url, *args, region=REGION)


@pytest.mark.skipif(not _cli_works(), reason="the AWS CLI (aws) is not installed")
def test_collect_equals_importing_the_cli_json(collected, account, tmp_path):
    """The CLI outputs, saved the way the README says (several task definitions in one JSON-lines file)."""
    url, ids = account["url"], account["ids"]
    out = tmp_path / "cli"
    out.mkdir()

    def save(name: str, doc) -> None:
        (out / name).write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))

    save("authorization-details.json", _cli(url, "iam", "get-account-authorization-details"))
    save("task-definitions.jsonl", "\n".join(
        json.dumps(_cli(url, "ecs", "describe-task-definition", "--task-definition", arn)) for arn in [ids["td"]]))
    save("orders-queue.json", _cli(url, "sqs", "get-queue-attributes", "--queue-url", ids["queue"],
                                   "--attribute-names", "Policy", "QueueArn"))
    save("alerts.json", _cli(url, "sns", "get-topic-attributes", "--topic-arn", ids["topic"]))
    save("db-secret.json", _cli(url, "secretsmanager", "get-resource-policy", "--secret-id", ids["secret"]))
    # the bucket policy names its bucket; the key policy does not name its key: the id goes in the file name
    save("orders.exports.get-bucket-policy.json", _cli(url, "s3api", "get-bucket-policy", "--bucket", "orders.exports"))
    save(f"key-{ids['key']}.json", _cli(url, "kms", "get-key-policy", "--key-id", ids["key"], "--policy-name", "default"))
    save("trails.json", _cli(url, "cloudtrail", "describe-trails"))
    save("event-selectors-main.json", _cli(url, "cloudtrail", "get-event-selectors", "--trail-name", "main"))

    imported = Store.open(tmp_path / "imported")
    import_files(imported, [out], snapshot_time=T)
    store, _ = collected
    for table in TABLES:
        want = _rows(imported, table)
        assert want and _rows(store, table) == want, f"{table} differs between collect and the CLI import"
