"""Findings the flows cannot show: denied API calls (``access_denied``) and tasks that failed
to start (``task_start_failed``).

The SQL (``queries/access_denied.sql``, ``task_start_failed.sql``) finds and groups the
evidence; here each group's cause is read from the exact error wording first
(``denials``), then confirmed by evaluating the imported policies (``policy``), and linked to the flow
evidence of the same task: an ``established`` conversation to the same service while
calls are denied means the network is fine and a policy is not (said once, here, in the
finding's ``cross_evidence``), and a start that timed out takes its cause from the flow
findings of that task's ENI.
"""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict

from pipeline import queries
from pipeline import vocabulary
from pipeline.analysis import denials, policy
from pipeline.analysis.connection import has_relation
from pipeline.analysis.causes import _cause
from pipeline.metadata import iam as metadata_iam
from pipeline.times import iso

NETWORK_CANDIDATES = vocabulary.START_NETWORK_CAUSES
POLICY_OWNER_WORDS = vocabulary.POLICY_OWNERS


def _rows(con, sql: str, params: dict) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _epoch(value) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _time(value) -> str | None:
    """Whole seconds, as the flow findings' times."""
    return iso(value.replace(microsecond=0)) if value is not None else None


class PolicyStore:
    """The imported policies, looked up per request (current snapshot of each)."""

    def __init__(self, con):
        self.inline = defaultdict(list)
        for r in _rows(con, "SELECT role_arn, policy_name, document FROM current_iam_policies WHERE role_arn IS NOT NULL", {}):
            self.inline[r["role_arn"]].append((r["policy_name"], r["document"]))
        self.managed = {r["policy_arn"]: r["document"] for r in _rows(
            con, "SELECT policy_arn, document FROM current_iam_policies WHERE policy_arn IS NOT NULL", {})}
        self.roles = {}
        for r in _rows(con, "SELECT * FROM current_iam_roles", {}):
            self.roles[r["role_arn"]] = r
            self.roles.setdefault(f"name:{r['role_name']}", r)
        self.endpoints = {r["endpoint_id"]: r for r in _rows(con, "SELECT * FROM current_vpc_endpoints", {})}
        self.resources = _rows(con, "SELECT * FROM current_resource_policies", {})

    def role(self, role_arn: str | None) -> dict | None:
        if not role_arn:
            return None
        return self.roles.get(role_arn) or self.roles.get(f"name:{role_arn.rsplit('/', 1)[-1]}")

    def resource(self, arn: str | None) -> dict | None:
        if not arn:
            return None
        for r in self.resources:
            if r["resource_arn"] and (arn == r["resource_arn"] or arn.startswith(r["resource_arn"] + "/")):
                return r
            if r["resource_type"] == "kms" and r["resource_name"] and arn.endswith(f"key/{r['resource_name']}"):
                return r
        return None

    def allowed_resource(self, role_arn: str | None, action: str | None) -> str | None:
        """The one resource the role's own policies allow ``action`` on: what a call whose event names no
        resource (a network activity event) was after, e.g. the task's KMS key."""
        role = self.role(role_arn)
        if role is None or not action:
            return None
        docs = [doc for _, doc in self.inline.get(role["role_arn"], [])]
        docs += [self.managed[arn] for arn in role.get("managed_policy_arns") or [] if arn in self.managed]
        found = set()
        for statement in (s for doc in docs for s in metadata_iam.statements(doc)):
            actions = statement.get("Action")
            if statement.get("Effect") == "Allow" and any(
                    fnmatch.fnmatchcase(action.lower(), str(a).lower()) for a in (actions if isinstance(actions, list) else [actions])):
                resources = statement.get("Resource")
                found.update(r for r in (resources if isinstance(resources, list) else [resources])
                             if isinstance(r, str) and "*" not in r)
        return found.pop() if len(found) == 1 else None

    def endpoint_for(self, vpc_id: str | None, service: str | None) -> dict | None:
        """The interface endpoint a task in ``vpc_id`` reaches ``service`` through (private DNS on)."""
        for e in self.endpoints.values():
            if e.get("vpc_id") == vpc_id and e.get("aws_service") == service and e.get("private_dns_enabled"):
                return e
        return None

    def policies(self, role: dict, endpoint: dict | None, resource: dict | None, resource_arn: str) -> policy.PolicySet:
        identity = [policy.NamedPolicy(name, doc) for name, doc in self.inline.get(role["role_arn"], [])]
        identity += [policy.NamedPolicy(arn, self.managed[arn], arn)
                     for arn in role.get("managed_policy_arns") or [] if arn in self.managed]
        boundary = role.get("permissions_boundary_arn")
        return policy.PolicySet(
            identity=identity,
            permissions_boundary=policy.NamedPolicy(boundary, self.managed[boundary], boundary)
            if boundary in self.managed else None,
            endpoint=policy.NamedPolicy(endpoint["endpoint_id"], endpoint.get("policy_document")
                                        or policy.DEFAULT_ENDPOINT_POLICY) if endpoint else None,
            # named by its ARN (the fix's set-policy command needs it): the request's when imported by name
            resource=policy.NamedPolicy(resource["resource_arn"] or resource_arn, resource["policy_document"])
            if resource else None,
        )


def _action(denial: denials.Denial | None, event_source: str | None, event_name: str | None) -> str | None:
    if denial is not None and denial.action:
        prefix, name = denial.action.split(":", 1)
        same = event_name and name.lower() == event_name.lower()  # SQS lower-cases, SNS upper-cases the prefix
        return f"{prefix.lower()}:{event_name if same else name}"
    return denials.action_of(event_source, event_name)


def _request_resource(row: dict, denial: denials.Denial | None) -> str:
    if (denial is not None and denial.resource) or row.get("resource"):
        return (denial.resource if denial is not None else None) or row["resource"]
    try:
        params = (json.loads(row.get("record") or "{}").get("requestParameters") or {})
    except json.JSONDecodeError:
        params = {}
    for key in ("topicArn", "secretId", "keyId", "queueUrl", "TopicArn", "SecretId", "KeyId", "QueueUrl"):
        value = params.get(key)
        if isinstance(value, str) and value:
            if value.startswith("https://sqs."):  # https://sqs.REGION.amazonaws.com/ACCOUNT/NAME
                parts = value.split("/")
                region = parts[2].split(".")[1]
                return f"arn:aws:sqs:{region}:{parts[3]}:{parts[4]}"
            return value
    return "*"


def diagnose(policies: PolicyStore, denial: denials.Denial | None, role_arn: str | None, action: str | None,
             resource: str, endpoint: dict | None, principal_arn: str | None, source_ip: str | None) -> list[dict]:
    """The likely causes of one denial: the wording's cause, confirmed (or not) by the evaluator."""
    said = denial.policy_type if denial is not None else None
    role = policies.role(role_arn)
    if role is None or action is None:
        return [_cause(said or "identity_policy", False, role_arn if said in (None, "identity_policy") else None)]
    context = policy.network_context(endpoint["endpoint_id"] if endpoint else None,
                                     endpoint.get("vpc_id") if endpoint else None, source_ip)
    req = policy.Request(principal_arn or role["role_arn"], action, resource, context, role["role_arn"])
    owned = policies.resource(resource)
    p = policies.policies(role, endpoint, owned, resource)
    verdict = policy.evaluate_request(req, p)
    if verdict.allowed or (said and said != verdict.policy_type):
        # the imported policies allow it (or blame another type): the wording stands, unconfirmed
        why = (f"the imported policies allow {action} for {role['role_name']}; "
               f"{POLICY_OWNER_WORDS.get(said, 'a policy that is not imported')} denied it")
        return [_cause(said or "identity_policy", False, None, None, why)]
    fixes = policy.fixes(req, p)
    label = verdict.statement.label if verdict.statement else None
    how = f"{label} denies" if verdict.explicit and label else "no statement allows"
    explanation = (f"{POLICY_OWNER_WORDS[verdict.policy_type]} ({verdict.owner}): {how} {action} on {resource} "
                   f"for {role['role_name']}" + (f" through {endpoint['endpoint_id']}" if endpoint else " (no endpoint)"))
    for f in fixes:
        if f.add is not None:
            explanation += f"; add to {f.target}: " + json.dumps(f.add, separators=(",", ":"))
        elif f.remove is not None:
            explanation += f"; remove from {f.target}: " + json.dumps(f.remove, separators=(",", ":"))
    commands = [f.command for f in fixes if f.verified and f.command]
    fix = " && ".join(commands) if commands and len(commands) == len(fixes) else None
    cause = _cause(verdict.policy_type, True, verdict.owner, label, explanation, fix)
    cause["fix_verified"] = fix is not None  # the evaluator allows the request with every change made (policy.fixes)
    return [cause]


def _finding(kind: str, observed_at: str, **values) -> dict:
    base = {"kind": kind, "state": None, "observed_at": observed_at, "cluster": None, "service": None,
            "task_id": None, "task_arn": None, "source_eni": None, "source_addr": None, "dest_addr": None,
            "dest_addrs": [], "dest_port": None, "protocol": None,
            "destination": {"type": None, "id": None, "name": None, "aws_service": None, "region": None},
            "flows": None, "packets": None, "bytes": None, "first_seen": None, "last_seen": None,
            "likely_causes": [], "evidence": [], "events": None, "api": None}
    base.update(values)
    return base


def _api(**values) -> dict:
    keys = ("event_source", "event_name", "error_code", "error_message", "principal_arn", "role_arn", "role",
            "vpc_endpoint_id")
    return {k: values.get(k) for k in keys}


def _network_sentence(con, task_addr: str | None, endpoint_id: str | None, service: str | None,
                      first: int, last: int, cause: str | None) -> str | None:
    """One sentence when the same task had established conversations to the same service then: through
    the endpoint the calls used, or (no endpoint) to AWS public addresses, whose ranges do not name the service."""
    if not task_addr or not has_relation(con, "conversations") or not has_relation(con, "destinations"):
        return None
    n = con.execute(
        """SELECT count(*) FROM conversations AS c JOIN destinations AS d ON d.addr = c.server_addr
           WHERE c.client_addr = $ip AND c.state = 'established'
             AND c.last_seen >= $first - 300 AND c.first_seen <= $last + 300
             AND (d.id = $vpce OR ($vpce IS NULL AND d.type = 'aws_service'))""",
        {"ip": task_addr, "vpce": endpoint_id, "first": first, "last": last}).fetchone()[0]
    if not n:
        return None
    where = endpoint_id or f"AWS public addresses ({service}, through the NAT gateway or a public IP)"
    says = POLICY_OWNER_WORDS.get(cause or "", "a policy")
    return (f"The network lets it through ({n} established conversation{'s' if n != 1 else ''} to {where} "
            f"in that time); {says} says no.")


def access_denied(con, window: dict) -> list[dict]:
    """``access_denied`` findings for the calls in ``window`` ({"since", "until"} epoch seconds)."""
    if not has_relation(con, "api_calls"):
        return []
    groups = _rows(con, queries.get("access_denied").sql, {"since": window["since"], "until": window["until"]})
    if not groups:
        return []
    policies = PolicyStore(con)
    out = []
    for g in groups:
        denial = denials.classify(g["error_message"], g["error_code"], g["event_source"])
        action = _action(denial, g["event_source"], g["event_name"])
        resource = _request_resource(g, denial)
        if resource == "*":
            resource = policies.allowed_resource(g["role_arn"], action) or resource
        endpoint = policies.endpoints.get(g["vpc_endpoint_id"] or "")
        causes = diagnose(policies, denial, g["role_arn"] or (denial.role_arn if denial else None), action, resource,
                          endpoint or ({"endpoint_id": g["vpc_endpoint_id"], "policy_document": None}
                                       if g["vpc_endpoint_id"] else None),
                          g["principal_arn"], g["source_ip"])
        service = denials.service_of(None, g["event_source"]) or denials.service_of(action)
        first, last = _epoch(g["first_seen"]), _epoch(g["last_seen"])
        finding = _finding(
            "access_denied", "api_call", cluster=g["cluster"], service=g["service"], task_id=g["task_id"],
            task_arn=g["task_arn"], source_eni=g["source_eni"], source_addr=g["source_addr"],
            destination={"type": "vpc_endpoint" if g["vpc_endpoint_id"] else "aws_service",
                         "id": g["vpc_endpoint_id"], "name": (endpoint or {}).get("service_name") or g["tls_host"],
                         "aws_service": service, "region": g["region"]},
            first_seen=_time(g["first_seen"]), last_seen=_time(g["last_seen"]), events=g["events"], likely_causes=causes,
            api=_api(event_source=g["event_source"], event_name=g["event_name"], error_code=g["error_code"],
                     error_message=g["error_message"], principal_arn=g["principal_arn"], role_arn=g["role_arn"],
                     role=g["role"], vpc_endpoint_id=g["vpc_endpoint_id"]))
        finding["cross_evidence"] = _network_sentence(con, g["source_addr"], g["vpc_endpoint_id"], service, first, last,
                                                      causes[0]["cause"] if causes else None)
        finding["state"] = "established" if finding["cross_evidence"] else None
        out.append(finding)
    return out


def start_failure(reason: str | None) -> tuple[str, denials.Denial | None]:
    """('iam' | 'network' | 'image' | 'other', the reading) of one stoppedReason."""
    denial = denials.classify(reason)
    return (denial.category if denial is not None and denial.category else "other"), denial


def task_start_failed(con, window: dict, flow_findings: list[dict]) -> list[dict]:
    """One ``task_start_failed`` finding per service and cause (a start loop is one problem, not forty)."""
    tasks = _rows(con, queries.get("task_start_failed").sql, {"since": window["since"], "until": window["until"]})
    if not tasks:
        return []
    policies = PolicyStore(con)
    by_task = defaultdict(list)
    for f in flow_findings:
        by_task[f.get("task_id")].append(f)
    groups: dict[tuple, dict] = {}
    for t in tasks:
        what, denial = start_failure(t["stopped_reason"])
        if what not in ("iam", "network"):
            continue  # image not found, out of memory, user stopped…: neither IAM nor the network
        service = denial.service
        if what == "iam":
            role_arn = t["execution_role_arn"] or denial.role_arn
            vpc = _task_vpc(con, t)
            causes = diagnose(policies, denial, role_arn, denial.action, denial.resource or "*",
                              policies.endpoint_for(vpc, service), denial.principal_arn, t["private_ip"])
        else:
            linked = [c for f in by_task.get(t["task_id"], []) for c in f["likely_causes"][:1]]
            causes = linked or [_cause(c, False) for c in NETWORK_CANDIDATES]
        key = (t["cluster"], t["service"], causes[0]["cause"], causes[0].get("resource"))
        g = groups.setdefault(key, {"tasks": [], "causes": causes, "service_name": service, "denial": denial,
                                    "role_arn": t["execution_role_arn"] or denial.role_arn})
        g["tasks"].append(t)
    out = []
    for (cluster, svc, _, _), g in groups.items():
        tasks = sorted(g["tasks"], key=lambda t: (t["stopped_at"] or t["created_at"], t["task_id"]))
        last = tasks[-1]
        denial = g["denial"]
        out.append(_finding(
            "task_start_failed", "task_event", cluster=cluster, service=svc, task_id=last["task_id"],
            task_arn=last["task_arn"], source_eni=last["eni_id"], source_addr=last["private_ip"],
            destination={"type": "aws_service", "id": None, "name": None, "aws_service": g["service_name"],
                         "region": None},
            first_seen=_time(tasks[0]["stopped_at"] or tasks[0]["created_at"]),
            last_seen=_time(last["stopped_at"] or last["created_at"]),
            events=len(tasks), likely_causes=g["causes"],
            api=_api(event_source=f"{denial.action.split(':', 1)[0].lower()}.amazonaws.com" if denial.action else None,
                     event_name=(denial.action or "").split(":", 1)[-1] or None,
                     error_code=denial.error_code or ("AccessDeniedException" if denial.denied else None),
                     error_message=denial.text[denial.text.find("User: "):] if denial.denied and "User: " in denial.text
                     else None, principal_arn=denial.principal_arn, role_arn=g["role_arn"],
                     role="execution", vpc_endpoint_id=None),
            stopped_reason=last["stopped_reason"], task_ids=[t["task_id"] for t in tasks], cross_evidence=None))
    return out


def _task_vpc(con, task: dict) -> str | None:
    row = con.execute("SELECT vpc_id FROM current_subnets WHERE subnet_id = $s", {"s": task["subnet_id"]}).fetchone()
    return row[0] if row else None


def fold_start_denials(access: list[dict], starts: list[dict]) -> list[dict]:
    """The access_denied findings that stay: a denied execution-role call of a task that never started
    is that start failure's evidence (it names the call and the path), not a finding of its own."""
    by_task = {t: f for f in starts for t in f.get("task_ids") or []}
    kept = []
    for f in access:
        start = by_task.get(f["task_id"])
        if start is None or f["api"]["role"] != "execution":
            kept.append(f)
            continue
        start["api"].update({k: v for k, v in f["api"].items() if v and not start["api"].get(k)})
        if f["api"]["vpc_endpoint_id"] and not start["destination"]["id"]:
            start["destination"] = dict(f["destination"])
    return kept


def lake_policies(store, d: denials.Denial) -> tuple[policy.PolicySet, dict, str | None] | None:
    """For ``flowlogs explain`` with a lake: the imported policies a pasted denial is about (its role's,
    the endpoint's, the resource's), the request's condition keys, and what was assumed; None when the
    lake holds no policies of that role."""
    from pipeline.analysis.connection import connect

    policies = PolicyStore(connect(store))
    role = policies.role(d.role_arn)
    if role is None or not d.resource:
        return None
    endpoint, note = policies.endpoints.get(d.vpc_endpoint_id or ""), None
    if endpoint is None:
        # the message does not say the path: the service's one endpoint (with private DNS, calls use it)
        candidates = [e for e in policies.endpoints.values() if e.get("aws_service") == d.service
                      and (e.get("private_dns_enabled") or d.policy_type == "endpoint_policy")]
        if len(candidates) == 1:
            endpoint = candidates[0]
            note = f"the call is taken to have gone through {endpoint['endpoint_id']}, the lake's {d.service} endpoint"
    context = policy.network_context(endpoint["endpoint_id"] if endpoint else None,
                                     endpoint.get("vpc_id") if endpoint else None, None)
    return policies.policies(role, endpoint, policies.resource(d.resource), d.resource), context, note
