"""``explain(message)``: what a pasted denial message or stoppedReason means, where to look, and the fix.

From the message alone: the policy type, explicit or implicit, role, task id, action and
resource (:mod:`pipeline.analysis.denials`), the command that shows the policy in question,
and the fix when the message is enough to write it safely (a missing allow in the role's own
policies: a new inline policy with exactly that action and resource).

With the policies that apply (``policies=``, a :class:`~pipeline.analysis.policy.PolicySet`),
the evaluator confirms the cause, names the policy and statement, and gives every fix with
its CLI command. With a ``lake`` the policies are read from its IAM metadata (the role's, the
endpoint's, the resource's); without them there the explanation says so and stays message-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from pipeline.analysis import policy as P
from pipeline.analysis.denials import Denial, classify, classify_event
from pipeline.errors import FlowlogsError
from pipeline.vocabulary import CAUSES, START_STEPS, STOP_CATEGORIES


class NotADenial(FlowlogsError):
    """The text is neither an access-denied message nor a task's stoppedReason."""


@dataclass(frozen=True)
class Explanation:
    denial: Denial
    meaning: str
    checks: list[str] = field(default_factory=list)  # commands that show the policy or state in question
    fixes: list[P.Fix] = field(default_factory=list)
    evaluation: P.Evaluation | None = None
    note: str | None = None

    def as_dict(self) -> dict:
        d = self.denial.as_dict()
        d.update(meaning=self.meaning, checks=self.checks, fixes=[f.as_dict() for f in self.fixes],
                 evaluation=self.evaluation.as_dict() if self.evaluation else None,
                 note="; ".join(n for n in (self.denial.note, self.note) if n) or None)
        return d


_SHOWN = ("form", "category", "step", "error_code", "policy_type", "policy_words", "explicit", "policy_arn", "via",
          "principal_arn", "role_arn", "session_name", "task_id", "action", "operation", "resource", "service",
          "vpc_endpoint_id", "retries", "encoded_message")


def explanation_rows(e: Explanation) -> list[dict]:
    """``field``/``value`` rows for the table and plain formats: the set fields, then checks and fixes."""
    d = e.as_dict()
    rows = [{"field": "meaning", "value": e.meaning}]
    rows += [{"field": k, "value": d[k]} for k in _SHOWN if d.get(k) is not None]
    if e.evaluation is not None:
        rows += [{"field": f"evaluation {k}", "value": v} for k, v in e.evaluation.as_dict().items() if v]
    rows += [{"field": "note", "value": d["note"]}] if d["note"] else []
    rows += [{"field": "check", "value": c} for c in e.checks]
    for i, f in enumerate(e.fixes, 1):
        rows += [{"field": f"fix {i} {k}", "value": v} for k, v in f.as_dict().items()
                 if v is not None and k != "document"]
    return rows


def _meaning(d: Denial) -> str:
    if d.form == "stopped_reason":
        step = f" at {d.step.replace('_', ' ')}: {START_STEPS[d.step]}" if d.step else ""
        return f"The task stopped before it ran ({d.category}){step} {STOP_CATEGORIES[d.category]}"
    if d.policy_type is None:
        return "AWS denied the call, and the message does not say which policy type."
    action = d.action or "the call"
    via = " (applied through the VPC endpoint the call used)" if d.via else ""
    said = {True: f"A {d.policy_words}{via} explicitly denies {action}.", False: f"No {d.policy_words} allows {action}.",
            None: f"The {d.policy_words}{via} refused {action}."}[d.explicit]
    return f"{said} {CAUSES[d.policy_type]}"


def _region(d: Denial) -> str:
    parts = (d.resource or "").split(":")
    return parts[3] if len(parts) > 3 and parts[3] else "REGION"


def _resource_check(resource: str) -> str | None:
    parts = resource.split(":", 5)
    if len(parts) < 6:
        return None
    service, region, account, rest = parts[2], parts[3], parts[4], parts[5]
    return {
        "sqs": f"aws sqs get-queue-attributes --queue-url https://sqs.{region}.amazonaws.com/{account}/{rest} "
               "--attribute-names Policy",
        "sns": f"aws sns get-topic-attributes --topic-arn {resource} --query Attributes.Policy",
        "secretsmanager": f"aws secretsmanager get-resource-policy --secret-id {resource}",
        "s3": f"aws s3api get-bucket-policy --bucket {rest.split('/', 1)[0]}",
        "kms": f"aws kms get-key-policy --key-id {rest.removeprefix('key/')} --policy-name default",
    }.get(service)


def _checks(d: Denial) -> list[str]:
    role = d.role_name or "ROLE"
    by_type = {
        "identity_policy": [f"aws iam list-role-policies --role-name {role}",
                            f"aws iam list-attached-role-policies --role-name {role}"],
        "permissions_boundary": [f"aws iam get-role --role-name {role} --query Role.PermissionsBoundary"],
        "endpoint_policy": [f"aws ec2 describe-vpc-endpoints --filters Name=service-name,Values=com.amazonaws."
                            f"{_region(d)}.{d.service or 'SERVICE'} --query 'VpcEndpoints[].[VpcEndpointId,PolicyDocument]'"
                            if not d.vpc_endpoint_id else
                            f"aws ec2 describe-vpc-endpoints --vpc-endpoint-ids {d.vpc_endpoint_id} "
                            "--query 'VpcEndpoints[0].PolicyDocument'"],
        "resource_policy": [c for c in [_resource_check(d.resource or "")] if c],
        "service_control_policy": [f"aws organizations describe-policy --policy-id {d.policy_arn.rsplit('/', 1)[-1]}"
                                   if d.policy_arn else
                                   f"aws organizations list-policies-for-target --target-id {d.account or 'ACCOUNT'} "
                                   "--filter SERVICE_CONTROL_POLICY"],
        "resource_control_policy": [f"aws organizations list-policies-for-target --target-id {d.account or 'ACCOUNT'} "
                                    "--filter RESOURCE_CONTROL_POLICY"],
    }
    checks = list(by_type.get(d.policy_type or "", []))
    if d.policy_arn and d.policy_arn.split(":")[2:3] == ["iam"]:
        checks.append(f"aws iam get-policy-version --policy-arn {d.policy_arn} --version-id "
                      f"$(aws iam get-policy --policy-arn {d.policy_arn} --query Policy.DefaultVersionId --output text)")
    if d.encoded_message:
        checks.append(f"aws sts decode-authorization-message --encoded-message {d.encoded_message}")
    if d.category == "network" and d.task_id:
        checks.append(f"flowlogs report findings --task {d.task_id}")
    elif d.category == "network":
        checks.append("flowlogs report findings --kind reject --kind no_return")
    return checks


def request_of(d: Denial, context: Mapping[str, Any] | None = None) -> P.Request | None:
    """The request a denial describes, when the message names principal, action and resource."""
    if not (d.principal_arn and d.action and d.resource):
        return None
    return P.Request(d.principal_arn, d.action, d.resource, dict(context or {}), d.role_arn)


def _message_fixes(d: Denial) -> list[P.Fix]:
    """The fix the message alone can give: a missing allow in the role's own policies."""
    request = request_of(d)
    if request is None or d.explicit is not False:
        return []
    if d.policy_type == "identity_policy":
        evaluation = P.Evaluation(P.IMPLICIT_DENY, "identity_policy", None, request.identity_arn, None)
        fix = P.fix_for(request, P.PolicySet(), evaluation)[0]
        return [replace(fix, note="not verified: without the role's other policies, a permissions boundary or an "
                                  "endpoint policy may still deny")]
    if d.policy_type in ("endpoint_policy", "resource_policy", "permissions_boundary"):
        statement = P.allow_statement(request, d.policy_type)
        target = {"endpoint_policy": d.vpc_endpoint_id or f"the {d.service} VPC endpoint",
                  "resource_policy": d.resource, "permissions_boundary": request.identity_arn}[d.policy_type]
        return [P.Fix(d.policy_type, target, statement, None, None, None, False,
                      "add this statement to the current policy (the command replaces the whole document, so "
                      "it needs the current one: see the check above)")]
    return []


def read_message(message: str | None) -> Denial | None:
    """The denial in a pasted text: a message, or a JSON CloudTrail record (bare or in an EventBridge
    envelope) or ECS task event whose errorCode/errorMessage or stoppedReason is read."""
    text = (message or "").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            record = doc["detail"] if isinstance(doc.get("detail"), dict) else doc
            if "errorCode" in record or "errorMessage" in record:
                return classify_event(record)
            if record.get("stoppedReason"):
                return classify(record["stoppedReason"])
    return classify(text)


def explain(message: str | None, lake: Any = None, *, policies: P.PolicySet | None = None,
            context: Mapping[str, Any] | None = None) -> Explanation:
    """Explain one denial message or stoppedReason (or a CloudTrail record / task event holding one).

    ``policies``: the policies that apply to the call (the role's identity policies, boundary,
    the endpoint's and the resource's), to evaluate it; ``context``: its condition keys
    (see :func:`pipeline.analysis.policy.network_context`). ``lake``: a lake whose IAM
    metadata gives those policies when ``policies`` is not given
    (:func:`pipeline.analysis.iam_findings.lake_policies`)."""
    d = read_message(message)
    if d is None:
        shown = " ".join((message or "").split())[:80]
        raise NotADenial(f"not a denial message: {shown!r}" if shown else "no message given",
                         "paste an AWS error ('… is not authorized to perform: …'), a CloudTrail errorMessage "
                         "or errorCode, or an ECS task's stoppedReason")
    note = None
    evaluation = None
    if policies is None and lake is not None:
        from pipeline.analysis.iam_findings import lake_policies

        found = lake_policies(lake, d)
        if found is not None:
            policies, keys, note = found
            context = {**keys, **(context or {})}
    request = request_of(d, context)
    if policies is not None and request is not None:
        evaluation = P.evaluate_request(request, policies)
        fixes = P.fixes(request, policies)
    else:
        fixes = _message_fixes(d)
        if lake is not None:
            note = ("the lake holds no IAM policies of this role (flowlogs metadata import|collect): the cause is "
                    "the message's, not confirmed by evaluation")
    return Explanation(d, _meaning(d), _checks(d), fixes, evaluation, note)
