"""IAM policy evaluation for one request, the way AWS combines policies within one account.

``evaluate_policy(document, request)`` gives one policy's answer (allow, explicit_deny or
implicit_deny) and the statement that decided. ``evaluate_request(request, policies)``
combines the policy types AWS combines for a same-account request (IAM User Guide,
"Policy evaluation logic"):

1. an explicit deny in any applicable policy denies;
2. every service control policy and resource control policy given must allow;
3. a request through a VPC endpoint must be allowed by the endpoint policy;
4. an identity policy (inline or managed) or the resource policy must allow; a resource
   policy's allow counts alone only when it names the principal itself (not the account),
   and a KMS key policy or a role trust policy must allow in any case;
5. a permissions boundary and a session policy, when present, must allow too, unless the
   resource policy names the session itself.

``fixes(request, policies)`` gives the narrowest change that lets the request through: the
statement to add (the exact action and resource seen) or the deny to remove, the whole
policy after the change, and the AWS CLI command that applies it; each one re-evaluated.

Evaluated: Effect; Action/NotAction (case-insensitive, ``*``/``?``); Resource/NotResource
(case-sensitive); Principal/NotPrincipal (ARNs, account root and bare account ids, ``*``,
Service); conditions String*, Arn*, Bool, IpAddress/NotIpAddress, Null, each with
``…IfExists`` and ``ForAnyValue:``/``ForAllValues:``, over case-insensitive keys such as
``aws:SourceVpce``, ``aws:SourceVpc``, ``aws:PrincipalArn``, ``aws:PrincipalAccount``,
``aws:SourceIp`` and ``aws:VpcSourceIp``. Other operators raise :class:`PolicyError` when
their key is in the request (they cannot be decided here).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Mapping, Sequence

from pipeline.errors import FlowlogsError

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "allow", "explicit_deny", "implicit_deny"
NO_STATEMENT = "no statement allows"
DEFAULT_ENDPOINT_POLICY = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


class PolicyError(FlowlogsError):
    """A policy document that cannot be read or evaluated."""


# --- the request ---------------------------------------------------------------------------

_SESSION = re.compile(r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d{12}):assumed-role/(?P<role>[^/]+)/(?P<session>.+)$")
_ACCOUNT_OF = re.compile(r"^arn:aws[\w-]*:(?:iam|sts)::(?P<account>\d{12}):")


@dataclass(frozen=True)
class Request:
    """One API call as AWS authorizes it.

    ``principal_arn`` is the caller as CloudTrail shows it: a role session
    (``arn:aws:sts::A:assumed-role/Role/taskId``), a user or role ARN, or a service principal
    (``ecs-tasks.amazonaws.com``). ``role_arn`` is the session's role with its path when known
    (a session ARN drops the path). ``context`` holds the request's condition keys
    (``aws:SourceVpce``…; see :func:`network_context`); any case.
    """

    principal_arn: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    role_arn: str | None = None

    @property
    def account(self) -> str | None:
        m = _ACCOUNT_OF.match(self.principal_arn) or _ACCOUNT_OF.match(self.role_arn or "")
        return m["account"] if m else None

    @property
    def identity_arn(self) -> str:
        """The ARN identity policies and ``aws:PrincipalArn`` know: the role for a role session."""
        if self.role_arn:
            return self.role_arn
        m = _SESSION.match(self.principal_arn)
        return f"arn:{m['partition']}:iam::{m['account']}:role/{m['role']}" if m else self.principal_arn

    def keys(self) -> dict[str, Any]:
        """The condition keys, lower-cased: the given context over the ones derived from the principal."""
        derived: dict[str, Any] = {"aws:principalarn": self.identity_arn}
        if self.account:
            derived["aws:principalaccount"] = self.account
        derived.update({k.lower(): v for k, v in self.context.items() if v is not None})
        return derived


def network_context(vpc_endpoint_id: str | None = None, vpc_id: str | None = None,
                    source_ip: str | None = None) -> dict[str, str]:
    """The keys AWS puts in the request for a call's path: through an endpoint ``aws:SourceVpce``,
    ``aws:SourceVpc`` and ``aws:VpcSourceIp``; otherwise (NAT, public IP) only ``aws:SourceIp``."""
    if vpc_endpoint_id:
        keys = {"aws:SourceVpce": vpc_endpoint_id, "aws:SourceVpc": vpc_id, "aws:VpcSourceIp": source_ip}
    else:
        keys = {"aws:SourceIp": source_ip}
    return {k: v for k, v in keys.items() if v}


# --- one policy ----------------------------------------------------------------------------


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


@lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.S | (re.I if ignore_case else 0))


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


def _arn_like(value: str, pattern: str) -> bool:
    """ARN matching: the six parts compared one by one, wildcards within a part."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != len(v):
        return pattern == "*"
    return all(_wildcard(a, b, ignore_case=False) for a, b in zip(p, v))


def _ip_in(value: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# operator -> (compare one request value with one policy value, negated)
_OPERATORS = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: _wildcard(p, v, ignore_case=False), False),
    "StringNotLike": (lambda v, p: _wildcard(p, v, ignore_case=False), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
    "IpAddress": (_ip_in, False),
    "NotIpAddress": (_ip_in, True),
}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _condition(operator: str, key: str, wanted: Any, keys: Mapping[str, Any]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    base = name.removesuffix("IfExists")
    present = key.lower() in keys
    values = [_text(v) for v in _list(keys.get(key.lower()))]
    if base == "Null":  # "true": the key is absent
        return any(_text(w).lower() == ("false" if present else "true") for w in _list(wanted))
    if base not in _OPERATORS:
        if not present:
            return if_exists or "Not" in base
        raise PolicyError(f"condition operator {operator} on {key} is not evaluated here",
                          "only the String, Arn, Bool, IpAddress and Null operators are")
    compare, negated = _OPERATORS[base]
    policy_values = [_text(w) for w in _list(wanted)]

    def one(value: str) -> bool:
        hit = any(compare(value, p) for p in policy_values)
        return not hit if negated else hit

    if qualifier.lower() == "forallvalues":
        return all(one(v) for v in values)  # an absent key passes
    if not present:
        return if_exists or (negated and qualifier.lower() != "foranyvalue")
    return any(one(v) for v in values)


def _conditions(block: Any, keys: Mapping[str, Any]) -> bool:
    if not isinstance(block, Mapping):
        return not block
    return all(_condition(op, key, wanted, keys)
               for op, pairs in block.items() for key, wanted in (pairs or {}).items())


def _principal(block: Any, request: Request) -> str | None:
    """How the principal block names the request's principal: session, identity, account, any; None: not."""
    if block == "*":
        return "any"
    if not isinstance(block, Mapping):
        return None
    for kind, values in block.items():
        for value in _list(values):
            if kind == "AWS":
                if value == "*":
                    return "any"
                if value == request.principal_arn:
                    return "session" if _SESSION.match(request.principal_arn) else "identity"
                if value == request.identity_arn:
                    return "identity"
                if request.account and value in (request.account, f"arn:aws:iam::{request.account}:root"):
                    return "account"
            elif kind == "Service" and value == request.principal_arn:
                return "identity"
    return None


@dataclass(frozen=True)
class StatementRef:
    """A statement of a named policy: its Sid, else its position."""

    policy: str
    index: int  # 0-based
    sid: str | None = None

    @property
    def label(self) -> str:
        return f"Sid {self.sid}" if self.sid else f"statement {self.index + 1}"


@dataclass(frozen=True)
class PolicyResult:
    """One policy's answer to one request."""

    decision: str  # allow | explicit_deny | implicit_deny
    statement: StatementRef | None = None  # the deny, or the first allow; None for an implicit deny
    principal_match: str | None = None  # for resource policies: session | identity | account | any


# a resource policy's allow naming the session or identity itself counts before one naming only the account
_RANK = {"session": 0, "identity": 1, "any": 2, "account": 3}


def load_document(document: str | Mapping | None, name: str = "policy") -> dict:
    """A policy document from JSON text (URL-encoded as IAM returns it, too) or a dict."""
    if document is None:
        return {"Statement": []}
    if isinstance(document, Mapping):
        return dict(document)
    text = document.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        from urllib.parse import unquote

        text = unquote(text)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{name}: not a JSON policy document ({exc.msg} at character {exc.pos})") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{name}: a policy document is a JSON object with a Statement")
    return doc


def statement_applies(statement: Mapping, request: Request, *, with_principal: bool = False,
                      keys: Mapping[str, Any] | None = None) -> str | None:
    """Whether a statement covers the request: None if not, else how its principal matched ("" when not checked)."""
    if "NotAction" in statement:
        if any(_wildcard(a, request.action, ignore_case=True) for a in _list(statement["NotAction"])):
            return None
    elif not any(_wildcard(a, request.action, ignore_case=True) for a in _list(statement.get("Action"))):
        return None
    if "NotResource" in statement:
        if any(_wildcard(r, request.resource, ignore_case=False) for r in _list(statement["NotResource"])):
            return None
    elif "Resource" in statement and not any(
            _wildcard(r, request.resource, ignore_case=False) for r in _list(statement["Resource"])):
        return None
    how = ""
    if with_principal:
        if "NotPrincipal" in statement:
            if _principal(statement["NotPrincipal"], request) is not None:
                return None
            how = "any"
        else:
            how = _principal(statement.get("Principal"), request)
            if how is None:
                return None
    if not _conditions(statement.get("Condition"), request.keys() if keys is None else keys):
        return None
    return how


def evaluate_policy(document: str | Mapping | None, request: Request, *, name: str = "policy",
                    with_principal: bool = False) -> PolicyResult:
    """One policy's decision: any matching Deny wins; else the first matching Allow; else implicit deny.

    ``with_principal``: the policy is resource-based (resource, endpoint, trust policy), so
    its statements' Principal/NotPrincipal must name the caller."""
    doc = load_document(document, name)
    keys = request.keys()
    allow: PolicyResult | None = None
    for index, statement in enumerate(_list(doc.get("Statement"))):
        if not isinstance(statement, Mapping):
            raise PolicyError(f"{name}: statement {index + 1} is not a JSON object")
        how = statement_applies(statement, request, with_principal=with_principal, keys=keys)
        if how is None:
            continue
        ref = StatementRef(name, index, statement.get("Sid") or None)
        if statement.get("Effect") == "Deny":
            return PolicyResult(EXPLICIT_DENY, ref, how or None)
        if statement.get("Effect") == "Allow":
            if allow is None or _RANK.get(how, 4) < _RANK.get(allow.principal_match or "", 4):
                allow = PolicyResult(ALLOW, ref, how or None)
    return allow or PolicyResult(IMPLICIT_DENY)


# --- a request under every policy that applies --------------------------------------------


@dataclass(frozen=True)
class NamedPolicy:
    """A policy document and what names it: an inline policy's name, a managed policy's ARN, a vpce id,
    a resource ARN (the policy's owner), an SCP id."""

    name: str
    document: str | Mapping | None
    arn: str | None = None  # managed policies (identity, boundary), SCP/RCP


@dataclass
class PolicySet:
    """The policies that apply to one same-account request."""

    identity: list[NamedPolicy] = field(default_factory=list)  # the role's inline and managed policies
    permissions_boundary: NamedPolicy | None = None
    session: NamedPolicy | None = None
    resource: NamedPolicy | None = None  # name: the resource's ARN (queue, topic, secret, bucket, key, role)
    endpoint: NamedPolicy | None = None  # only when the request went through it; name: vpce id; document None: default
    service_control: list[NamedPolicy] = field(default_factory=list)
    resource_control: list[NamedPolicy] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    """The decision for a request, which policy type decided, and the deciding statement."""

    decision: str  # allow | explicit_deny | implicit_deny
    policy_type: str | None  # the cause word that decided (for an allow: the type that granted)
    policy: str | None  # the deciding policy's name, ARN or vpce id
    owner: str | None  # whose policy: role ARN, vpce id, resource ARN, SCP id (likely_causes[].resource)
    statement: StatementRef | None  # the deciding statement; None when no statement allows
    also_denied_by: tuple[str, ...] = ()  # other policy types with an explicit deny

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOW

    @property
    def explicit(self) -> bool | None:
        return None if self.allowed else self.decision == EXPLICIT_DENY

    @property
    def statement_label(self) -> str:
        return self.statement.label if self.statement else NO_STATEMENT

    def as_dict(self) -> dict:
        return {"decision": self.decision, "policy_type": self.policy_type, "policy": self.policy,
                "owner": self.owner, "statement": self.statement_label, "also_denied_by": list(self.also_denied_by)}


def _resource_required(resource_arn: str, action: str) -> bool:
    """A KMS key policy, and a role's trust policy for sts:AssumeRole, must allow even within the account."""
    return resource_arn.split(":")[2:3] == ["kms"] or (
        action.lower().startswith("sts:assumerole") and ":role/" in resource_arn)


def evaluate_request(request: Request, policies: PolicySet) -> Evaluation:
    """AWS's decision for ``request`` under ``policies`` (see the module docstring for the order)."""
    owner = request.identity_arn
    checks: list[tuple[str, NamedPolicy, bool, str]] = (
        [("identity_policy", p, False, owner) for p in policies.identity]
        + [("resource_policy", p, True, p.name) for p in [policies.resource] if p]
        + [("endpoint_policy", p if p.document is not None else replace(p, document=DEFAULT_ENDPOINT_POLICY), True,
            p.name) for p in [policies.endpoint] if p]
        + [("permissions_boundary", p, False, owner) for p in [policies.permissions_boundary] if p]
        + [("session_policy", p, False, owner) for p in [policies.session] if p]
        + [("service_control_policy", p, False, p.arn or p.name) for p in policies.service_control]
        + [("resource_control_policy", p, True, p.arn or p.name) for p in policies.resource_control])
    results = [(cause, p, evaluate_policy(p.document, request, name=p.name, with_principal=wp), who)
               for cause, p, wp, who in checks]

    denies = [(cause, p, r, who) for cause, p, r, who in results if r.decision == EXPLICIT_DENY]
    if denies:
        cause, p, r, who = denies[0]
        others = tuple(dict.fromkeys(c for c, *_ in denies[1:] if c != cause))
        return Evaluation(EXPLICIT_DENY, cause, p.arn or p.name, who, r.statement, others)

    def gate(cause: str) -> Evaluation | None:
        for c, p, r, who in results:
            if c == cause and r.decision != ALLOW:
                return Evaluation(IMPLICIT_DENY, cause, p.arn or p.name, who, None)
        return None

    for cause in ("service_control_policy", "resource_control_policy", "endpoint_policy"):
        if (denied := gate(cause)) is not None:
            return denied

    identity_allow = next(((p, r) for c, p, r, _ in results if c == "identity_policy" and r.decision == ALLOW), None)
    resource = next(((p, r) for c, p, r, _ in results if c == "resource_policy"), None)
    resource_allows = resource is not None and resource[1].decision == ALLOW
    direct = resource_allows and resource[1].principal_match in ("session", "identity", "any")
    if resource is not None and _resource_required(resource[0].name, request.action) and not resource_allows:
        return Evaluation(IMPLICIT_DENY, "resource_policy", resource[0].name, resource[0].name, None)
    if identity_allow is None and not direct:
        return Evaluation(IMPLICIT_DENY, "identity_policy", None, owner, None)
    if not (resource_allows and resource[1].principal_match == "session"):
        for cause in ("permissions_boundary", "session_policy"):
            if (denied := gate(cause)) is not None:
                if direct and cause == "permissions_boundary" and not _SESSION.match(request.principal_arn):
                    continue  # a resource policy naming an IAM user is not limited by the user's boundary
                return denied
    if identity_allow is not None:
        p, r = identity_allow
        return Evaluation(ALLOW, "identity_policy", p.arn or p.name, owner, r.statement)
    p, r = resource
    return Evaluation(ALLOW, "resource_policy", p.name, p.name, r.statement)


# --- the fix ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """The narrowest change to one policy that lets the request through."""

    policy_type: str
    target: str  # the role ARN, vpce id, resource ARN or policy ARN the command changes
    add: dict | None  # the minimal statement to add (the exact action and resource seen)
    remove: dict | None  # the denying statement to remove or narrow
    document: dict | None  # the whole policy after the change
    command: str | None  # the AWS CLI command that applies it (None when none can be written safely)
    verified: bool = False  # the evaluator allows the request once all the fixes are applied
    note: str | None = None

    def as_dict(self) -> dict:
        return {"policy_type": self.policy_type, "target": self.target, "add": self.add, "remove": self.remove,
                "document": self.document, "command": self.command, "verified": self.verified, "note": self.note}


def _normal_action(action: str) -> str:
    prefix, _, name = action.partition(":")
    return f"{prefix.lower()}:{name}"


def _sid(action: str) -> str:
    return "Allow" + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", action) if w)


def allow_statement(request: Request, policy_type: str) -> dict:
    """The minimal Allow for exactly this action on exactly this resource, shaped for the policy type."""
    action = _normal_action(request.action)
    statement: dict = {"Sid": _sid(action), "Effect": "Allow"}
    if policy_type == "endpoint_policy" and action.startswith("s3:"):
        # S3 gateway endpoint policies name principals through aws:PrincipalArn
        statement.update(Principal="*", Action=action, Resource=request.resource,
                         Condition={"ArnEquals": {"aws:PrincipalArn": request.identity_arn}})
        return statement
    if policy_type in ("endpoint_policy", "resource_policy"):
        statement["Principal"] = {"AWS": request.identity_arn}
    statement.update(Action=action, Resource=request.resource)
    return statement


def _json(doc: Any) -> str:
    return shlex.quote(json.dumps(doc, separators=(",", ":")))


def _resource_command(resource_arn: str, document: dict) -> str | None:
    """The resource's own set-policy command (sqs, sns, secretsmanager, s3, kms)."""
    parts = resource_arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, region, account, rest = parts[2], parts[3], parts[4], parts[5]
    if service == "sqs":
        attributes = {"Policy": json.dumps(document, separators=(",", ":"))}
        return (f"aws sqs set-queue-attributes --queue-url https://sqs.{region}.amazonaws.com/{account}/{rest} "
                f"--attributes {_json(attributes)}")
    if service == "sns":
        return f"aws sns set-topic-attributes --topic-arn {resource_arn} --attribute-name Policy --attribute-value {_json(document)}"
    if service == "secretsmanager":
        return f"aws secretsmanager put-resource-policy --secret-id {resource_arn} --resource-policy {_json(document)}"
    if service == "s3":
        return f"aws s3api put-bucket-policy --bucket {rest.split('/', 1)[0]} --policy {_json(document)}"
    if service == "kms":
        return f"aws kms put-key-policy --key-id {rest.removeprefix('key/')} --policy-name default --policy {_json(document)}"
    return None


_IAM_NAME = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:(?P<kind>role|user)/(?:[^/]*/)*(?P<name>[^/]+)$")


def _inline_name(action: str) -> str:
    return "allow-" + re.sub(r"[^A-Za-z0-9]+", "-", _normal_action(action))


def _command(policy_type: str, policy: NamedPolicy | None, request: Request, document: dict) -> str | None:
    """The AWS CLI command that puts ``document`` in place of ``policy`` (None: no safe command)."""
    if policy_type in ("identity_policy", "permissions_boundary") and policy is not None and policy.arn:
        return f"aws iam create-policy-version --policy-arn {policy.arn} --policy-document {_json(document)} --set-as-default"
    if policy_type == "identity_policy" and (m := _IAM_NAME.match(request.identity_arn)):
        name = policy.name if policy is not None else _inline_name(request.action)
        return (f"aws iam put-{m['kind']}-policy --{m['kind']}-name {m['name']} --policy-name {name} "
                f"--policy-document {_json(document)}")
    if policy is None:
        return None
    if policy_type == "endpoint_policy":
        return f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {policy.name} --policy-document {_json(document)}"
    if policy_type == "resource_policy":
        return _resource_command(policy.name, document)
    if policy_type in ("service_control_policy", "resource_control_policy"):
        policy_id = (policy.arn or policy.name).rsplit("/", 1)[-1]
        return f"aws organizations update-policy --policy-id {policy_id} --content {_json(document)}"
    return None  # a session policy is passed by whoever assumes the role


def _slot(policies: PolicySet, policy_type: str, name: str | None) -> NamedPolicy | None:
    if policy_type == "identity_policy":
        return next((p for p in policies.identity if name in (p.name, p.arn)), None)
    if policy_type in ("service_control_policy", "resource_control_policy"):
        group = policies.service_control if policy_type == "service_control_policy" else policies.resource_control
        return next((p for p in group if name in (p.name, p.arn)), None)
    return {"permissions_boundary": policies.permissions_boundary, "session_policy": policies.session,
            "resource_policy": policies.resource, "endpoint_policy": policies.endpoint}[policy_type]


def _replace_policy(policies: PolicySet, old: NamedPolicy | None, new: NamedPolicy, policy_type: str) -> PolicySet:
    out = replace(policies, identity=list(policies.identity), service_control=list(policies.service_control),
                  resource_control=list(policies.resource_control))
    if policy_type in ("identity_policy", "service_control_policy", "resource_control_policy"):
        group = {"identity_policy": out.identity, "service_control_policy": out.service_control,
                 "resource_control_policy": out.resource_control}[policy_type]
        if old in group:
            group[group.index(old)] = new
        else:
            group.append(new)
        return out
    attribute = {"permissions_boundary": "permissions_boundary", "session_policy": "session",
                 "resource_policy": "resource", "endpoint_policy": "endpoint"}[policy_type]
    setattr(out, attribute, new)
    return out


def fix_for(request: Request, policies: PolicySet, evaluation: Evaluation) -> tuple[Fix, PolicySet] | None:
    """The one change for the denial ``evaluation`` names, and the policies with it applied; None if allowed."""
    if evaluation.allowed or evaluation.policy_type is None:
        return None
    cause = evaluation.policy_type
    current = _slot(policies, cause, evaluation.policy)
    if evaluation.decision == EXPLICIT_DENY:
        doc = load_document(current.document, current.name)
        statements = _list(doc.get("Statement"))
        add, remove = None, statements[evaluation.statement.index]
        doc["Statement"] = [s for i, s in enumerate(statements) if i != evaluation.statement.index]
        note = (f"an explicit deny cannot be outweighed by an allow: remove {evaluation.statement.label} "
                f"of {current.name}, or narrow it so it no longer matches this call")
    else:
        add, remove, note = allow_statement(request, cause), None, None
        if cause == "identity_policy":  # a new inline policy holding just this statement
            current = None
            doc = {"Version": "2012-10-17", "Statement": [add]}
        else:
            doc = load_document(current.document if current else None, cause)
            doc = {"Version": "2012-10-17", **doc, "Statement": _list(doc.get("Statement")) + [add]}
    new = NamedPolicy(current.name if current else _inline_name(request.action), doc, current.arn if current else None)
    command = _command(cause, current, request, doc)
    if cause == "session_policy":
        note = "a session policy is passed by whoever assumes the role (sts:AssumeRole --policy); change it there"
    target = (current.arn if current is not None and current.arn else evaluation.owner) or ""
    return Fix(cause, target, add, remove, doc, command, False, note), _replace_policy(policies, current, new, cause)


def fixes(request: Request, policies: PolicySet, *, limit: int = 8) -> list[Fix]:
    """Every change needed, in order, until the evaluator allows the request; ``verified`` when all of
    them together let it through."""
    out: list[Fix] = []
    evaluation = evaluate_request(request, policies)
    for _ in range(limit):
        if evaluation.allowed or (step := fix_for(request, policies, evaluation)) is None:
            break
        fix, policies = step
        same = next((i for i, f in enumerate(out) if (f.policy_type, f.target) == (fix.policy_type, fix.target)), None)
        if same is None:
            out.append(fix)
        else:  # a second change to the same policy: one command with both
            out[same] = replace(fix, add=fix.add or out[same].add, remove=fix.remove or out[same].remove,
                                note=fix.note or out[same].note)
        evaluation = evaluate_request(request, policies)
    return [replace(f, verified=evaluation.allowed) for f in out]
