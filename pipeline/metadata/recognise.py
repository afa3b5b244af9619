"""Which AWS CLI output is this JSON document? Decided by content, never by file name.

The one exception is ``aws ec2 get-managed-prefix-list-entries``: its output
(``{"Entries": [...]}``) does not contain the prefix-list id, so the id is taken from
the file name (``...pl-0123abcd...``).
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
    "ecs_tasks": ("tasks", "aws ecs describe-tasks"),
    "ecs_services": ("services", "aws ecs describe-services"),
}
IP_RANGES = "aws_ip_ranges"
ECS_EVENTS = "ecs_events"

EXPECTED = (
    "the JSON printed by one of: "
    + "; ".join(f'{cmd} ({{"{key}": [...]}})' for key, cmd in KINDS.values())
    + '; EventBridge "ECS Task State Change" events (one JSON object per line, or a JSON array)'
    + '; AWS ip-ranges.json ({"syncToken", "prefixes", "ipv6_prefixes"})'
)

PREFIX_LIST_ID = re.compile(r"pl-[0-9a-f]{8,17}")


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


def recognise(payload: Any, name: str) -> tuple[str, Any, dict]:
    """(kind, payload, context) of a parsed document; ``ValueError`` naming ``name`` if unknown."""
    if isinstance(payload, list):
        if payload and all(_is_event(v) for v in payload):
            return ECS_EVENTS, payload, {}
        raise ValueError(
            f"{name}: a JSON array/lines that are not all EventBridge events "
            f"(objects with 'detail-type' and 'detail'); expected {EXPECTED}"
        )
    if not isinstance(payload, dict):
        raise ValueError(f"{name}: top-level JSON is a {type(payload).__name__}; expected {EXPECTED}")
    if _is_event(payload):
        return ECS_EVENTS, [payload], {}
    if "syncToken" in payload and ("prefixes" in payload or "ipv6_prefixes" in payload):
        return IP_RANGES, payload, {}
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
    if kind == "ec2_prefix_list_entries":
        ids = sorted(set(PREFIX_LIST_ID.findall(Path(name).name)))
        if len(ids) != 1:
            raise ValueError(
                f"{name}: looks like 'aws ec2 get-managed-prefix-list-entries' output, whose JSON does not "
                "say which prefix list it lists; put the prefix-list id in the file name, e.g. "
                f"'prefix-list-entries-pl-63a5400a.json' (found {len(ids)} ids in the name)"
            )
        context["prefix_list_id"] = ids[0]
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
    kind, payload, ctx = recognise(payload, source)
    ctx = {**ctx, **(context or {})}
    digest = _digest(canonical_bytes(payload), {**ctx, "observed_at": observed_at.isoformat()})
    return Document(kind, payload, source, digest, observed_at, ctx)
