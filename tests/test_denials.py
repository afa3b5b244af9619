"""Every access-denied wording of ../shared/reference/iam_dns.md (§1.2, §1.3, §1.5, §3.2) and of the real
samples in ../shared/real_samples, each classified right: the expectations were written from the
reference's tables and the samples' own fields, not from the classifier's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.analysis.denials import classify, classify_event, principal_parts, service_of

from conftest import shared

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "real_samples"

SESSION = "arn:aws:sts::123456789012:assumed-role/TaskRole/5f2c1e0a9b8d4c7e8f6a5b4c3d2e1f0a"
EXEC = "arn:aws:sts::221192224682:assumed-role/ecsTaskExecutionRole/26e17af95b5e431893308026b892584f"


def shared_file(relative: str) -> Path:
    """A file under ../shared: skipped with the reason when absent, a failure under CI=true."""
    return shared(*Path(relative).parts)


def base(action: str, resource: str = "arn:aws:sns:us-east-1:123456789012:orders") -> str:
    return f"User: {SESSION} is not authorized to perform: {action} on resource: {resource}"


# §1.2: (context phrase, policy_type, explicit) — every row that names a policy type
CONTEXTS = [
    ("because no identity-based policy allows the sns:Publish action", "identity_policy", False),
    ("with an explicit deny in an identity-based policy", "identity_policy", True),
    ("because no resource-based policy allows the sns:Publish action", "resource_policy", False),
    ("with an explicit deny in a resource-based policy", "resource_policy", True),
    ("because no permissions boundary allows the sns:Publish action", "permissions_boundary", False),
    ("with an explicit deny in a permissions boundary", "permissions_boundary", True),
    ("because no session policy allows the sns:Publish action", "session_policy", False),
    ("with an explicit deny in a session policy", "session_policy", True),
    ("with an explicit deny in a sessions policy", "session_policy", True),
    ("because no service control policy allows the sns:Publish action", "service_control_policy", False),
    ("with an explicit deny in a service control policy", "service_control_policy", True),
    ("due to an explicit deny in a Service Control Policy", "service_control_policy", True),
    ("with an explicit deny in a resource control policy", "resource_control_policy", True),
    ("because no VPC endpoint policy allows the sns:Publish action", "endpoint_policy", False),
    ("with an explicit deny in a VPC endpoint policy", "endpoint_policy", True),
    ("with an explicit deny in the role trust policy", "resource_policy", True),
    ("because the role trust policy allows the sns:Publish action", "resource_policy", False),
]


@pytest.mark.parametrize("context,policy_type,explicit", CONTEXTS, ids=[c[0][:60] for c in CONTEXTS])
def test_every_policy_type_wording(context, policy_type, explicit):
    d = classify(base("sns:Publish") + " " + context)
    assert (d.denied, d.policy_type, d.explicit, d.category) == (True, policy_type, explicit, "iam")
    assert d.action == "sns:Publish" and d.resource == "arn:aws:sns:us-east-1:123456789012:orders"
    assert (d.role_name, d.task_id, d.account) == ("TaskRole", "5f2c1e0a9b8d4c7e8f6a5b4c3d2e1f0a", "123456789012")
    assert d.role_arn == "arn:aws:iam::123456789012:role/TaskRole" and d.service == "sns"


def test_transitively_through_a_service_control_policy():
    d = classify("User: arn:aws:iam::777788889999:user/MaryMajor is not authorized to perform: SNS:Publish on resource: "
                 "arn:aws:sns:us-east-1:444455556666:MyTopic with an explicit deny in a VPC endpoint policy transitively "
                 "through a service control policy")
    assert (d.policy_type, d.via, d.explicit) == ("service_control_policy", "endpoint_policy", True)
    assert (d.principal_arn, d.role_name, d.account) == ("arn:aws:iam::777788889999:user/MaryMajor", None, "777788889999")


def test_pre_2021_bare_explicit_deny_names_no_policy():
    d = classify(base("sqs:SendMessage") + " with an explicit deny")
    assert (d.denied, d.explicit, d.policy_type) == (True, True, None) and "pre-2021" in d.note


# §1.3: the denying policy's ARN (": arn" and ", with policy ARN: arn"), AWS managed policies too
@pytest.mark.parametrize("suffix,arn,policy_type", [
    (" with an explicit deny in a service control policy: arn:aws:organizations::987654321098:policy/o-qv5af4abcd/"
     "service_control_policy/p-2kgnabcd", "arn:aws:organizations::987654321098:policy/o-qv5af4abcd/"
     "service_control_policy/p-2kgnabcd", "service_control_policy"),
    (" with an explicit deny in an identity-based policy: arn:aws:iam::123456789012:policy/DenyOutsideVpce",
     "arn:aws:iam::123456789012:policy/DenyOutsideVpce", "identity_policy"),
    (" with an explicit deny in an identity-based policy: arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3.",
     "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3", "identity_policy"),
    (" with an explicit deny in a permissions boundary, with policy ARN: arn:aws:iam::123456789012:policy/Boundary",
     "arn:aws:iam::123456789012:policy/Boundary", "permissions_boundary"),
    (" with an explicit deny in a resource control policy: arn:aws:organizations::987654321098:policy/o-x/"
     "resource_control_policy/p-abc", "arn:aws:organizations::987654321098:policy/o-x/resource_control_policy/p-abc",
     "resource_control_policy"),
])
def test_policy_arn_suffix(suffix, arn, policy_type):
    d = classify(base("s3:GetObject", '"arn:aws:s3:::orders-bucket/in/1.json"') + suffix)
    assert (d.policy_arn, d.policy_type, d.explicit) == (arn, policy_type, True)
    assert d.resource == "arn:aws:s3:::orders-bucket/in/1.json" and d.service == "s3"


# §1.2 non-IAM reasons and §1.5 per-service shapes
def test_s3_block_public_access_and_sse_c_are_not_policies():
    bpa = classify(base("s3:PutBucketPolicy", '"arn:aws:s3:::b"') + " because public policies are prevented by "
                   "the BlockPublicPolicy setting in S3 Block Public Access.")
    assert bpa.policy_type is None and "BlockPublicPolicy" in bpa.note
    acl = classify(base("s3:PutObjectAcl", '"arn:aws:s3:::b/k"') + " because public ACLs are prevented by the "
                   "BlockPublicAcls setting in S3 Block Public Access.")
    assert acl.policy_type is None and "BlockPublicAcls" in acl.note
    ssec = classify(base("s3:PutObject", '"arn:aws:s3:::b/k"') + " because this bucket has blocked upload requests "
                    "that specify Server Side Encryption with Customer provided keys (SSE-C). Please specify a "
                    "different server-side encryption type")
    assert ssec.policy_type is None and "SSE-C" in ssec.note


def test_kms_on_this_resource():
    either = classify(f"An error occurred (AccessDeniedException) when calling the Decrypt operation: User: {SESSION} "
                      "is not authorized to perform: kms:Decrypt on this resource because the resource does not exist "
                      "in this Region, no resource-based policies allow access, or a resource-based policy explicitly "
                      "denies access")
    assert (either.policy_type, either.explicit, either.resource, either.service) == ("resource_policy", None, None, "kms")
    assert (either.error_code, either.operation) == ("AccessDeniedException", "Decrypt")
    same = classify(f"User: {SESSION} is not authorized to perform: kms:GenerateDataKey on this resource because no "
                    "identity-based policy allows the kms:GenerateDataKey action")
    assert (same.policy_type, same.explicit, same.resource, same.action) == ("identity_policy", False, None,
                                                                             "kms:GenerateDataKey")


def test_generic_s3_access_denied():
    d = classify("An error occurred (AccessDenied) when calling the GetObject operation: Access Denied")
    assert (d.denied, d.policy_type, d.error_code, d.operation) == (True, None, "AccessDenied", "GetObject")
    assert "VPC endpoint" in d.note


@pytest.mark.parametrize("text,code,action,service", [
    # SQS lower-cases the action (JSON protocol reported as AccessDenied)
    (f"An error occurred (AccessDenied) when calling the SendMessage operation: User: {SESSION} is not authorized to "
     "perform: sqs:sendmessage on resource: arn:aws:sqs:us-east-1:123456789012:orders because no identity-based "
     "policy allows the sqs:sendmessage action", "AccessDenied", "sqs:sendmessage", "sqs"),
    # SNS upper-cases the prefix; boto3's exception name
    (f"botocore.errorfactory.AuthorizationErrorException: An error occurred (AuthorizationError) when calling the "
     f"Publish operation: User: {SESSION} is not authorized to perform: SNS:Publish on resource: "
     "arn:aws:sns:us-east-1:123456789012:orders because no identity-based policy allows the SNS:Publish action",
     "AuthorizationError", "SNS:Publish", "sns"),
    # Go SDK v2
    (f"operation error Secrets Manager: GetSecretValue, https response error StatusCode: 400, RequestID: 1b2, api error "
     f"AccessDeniedException: User: {SESSION} is not authorized to perform: secretsmanager:GetSecretValue on resource: "
     "orders/db because no identity-based policy allows the secretsmanager:GetSecretValue action",
     "AccessDeniedException", "secretsmanager:GetSecretValue", "secretsmanager"),
    # Java SDK v1
    (f"User: {SESSION} is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:"
     "123456789012:parameter/orders/db because no identity-based policy allows the ssm:GetParameters action "
     "(Service: AWSSimpleSystemsManagement; Status Code: 400; Error Code: AccessDeniedException; Request ID: 9f)",
     "AccessDeniedException", "ssm:GetParameters", "ssm"),
    # ECR API: the endpoint name is ecr.api
    (f"AccessDeniedException: User: {SESSION} is not authorized to perform: ecr:GetAuthorizationToken on resource: * "
     "because no identity-based policy allows the ecr:GetAuthorizationToken action", "AccessDeniedException",
     "ecr:GetAuthorizationToken", "ecr.api"),
    # STS
    (f"An error occurred (AccessDenied) when calling the AssumeRole operation: User: {SESSION} is not authorized to "
     "perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/Target", "AccessDenied", "sts:AssumeRole",
     "sts"),
    # CloudWatch Logs
    (f"AccessDeniedException: User: {SESSION} is not authorized to perform: logs:CreateLogStream on resource: "
     "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/orders:log-stream:x because no identity-based policy allows "
     "the logs:CreateLogStream action", "AccessDeniedException", "logs:CreateLogStream", "logs"),
    # .NET exception name (a dotted namespace)
    (f"Amazon.SimpleNotificationService.Model.AuthorizationErrorException: User: {SESSION} is not authorized to "
     "perform: SNS:Publish on resource: arn:aws:sns:us-east-1:123456789012:orders because no identity-based policy "
     "allows the SNS:Publish action", "AuthorizationErrorException", "SNS:Publish", "sns"),
])
def test_per_service_shapes(text, code, action, service):
    d = classify(text)
    assert (d.error_code, d.action, d.service, d.policy_type, d.explicit) == (code, action, service, "identity_policy"
                                                                              if "because no" in text else None,
                                                                              False if "because no" in text else None)
    assert d.role_name == "TaskRole" and d.task_id == "5f2c1e0a9b8d4c7e8f6a5b4c3d2e1f0a"


def test_sns_topic_encrypted_with_a_key_the_caller_cannot_use():
    d = classify("An error occurred (KMSAccessDenied) when calling the Publish operation: None (Service: AWSKMS; "
                 "Status Code: 400; Error Code: AccessDeniedException; Request ID: 5d1e)")
    assert (d.denied, d.error_code, d.operation, d.service, d.policy_type) == (True, "KMSAccessDenied", "Publish", "kms", None)


def test_ec2_encoded_message():
    d = classify(f"You are not authorized to perform this operation. User: {SESSION} is not authorized to perform: "
                 "ec2:RunInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance/* with an explicit deny in "
                 "an identity-based policy: arn:aws:iam::123456789012:policy/NoEc2. Encoded authorization failure "
                 "message: AbC-12_x", "Client.UnauthorizedOperation")
    assert (d.policy_type, d.explicit, d.policy_arn) == ("identity_policy", True, "arn:aws:iam::123456789012:policy/NoEc2")
    assert (d.encoded_message, d.error_code, d.service) == ("AbC-12_x", "Client.UnauthorizedOperation", "ec2")


def test_the_two_guide_messages():
    start = ("An error occurred (AuthorizationError) when calling the ListTopics operation: User: "
             "arn:aws:sts::123456789012:assumed-role/TaskRole/123456789012 is not authorized to perform: "
             "SNS:ListTopics on resource: arn:aws:sns:region-name:123456789012:* ")
    explicit = classify(start + "with an explicit deny in a VPC endpoint policy")
    implicit = classify(start + "because no identity-based policy allows the SNS:ListTopics action")
    for d in (explicit, implicit):
        assert (d.error_code, d.operation, d.action, d.service) == ("AuthorizationError", "ListTopics", "SNS:ListTopics", "sns")
        assert (d.role_name, d.session_name, d.resource) == ("TaskRole", "123456789012", "arn:aws:sns:region-name:123456789012:*")
        assert d.task_id is None  # a 12-digit session name is not an ECS task id
    assert (explicit.policy_type, explicit.explicit) == ("endpoint_policy", True)
    assert (implicit.policy_type, implicit.explicit) == ("identity_policy", False)


def test_principal_parts():
    assert principal_parts("arn:aws:sts::653711331788:assumed-role/level3/d190d14a-2404-45d6-9113-4eda22d7f2c7") == {
        "account": "653711331788", "role_name": "level3", "role_arn": "arn:aws:iam::653711331788:role/level3",
        "session_name": "d190d14a-2404-45d6-9113-4eda22d7f2c7", "task_id": "d190d14a-2404-45d6-9113-4eda22d7f2c7"}
    assert principal_parts("arn:aws-us-gov:sts::123456789012:assumed-role/tester")["role_arn"] == \
        "arn:aws-us-gov:iam::123456789012:role/tester"
    assert principal_parts("ecs-tasks.amazonaws.com") == {}
    assert (service_of("cloudwatch:PutMetricData"), service_of(event_source="ecr.amazonaws.com")) == ("monitoring", "ecr.api")


# §3.2: stoppedReasons (iam / network / image / other, and the step)
STOPS = [
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
     "unable to retrieve ecr registry auth: service call has been retried 1 time(s): operation error ECR: "
     "GetAuthorizationToken, https response error StatusCode: 400, RequestID: 5c, api error AccessDeniedException: "
     f"User: {EXEC} is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no identity-based "
     "policy allows the ecr:GetAuthorizationToken action",
     dict(category="iam", step="ecr_auth", service="ecr.api", action="ecr:GetAuthorizationToken", retries=1,
          role_name="ecsTaskExecutionRole", task_id="26e17af95b5e431893308026b892584f", policy_type="identity_policy")),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
     "unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: User: "
     f"{EXEC} is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:us-east-1:221192224682:"
     "parameter/db because no identity-based policy allows the ssm:GetParameters action status code: 400, request id: 1",
     dict(category="iam", step="ssm_parameters", service="ssm", resource="arn:aws:ssm:us-east-1:221192224682:parameter/db",
          error_code="AccessDeniedException", explicit=False)),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
     "unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed "
     'caused by: Post "https://api.ecr.us-east-1.amazonaws.com/": dial tcp 52.46.1.1:443: i/o timeout. Please check '
     "your task network configuration.",
     dict(category="network", step="ecr_auth", service="ecr.api", retries=3, denied=False)),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
     "unable to retrieve secrets from ssm: service call has been retried 5 time(s): RequestCanceled: request context "
     "canceled caused by: context deadline exceeded",
     dict(category="network", step="ssm_parameters", service="ssm", retries=5)),
    ("ResourceInitializationError: unable to pull secrets or registry auth: pull command failed: : signal: killed",
     dict(category="network", step="image_pull")),
    ("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "
     "unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret "
     "arn:aws:secretsmanager:us-east-1:1:secret:x from secrets manager: InvalidParameter: 1 validation error(s) found. "
     "- minimum field size of 32, GetSecretValueInput.VersionId.",
     dict(category="other", step="secrets_manager", denied=False)),
    ("ResourceInitializationError: The task can't retrieve the secret with ARN 'arn:aws:secretsmanager:us-east-1:1:"
     "secret:x' from AWS Secrets Manager. Check that the secret ARN is correct. ResourceNotFoundException: Secrets "
     "Manager can't find the specified secret.", dict(category="other", step="secrets_manager")),
    ("CannotPullContainerError: Check if image exists and role 'ecsTaskExecutionRole' has permissions to pull images "
     "from Amazon ECR. pull access denied for 123456789012.dkr.ecr.us-east-1.amazonaws.com/orders, repository does not "
     "exist or may require 'docker login': denied: User: arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/"
     "a5209a25e2424cafa8d2f56406f57b35 is not authorized to perform: ecr:BatchGetImage on resource: "
     "arn:aws:ecr:us-east-1:123456789012:repository/orders because no identity-based policy allows the "
     "ecr:BatchGetImage action",
     dict(category="iam", step="image_pull", service="ecr.dkr", action="ecr:BatchGetImage",
          task_id="a5209a25e2424cafa8d2f56406f57b35", resource="arn:aws:ecr:us-east-1:123456789012:repository/orders")),
    ("CannotPullContainerError: pull access denied for 123456789012.dkr.ecr.us-east-1.amazonaws.com/nope, repository "
     "does not exist or may require 'docker login'",
     dict(category="image", step="image_pull", denied=False,
          resource="123456789012.dkr.ecr.us-east-1.amazonaws.com/nope")),
    ("CannotPullContainerError: error pulling image configuration: Get https://prod-us-east-1-starport-layer-bucket."
     "s3.amazonaws.com/abc: dial tcp 52.216.1.1:443: i/o timeout", dict(category="network", step="image_pull")),
    ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to "
     "create Cloudwatch log stream: AccessDeniedException: User: arn:aws:sts::1:assumed-role/exec/x is not authorized "
     "to perform: logs:CreateLogGroup on resource: arn:aws:logs:us-east-1:1:log-group:/ecs/orders:log-stream:",
     dict(category="iam", step="logs", service="logs", action="logs:CreateLogGroup", policy_type=None)),
    ("ResourceInitializationError: failed to validate logger args: … AccessDeniedException: … not authorized to "
     "perform: logs:CreateLogStream", dict(category="iam", step="logs", action="logs:CreateLogStream", principal_arn=None)),
    ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to "
     "create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist.",
     dict(category="other", step="logs")),
    ("ResourceInitializationError: failed to validate logger args: The task cannot find the Amazon CloudWatch log group "
     "defined in the task definition. There is a connection issue between the task and Amazon CloudWatch. Check your "
     "network configuration. : signal: killed", dict(category="network", step="logs")),
    ("ECS was unable to assume the role 'arn:aws:iam::123456789012:role/orders-task' that was provided for this task. "
     "Please verify that the role being passed has the proper trust relationship and permissions and that your IAM "
     "user has permissions to pass this role.",
     dict(category="iam", step="assume_role", role_arn="arn:aws:iam::123456789012:role/orders-task",
          role_name="orders-task", action="sts:AssumeRole")),
]


@pytest.mark.parametrize("text,expected", STOPS, ids=[f"stop{i}" for i in range(len(STOPS))])
def test_stopped_reasons(text, expected):
    d = classify(text)
    assert d.form == "stopped_reason"
    assert {k: getattr(d, k) for k in expected} == expected


def test_not_a_denial():
    for text in ("hello world", "", None, "An error occurred (ThrottlingException) when calling the Publish "
                 "operation: Rate exceeded", "dial tcp 10.0.0.1:443: i/o timeout"):
        assert classify(text) is None


# --- the real samples ---------------------------------------------------------------------


def _stop_lines(relative: str) -> list[str]:
    return [line.rstrip("\n") for line in shared_file(relative).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_stopped_reasons_from_the_ecs_docs():
    lines = _stop_lines("real_samples/ecs-events/aws-docs/stopped-reasons-from-docs.txt")
    got = [(d.category, d.step) if (d := classify(line)) else None for line in lines]
    assert got == [
        ("other", None),  # Task failed ELB health checks
        ("other", None),  # Scaling activity
        ("other", None),  # Host EC2 stopped
        ("other", None),  # deregistration forced
        ("other", None),  # Essential container exited
        ("network", "image_pull"),  # request canceled while waiting for connection
        ("image", "image_pull"),  # 404 repository not found
        ("image", "image_pull"),  # API error
        ("image", "image_pull"),  # no space left on device
        ("image", "image_pull"),  # ref pull … unexpected status code
        ("other", "container_start"),  # CannotCreateContainerError devmapper
        ("other", None),  # maintenance
        ("other", "container_start"),  # CannotStartContainerError
        ("other", None),  # Spot interruption
    ]


def test_stopped_reasons_from_github_issues():
    lines = _stop_lines("real_samples/ecs-events/github-issues/task-stoppedReason-strings-from-issues.txt")
    got = [(d.category, d.step, d.retries) for line in lines if (d := classify(line))]
    assert got == [
        ("network", "secrets_manager", 5),
        ("network", "ssm_parameters", 5),
        ("network", "ecr_auth", 3),
        ("iam", "ssm_parameters", 1),  # "AccessDeniedException: User: ...." (elided by the reporter)
        ("other", "secrets_manager", 5),  # "asm fetching secret from the service for ..." (elided)
        ("other", "secrets_manager", 1),  # TaskFailedToStart: … (elided)
        ("network", "ecr_auth", 5),  # RequestError: send request failed
        ("iam", "secrets_manager", 1),  # AccessDeniedException: Access to KMS is not allowed
        ("iam", "secrets_manager", 1),  # the full denial
        ("other", None, None),  # ELB health checks
    ]
    kms = classify(lines[7])
    assert (kms.service, kms.error_code, kms.policy_type) == ("kms", "AccessDeniedException", None)
    full = classify(lines[8])
    assert (full.policy_type, full.explicit, full.role_name, full.task_id) == (
        "identity_policy", False, "ecsTaskExecutionRole", "26e17af95b5e431893308026b892584f")
    assert (full.action, full.service) == ("secretsmanager:GetSecretValue", "secretsmanager")
    assert full.resource == "arn:aws:secretsmanager:ap-south-1:221192224682:secret:awsExampleSecret-7qFlRJ"
    elided = classify(lines[3])
    assert (elided.error_code, elided.principal_arn, elided.action) == ("AccessDeniedException", None, None)


def test_container_reasons_from_github_issues():
    lines = _stop_lines("real_samples/ecs-events/github-issues/container-reason-strings-from-issues.txt")
    assert [(d.category, d.step) for d in map(classify, lines)] == [
        ("image", "image_pull"), ("other", "container_start"), ("other", None)]


def _jsonl(relative: str) -> list[dict]:
    return [json.loads(line) for line in shared_file(relative).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_panther_denied_calls():
    records = _jsonl("real_samples/cloudtrail/panther-analysis/denied-calls-rule-tests.jsonl")
    denials = [classify_event(r) for r in records]
    assert len(records) == 37 and all(d is not None and d.denied for d in denials)
    for r, d in zip(records, denials):
        # the action: the message's when it names one, else the record's eventSource + eventName
        prefix = r["eventSource"].removesuffix(".amazonaws.com")
        assert d.action.split(":")[0] == prefix, r
        assert d.error_code == r["errorCode"]
        message = r.get("errorMessage") or ""
        # the principal: the message's "User: ARN" when it names one (one Stratus record's message names another
        # account than its userIdentity), else the record's userIdentity
        named = message.split("User: ", 1)[1].split(" ", 1)[0] if "User: " in message else None
        assert d.principal_arn == (named or (r.get("userIdentity") or {}).get("arn")), r
        if "because no identity-based policy allows" in message:
            assert (d.policy_type, d.explicit) == ("identity_policy", False)
        else:
            assert d.policy_type is None and d.explicit is None
    by_name = {(r["eventName"], i): d for i, (r, d) in enumerate(zip(records, denials))}
    leave = next(d for (name, _), d in by_name.items() if name == "LeaveOrganization")
    assert (leave.role_name, leave.session_name, leave.action, leave.resource) == (
        "SampleRole", "SampleSession", "organizations:LeaveOrganization", "*")
    run = next(d for (name, _), d in by_name.items() if name == "RunInstances")
    assert run.encoded_message.startswith("T-kSWIRFn32_") and run.account == "751353041310"
    lam = next(d for (name, _), d in by_name.items() if name == "ListFunctions20150331")
    assert (lam.action, lam.principal_arn) == ("lambda:ListFunctions", "arn:aws:iam::187901811700:user/exposed.user")
    rds = [d for (name, _), d in by_name.items() if name == "StopActivityStream"]
    assert rds[0].action == "rds:StopActivityStream" and rds[0].principal_arn == "arn:aws:iam::123456789012:user/developer"
    secret = next(d for (name, _), d in by_name.items() if name == "GetSecretValue")
    assert (secret.action, secret.service, secret.role_name) == (
        "secretsmanager:GetSecretValue", "secretsmanager", "AWSReservedSSO_DevAdmin_635426549a280cc6")
    no_session = next(d for (name, _), d in by_name.items() if name == "PutBucketAcl")
    assert (no_session.role_name, no_session.session_name) == ("tester", None)
    endpoint_ids = {d.vpc_endpoint_id for d in denials} - {None}
    assert endpoint_ids == {"vpce-1111"}


def test_network_activity_vpce_access_denied():
    doc = json.loads(shared_file("real_samples/cloudtrail/aws-docs/network-activity-kms-listkeys-VpceAccessDenied.json")
                     .read_text(encoding="utf-8"))
    d = classify_event(doc)
    assert (d.form, d.policy_type, d.explicit, d.error_code) == ("vpce_event", "endpoint_policy", None, "VpceAccessDenied")
    assert (d.vpc_endpoint_id, d.action, d.service, d.account) == ("vpce-EXAMPLE08c1b6b9b7", "kms:ListKeys", "kms",
                                                                   "777788889999")
    allowed = json.loads(shared_file("real_samples/cloudtrail/aws-docs/network-activity-kms-listkeys-via-vpce.json")
                         .read_text(encoding="utf-8"))
    assert classify_event(allowed) is None
    panther = _jsonl("real_samples/cloudtrail/panther-analysis/network-activity-vpce-rule-tests.jsonl")
    denied = [d for d in map(classify_event, panther) if d]
    assert [(d.action, d.policy_type, d.vpc_endpoint_id, d.account) for d in denied] == [
        ("s3:GetObject", "endpoint_policy", "vpce-EXAMPLE08c1b6b9b7", "111111111111")]
