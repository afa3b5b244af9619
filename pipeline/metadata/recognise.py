"""Which AWS CLI output is this JSON document? Decided by content, never by file name.

The exceptions are outputs that do not name their resource: ``aws ec2
get-managed-prefix-list-entries`` (``{"Entries": [...]}``; the prefix-list id is taken
from the file name, ``...pl-0123abcd...``), and a resource policy whose output and
policy do not name the resource (``NAME.get-bucket-policy.json``,
``NAME.get-queue-attributes.json``, ``NAME.get-topic-attributes.json``, a KMS key id
anywhere in a ``get-key-policy`` file's name).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.metadata import iam
from pipeline.metadata.dns import is_vpc_attribute

# kind -> (top-level key that identifies it, the command that prints it)
KINDS: dict[str, tuple[str, str]] = {
    "ec2_network_interfaces": ("NetworkInterfaces", "aws ec2 describe-network-interfaces"),
    "ec2_vpc_endpoints": ("VpcEndpoints", "aws ec2 describe-vpc-endpoints"),
    "ec2_nat_gateways": ("NatGateways", "aws ec2 describe-nat-gateways"),
    "ec2_subnets": ("Subnets", "aws ec2 describe-subnets"),
    "ec2_vpcs": ("Vpcs", "aws ec2 describe-vpcs"),
    "ec2_route_tables": ("RouteTables", "aws ec2 describe-route-tables"),
    "ec2_security_groups": ("SecurityGroups", "aws ec2 describe-security-groups"),
    "ec2_network_acls": ("NetworkAcls", "aws ec2 describe-network-acls"),
    "ec2_flow_logs": ("FlowLogs", "aws ec2 describe-flow-logs"),
    "ec2_managed_prefix_lists": ("PrefixLists", "aws ec2 describe-managed-prefix-lists"),
    "ec2_prefix_list_entries": ("Entries", "aws ec2 get-managed-prefix-list-entries (pl-id in the file name)"),
    "ec2_dhcp_options": ("DhcpOptions", "aws ec2 describe-dhcp-options"),
    "route53_hosted_zones_by_vpc": ("HostedZoneSummaries", "aws route53 list-hosted-zones-by-vpc (vpc-id in the file name)"),
    "route53_record_sets": ("ResourceRecordSets", "aws route53 list-resource-record-sets (zone id in the file name)"),
    "resolver_query_log_configs": ("ResolverQueryLogConfigs", "aws route53resolver list-resolver-query-log-configs"),
    "resolver_query_log_associations": ("ResolverQueryLogConfigAssociations",
                                        "aws route53resolver list-resolver-query-log-config-associations"),
    "ecs_tasks": ("tasks", "aws ecs describe-tasks"),
    "ecs_services": ("services", "aws ecs describe-services"),
    "ecs_clusters": ("clusters", "aws ecs describe-clusters --include CONFIGURATIONS"),
    "iam_authorization_details": ("RoleDetailList", "aws iam get-account-authorization-details"),
    "cloudtrail_trails": ("trailList", "aws cloudtrail describe-trails"),
}
# outputs that are one object rather than a list under a key
TASK_DEFINITION = "ecs_task_definition"
EVENT_SELECTORS = "cloudtrail_event_selectors"
RESOURCE_POLICY = "resource_policy"
IP_RANGES = "aws_ip_ranges"
VPC_ATTRIBUTE = "ec2_vpc_attribute"
TASK_DEFINITION = "ecs_task_definition"
ECS_EVENTS = "ecs_events"

EXPECTED = (
    "the JSON printed by one of: "
    + "; ".join(f'{cmd} ({{"{key}": [...]}})' for key, cmd in KINDS.values())
    + '; EventBridge "ECS Task State Change" events (one JSON object per line, or a JSON array)'
    + '; aws ecs describe-task-definition ({"taskDefinition": {...}}, or a JSON array of such outputs)'
    + '; aws ec2 describe-vpc-attribute ({"VpcId", "EnableDnsSupport"|"EnableDnsHostnames"})'
    + '; AWS ip-ranges.json ({"syncToken", "prefixes", "ipv6_prefixes"})'
    + '; aws ecs describe-task-definition ({"taskDefinition": {...}})'
    + '; aws cloudtrail get-event-selectors ({"TrailARN", "EventSelectors"|"AdvancedEventSelectors"})'
    + "; a resource policy: " + ", ".join(iam.RESOURCE_COMMANDS.values())
    + " (several outputs of one command: a JSON array or JSON lines)"
)

PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")
VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")
# Route 53 zone ids: upper-case letters and digits (``Z0123456789ABC``), both present
HOSTED_ZONE_ID = re.compile(r"(?<![A-Za-z0-9])(?=[0-9A-Z]*[A-Z])(?=[0-9A-Z]*[0-9])[0-9A-Z]{10,32}(?![A-Za-z0-9])")
# kind -> (context key, pattern, what it names, example file name): outputs whose JSON does not say what they list
NAMED_BY_FILE = {
    "ec2_prefix_list_entries": ("prefix_list_id", PREFIX_LIST_ID, "prefix-list", "prefix-list-entries-pl-63a5400a.json"),
    "route53_hosted_zones_by_vpc": ("vpc_id", VPC_ID, "VPC", "hosted-zones-by-vpc-vpc-0a1b2c3d4e5f60001.json"),
    "route53_record_sets": ("hosted_zone_id", HOSTED_ZONE_ID, "hosted zone", "record-sets-Z0123456789ABCDEFGHIJ.json"),
}


@dataclass(frozen=True)
class Document:
    """One recognised document, ready to be normalised into rows."""

    kind: str
    payload: Any
    source: str
    digest: str
    observed_at: datetime | None = None
    context: dict = field(default_factory=dict)


def _digest(data: bytes, context: dict) -> str:
    h = hashlib.sha256(data)
    for key in sorted(context):
        h.update(f"\0{key}={context[key]}".encode())
    return h.hexdigest()


def canonical_bytes(payload: Any) -> bytes:
    """Deterministic JSON bytes of a payload (for hashing documents built in memory)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def parse_json_or_lines(data: bytes, name: str) -> Any:
    """One JSON value, or a list of the JSON values on the non-empty lines."""
    text = data.decode("utf-8-sig")
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole_error:
        values = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(
                    f"{name}: not JSON ({whole_error.msg} at line {whole_error.lineno}) "
                    f"and not JSON lines (line {number} is not JSON); expected {EXPECTED}"
                ) from None
        if not values:
            raise ValueError(f"{name}: empty file; expected {EXPECTED}") from None
        return values


def _is_event(value: Any) -> bool:
    return isinstance(value, dict) and "detail-type" in value and "detail" in value


def recognise(payload: Any, name: str, context: dict | None = None) -> tuple[str, Any, dict]:
    """(kind, payload, context) of a parsed document; ``ValueError`` naming ``name`` if unknown.

    A JSON array (or JSON lines) is EventBridge events, or several outputs of one command:
    then the payload is the list of outputs."""
    if isinstance(payload, list):
        if payload and all(_is_event(v) for v in payload):
            return ECS_EVENTS, payload, {}
        if payload and all(isinstance(v, dict) for v in payload):
            found = [_recognise_one(v, f"{name} (item {i})", context) for i, v in enumerate(payload, 1)]
            if len({(k, json.dumps(c, sort_keys=True)) for k, _, c in found}) == 1:
                return found[0][0], [p for _, p, _ in found], found[0][2]
        raise ValueError(
            f"{name}: a JSON array/lines that are not all EventBridge events "
            f"(objects with 'detail-type' and 'detail') nor all outputs of one command; expected {EXPECTED}"
        )
    return _recognise_one(payload, name, context)


def _resource_policy_context(payload: dict, resource_type: str, name: str, given: dict) -> dict:
    """Which resource the policy belongs to when the output does not say (the file-name convention)."""
    row = iam.normalise_resource_policy(payload, resource_type, given)["resource_policies"]
    if not row or row[0]["resource_arn"] or row[0]["resource_name"]:
        return {"resource_type": resource_type}
    named = iam.name_from_file(resource_type, Path(name).name)
    if named is None:
        suffix = iam.FILE_SUFFIXES.get(resource_type, "")
        raise ValueError(
            f"{name}: looks like '{iam.RESOURCE_COMMANDS[resource_type]}' output, which does not say which "
            f"resource the policy belongs to; name the file after it, e.g. 'NAME{suffix}.json'"
            + (" (or put the key id in the name)" if resource_type == "kms" else "")
        )
    return {"resource_type": resource_type, "resource_name": named}


def _recognise_one(payload: Any, name: str, given: dict | None = None) -> tuple[str, Any, dict]:
    if not isinstance(payload, dict):
        raise ValueError(f"{name}: top-level JSON is a {type(payload).__name__}; expected {EXPECTED}")
    if _is_event(payload):
        return ECS_EVENTS, [payload], {}
    if isinstance(payload.get("taskDefinition"), dict):
        return TASK_DEFINITION, payload, {}
    if is_vpc_attribute(payload):
        return VPC_ATTRIBUTE, payload, {}
    if "syncToken" in payload and ("prefixes" in payload or "ipv6_prefixes" in payload):
        return IP_RANGES, payload, {}
    if isinstance(payload.get("taskDefinition"), dict):
        return TASK_DEFINITION, payload, {}
    if "TrailARN" in payload and ("EventSelectors" in payload or "AdvancedEventSelectors" in payload):
        return EVENT_SELECTORS, payload, {}
    resource_type = iam.resource_policy_kind(payload)
    if resource_type:
        return RESOURCE_POLICY, payload, _resource_policy_context(payload, resource_type, name, given or {})
    found = [kind for kind, (key, _) in KINDS.items() if isinstance(payload.get(key), list)]
    if len(found) > 1:
        raise ValueError(
            f"{name}: ambiguous, holds the keys of several outputs ({', '.join(KINDS[k][0] for k in found)}); "
            "save each command's output to its own file"
        )
    if not found:
        keys = ", ".join(sorted(map(str, payload))[:12]) or "none"
        raise ValueError(f"{name}: not a recognised AWS CLI output (top-level keys: {keys}); expected {EXPECTED}")
    kind = found[0]
    context: dict = {}
    if kind in NAMED_BY_FILE:
        key, pattern, label, example = NAMED_BY_FILE[kind]
        named = (given or {}).get(key)
        ids = [named] if named else sorted(set(pattern.findall(Path(name).name)))
        if not ids and kind == "route53_hosted_zones_by_vpc":
            ids = [None]  # a VPC the file does not name: the zones are taken to apply to every VPC
        if len(ids) != 1:
            raise ValueError(
                f"{name}: looks like '{KINDS[kind][1].split(' (')[0]}' output, whose JSON does not "
                f"say which {label} it lists; put the {label} id in the file name, "
                f"e.g. '{example}' (found {len(ids)} ids in the name)"
            )
        context[key] = ids[0]
    return kind, payload, context


def load_file(path: str | os.PathLike, observed_at: datetime | None = None) -> Document:
    """Read, parse and recognise one file. ``observed_at`` defaults to the file's mtime."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ValueError(f"{p}: cannot read ({e.strerror or e})") from None
    payload = parse_json_or_lines(data, str(p))
    kind, payload, context = recognise(payload, str(p))
    if observed_at is None:
        observed_at = datetime.fromtimestamp(p.stat().st_mtime, tz=timezone.utc)
    return Document(kind, payload, p.name, _digest(data, context), observed_at, context)


def make_document(payload: Any, source: str, observed_at: datetime, context: dict | None = None) -> Document:
    """A document built in memory (from API responses); its digest covers the content and the time."""
    kind, payload, ctx = recognise(payload, source, context)
    ctx = {**ctx, **(context or {})}
    digest = _digest(canonical_bytes(payload), {**ctx, "observed_at": observed_at.isoformat()})
    return Document(kind, payload, source, digest, observed_at, ctx)
