"""``flowlogs explain``: the troubleshooting guide's two messages verbatim, stdin, formats, and garbage."""

from __future__ import annotations

import json
import shlex
from pathlib import Path


from typer.testing import CliRunner

from conftest import shared
from pipeline.cli import app


GUIDE = ("An error occurred (AuthorizationError) when calling the ListTopics operation: User: "
         "arn:aws:sts::123456789012:assumed-role/TaskRole/123456789012 is not authorized to perform: SNS:ListTopics "
         "on resource: arn:aws:sns:region-name:123456789012:* ")
EXPLICIT = GUIDE + "with an explicit deny in a VPC endpoint policy"
IMPLICIT = GUIDE + "because no identity-based policy allows the SNS:ListTopics action"


def run(*args, stdin=None):
    return CliRunner().invoke(app, list(args), input=stdin)


def as_json(result) -> dict:
    assert result.exit_code == 0, result.output
    [doc] = json.loads(result.stdout)
    return doc


def test_explicit_endpoint_deny_from_the_guide():
    doc = as_json(run("explain", "--format", "json", EXPLICIT))
    assert (doc["policy_type"], doc["explicit"], doc["role_name"], doc["action"]) == (
        "endpoint_policy", True, "TaskRole", "SNS:ListTopics")
    assert doc["resource"] == "arn:aws:sns:region-name:123456789012:*" and doc["service"] == "sns"
    assert doc["meaning"].startswith("A VPC endpoint policy explicitly denies SNS:ListTopics.")
    assert doc["checks"] == ["aws ec2 describe-vpc-endpoints --filters Name=service-name,Values=com.amazonaws.region-name.sns "
                             "--query 'VpcEndpoints[].[VpcEndpointId,PolicyDocument]'"]
    assert doc["fixes"] == []  # an explicit deny: which statement needs the endpoint's policy


def test_implicit_identity_deny_from_the_guide_gives_the_put_role_policy_fix():
    doc = as_json(run("explain", "-f", "json", IMPLICIT))
    assert (doc["policy_type"], doc["explicit"], doc["error_code"], doc["operation"]) == (
        "identity_policy", False, "AuthorizationError", "ListTopics")
    [fix] = doc["fixes"]
    words = shlex.split(fix["command"])
    assert words[:8] == ["aws", "iam", "put-role-policy", "--role-name", "TaskRole", "--policy-name",
                         "allow-sns-ListTopics", "--policy-document"]
    assert json.loads(words[8])["Statement"] == [{"Sid": "AllowSnsListTopics", "Effect": "Allow",
                                                  "Action": "sns:ListTopics",
                                                  "Resource": "arn:aws:sns:region-name:123456789012:*"}]


def test_plain_output_is_field_value_lines():
    result = run("explain", "-f", "plain", IMPLICIT)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["field", "value"]
    fields = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in lines[1:] if not line.startswith("fix")}
    assert (fields["policy_type"], fields["explicit"], fields["role_arn"]) == (
        "identity_policy", "false", "arn:aws:iam::123456789012:role/TaskRole")
    assert any(line.startswith("fix 1 command") and "put-role-policy" in line for line in lines)


def test_table_format_renders():
    result = run("explain", "-f", "table", EXPLICIT)
    assert result.exit_code == 0 and "endpoint_policy" in result.stdout


def test_message_from_stdin():
    reason = ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
              "failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: "
              'send request failed caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 52.46.1.1:443: '
              "i/o timeout. Please check your task network configuration.\n")
    for args in (["explain", "-f", "json"], ["explain", "-f", "json", "-"]):
        doc = as_json(run(*args, stdin=reason))
        assert (doc["form"], doc["category"], doc["step"], doc["service"]) == (
            "stopped_reason", "network", "ecr_auth", "ecr.api")
        assert doc["checks"] == ["flowlogs report findings --kind reject --kind no_return"]


def test_garbage_is_not_a_denial_message():
    result = run("explain", "the printer is on fire")
    assert result.exit_code == 2
    assert "Error: not a denial message: 'the printer is on fire'" in result.output
    assert "Traceback" not in result.output and "Hint:" in result.output
    empty = run("explain", stdin="")
    assert empty.exit_code == 2 and "no message given" in empty.output and "Traceback" not in empty.output


def test_unknown_format_is_refused():
    result = run("explain", "-f", "yaml", IMPLICIT)
    assert result.exit_code == 2 and "--format" in result.output and "Traceback" not in result.output


def test_explain_with_the_policies_confirms_the_cause_and_gives_a_verified_fix(tmp_path):
    from pipeline.analysis.explain import explain
    from pipeline.lake.storage import Store
    from pipeline.analysis.policy import NamedPolicy, PolicySet, network_context

    vpce = "vpce-0a1b2c3d4e5f60718"
    endpoint = NamedPolicy(vpce, {"Statement": [
        {"Sid": "Publish", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"},
        {"Sid": "NoListing", "Effect": "Deny", "Principal": "*", "Action": "sns:List*", "Resource": "*"}]})
    identity = NamedPolicy("sns", {"Statement": [{"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]})
    e = explain(EXPLICIT, policies=PolicySet(identity=[identity], endpoint=endpoint),
                context=network_context(vpce, "vpc-1", "10.0.1.25"))
    assert (e.evaluation.policy_type, e.evaluation.owner, e.evaluation.statement_label) == (
        "endpoint_policy", vpce, "Sid NoListing")
    [fix] = e.fixes
    assert fix.remove["Sid"] == "NoListing" and fix.verified
    assert fix.command.startswith(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {vpce} --policy-document ")
    unexplained = explain(IMPLICIT, lake=Store.open(tmp_path / "lake"))  # a lake without IAM metadata
    assert "no IAM policies" in unexplained.note and unexplained.evaluation is None


def sample(relative: str) -> str:
    return shared("real_samples", *Path(relative).parts).read_text(encoding="utf-8")


def test_a_pasted_cloudtrail_record_and_task_event():
    doc = as_json(run("explain", "-f", "json", stdin=sample(
        "cloudtrail/aws-docs/network-activity-kms-listkeys-VpceAccessDenied.json")))
    assert (doc["form"], doc["policy_type"], doc["vpc_endpoint_id"], doc["action"]) == (
        "vpce_event", "endpoint_policy", "vpce-EXAMPLE08c1b6b9b7", "kms:ListKeys")
    assert doc["checks"] == ["aws ec2 describe-vpc-endpoints --vpc-endpoint-ids vpce-EXAMPLE08c1b6b9b7 "
                             "--query 'VpcEndpoints[0].PolicyDocument'"]
    stopped = as_json(run("explain", "-f", "json", stdin=sample("ecs-events/aws-samples-ecs-stopped-tasks-cwlogs/cw-event.json")))
    assert (stopped["form"], stopped["category"], stopped["text"]) == ("stopped_reason", "other", "Task stopped by user")
