"""IAM, resource policies and the trail's configuration as rows.

- ``aws iam get-account-authorization-details`` -> ``iam_roles`` (one row per role) and
  ``iam_policies`` (one row per policy document a role carries: inline, attached managed,
  permissions boundary; managed documents are the default version);
- the resource-policy commands (``aws sqs get-queue-attributes --attribute-names Policy``,
  ``aws sns get-topic-attributes``, ``aws secretsmanager get-resource-policy``,
  ``aws s3api get-bucket-policy``, ``aws kms get-key-policy``) -> ``resource_policies``;
- ``aws cloudtrail describe-trails`` -> ``trails`` and ``get-event-selectors`` ->
  ``trail_event_selectors``.

Policy documents are kept as canonical JSON text (keys sorted): the API returns them
URL-encoded, boto3 and the CLI decode them to objects, and some outputs hold them as a
JSON string; all three give the same text.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

Rows = dict[str, list[dict]]

# resource_type -> (CLI command, the ARN's service part)
RESOURCE_COMMANDS = {
    "sqs": "aws sqs get-queue-attributes --attribute-names Policy QueueArn",
    "sns": "aws sns get-topic-attributes",
    "secretsmanager": "aws secretsmanager get-resource-policy",
    "s3": "aws s3api get-bucket-policy",
    "kms": "aws kms get-key-policy",
}
# the file-name convention for outputs that do not name their resource: NAME.<suffix>.json
FILE_SUFFIXES = {
    "sqs": ".get-queue-attributes",
    "sns": ".get-topic-attributes",
    "s3": ".get-bucket-policy",
    "kms": ".get-key-policy",
}
_KMS_KEY_ID = re.compile(r"\b(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


def policy_text(value: Any) -> str | None:
    """A policy document (object, JSON text or URL-encoded JSON text) as canonical JSON text."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return value  # kept as given: the evaluator reports it as unreadable
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def statements(document: str | None) -> list[dict]:
    """The statements of a policy document (a single statement object becomes a list of one)."""
    try:
        doc = json.loads(document) if document else {}
    except json.JSONDecodeError:
        return []
    found = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(found, dict):
        return [found]
    return [s for s in found or [] if isinstance(s, dict)]


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


# --- get-account-authorization-details -------------------------------------------------

def _default_document(policy: dict) -> Any:
    versions = policy.get("PolicyVersionList") or []
    chosen = next((v for v in versions if v.get("IsDefaultVersion")), None)
    chosen = chosen or next((v for v in versions if v.get("VersionId") == policy.get("DefaultVersionId")), None)
    return (chosen or {}).get("Document"), (chosen or {}).get("VersionId")


def normalise_authorization_details(doc: dict) -> Rows:
    """Roles, and the policy documents the roles use (inline, managed, boundary).

    Managed policies that no role of the output uses are left out: the tool looks at task
    and execution roles, and an unfiltered call lists every AWS managed policy."""
    managed = {p.get("Arn"): p for p in doc.get("Policies") or [] if p.get("Arn")}
    roles, policies = [], []
    used: dict[str, str] = {}  # managed policy ARN -> how a role uses it
    for role in doc.get("RoleDetailList") or []:
        arn = role.get("Arn")
        boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
        attached = [a.get("PolicyArn") for a in role.get("AttachedManagedPolicies") or [] if a.get("PolicyArn")]
        inline = role.get("RolePolicyList") or []
        roles.append({
            "role_arn": arn,
            "role_name": role.get("RoleName"),
            "role_id": role.get("RoleId"),
            "path": role.get("Path"),
            "trust_policy": policy_text(role.get("AssumeRolePolicyDocument")),
            "permissions_boundary_arn": boundary,
            "managed_policy_arns": sorted(attached),
            "inline_policy_names": sorted(p.get("PolicyName") for p in inline if p.get("PolicyName")),
        })
        for p in inline:
            policies.append({"policy_arn": None, "policy_name": p.get("PolicyName"), "policy_type": "inline",
                             "role_arn": arn, "version_id": None, "document": policy_text(p.get("PolicyDocument"))})
        for policy_arn in attached:
            used.setdefault(policy_arn, "managed")
        if boundary:
            used[boundary] = "boundary" if used.get(boundary) != "managed" else "managed"
    for policy_arn in sorted(used):
        p = managed.get(policy_arn)
        if p is None:
            continue  # not in this output (e.g. a --filter that left AWS managed policies out)
        document, version = _default_document(p)
        policies.append({"policy_arn": policy_arn, "policy_name": p.get("PolicyName"), "policy_type": "managed",
                         "role_arn": None, "version_id": version, "document": policy_text(document)})
    return {"iam_roles": roles, "iam_policies": policies}


# --- resource policies -----------------------------------------------------------------

def _policy_resources(document: str | None) -> list[str]:
    return sorted({r for s in statements(document) for r in _as_list(s.get("Resource")) if isinstance(r, str)})


def _arn_parts(arn: str) -> list[str]:
    return arn.split(":", 5) if arn.startswith("arn:") else []


def _single_arn(document: str | None, service: str) -> str | None:
    """The one ARN of ``service`` the policy's statements name (S3: the bucket), else None."""
    found = set()
    for r in _policy_resources(document):
        parts = _arn_parts(r)
        if len(parts) != 6 or parts[2] != service:
            continue
        resource = parts[5].split("/", 1)[0] if service == "s3" else parts[5]
        if "*" not in resource:
            found.add(":".join(parts[:5] + [resource]))
    return found.pop() if len(found) == 1 else None


def _name_of(arn: str | None, resource_type: str) -> str | None:
    if not arn:
        return None
    last = arn.split(":", 5)[-1]
    if resource_type == "secretsmanager":
        return last.split(":", 1)[-1]
    if resource_type == "kms":
        return last.split("/", 1)[-1]
    return last


def resource_policy_row(resource_type: str, document: Any, arn: str | None, name: str | None,
                        policy_name: str | None = None) -> dict:
    text = policy_text(document)
    arn = arn or _single_arn(text, resource_type)
    return {"resource_arn": arn, "resource_type": resource_type, "resource_name": name or _name_of(arn, resource_type),
            "policy_name": policy_name, "policy_document": text}


def resource_policy_kind(output: dict) -> str | None:
    """Which resource-policy command printed ``output`` (None: not one of them)."""
    if "ResourcePolicy" in output or (set(output) <= {"ARN", "Name"} and ":secretsmanager:" in str(output.get("ARN"))):
        return "secretsmanager"
    attrs = output.get("Attributes")
    if isinstance(attrs, dict) and set(output) <= {"Attributes"}:
        if "TopicArn" in attrs or "SubscriptionsConfirmed" in attrs:
            return "sns"
        if "QueueArn" in attrs or "Policy" in attrs:
            arns = " ".join(_policy_resources(policy_text(attrs.get("Policy"))))
            return "sns" if ":sns:" in arns and ":sqs:" not in arns else "sqs"
        return None
    if isinstance(output.get("Policy"), (str, dict)) and set(output) <= {"Policy", "PolicyName"}:
        if "PolicyName" in output:
            return "kms"
        text = policy_text(output["Policy"])
        if any(r.startswith("arn:aws") and ":s3:::" in r for r in _policy_resources(text)):
            return "s3"
        actions = {a.lower() for s in statements(text) for a in _as_list(s.get("Action"))
                   if isinstance(a, str)}
        return "kms" if actions and all(a.startswith("kms:") for a in actions) else None
    return None


def name_from_file(resource_type: str, file_name: str) -> str | None:
    """The resource named by the file-name convention (``NAME.get-bucket-policy.json``; KMS: a key id anywhere)."""
    if resource_type == "kms":
        ids = _KMS_KEY_ID.findall(file_name)
        if len(set(ids)) == 1:
            return ids[0]
    stem = file_name.rsplit("/", 1)[-1]
    for ext in (".json", ".jsonl", ".ndjson"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    suffix = FILE_SUFFIXES.get(resource_type)
    if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
        return stem[: -len(suffix)]
    return None


def normalise_resource_policy(output: dict, resource_type: str, context: dict) -> Rows:
    arn, name = context.get("resource_arn"), context.get("resource_name")
    if resource_type == "secretsmanager":
        row = resource_policy_row("secretsmanager", output.get("ResourcePolicy"), output.get("ARN") or arn,
                                  output.get("Name") or name)
    elif resource_type in ("sqs", "sns"):
        attrs = output.get("Attributes") or {}
        own = attrs.get("QueueArn") if resource_type == "sqs" else attrs.get("TopicArn")
        row = resource_policy_row(resource_type, attrs.get("Policy"), own or arn, name)
    else:
        row = resource_policy_row(resource_type, output.get("Policy"), arn, name, output.get("PolicyName"))
    return {"resource_policies": [row] if row["policy_document"] else []}


# --- CloudTrail configuration ----------------------------------------------------------

def normalise_trails(doc: dict) -> Rows:
    rows = []
    for t in doc.get("trailList") or []:
        rows.append({
            "trail_arn": t.get("TrailARN"),
            "name": t.get("Name"),
            "home_region": t.get("HomeRegion"),
            "s3_bucket_name": t.get("S3BucketName"),
            "s3_key_prefix": t.get("S3KeyPrefix"),
            "is_multi_region": t.get("IsMultiRegionTrail"),
            "is_organization_trail": t.get("IsOrganizationTrail"),
            "include_global_service_events": t.get("IncludeGlobalServiceEvents"),
            "cloudwatch_logs_log_group_arn": t.get("CloudWatchLogsLogGroupArn"),
            "has_custom_event_selectors": t.get("HasCustomEventSelectors"),
        })
    return {"trails": rows}


def _field(selector: dict, name: str) -> list[str] | None:
    for f in selector.get("FieldSelectors") or []:
        if f.get("Field") == name:
            return list(f.get("Equals") or []) + list(f.get("StartsWith") or [])
    return None


def normalise_event_selectors(output: dict) -> Rows:
    """What a trail logs: management events, the data-event resource types, network activity sources."""
    management, read_write, data_types, network = False, None, set(), set()
    for s in output.get("EventSelectors") or []:
        if s.get("IncludeManagementEvents", True):
            management, read_write = True, s.get("ReadWriteType") or "All"
        for r in s.get("DataResources") or []:
            if r.get("Type"):
                data_types.add(r["Type"])
    for s in output.get("AdvancedEventSelectors") or []:
        category = [c.lower() for c in _field(s, "eventCategory") or []]
        if "management" in category:
            management, read_write = True, read_write or "All"
        if "data" in category:
            data_types.update(_field(s, "resources.type") or [])
        if "networkactivity" in category:
            network.update(_field(s, "eventSource") or [])
    return {"trail_event_selectors": [{
        "trail_arn": output.get("TrailARN"),
        "management_events": management,
        "read_write_type": read_write,
        "data_resource_types": sorted(data_types),
        "network_activity_sources": sorted(network),
        "selectors": json.dumps({k: output[k] for k in ("EventSelectors", "AdvancedEventSelectors") if output.get(k)},
                                sort_keys=True),
    }]}
