"""``whois``: who owned an address (or an ENI) at a time, with the evidence for the answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pipeline.addresses import canonical_ip, ip_key
from pipeline.times import iso, parse_time
from pipeline.lake.storage import Store

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

_ASSIGNMENT_COLUMNS = (
    "eni_id, ip, task_arn, task_id, service_name, cluster_name, task_definition_arn, container_names, "
    "vpc_id, subnet_id, availability_zone, security_group_ids, valid_from, valid_to, observed_to, truncated, "
    "conflict, source, sources, evidence_count"
)
_EVIDENCE_COLUMNS = "source, source_file, snapshot_time, eni_id, ip, task_arn, service_name, valid_from, valid_to, task_last_status"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not isinstance(v, (bytes, bytearray))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _holds(a: dict, at: datetime | None) -> bool:
    if a.get("conflict"):
        return False
    if at is None:
        return a["valid_to"] is None
    return a["valid_from"] is not None and a["valid_from"] <= at and (a["valid_to"] is None or at <= a["valid_to"])


def _owner(row: dict) -> dict:
    keys = ("owner_kind", "owner_id", "owner_name", "task_arn", "task_id", "service_name", "cluster_name",
            "task_definition_arn", "assignment_valid_from", "assignment_valid_to", "assignment_source",
            "aws_service", "aws_region", "aws_prefix", "eni_id", "vpc_id", "subnet_id")
    return {k: row.get(k) for k in keys}


def _address_evidence(con, ip: str, owner: dict) -> dict:
    key = ip_key(ip)
    evidence: dict[str, Any] = {
        "assignments": _rows(con, f"SELECT {_ASSIGNMENT_COLUMNS} FROM eni_assignments WHERE ip_key = ? "
                                  "ORDER BY valid_from, task_key", [key]),
        "assignment_evidence": _rows(con, f"SELECT {_EVIDENCE_COLUMNS} FROM eni_assignment_evidence "
                                          "WHERE ip_key(ip) = ? ORDER BY valid_from, source, source_file", [key]),
        "network_interfaces": _rows(con, "SELECT eni_id, kind, interface_type, description, resource_id, vpc_id, "
                                         "subnet_id, private_ips, ipv6_addresses, public_ip, status, snapshot_time "
                                         "FROM current_network_interfaces WHERE list_contains(private_ips, ?) "
                                         "OR list_contains(ipv6_addresses, ?) OR public_ip = ? ORDER BY eni_id",
                                    [ip, ip, ip]),
        "aws_ip_ranges": _rows(con, "SELECT prefix, service, region, network_border_group, prefix_length "
                                    "FROM current_aws_ip_ranges WHERE ? BETWEEN range_start AND range_end "
                                    "ORDER BY prefix_length DESC, (service = 'AMAZON'), service", [key]),
        "subnets": _rows(con, "SELECT subnet_id, vpc_id, cidr, availability_zone FROM subnet_cidr_ranges "
                              "WHERE ? BETWEEN range_start AND range_end ORDER BY prefix_length DESC", [key]),
        "vpcs": _rows(con, "SELECT vpc_id, cidr FROM vpc_cidr_ranges WHERE ? BETWEEN range_start AND range_end "
                           "ORDER BY prefix_length DESC", [key]),
    }
    kind, owner_id = owner.get("owner_kind"), owner.get("owner_id")
    if kind == "vpc_endpoint":
        evidence["vpc_endpoint"] = next(iter(_rows(con, "SELECT * EXCLUDE (policy_document) FROM current_vpc_endpoints "
                                                       "WHERE endpoint_id = ?", [owner_id])), None)
    if kind == "nat_gateway":
        evidence["nat_gateway"] = _rows(con, "SELECT * FROM current_nat_gateways WHERE nat_gateway_id = ?", [owner_id])
    if owner.get("task_arn"):
        evidence["ecs_task"] = next(iter(_rows(con, "SELECT * FROM current_ecs_tasks WHERE task_arn = ?",
                                               [owner["task_arn"]])), None)
    return evidence


def _whois_address(con, ip: str, at: datetime | None) -> dict:
    con.execute("DELETE FROM resolve_input")
    con.execute("INSERT INTO resolve_input VALUES (?, ?, NULL)", [ip, at])
    row = _rows(con, "SELECT * FROM resolve")[0]
    owner = _owner(row)
    evidence = _address_evidence(con, ip, owner)
    tasks = {(a["task_arn"] or a["eni_id"]) for a in evidence["assignments"]}
    for a in evidence["assignments"]:
        a["holds_at_time"] = _holds(a, at)
    return {
        "query": ip,
        "address": ip,
        "at": at,
        "owner": owner,
        "tasks_ever_at_address": len(tasks),
        "ambiguous_without_time": len(tasks) > 1,
        "evidence": evidence,
    }


def _whois_eni(con, eni_id: str, at: datetime | None) -> dict:
    interfaces = _rows(con, "SELECT * FROM network_interfaces WHERE eni_id = ? ORDER BY snapshot_time DESC", [eni_id])
    assignments = _rows(con, f"SELECT {_ASSIGNMENT_COLUMNS} FROM eni_assignments WHERE eni_id = ? "
                             "ORDER BY valid_from, ip", [eni_id])
    static = _rows(con, "SELECT * EXCLUDE (ip_key) FROM address_owners WHERE eni_id = ? ORDER BY scope, ip", [eni_id])
    current = interfaces[0] if interfaces else None
    if assignments:
        a = assignments[0]
        owner = {"owner_kind": "ecs_task", "owner_id": a["task_arn"] or eni_id, "owner_name": a["service_name"],
                 "task_arn": a["task_arn"], "task_id": a["task_id"], "service_name": a["service_name"],
                 "cluster_name": a["cluster_name"], "task_definition_arn": a["task_definition_arn"],
                 "assignment_valid_from": min(x["valid_from"] for x in assignments if x["valid_from"]) if any(
                     x["valid_from"] for x in assignments) else None,
                 "assignment_valid_to": None if any(x["valid_to"] is None for x in assignments)
                 else max(x["valid_to"] for x in assignments),
                 "eni_id": eni_id, "vpc_id": a["vpc_id"], "subnet_id": a["subnet_id"]}
    elif static:
        s = static[0]
        owner = {"owner_kind": s["owner_kind"], "owner_id": s["owner_id"], "owner_name": s["owner_name"],
                 "aws_service": s["aws_service"], "eni_id": eni_id, "vpc_id": s["vpc_id"], "subnet_id": s["subnet_id"]}
    elif current:
        owner = {"owner_kind": current["kind"], "owner_id": current["resource_id"] or eni_id,
                 "owner_name": current["description"], "eni_id": eni_id, "vpc_id": current["vpc_id"],
                 "subnet_id": current["subnet_id"]}
    else:
        owner = {"owner_kind": "unknown", "owner_id": None, "eni_id": eni_id}
    addresses = sorted({x["ip"] for x in assignments if x["ip"]} | {s["ip"] for s in static}
                       | set((current or {}).get("private_ips") or []) | set((current or {}).get("ipv6_addresses") or []))
    return {
        "query": eni_id,
        "eni_id": eni_id,
        "at": at,
        "owner": owner,
        "addresses": addresses,
        "evidence": {
            "network_interfaces": [{k: v for k, v in r.items()} for r in interfaces],
            "assignments": assignments,
            "assignment_evidence": _rows(con, f"SELECT {_EVIDENCE_COLUMNS} FROM eni_assignment_evidence "
                                              "WHERE eni_id = ? ORDER BY valid_from, source", [eni_id]),
            "address_owners": static,
            "ecs_task": next(iter(_rows(con, "SELECT * FROM current_ecs_tasks WHERE task_arn = ?",
                                        [owner.get("task_arn")])), None) if owner.get("task_arn") else None,
        },
    }


def whois(store: Store, address_or_eni: str, at: datetime | str | None = None, *,
          con: "duckdb.DuckDBPyConnection | None" = None) -> dict:
    """Who was behind an IP address (or an ENI id) at ``at`` (default: now), with the evidence.

    Returns a JSON-ready dict: ``owner`` (owner_kind: 'ecs_task', 'vpc_endpoint', 'nat_gateway',
    'load_balancer', 'lambda', 'ec2_instance', 'other', 'vpc_internal', 'aws_service',
    'private', 'internet'; with task/service/cluster, endpoint service, AWS service and
    region, VPC and subnet) and ``evidence`` (every assignment of the address and whether it
    holds at ``at``, the raw evidence rows, ENIs, ip-ranges prefixes, subnets, VPCs).
    ``ambiguous_without_time`` says whether a join on the address alone would find several tasks.
    ``con``: a connection on which ``register_views`` already ran (else one is made).
    Raises ``ValueError`` when the query is neither an address nor ``eni-...``.
    """
    import duckdb

    from pipeline.lake.views import lock_down
    from pipeline.metadata.views import register_views

    query = str(address_or_eni).strip()
    at_dt = parse_time(at) if at is not None else None
    is_eni = query.lower().startswith("eni-")
    ip = None if is_eni else canonical_ip(query)
    if not is_eni and ip is None:
        raise ValueError(f"whois: {query!r} is neither an IP address nor an ENI id (eni-...)")
    own = con is None
    if own:
        con = duckdb.connect()
        register_views(con, store)
        lock_down(con, store)
    try:
        result = _whois_eni(con, query, at_dt) if is_eni else _whois_address(con, ip, at_dt)
        if not is_eni and query != ip:
            result["query"] = query
        return _jsonable(result)
    finally:
        if own:
            con.close()
