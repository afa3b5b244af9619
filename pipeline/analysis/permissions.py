"""What an access denial says, and what the imported policies say about the same request.

The one place the IAM findings (``pipeline.analysis.iam_findings``) read a denial's
wording and evaluate policies:

- ``read_denial(text, error_code=None)``: the policy type the wording names (one of the
  vocabulary's causes), explicit or implicit, principal, role, session (the task id),
  action and resource; or the network failure a stoppedReason describes;
- ``evaluate(request, policies)``: each policy's decision for one request (explicit
  deny beats allow; a request through an endpoint needs the endpoint policy's allow too)
  with the deciding statement;
- ``fix(...)``: the minimal statement that lets the request through and the CLI command
  that applies it, verified by ``evaluate`` before it is offered.

Evaluated: Effect, Action/NotAction and Resource/NotResource with wildcards,
Principal/NotPrincipal, conditions with the String/Arn/Bool/IpAddress operators and
``…IfExists`` on the request keys ``aws:SourceVpce``, ``aws:SourceVpc``,
``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:SourceIp``, ``aws:VpcSourceIp``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from dataclasses import dataclass, field

# the wording's policy type -> the vocabulary's cause
POLICY_TYPES = (
    ("vpc endpoint policy", "endpoint_policy"),
    ("identity-based policy", "identity_policy"),
    ("resource-based policy", "resource_policy"),
    ("role trust policy", "resource_policy"),
    ("permissions boundary", "permissions_boundary"),
    ("session policy", "session_policy"),
    ("sessions policy", "session_policy"),
    ("service control policy", "service_control_policy"),
    ("resource control policy", "resource_control_policy"),
)
# an endpoint without a policy document has the default one
FULL_ACCESS = '{"Statement":[{"Action":"*","Effect":"Allow","Principal":"*","Resource":"*"}]}'
DENIED_CODES = {"accessdenied", "accessdeniedexception", "client.unauthorizedoperation", "unauthorizedoperation",
                "authorizationerror", "authorizationerrorexception", "kmsaccessdenied", "kms.accessdeniedexception",
                "kmsaccessdeniedexception", "vpceaccessdenied"}
NETWORK_WORDS = ("i/o timeout", "dial tcp", "context deadline exceeded", "requestcanceled", "request canceled",
                 "requesterror: send request failed", "connection refused", "no such host", "network is unreachable")
_DENIAL = re.compile(
    r"(?:User|Principal): (?P<principal>\S+) is not authorized to perform: (?P<action>[\w.-]+:[\w*]+)"
    r"(?: on resource: \"?(?P<resource>[^\"\s]+)\"?| on this resource)?(?P<tail>.*)", re.S)
_ASSUMED = re.compile(r"^arn:(?P<partition>aws[\w-]*):sts::(?P<account>\d+):assumed-role/(?P<role>[^/]+)(?:/(?P<session>.+))?$")
_POLICY_ARN = re.compile(r"(arn:aws[\w-]*:(?:iam|organizations)::[^\s,.]*(?:\.[^\s,.]+)*)")


@dataclass
class Denial:
    """What one error text says."""

    text: str
    denied: bool = False  # an access denial (of any policy type)
    network: bool = False  # a timeout / connection failure instead
    cause: str | None = None  # the vocabulary's cause the wording names
    explicit: bool | None = None  # True: "with an explicit deny", False: "because no … allows", None: not said
    principal: str | None = None
    account: str | None = None
    role: str | None = None
    role_arn: str | None = None  # arn:aws:iam::ACCOUNT:role/NAME (the path is not in the session ARN)
    session: str | None = None  # the task id for ECS task and execution roles
    action: str | None = None
    resource: str | None = None
    policy_arn: str | None = None  # newer wordings name the denying policy


def role_of(principal: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(account, role name, role ARN, session) of an assumed-role ARN."""
    m = _ASSUMED.match(principal or "")
    if not m:
        return None, None, None, None
    return (m["account"], m["role"], f"arn:{m['partition']}:iam::{m['account']}:role/{m['role']}",
            (m["session"] or None))


def read_denial(text: str | None, error_code: str | None = None) -> Denial:
    """Read an error message, CloudTrail errorMessage or stoppedReason."""
    d = Denial(text or "")
    low = d.text.lower()
    code = (error_code or "").lower()
    m = _DENIAL.search(d.text)
    if m:
        d.denied = True
        d.principal, d.action = m["principal"], m["action"]
        d.resource = m["resource"]
        d.account, d.role, d.role_arn, d.session = role_of(d.principal)
        tail = m["tail"].lower()
        if "with an explicit deny" in tail:
            d.explicit = True
        elif "because no " in tail:
            d.explicit = False
        for phrase, cause in POLICY_TYPES:
            if phrase in tail:
                d.cause = cause
                break
        arn = _POLICY_ARN.search(m["tail"])
        d.policy_arn = arn.group(1) if arn else None
    if code == "vpceaccessdenied" or "denied due to a vpc endpoint policy" in low:
        d.denied, d.cause = True, "endpoint_policy"
    elif code in DENIED_CODES or "accessdenied" in low.replace(" ", ""):
        d.denied = True
    if not d.denied and any(w in low for w in NETWORK_WORDS):
        d.network = True
    return d


def service_of_action(action: str | None) -> str | None:
    """The service's endpoint name for an action: ``SNS:Publish`` -> sns, ecr:GetAuthorizationToken -> ecr.api."""
    if not action or ":" not in action:
        return None
    prefix, name = action.lower().split(":", 1)
    if prefix == "ecr":
        return "ecr.api" if name == "getauthorizationtoken" else "ecr.dkr"
    return prefix


def service_of_source(event_source: str | None) -> str | None:
    """``sqs.amazonaws.com`` -> sqs; ``ecr.amazonaws.com`` -> ecr.api."""
    if not event_source:
        return None
    name = event_source.split(".amazonaws.com", 1)[0]
    return {"ecr": "ecr.api", "monitoring": "monitoring"}.get(name, name)


# --- evaluation --------------------------------------------------------------------------

@dataclass
class Request:
    principal_arn: str | None  # the session ARN
    role_arn: str | None
    action: str
    resource: str
    context: dict = field(default_factory=dict)  # aws:SourceVpce, aws:SourceVpc, aws:SourceIp …

    def keys(self) -> dict:
        account = (self.role_arn or "").split(":")[4] if (self.role_arn or "").count(":") >= 5 else None
        base = {"aws:principalarn": self.role_arn, "aws:principalaccount": account}
        base.update({k.lower(): v for k, v in self.context.items() if v is not None})
        return {k: v for k, v in base.items() if v is not None}


@dataclass
class Decision:
    """One policy's answer: allow, explicit_deny or implicit_deny, and the statement that decided."""

    decision: str
    statement: str | None = None  # "Sid X" or "statement N" (1-based)


def _list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _like(pattern: str, value: str, case: bool = False) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _action_match(patterns, action: str) -> bool:
    return any(_like(p, action) for p in _list(patterns))


def _resource_match(patterns, resource: str) -> bool:
    return any(p == "*" or _like(p, resource, case=True) for p in _list(patterns))


def _principal_match(principal, req: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _list(principal.get("AWS")):
        if value == "*" or value in (req.role_arn, req.principal_arn):
            return True
        account = (req.role_arn or "").split(":")[4] if (req.role_arn or "").count(":") >= 5 else None
        if account and value in (account, f"arn:aws:iam::{account}:root"):
            return True
    return False


def _ip_in(value: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _operator(name: str):
    base = name.split(":", 1)[-1]  # ForAnyValue:/ForAllValues: on a single value behave alike here
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    negated = "Not" in base
    tests = {
        "StringEquals": lambda v, p: v == p,
        "StringNotEquals": lambda v, p: v == p,
        "StringEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
        "StringNotEqualsIgnoreCase": lambda v, p: v.lower() == p.lower(),
        "StringLike": lambda v, p: _like(p, v, case=True),
        "StringNotLike": lambda v, p: _like(p, v, case=True),
        "ArnEquals": lambda v, p: _like(p, v, case=True),
        "ArnLike": lambda v, p: _like(p, v, case=True),
        "ArnNotEquals": lambda v, p: _like(p, v, case=True),
        "ArnNotLike": lambda v, p: _like(p, v, case=True),
        "Bool": lambda v, p: str(v).lower() == str(p).lower(),
        "IpAddress": _ip_in,
        "NotIpAddress": _ip_in,
    }
    return tests.get(base), negated, if_exists


def _conditions_match(conditions: dict, keys: dict) -> bool:
    for op_name, block in (conditions or {}).items():
        test, negated, if_exists = _operator(op_name)
        if test is None:
            return False  # an operator this evaluator does not know: the statement is not taken to apply
        for key, wanted in (block or {}).items():
            value = keys.get(key.lower())
            if value is None:
                if if_exists or negated:
                    continue  # absent key: …IfExists and the negated operators match
                return False
            hit = any(test(str(value), str(p)) for p in _list(wanted))
            if hit == negated:
                return False
    return True


def statement_label(statement: dict, index: int) -> str:
    return f"Sid {statement['Sid']}" if statement.get("Sid") else f"statement {index + 1}"


def _applies(s: dict, req: Request, with_principal: bool) -> bool:
    if "NotAction" in s:
        if _action_match(s["NotAction"], req.action):
            return False
    elif not _action_match(s.get("Action"), req.action):
        return False
    if "NotResource" in s:
        if _resource_match(s["NotResource"], req.resource):
            return False
    elif "Resource" in s and not _resource_match(s["Resource"], req.resource):
        return False
    if with_principal:
        if "NotPrincipal" in s:
            if _principal_match(s["NotPrincipal"], req):
                return False
        elif not _principal_match(s.get("Principal"), req):
            return False
    return _conditions_match(s.get("Condition") or {}, req.keys())


def decide(document: str | dict | None, req: Request, with_principal: bool = False) -> Decision:
    """One policy's decision: an explicit deny wins over any allow; no matching allow is an implicit deny."""
    doc = json.loads(document) if isinstance(document, str) else (document or {})
    statements = _list(doc.get("Statement"))
    allow = None
    for i, s in enumerate(statements):
        if not isinstance(s, dict) or not _applies(s, req, with_principal):
            continue
        if s.get("Effect") == "Deny":
            return Decision("explicit_deny", statement_label(s, i))
        if s.get("Effect") == "Allow" and allow is None:
            allow = statement_label(s, i)
    return Decision("allow", allow) if allow else Decision("implicit_deny")


@dataclass
class Policies:
    """The policies that apply to one request (documents as JSON text)."""

    identity: list[tuple[str, str]] = field(default_factory=list)  # (name or ARN, document)
    boundary: tuple[str, str] | None = None
    endpoint: tuple[str, str] | None = None  # (vpce id, document) when the request went through one
    resource: tuple[str, str] | None = None  # (resource ARN, document)


@dataclass
class Verdict:
    allowed: bool
    cause: str | None = None
    explicit: bool | None = None
    resource: str | None = None  # the policy's owner: role ARN, vpce id, resource ARN
    policy: str | None = None  # which policy (name or ARN)
    statement: str | None = None


def evaluate(req: Request, p: Policies, role_arn: str | None = None) -> Verdict:
    """The decision AWS would take for ``req`` under ``p`` (same-account request)."""
    owner = role_arn or req.role_arn
    for name, doc in p.identity:
        d = decide(doc, req)
        if d.decision == "explicit_deny":
            return Verdict(False, "identity_policy", True, owner, name, d.statement)
    checks = [("permissions_boundary", p.boundary, False, owner), ("endpoint_policy", p.endpoint, True, None),
              ("resource_policy", p.resource, True, None)]
    decided = {}
    for cause, pol, with_principal, res in checks:
        if pol is None:
            continue
        d = decide(pol[1], req, with_principal)
        decided[cause] = d
        if d.decision == "explicit_deny":
            return Verdict(False, cause, True, res or pol[0], pol[0], d.statement)
    identity_allows = next(((n, d.statement) for n, doc in p.identity
                            if (d := decide(doc, req)).decision == "allow"), None)
    resource_allows = decided.get("resource_policy") and decided["resource_policy"].decision == "allow"
    if not identity_allows and not resource_allows:
        return Verdict(False, "identity_policy", False, owner, None, None)
    if "permissions_boundary" in decided and decided["permissions_boundary"].decision != "allow" and not resource_allows:
        return Verdict(False, "permissions_boundary", False, owner, p.boundary[0], None)
    if "endpoint_policy" in decided and decided["endpoint_policy"].decision != "allow":
        return Verdict(False, "endpoint_policy", False, p.endpoint[0], p.endpoint[0], None)
    return Verdict(True)


# --- the fix -----------------------------------------------------------------------------

def allow_statement(req: Request, with_principal: bool) -> dict:
    statement = {"Sid": "Allow" + re.sub(r"[^A-Za-z0-9]", "", req.action.split(":", 1)[-1]),
                 "Effect": "Allow", "Action": req.action, "Resource": req.resource}
    if with_principal:
        statement["Principal"] = {"AWS": req.role_arn}
    return statement


def _without(document: str, label: str) -> dict:
    doc = json.loads(document)
    statements = _list(doc.get("Statement"))
    doc["Statement"] = [s for i, s in enumerate(statements) if statement_label(s, i) != label]
    return doc


def _with(document: str | None, statement: dict) -> dict:
    doc = json.loads(document) if document else {"Version": "2012-10-17", "Statement": []}
    doc["Statement"] = _list(doc.get("Statement")) + [statement]
    return doc


def _q(doc: dict) -> str:
    return "'" + json.dumps(doc, separators=(",", ":")).replace("'", "'\\''") + "'"


RESOURCE_SET_COMMANDS = {
    "sqs": "aws sqs set-queue-attributes --queue-url {url} --attributes {attrs}",
    "sns": "aws sns set-topic-attributes --topic-arn {arn} --attribute-name Policy --attribute-value {doc}",
    "secretsmanager": "aws secretsmanager put-resource-policy --secret-id {arn} --resource-policy {doc}",
    "s3": "aws s3api put-bucket-policy --bucket {name} --policy {doc}",
    "kms": "aws kms put-key-policy --key-id {name} --policy-name default --policy {doc}",
}


def queue_url(arn: str) -> str:
    parts = arn.split(":")
    return f"https://sqs.{parts[3]}.amazonaws.com/{parts[4]}/{parts[5]}" if len(parts) == 6 else "<queue-url>"


def fix(req: Request, p: Policies, v: Verdict, resource_type: str | None = None,
        resource_name: str | None = None) -> tuple[dict | None, str | None]:
    """(the statement to add or the document to apply, the CLI command), checked by ``evaluate``."""
    if v.allowed or v.cause not in ("identity_policy", "endpoint_policy", "resource_policy", "permissions_boundary"):
        return None, None
    role_name = (req.role_arn or "").rsplit("/", 1)[-1]
    fixed = Policies(list(p.identity), p.boundary, p.endpoint, p.resource)
    if v.cause == "identity_policy" and v.explicit:
        named = dict(p.identity)
        doc = _without(named[v.policy], v.statement)
        fixed.identity = [(n, json.dumps(doc) if n == v.policy else d) for n, d in p.identity]
        if v.policy.startswith("arn:"):
            command = f"aws iam create-policy-version --policy-arn {v.policy} --set-as-default --policy-document {_q(doc)}"
        else:
            command = f"aws iam put-role-policy --role-name {role_name} --policy-name {v.policy} --policy-document {_q(doc)}"
        shown = doc
    elif v.cause == "identity_policy":
        shown = allow_statement(req, False)
        name = f"allow-{service_of_action(req.action) or 'call'}"
        fixed.identity = p.identity + [(name, json.dumps(_with(None, shown)))]
        command = (f"aws iam put-role-policy --role-name {role_name} --policy-name {name} "
                   f"--policy-document {_q(_with(None, shown))}")
    else:
        current = {"endpoint_policy": p.endpoint, "resource_policy": p.resource, "permissions_boundary": p.boundary}[v.cause]
        if v.explicit:
            doc = _without(current[1], v.statement)
            shown = doc
        else:
            shown = allow_statement(req, v.cause != "permissions_boundary")
            doc = _with(current[1] if current else None, shown)
        setattr(fixed, {"endpoint_policy": "endpoint", "resource_policy": "resource",
                        "permissions_boundary": "boundary"}[v.cause], (current[0], json.dumps(doc)))
        if v.cause == "endpoint_policy":
            command = f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {current[0]} --policy-document {_q(doc)}"
        elif v.cause == "permissions_boundary":
            command = f"aws iam create-policy-version --policy-arn {current[0]} --set-as-default --policy-document {_q(doc)}"
        else:
            template = RESOURCE_SET_COMMANDS.get(resource_type or "")
            command = template.format(url=queue_url(current[0]), arn=current[0], name=resource_name or current[0],
                                      doc=_q(doc), attrs=_q({"Policy": json.dumps(doc, separators=(",", ":"))})
                                      ) if template else None
    if not evaluate(req, fixed).allowed:
        return shown, None  # the evaluator does not confirm this fix: no command is offered
    return shown, command
