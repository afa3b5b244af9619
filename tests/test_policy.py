"""The policy evaluator per element and operator, the way AWS combines policy types in one account,
and the fixes it proposes (each one re-evaluated)."""

from __future__ import annotations

import json
import shlex

import pytest

from pipeline.analysis.policy import (
    ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, NamedPolicy, PolicyError, PolicySet, Request, evaluate_policy,
    evaluate_request, fixes, network_context)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-task"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/orders-task/5f2c1e0a9b8d4c7e8f6a5b4c3d2e1f0a"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
VPCE = "vpce-0a1b2c3d4e5f60718"
THROUGH_ENDPOINT = network_context(VPCE, "vpc-0123", "10.0.1.25")
THROUGH_NAT = network_context(None, None, "3.5.140.2")


def req(action="sqs:SendMessage", resource=QUEUE, context=THROUGH_ENDPOINT, principal=SESSION):
    return Request(principal, action, resource, context)


def stmt(effect="Allow", **fields):
    return {"Effect": effect, **fields}


def decide(statements, request=None, *, with_principal=False):
    return evaluate_policy({"Version": "2012-10-17", "Statement": statements}, request or req(),
                           with_principal=with_principal).decision


# --- elements ------------------------------------------------------------------------------

def test_action_wildcards_and_case():
    assert decide([stmt(Action="sqs:SendMessage", Resource="*")]) == ALLOW
    assert decide([stmt(Action="SQS:sendmessage", Resource="*")]) == ALLOW  # actions are case-insensitive
    assert decide([stmt(Action=["sns:Publish", "sqs:Send*"], Resource="*")]) == ALLOW
    assert decide([stmt(Action="sqs:Send?essage", Resource="*")]) == ALLOW
    assert decide([stmt(Action="sqs:Receive*", Resource="*")]) == IMPLICIT_DENY
    assert decide([stmt(Action="*", Resource="*")]) == ALLOW
    assert decide(stmt(Action="sqs:*", Resource="*")) == ALLOW  # a single statement, not a list


def test_not_action():
    assert decide([stmt(NotAction="sqs:Delete*", Resource="*")]) == ALLOW
    assert decide([stmt(NotAction=["sqs:Send*"], Resource="*")]) == IMPLICIT_DENY
    assert decide([stmt(Action="sqs:*", Resource="*"), stmt("Deny", NotAction="sqs:SendMessage", Resource="*")]) == ALLOW
    assert decide([stmt(Action="sqs:*", Resource="*"), stmt("Deny", NotAction="sqs:Receive*", Resource="*")]) == EXPLICIT_DENY


def test_resource_wildcards_are_case_sensitive():
    assert decide([stmt(Action="sqs:*", Resource="arn:aws:sqs:us-east-1:123456789012:ord*")]) == ALLOW
    assert decide([stmt(Action="sqs:*", Resource="arn:aws:sqs:*:123456789012:orders")]) == ALLOW
    assert decide([stmt(Action="sqs:*", Resource="arn:aws:sqs:us-east-1:123456789012:ORDERS")]) == IMPLICIT_DENY
    assert decide([stmt(Action="sqs:*", Resource="arn:aws:sqs:us-east-1:123456789012:order?")]) == ALLOW
    assert decide([stmt(Action="sqs:*", Resource="arn:aws:sqs:us-east-1:123456789012:order")]) == IMPLICIT_DENY
    bucket = req("s3:GetObject", "arn:aws:s3:::orders-bucket/in/2026/1.json")
    assert decide([stmt(Action="s3:GetObject", Resource="arn:aws:s3:::orders-bucket/*")], bucket) == ALLOW
    assert decide([stmt(Action="s3:GetObject", Resource="arn:aws:s3:::orders-bucket/[in]/*")], bucket) == IMPLICIT_DENY


def test_not_resource():
    assert decide([stmt(Action="sqs:*", NotResource="arn:aws:sqs:*:*:secret-*")]) == ALLOW
    assert decide([stmt(Action="sqs:*", NotResource=["arn:aws:sqs:*:*:ord*"])]) == IMPLICIT_DENY
    assert decide([stmt(Action="*", Resource="*"), stmt("Deny", Action="*", NotResource=QUEUE)]) == ALLOW


def test_explicit_deny_beats_allow_whatever_the_order():
    allow, deny = stmt(Action="sqs:*", Resource="*"), stmt("Deny", Sid="NoSend", Action="sqs:SendMessage", Resource=QUEUE)
    for statements in ([allow, deny], [deny, allow]):
        result = evaluate_policy({"Statement": statements}, req(), name="app")
        assert result.decision == EXPLICIT_DENY and result.statement.label == "Sid NoSend"
    assert evaluate_policy({"Statement": [allow, allow]}, req()).statement.label == "statement 1"


@pytest.mark.parametrize("principal,matches", [
    ("*", True), ({"AWS": "*"}, True), ({"AWS": ROLE}, True), ({"AWS": SESSION}, True), ({"AWS": [ACCOUNT]}, True),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, True), ({"AWS": "arn:aws:iam::999999999999:root"}, False),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}, False), ({"Service": "sns.amazonaws.com"}, False),
])
def test_principal(principal, matches):
    assert decide([stmt(Principal=principal, Action="sqs:*", Resource="*")], with_principal=True) == (
        ALLOW if matches else IMPLICIT_DENY)


def test_service_principal_and_not_principal():
    service = Request("ecs-tasks.amazonaws.com", "sts:AssumeRole", ROLE)
    assert decide([stmt(Principal={"Service": "ecs-tasks.amazonaws.com"}, Action="sts:AssumeRole")], service,
                  with_principal=True) == ALLOW
    deny_others = [stmt(Principal="*", Action="sqs:*", Resource="*"),
                   stmt("Deny", NotPrincipal={"AWS": ROLE}, Action="sqs:*", Resource="*")]
    assert decide(deny_others, with_principal=True) == ALLOW
    assert decide(deny_others, req(principal="arn:aws:iam::123456789012:user/ops"), with_principal=True) == EXPLICIT_DENY


# --- conditions ----------------------------------------------------------------------------

@pytest.mark.parametrize("condition,through_endpoint,through_nat", [
    ({"StringEquals": {"aws:SourceVpce": VPCE}}, True, False),
    ({"StringEqualsIfExists": {"aws:SourceVpce": VPCE}}, True, True),  # absent on the NAT path: passes
    ({"StringNotEquals": {"aws:SourceVpce": VPCE}}, False, True),  # absent: a negated operator matches
    ({"StringNotEqualsIfExists": {"aws:SourceVpce": VPCE}}, False, True),
    ({"StringLike": {"aws:sourcevpce": "vpce-0a1b*"}}, True, False),  # keys are case-insensitive
    ({"StringNotLike": {"aws:SourceVpc": "vpc-9*"}}, True, True),
    ({"StringEqualsIgnoreCase": {"aws:SourceVpc": "VPC-0123"}}, True, False),
    ({"StringEquals": {"aws:SourceVpc": "VPC-0123"}}, False, False),  # values are case-sensitive
    ({"ArnEquals": {"aws:PrincipalArn": ROLE}}, True, True),  # a role session's PrincipalArn is the role
    ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/orders-*"}}, True, True),
    ({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/orders-*"}}, False, False),
    ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, True, True),
    ({"IpAddress": {"aws:VpcSourceIp": "10.0.0.0/16"}}, True, False),
    ({"IpAddress": {"aws:SourceIp": ["3.5.140.0/22", "52.0.0.0/8"]}}, False, True),
    ({"NotIpAddress": {"aws:SourceIp": "3.5.140.0/22"}}, True, False),
    ({"Bool": {"aws:SecureTransport": "true"}}, False, False),  # absent key, not IfExists
    ({"BoolIfExists": {"aws:SecureTransport": "true"}}, True, True),
    ({"Null": {"aws:SourceVpce": "true"}}, False, True),
    ({"ForAnyValue:StringEquals": {"aws:SourceVpce": [VPCE, "vpce-other"]}}, True, False),
    ({"ForAllValues:StringEquals": {"aws:SourceVpce": ["vpce-other"]}}, False, True),  # absent: ForAllValues passes
    ({"StringEquals": {"aws:SourceVpce": VPCE, "aws:SourceVpc": "vpc-0123"}}, True, False),  # keys are ANDed
    ({"StringEquals": {"aws:SourceVpce": VPCE}, "IpAddress": {"aws:VpcSourceIp": "10.9.0.0/16"}}, False, False),
])
def test_condition_operators(condition, through_endpoint, through_nat):
    statements = [stmt(Action="sqs:*", Resource="*", Condition=condition)]
    assert (decide(statements, req(context=THROUGH_ENDPOINT)) == ALLOW,
            decide(statements, req(context=THROUGH_NAT)) == ALLOW) == (through_endpoint, through_nat)


def test_bool_with_a_present_key_and_unsupported_operators():
    secure = req(context={**THROUGH_ENDPOINT, "aws:SecureTransport": True})
    assert decide([stmt(Action="*", Resource="*", Condition={"Bool": {"aws:SecureTransport": "true"}})], secure) == ALLOW
    date = [stmt(Action="*", Resource="*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}})]
    assert decide(date) == IMPLICIT_DENY  # the key is absent: decided without comparing
    with pytest.raises(PolicyError, match="DateGreaterThan"):
        decide(date, req(context={"aws:CurrentTime": "2026-12-04T00:00:00Z"}))


def test_bad_documents_are_named():
    with pytest.raises(PolicyError, match="vpce-1: not a JSON policy document"):
        evaluate_policy("{not json", req(), name="vpce-1")
    encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sqs%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"
    assert evaluate_policy(encoded, req()).decision == ALLOW  # IAM returns documents URL-encoded


# --- policy types combined -----------------------------------------------------------------

IDENTITY_SEND = NamedPolicy("send-orders", {"Statement": [stmt(Sid="Send", Action="sqs:SendMessage", Resource=QUEUE)]})
ENDPOINT_ONLY_OURS = NamedPolicy(VPCE, {"Statement": [
    stmt(Sid="OurAccount", Principal="*", Action="sqs:*", Resource="*",
         Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT}})]})


def test_endpoint_policy_denies_while_identity_allows():
    deny = NamedPolicy(VPCE, {"Statement": [stmt(Principal="*", Action="*", Resource="*"),
                                            stmt("Deny", Sid="NoSend", Principal="*", Action="sqs:Send*", Resource="*")]})
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=deny))
    assert (e.decision, e.policy_type, e.owner, e.statement_label) == (EXPLICIT_DENY, "endpoint_policy", VPCE, "Sid NoSend")
    narrow = NamedPolicy(VPCE, {"Statement": [stmt(Principal="*", Action="sqs:ReceiveMessage", Resource="*")]})
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=narrow))
    assert (e.decision, e.policy_type, e.statement_label) == (IMPLICIT_DENY, "endpoint_policy", "no statement allows")
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=ENDPOINT_ONLY_OURS))
    assert (e.decision, e.policy_type, e.policy, e.statement_label) == (ALLOW, "identity_policy", "send-orders", "Sid Send")


def test_an_endpoint_without_a_policy_has_the_full_access_default():
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=NamedPolicy(VPCE, None)))
    assert (e.decision, e.policy_type) == (ALLOW, "identity_policy")
    empty = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=NamedPolicy(VPCE, {"Statement": []})))
    assert (empty.decision, empty.policy_type) == (IMPLICIT_DENY, "endpoint_policy")


def test_endpoint_policy_never_grants_alone():
    e = evaluate_request(req(), PolicySet(identity=[], endpoint=ENDPOINT_ONLY_OURS))
    assert (e.decision, e.policy_type, e.owner, e.statement) == (IMPLICIT_DENY, "identity_policy", ROLE, None)


def test_nat_path_against_a_source_vpce_condition_in_the_identity_policy():
    conditioned = NamedPolicy("send-via-endpoint", {"Statement": [stmt(
        Action="sqs:SendMessage", Resource=QUEUE, Condition={"StringEquals": {"aws:SourceVpce": VPCE}})]})
    assert evaluate_request(req(context=THROUGH_ENDPOINT), PolicySet(identity=[conditioned])).allowed
    e = evaluate_request(req(context=THROUGH_NAT), PolicySet(identity=[conditioned]))
    assert (e.decision, e.policy_type) == (IMPLICIT_DENY, "identity_policy")


def test_resource_policy_deny_outside_the_endpoint():
    queue_policy = NamedPolicy(QUEUE, {"Statement": [stmt("Deny", Sid="OnlyThroughVpce", Principal="*", Action="sqs:*",
                                                          Resource=QUEUE,
                                                          Condition={"StringNotEquals": {"aws:SourceVpce": VPCE}})]})
    policies = PolicySet(identity=[IDENTITY_SEND], resource=queue_policy)
    assert evaluate_request(req(context=THROUGH_ENDPOINT), policies).allowed
    e = evaluate_request(req(context=THROUGH_NAT), policies)
    assert (e.decision, e.policy_type, e.owner, e.statement_label) == (
        EXPLICIT_DENY, "resource_policy", QUEUE, "Sid OnlyThroughVpce")


def test_resource_policy_grants_alone_only_when_it_names_the_principal():
    names_role = NamedPolicy(QUEUE, {"Statement": [stmt(Principal={"AWS": ROLE}, Action="sqs:SendMessage", Resource=QUEUE)]})
    e = evaluate_request(req(), PolicySet(resource=names_role))
    assert (e.decision, e.policy_type, e.owner) == (ALLOW, "resource_policy", QUEUE)
    names_account = NamedPolicy(QUEUE, {"Statement": [stmt(Principal={"AWS": ACCOUNT}, Action="sqs:*", Resource=QUEUE)]})
    assert evaluate_request(req(), PolicySet(resource=names_account)).decision == IMPLICIT_DENY
    assert evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], resource=names_account)).allowed


def test_kms_key_policy_must_allow_even_in_the_account():
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    decrypt = req("kms:Decrypt", key)
    identity = NamedPolicy("decrypt", {"Statement": [stmt(Action="kms:Decrypt", Resource=key)]})
    admins_only = NamedPolicy(key, {"Statement": [stmt(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
                                                       Action="kms:*", Resource="*")]})
    e = evaluate_request(decrypt, PolicySet(identity=[identity], resource=admins_only))
    assert (e.decision, e.policy_type, e.owner) == (IMPLICIT_DENY, "resource_policy", key)
    delegate = NamedPolicy(key, {"Statement": [stmt(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, Action="kms:*",
                                                    Resource="*")]})
    assert evaluate_request(decrypt, PolicySet(identity=[identity], resource=delegate)).allowed


def test_permissions_boundary_and_session_policy():
    boundary = NamedPolicy("boundary", {"Statement": [stmt(Action="sns:*", Resource="*")]},
                           arn=f"arn:aws:iam::{ACCOUNT}:policy/boundary")
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], permissions_boundary=boundary))
    assert (e.decision, e.policy_type, e.policy, e.owner) == (IMPLICIT_DENY, "permissions_boundary", boundary.arn, ROLE)
    session = NamedPolicy("session", {"Statement": [stmt("Deny", Action="sqs:Send*", Resource="*")]})
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], session=session))
    assert (e.decision, e.policy_type) == (EXPLICIT_DENY, "session_policy")
    # a resource policy naming the session itself is not limited by the boundary
    names_session = NamedPolicy(QUEUE, {"Statement": [stmt(Principal={"AWS": SESSION}, Action="sqs:*", Resource=QUEUE)]})
    assert evaluate_request(req(), PolicySet(permissions_boundary=boundary, resource=names_session)).allowed


def test_service_and_resource_control_policies():
    scp = NamedPolicy("p-2kgnabcd", {"Statement": [stmt(Action="*", Resource="*"),
                                                   stmt("Deny", Sid="NoSqs", Action="sqs:*", Resource="*")]})
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], service_control=[scp]))
    assert (e.decision, e.policy_type, e.statement_label) == (EXPLICIT_DENY, "service_control_policy", "Sid NoSqs")
    rcp = NamedPolicy("p-rcp", {"Statement": [stmt(Principal="*", Action="sns:*", Resource="*")]})
    e = evaluate_request(req(), PolicySet(identity=[IDENTITY_SEND], resource_control=[rcp]))
    assert (e.decision, e.policy_type) == (IMPLICIT_DENY, "resource_control_policy")


def test_several_denies_name_the_others():
    deny = {"Statement": [stmt("Deny", Principal="*", Action="*", Resource="*")]}
    e = evaluate_request(req(), PolicySet(identity=[NamedPolicy("d", deny)], endpoint=NamedPolicy(VPCE, deny)))
    assert (e.policy_type, e.also_denied_by) == ("identity_policy", ("endpoint_policy",))


# --- fixes ---------------------------------------------------------------------------------

def _document_of(command: str, option: str) -> dict:
    words = shlex.split(command)
    return json.loads(words[words.index(option) + 1])


def test_fix_for_a_missing_identity_allow_is_exactly_the_call():
    [fix] = fixes(req(), PolicySet(identity=[]))
    assert fix.add == {"Sid": "AllowSqsSendMessage", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE}
    assert fix.verified and fix.target == ROLE
    assert fix.command.startswith("aws iam put-role-policy --role-name orders-task --policy-name allow-sqs-SendMessage ")
    assert _document_of(fix.command, "--policy-document")["Statement"] == [fix.add]


def test_fix_for_an_endpoint_policy_keeps_the_rest_of_it():
    [fix] = fixes(req(), PolicySet(identity=[IDENTITY_SEND], endpoint=NamedPolicy(VPCE, {"Statement": [
        stmt(Sid="Receive", Principal="*", Action="sqs:ReceiveMessage", Resource="*")]})))
    assert fix.command.startswith(f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {VPCE} --policy-document ")
    statements = _document_of(fix.command, "--policy-document")["Statement"]
    assert [s.get("Sid") for s in statements] == ["Receive", "AllowSqsSendMessage"]
    assert statements[1]["Principal"] == {"AWS": ROLE} and fix.verified


def test_fix_for_an_explicit_deny_removes_that_statement_and_then_adds_what_is_missing():
    endpoint = NamedPolicy(VPCE, {"Statement": [stmt(Sid="Receive", Principal="*", Action="sqs:ReceiveMessage", Resource="*"),
                                                stmt("Deny", Sid="NoSend", Principal="*", Action="sqs:Send*", Resource="*")]})
    out = fixes(req(), PolicySet(identity=[], endpoint=endpoint))
    assert [(f.policy_type, f.remove and f.remove["Sid"], f.add and f.add["Sid"]) for f in out] == [
        ("endpoint_policy", "NoSend", "AllowSqsSendMessage"), ("identity_policy", None, "AllowSqsSendMessage")]
    assert all(f.verified for f in out)
    assert [s["Sid"] for s in _document_of(out[0].command, "--policy-document")["Statement"]] == [
        "Receive", "AllowSqsSendMessage"]


@pytest.mark.parametrize("resource,start", [
    (QUEUE, f"aws sqs set-queue-attributes --queue-url https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders --attributes "),
    (f"arn:aws:sns:us-east-1:{ACCOUNT}:orders", f"aws sns set-topic-attributes --topic-arn arn:aws:sns:us-east-1:{ACCOUNT}:orders "),
    (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf",
     f"aws secretsmanager put-resource-policy --secret-id arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:db-AbCdEf "),
    ("arn:aws:s3:::orders-bucket", "aws s3api put-bucket-policy --bucket orders-bucket --policy "),
    (f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd", "aws kms put-key-policy --key-id 1234abcd --policy-name default "),
])
def test_fix_commands_for_resource_policies(resource, start):
    policy = NamedPolicy(resource, {"Statement": [stmt("Deny", Sid="NoTask", Principal={"AWS": ROLE}, Action="*",
                                                       Resource="*")]})
    out = fixes(req("sqs:SendMessage", resource), PolicySet(identity=[NamedPolicy("all", {"Statement": [
        stmt(Action="*", Resource="*")]})], resource=policy))
    assert [(f.policy_type, f.remove["Sid"]) for f in out] == [("resource_policy", "NoTask")]
    assert out[0].command.startswith(start) and out[0].verified


def test_fix_for_an_s3_gateway_endpoint_names_the_principal_by_condition():
    get = req("s3:GetObject", "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/layer")
    [fix] = fixes(get, PolicySet(identity=[NamedPolicy("all", {"Statement": [stmt(Action="*", Resource="*")]})],
                                 endpoint=NamedPolicy("vpce-s3", {"Statement": []})))
    assert fix.add["Principal"] == "*" and fix.add["Condition"] == {"ArnEquals": {"aws:PrincipalArn": ROLE}}
    assert fix.add["Resource"] == "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/layer" and fix.verified


def test_fix_for_a_managed_policy_deny_writes_a_new_version():
    managed = NamedPolicy("DenySqs", {"Statement": [stmt(Action="*", Resource="*"),
                                                   stmt("Deny", Action="sqs:*", Resource="*")]},
                          arn=f"arn:aws:iam::{ACCOUNT}:policy/DenySqs")
    [fix] = fixes(req(), PolicySet(identity=[managed]))
    assert fix.command.startswith(f"aws iam create-policy-version --policy-arn {managed.arn} --policy-document ")
    assert fix.command.endswith("--set-as-default") and fix.remove == {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"}
    assert fix.target == managed.arn and fix.verified
