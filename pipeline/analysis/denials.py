"""What an access-denied message says: which policy type, explicit or implicit, who, what, where.

``classify(text, error_code=None, event_source=None)`` reads any of

- an SDK or CLI error (``An error occurred (AuthorizationError) when calling the ListTopics
  operation: User: … is not authorized to perform: SNS:ListTopics on resource: … with an
  explicit deny in a VPC endpoint policy``; Go, Java, JavaScript and .NET wrappings too);
- a CloudTrail ``errorMessage`` (with its ``errorCode``), including the network activity
  event's ``VpceAccessDenied`` / ``The request was denied due to a VPC endpoint policy``;
- a task's ``stoppedReason`` (``ResourceInitializationError: unable to pull secrets or
  registry auth: … AccessDeniedException: User: …``), sorted into iam / network / image /
  other with the start step that failed;

and returns a :class:`Denial`, or ``None`` when the text is neither a denial nor a stop reason.
``classify_event(record)`` does the same for a whole CloudTrail record, filling what the
message leaves out (principal, action, endpoint) from the record's own fields.

The grammar (IAM User Guide "Troubleshoot access denied", S3 403 guide; see
``shared/reference/iam_dns.md`` §1): ``User: <principal> is not authorized to perform:
<action> [on resource: <arn> | on this resource] <context>`` where the context is
``with an explicit deny in a <policy type>[: <policy ARN>]`` or ``because no <policy type>
allows the <action> action``. Matched by regular expressions over named parts, never by
position.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Mapping

# The words a message uses for a policy type, and the vocabulary's cause for each.
POLICY_WORDS = (
    (r"VPC endpoint polic(?:y|ies)", "endpoint_policy"),
    (r"identity-based polic(?:y|ies)", "identity_policy"),
    (r"resource-based polic(?:y|ies)", "resource_policy"),
    (r"role trust policy", "resource_policy"),  # a role's trust policy is its resource-based policy
    (r"permissions? boundar(?:y|ies)", "permissions_boundary"),
    (r"sessions? polic(?:y|ies)", "session_policy"),  # the 2023 IAM guide spells it "sessions policy"
    (r"service control polic(?:y|ies)", "service_control_policy"),
    (r"resource control polic(?:y|ies)", "resource_control_policy"),
)
_WORDS = "|".join(w for w, _ in POLICY_WORDS)

# Error codes that mean "denied" (the message decides the policy type, not the code).
DENIED_CODES = frozenset(c.lower() for c in (
    "AccessDenied", "AccessDeniedException", "Client.UnauthorizedOperation", "UnauthorizedOperation",
    "AuthorizationError", "AuthorizationErrorException", "KMSAccessDenied", "KMS.AccessDeniedException",
    "KmsAccessDeniedException", "VpceAccessDenied"))

# An action's prefix -> the service's endpoint name where the two differ (the findings' aws_service).
ENDPOINT_NAMES = {"ecr": "ecr.api", "cloudwatch": "monitoring"}

# --- the message grammar -----------------------------------------------------------------

_ACTION = r"[A-Za-z0-9-]+:[A-Za-z0-9*?]+"
_HEAD = re.compile(
    rf"(?:(?:User|Principal)(?:: (?P<principal>\S+))? is )?not authorized to perform:? (?P<action>{_ACTION})"
    r"(?: on (?:resource: ?(?:\"(?P<quoted>[^\"]*)\"|(?P<resource>[^\s\"]+))|(?P<this>this resource)))?")
_EXPLICIT = re.compile(
    rf"(?:with|due to) an explicit deny(?: in (?:a|an|the) (?P<words>{_WORDS}))?"
    rf"(?: transitively through (?:a|an|the) (?P<through>{_WORDS}))?", re.I)
_IMPLICIT = re.compile(
    rf"because (?:no (?P<words>{_WORDS})|the (?P<trust>role trust policy)) allows? the (?P<action>{_ACTION}) action", re.I)
_POLICY_ARN = re.compile(r"^(?::|,? with policy ARN:) ?(?P<arn>arn:[\w-]+:[\w-]+:[^\s,]*[^\s,.])")
_KMS_EITHER = re.compile(r"because the resource does not exist in this Region, no resource-based policies allow access, "
                         r"or a resource-based policy explicitly denies access", re.I)
_S3_BLOCK_PUBLIC = re.compile(r"because public (?:ACLs|policies) are prevented by the (?P<setting>Block\w+) setting "
                              r"in S3 Block Public Access", re.I)
_S3_SSE_C = re.compile(r"because this bucket has blocked upload requests that specify Server Side Encryption with "
                       r"Customer provided keys", re.I)
_VPCE_EVENT = re.compile(r"The request was denied due to a VPC endpoint policy", re.I)
_GENERIC = re.compile(r"\bAccess Denied\b")
_SQS_LEGACY = re.compile(r"Access to the resource (?P<resource>\S+?) is denied")
_KMS_NOT_ALLOWED = re.compile(r"Access to KMS is not allowed")
_EC2_ENCODED = re.compile(r"Encoded authorization failure message: (?P<encoded>[\w-]+)")
_EC2_NO_DETAIL = re.compile(r"You are not authorized to perform this operation")
_ASSUME_ROLE = re.compile(r"ECS was unable to assume the role '(?P<role_arn>arn:[^']+)'")
_PULL_DENIED = re.compile(r"pull access denied for (?P<repository>[^\s,]+)")

# How SDKs and the CLI wrap the service's message (error code, operation, retries).
_WRAPPERS = (
    re.compile(r"An error occurred \((?P<code>[\w.]+)\)(?: \(reached max retries: (?P<retries>\d+)\))? "
               r"when calling the (?P<operation>\w+) operation"),  # AWS CLI, boto3
    re.compile(r"operation error (?P<sdk_service>[\w .-]+?): (?P<operation>\w+), "),  # Go SDK v2
    re.compile(r"api error (?P<code>[\w.]+):"),  # Go SDK v2
    re.compile(r"\(Service: [^;,)]+[;,] Status Code: \d+[;,] Error Code: (?P<code>[\w.]+)"),  # Java SDK v1
    re.compile(r"has been retried (?P<retries>\d+) time\(s\)"),  # the ECS agent
    re.compile(r"(?P<code>\b(?:[A-Z]\w*\.)*\w*(?:AccessDenied|UnauthorizedOperation|AuthorizationError)\w*)\b"),
)

_ARN_PRINCIPAL = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):(?:sts::(?P<sts_account>\d+):assumed-role/(?P<role>[^/\s]+)(?:/(?P<session>\S+))?"
    r"|iam::(?P<iam_account>\d+):\S+)$")
_TASK_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")

# --- stoppedReasons ----------------------------------------------------------------------

_STOP = re.compile(
    r"^\s*(?:TaskFailedToStart:\s*)?(?:(?P<error>ResourceInitializationError|CannotPullContainerError|"
    r"CannotCreateContainerError|CannotStartContainerError|CannotInspectContainerError|CannotStopContainerError|"
    r"ContainerRuntimeError|ContainerRuntimeTimeoutError|OutOfMemoryError|InternalError)\b"
    r"|Essential container in task exited|Task failed (?:ELB|container) health checks|Scaling activity initiated by|"
    r"Host EC2|Container instance deregistration forced|ECS is performing maintenance|Your Spot Task was interrupted|"
    r"Task stopped by user|Taskfailedtostart|TaskFailedToStart|ECS was unable to assume the role|"
    r"Service \S+ deployment)", re.I)
_NETWORK = re.compile(
    r"i/o timeout|dial tcp|context deadline exceeded|RequestCanceled|request canceled|RequestError: send request failed|"
    r"connection refused|connection reset|no such host|network is unreachable|TLS handshake timeout|Client\.Timeout|"
    r"check your (?:task )?network configuration|There is a connection issue|pull command failed: : signal: killed", re.I)
_STEPS = (
    (re.compile(r"registry auth from asm|from asm|secrets manager|asm fetching secret|secretsmanager:", re.I),
     "secrets_manager", "secretsmanager"),
    (re.compile(r"from ssm|ssm parameters|\bssm:", re.I), "ssm_parameters", "ssm"),
    (re.compile(r"ecr registry auth|ecr:GetAuthorizationToken", re.I), "ecr_auth", "ecr.api"),
    (re.compile(r"CannotPullContainerError|pull command failed|error pulling image|pull access denied|"
                r"ecr:BatchGetImage|ecr:GetDownloadUrlForLayer|starport-layer-bucket", re.I), "image_pull", "ecr.dkr"),
    (re.compile(r"logger|log group|\blogs:", re.I), "logs", "logs"),
    (re.compile(r"unable to assume the role", re.I), "assume_role", "sts"),
    (re.compile(r"CannotCreateContainerError|CannotStartContainerError", re.I), "container_start", None),
)


@dataclass(frozen=True)
class Denial:
    """What one message says. Fields the message does not state are ``None``."""

    text: str
    form: str  # "api_error" (SDK, CLI, CloudTrail errorMessage), "vpce_event", "stopped_reason"
    denied: bool  # AWS refused a call (an access denial of any policy type)
    error_code: str | None = None  # AccessDenied, AccessDeniedException, AuthorizationError, VpceAccessDenied…
    policy_type: str | None = None  # the cause word: identity_policy, endpoint_policy, resource_policy…
    policy_words: str | None = None  # the message's own words for it ("VPC endpoint policy")
    explicit: bool | None = None  # True "with an explicit deny", False "because no … allows", None not said
    policy_arn: str | None = None  # the denying policy's ARN (2025/26 wording, SCP/RCP/boundary/session/identity)
    via: str | None = None  # "… in a VPC endpoint policy transitively through a service control policy": endpoint_policy
    principal_arn: str | None = None
    account: str | None = None
    role_name: str | None = None
    role_arn: str | None = None  # arn:…:iam::ACCOUNT:role/NAME (a role path is not in a session ARN)
    session_name: str | None = None
    task_id: str | None = None  # the session name when it is an ECS task id (ECS names role sessions so)
    action: str | None = None  # as written (SQS lower-cases it, SNS upper-cases the prefix)
    operation: str | None = None  # the SDK's operation name ("ListTopics")
    resource: str | None = None
    service: str | None = None  # the endpoint name: sns, sqs, secretsmanager, ecr.api, ecr.dkr, kms…
    vpc_endpoint_id: str | None = None  # from a CloudTrail record
    encoded_message: str | None = None  # EC2's blob for `aws sts decode-authorization-message`
    category: str | None = None  # iam | network | image | other (STOP_CATEGORIES); iam for every denial
    step: str | None = None  # the start step that failed (START_STEPS), for stoppedReasons
    retries: int | None = None
    note: str | None = None  # what the message leaves open

    def as_dict(self) -> dict:
        return asdict(self)


def cause_of_words(words: str | None) -> str | None:
    """The cause word for a message's policy-type words (``"VPC endpoint policy"`` -> ``endpoint_policy``)."""
    for pattern, cause in POLICY_WORDS:
        if words and re.fullmatch(pattern, words.strip(), re.I):
            return cause
    return None


def principal_parts(arn: str | None) -> dict:
    """account, role_name, role_arn, session_name and task_id of a principal ARN (empty when not an ARN)."""
    m = _ARN_PRINCIPAL.match(arn or "")
    if not m:
        return {}
    account = m["sts_account"] or m["iam_account"]
    parts = {"account": account}
    if m["role"]:
        parts.update(role_name=m["role"], role_arn=f"arn:{m['partition']}:iam::{account}:role/{m['role']}",
                     session_name=m["session"],
                     task_id=m["session"] if m["session"] and _TASK_ID.match(m["session"]) else None)
    return parts


def service_of(action: str | None = None, event_source: str | None = None) -> str | None:
    """The endpoint name of the service behind an action (``SNS:Publish`` -> sns) or an event source."""
    prefix = (action or "").split(":", 1)[0].lower() if action and ":" in action else None
    if prefix is None and event_source:
        prefix = event_source.lower().removesuffix(".amazonaws.com")
    return ENDPOINT_NAMES.get(prefix, prefix) if prefix else None


def action_of(event_source: str | None, event_name: str | None) -> str | None:
    """The IAM action of a CloudTrail call: ``sns.amazonaws.com`` + ``Publish`` -> ``sns:Publish``."""
    if not event_source or not event_name:
        return None
    prefix = event_source.lower().removesuffix(".amazonaws.com")
    prefix = {"monitoring": "cloudwatch", "api.ecr": "ecr"}.get(prefix, prefix)
    name = re.sub(r"20\d{6}$", "", event_name)  # Lambda's ListFunctions20150331
    return f"{prefix}:{name}"


def _wrapping(text: str) -> dict:
    found: dict = {}
    for pattern in _WRAPPERS:
        m = pattern.search(text)
        if m:
            for key, value in m.groupdict().items():
                if value is not None:
                    found.setdefault(key, value)
    code = found.get("code")
    if code and code.count(".") >= 2:  # Amazon.SimpleNotificationService.Model.AuthorizationErrorException
        found["code"] = code.rsplit(".", 1)[1]
    return found


def _context(rest: str) -> dict:
    """The policy type, explicit or implicit and the policy ARN from the text after the resource."""
    m = _EXPLICIT.search(rest)
    if m:
        words, through = m["words"], m["through"]
        arn = _POLICY_ARN.match(rest[m.end():])
        return {"explicit": True, "policy_words": through or words,
                "policy_type": cause_of_words(through or words), "via": cause_of_words(words) if through else None,
                "policy_arn": arn["arn"] if arn else None,
                "note": None if words else "the message does not say which policy denies (the pre-2021 wording)"}
    m = _IMPLICIT.search(rest)
    if m:
        words = m["words"] or m["trust"]
        arn = _POLICY_ARN.match(rest[m.end():])
        return {"explicit": False, "policy_words": words, "policy_type": cause_of_words(words),
                "policy_arn": arn["arn"] if arn else None}
    if _KMS_EITHER.search(rest):
        return {"policy_type": "resource_policy", "policy_words": "key policy",
                "note": "KMS does not say which: the key policy does not allow the call, denies it, or the key does "
                        "not exist in this Region and account"}
    m = _S3_BLOCK_PUBLIC.search(rest)
    if m:
        return {"note": f"S3 Block Public Access ({m['setting']}) refused it, not a policy"}
    if _S3_SSE_C.search(rest):
        return {"note": "the bucket blocks SSE-C uploads (an encryption setting, not IAM)"}
    return {"note": "the message names no policy type"}


def _stop(text: str, denied: bool) -> dict:
    step = service = None
    for pattern, name, svc in _STEPS:
        if pattern.search(text):
            step, service = name, svc
            break
    if denied:
        category = "iam"
    elif _NETWORK.search(text):
        category = "network"
    elif step == "image_pull":
        category = "image"
    else:
        category = "other"
    return {"category": category, "step": step, "service": service}


def classify(text: str | None, error_code: str | None = None, event_source: str | None = None) -> Denial | None:
    """Read a denial message or a stoppedReason; ``None`` when it is neither."""
    text = (text or "").strip()
    wrap = _wrapping(text)
    code = error_code or wrap.get("code")
    fields: dict = {"error_code": code, "operation": wrap.get("operation"),
                    "retries": int(wrap["retries"]) if wrap.get("retries") else None}
    denied = False
    head = _HEAD.search(text)
    if head:
        denied = True
        resource = head["quoted"] if head["quoted"] is not None else head["resource"]
        fields.update(principal_arn=head["principal"], action=head["action"],
                      resource=resource.rstrip(".,;") if resource else None)
        fields.update(principal_parts(head["principal"]))
        fields.update({k: v for k, v in _context(text[head.end():]).items() if v is not None})
        if head["this"] and not fields.get("note"):
            fields["note"] = "the message does not name the resource"
    elif _VPCE_EVENT.search(text) or (code or "").lower() == "vpceaccessdenied":
        denied = True
        fields.update(policy_type="endpoint_policy", policy_words="VPC endpoint policy",
                      note="a network activity event does not say whether the endpoint policy denies explicitly "
                           "or lacks an allow")
    elif m := _SQS_LEGACY.search(text):
        denied = True
        fields.update(resource=m["resource"], service="sqs", note="the older SQS wording names no policy type")
    elif _KMS_NOT_ALLOWED.search(text):
        denied = True
        fields.update(service="kms", note="KMS refused: the caller lacks kms:Decrypt on the key, or the key policy "
                                          "does not allow it")
    elif m := _ASSUME_ROLE.search(text):
        denied = True
        fields.update(role_arn=m["role_arn"], role_name=m["role_arn"].rsplit("/", 1)[-1], action="sts:AssumeRole",
                      note="the role's trust policy does not let ecs-tasks.amazonaws.com assume it, the role does "
                           "not exist, or the caller may not pass it (iam:PassRole)")
    elif _GENERIC.search(text) or _EC2_NO_DETAIL.search(text) or (code or "").lower() in DENIED_CODES:
        denied = True
        fields["note"] = ("a generic denial: S3 says only 'Access Denied' across accounts outside the organization, "
                          "for directory buckets and (within an organization) for VPC endpoint policies"
                          if _GENERIC.search(text) else "the message names no policy type")
    if m := _EC2_ENCODED.search(text):
        fields["encoded_message"] = m["encoded"]
        fields["note"] = "decode the rest with: aws sts decode-authorization-message --encoded-message …"
    stop = _STOP.search(text)
    if not denied and not stop:
        return None
    if stop:
        form = "stopped_reason"
        named = fields.get("service")  # a service the message itself names (KMS) beats the step's
        fields.update(_stop(text, denied))
        fields["service"] = named or fields["service"]
        if m := _PULL_DENIED.search(text):
            fields.setdefault("resource", m["repository"])
            if not denied:
                fields["note"] = "the repository or tag does not exist, or the registry needs credentials"
        if fields.get("action") and fields["step"] != "image_pull":  # docker pulls go to ecr.dkr whatever the action
            fields["service"] = service_of(fields["action"])
    else:
        form = "vpce_event" if fields.get("policy_type") == "endpoint_policy" and not head else "api_error"
        fields["category"] = "iam"
        fields["service"] = (fields.get("service") or service_of(fields.get("action"), event_source)
                             or ("kms" if (code or "").lower().startswith("kms") else None))  # SNS's KMSAccessDenied
    return Denial(text=text, form=form, denied=denied, **fields)


def classify_event(record: Mapping) -> Denial | None:
    """A CloudTrail record's denial, the message's fields completed from the record; ``None`` if not denied."""
    code, message = record.get("errorCode"), record.get("errorMessage")
    if not code and not message:
        return None
    denial = classify(message, code, record.get("eventSource"))
    if denial is None or not denial.denied:
        return None
    identity = record.get("userIdentity") or {}
    fill: dict = {}
    if not denial.principal_arn and identity.get("arn"):
        fill["principal_arn"] = identity["arn"]
        fill.update({k: v for k, v in principal_parts(identity["arn"]).items() if v is not None})
    if not denial.account and identity.get("accountId"):
        fill.setdefault("account", identity["accountId"])
    if not denial.action:
        fill["action"] = action_of(record.get("eventSource"), record.get("eventName"))
    if not denial.operation and record.get("eventName"):
        fill["operation"] = record["eventName"]
    if not denial.service:
        fill["service"] = service_of(fill.get("action"), record.get("eventSource"))
    if record.get("vpcEndpointId", "").startswith("vpce-"):
        fill["vpc_endpoint_id"] = record["vpcEndpointId"]
    if record.get("eventType") == "AwsVpceEvent":
        fill["form"] = "vpce_event"
    return replace(denial, **fill)
