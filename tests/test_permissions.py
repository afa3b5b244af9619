"""The denial wordings (from ../shared/reference/iam_dns.md and the troubleshooting guide) and the
policy evaluator, element by element."""

from __future__ import annotations

import json

import pytest

from pipeline.analysis import permissions as perm

P = "arn:aws:sts::123456789012:assumed-role/TaskRole/123456789012"
ROLE = "arn:aws:iam::123456789012:role/TaskRole"

WORDINGS = [
    # the troubleshooting guide's two messages, verbatim
    ("An error occurred (AuthorizationError) when calling the ListTopics operation: User: " + P + " is not authorized "
     "to perform: SNS:ListTopics on resource: arn:aws:sns:region-name:123456789012:* with an explicit deny in a VPC "
     "endpoint policy", "endpoint_policy", True),
    ("An error occurred (AuthorizationError) when calling the ListTopics operation: User: " + P + " is not authorized "
     "to perform: SNS:ListTopics on resource: arn:aws:sns:region-name:123456789012:* because no identity-based policy "
     "allows the SNS:ListTopics action", "identity_policy", False),
    (f"User: {P} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny in "
     "an identity-based policy", "identity_policy", True),
    (f"User: {P} is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:r:1:q because no "
     "resource-based policy allows the sqs:sendmessage action", "resource_policy", False),
    (f"User: {P} is not authorized to perform: sqs:sendmessage on resource: arn:aws:sqs:r:1:q with an explicit deny "
     "in a resource-based policy", "resource_policy", True),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t because no permissions boundary allows the "
     "sns:Publish action", "permissions_boundary", False),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t with an explicit deny in a permissions "
     "boundary", "permissions_boundary", True),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t because no session policy allows the "
     "sns:Publish action", "session_policy", False),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t with an explicit deny in a sessions policy",
     "session_policy", True),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t because no service control policy allows "
     "the sns:Publish action", "service_control_policy", False),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t with an explicit deny in a service control "
     "policy", "service_control_policy", True),
    (f"User: {P} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny "
     "in a resource control policy", "resource_control_policy", True),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t because no VPC endpoint policy allows the "
     "sns:Publish action", "endpoint_policy", False),
    (f"User: {P} is not authorized to perform: sns:Publish on resource: t with an explicit deny in a VPC endpoint "
     "policy transitively through a service control policy", "endpoint_policy", True),
    (f"User: {P} is not authorized to perform: kms:Decrypt on this resource because the resource does not exist in "
     "this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access",
     "resource_policy", None),  # KMS does not say which: the key policy (or no such key)
    ("The request was denied due to a VPC endpoint policy", "endpoint_policy", None),
]


@pytest.mark.parametrize("text,cause,explicit", WORDINGS)
def test_each_wording_names_its_policy_type(text, cause, explicit):
    d = perm.read_denial(text)
    assert d.denied and not d.network
    assert (d.cause, d.explicit) == (cause, explicit)
    if d.principal:
        assert (d.role, d.session, d.role_arn) == ("TaskRole", "123456789012", ROLE)


def test_the_guide_message_gives_action_and_resource():
    d = perm.read_denial(WORDINGS[0][0])
    assert (d.action, d.resource) == ("SNS:ListTopics", "arn:aws:sns:region-name:123456789012:*")
    assert perm.service_of_action(d.action) == "sns"


def test_a_policy_arn_in_the_wording_is_kept():
    d = perm.read_denial(f"User: {P} is not authorized to perform: ec2:RunInstances on resource: x with an explicit "
                         "deny in an identity-based policy: arn:aws:iam::123456789012:policy/NoRun")
    assert (d.cause, d.explicit, d.policy_arn) == ("identity_policy", True, "arn:aws:iam::123456789012:policy/NoRun")


def test_vpce_access_denied_code_is_the_endpoint_policy():
    assert perm.read_denial(None, "VpceAccessDenied").cause == "endpoint_policy"


def _req(action="sqs:SendMessage", resource="arn:aws:sqs:eu-west-1:123456789012:orders", **context):
    return perm.Request(P, ROLE, action, resource, context)


def _doc(*statements):
    return json.dumps({"Statement": list(statements)})


ALLOW_SQS = {"Sid": "Send", "Effect": "Allow", "Action": "sqs:Send*", "Resource": "arn:aws:sqs:*:123456789012:*"}


def test_wildcard_action_and_resource_allow():
    assert perm.decide(_doc(ALLOW_SQS), _req()) == perm.Decision("allow", "Sid Send")
    assert perm.decide(_doc(ALLOW_SQS), _req(action="sqs:ReceiveMessage")).decision == "implicit_deny"
    assert perm.decide(_doc(ALLOW_SQS), _req(resource="arn:aws:sqs:eu-west-1:999999999999:q")).decision == "implicit_deny"


def test_action_names_compare_case_insensitively():
    assert perm.decide(_doc(ALLOW_SQS), _req(action="sqs:sendmessage")).decision == "allow"


def test_explicit_deny_beats_allow_and_is_named_by_index_without_sid():
    deny = {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"}
    assert perm.decide(_doc(ALLOW_SQS, deny), _req()) == perm.Decision("explicit_deny", "statement 2")


def test_not_action_and_not_resource():
    everything_but_delete = {"Effect": "Allow", "NotAction": "sqs:Delete*", "Resource": "*"}
    assert perm.decide(_doc(everything_but_delete), _req()).decision == "allow"
    assert perm.decide(_doc(everything_but_delete), _req(action="sqs:DeleteQueue")).decision == "implicit_deny"
    not_here = {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:sqs:*:*:orders"}
    assert perm.decide(_doc(ALLOW_SQS, not_here), _req()).decision == "allow"
    assert perm.decide(_doc(ALLOW_SQS, not_here), _req(resource="arn:aws:sqs:eu-west-1:123456789012:x")).decision == \
        "explicit_deny"


def test_principal_and_not_principal():
    mine = {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}
    other = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/Other"}, "Action": "*", "Resource": "*"}
    account = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "*", "Resource": "*"}
    assert perm.decide(_doc(mine), _req(), with_principal=True).decision == "allow"
    assert perm.decide(_doc(other), _req(), with_principal=True).decision == "implicit_deny"
    assert perm.decide(_doc(account), _req(), with_principal=True).decision == "allow"
    all_but_me = {"Effect": "Deny", "NotPrincipal": {"AWS": ROLE}, "Action": "*", "Resource": "*"}
    assert perm.decide(_doc(account, all_but_me), _req(), with_principal=True).decision == "allow"


@pytest.mark.parametrize("operator,key,value,context,applies", [
    ("StringEquals", "aws:SourceVpce", "vpce-1", {"aws:SourceVpce": "vpce-1"}, True),
    ("StringEquals", "aws:SourceVpce", "vpce-1", {"aws:SourceVpce": "vpce-2"}, False),
    ("StringNotEquals", "aws:SourceVpce", "vpce-1", {"aws:SourceVpce": "vpce-2"}, True),
    ("StringNotEquals", "aws:SourceVpce", "vpce-1", {}, True),  # absent key: a NAT-path request
    ("StringEquals", "aws:SourceVpce", "vpce-1", {}, False),
    ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", {}, True),  # …IfExists on an absent key
    ("StringEqualsIfExists", "aws:SourceVpce", "vpce-1", {"aws:SourceVpce": "vpce-2"}, False),
    ("StringLike", "aws:SourceVpc", "vpc-0a*", {"aws:SourceVpc": "vpc-0abc"}, True),
    ("StringNotLike", "aws:SourceVpc", "vpc-0a*", {"aws:SourceVpc": "vpc-0abc"}, False),
    ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/Task*", {}, True),
    ("ArnNotEquals", "aws:PrincipalArn", ROLE, {}, False),
    ("StringEquals", "aws:PrincipalAccount", "123456789012", {}, True),
    ("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": "true"}, True),
    ("IpAddress", "aws:SourceIp", "52.0.0.0/8", {"aws:SourceIp": "52.1.2.3"}, True),
    ("NotIpAddress", "aws:SourceIp", "52.0.0.0/8", {"aws:SourceIp": "52.1.2.3"}, False),
    ("IpAddress", "aws:VpcSourceIp", "10.0.0.0/16", {"aws:VpcSourceIp": "10.1.0.5"}, False),
])
def test_condition_operators(operator, key, value, context, applies):
    statement = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {operator: {key: value}}}
    got = perm.decide(_doc(statement), _req(**context)).decision
    assert got == ("explicit_deny" if applies else "implicit_deny")


def test_a_request_through_an_endpoint_needs_the_endpoint_policy_too():
    identity = [("app", _doc(ALLOW_SQS))]
    only_other = ("vpce-1", _doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/x"}, "Action": "*",
                                  "Resource": "*"}))
    v = perm.evaluate(_req(**{"aws:SourceVpce": "vpce-1"}), perm.Policies(identity, endpoint=only_other))
    assert (v.allowed, v.cause, v.explicit, v.resource) == (False, "endpoint_policy", False, "vpce-1")
    assert perm.evaluate(_req(), perm.Policies(identity)).allowed


def test_a_resource_policy_deny_on_an_absent_source_vpce_blocks_the_nat_path():
    queue = ("arn:aws:sqs:eu-west-1:123456789012:orders", _doc(
        {"Sid": "ViaEndpoint", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}))
    p = perm.Policies([("app", _doc(ALLOW_SQS))], resource=queue)
    v = perm.evaluate(_req(), p)
    assert (v.cause, v.explicit, v.statement, v.resource) == ("resource_policy", True, "Sid ViaEndpoint", queue[0])
    assert perm.evaluate(_req(**{"aws:SourceVpce": "vpce-1"}), p).allowed


def test_the_fix_is_minimal_and_confirmed_by_the_evaluator():
    p = perm.Policies([("app", _doc({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}))],
                      boundary=("arn:aws:iam::123456789012:policy/b", _doc({"Effect": "Allow", "Action": "sns:*",
                                                                            "Resource": "*"})))
    req = _req()
    v = perm.evaluate(req, p)
    assert v.cause == "identity_policy"
    statement, command = perm.fix(req, p, v)
    assert statement == {"Sid": "AllowSendMessage", "Effect": "Allow", "Action": "sqs:SendMessage",
                         "Resource": "arn:aws:sqs:eu-west-1:123456789012:orders"}
    # the identity fix alone does not pass the boundary: the evaluator refuses to offer the command
    assert command is None
    p.identity.append(("fixed", _doc(statement)))
    v = perm.evaluate(req, p)
    assert v.cause == "permissions_boundary"
    statement, command = perm.fix(req, p, v)
    assert command.startswith("aws iam create-policy-version --policy-arn arn:aws:iam::123456789012:policy/b ")
