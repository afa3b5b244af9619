"""EC2 ``describe-*`` outputs as rows of the metadata tables.

Each ``normalise_*`` takes the parsed CLI JSON and returns ``{table: [row, ...]}``.
Rows are plain dicts keyed by the column names of ``schema.SCHEMAS``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.addresses import canonical_ip

Rows = dict[str, list[dict]]

# --- network interfaces -------------------------------------------------------------

_ECS_ATTACHMENT = re.compile(r"^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:attachment/([0-9a-f-]+)$")
_VPCE = re.compile(r"\b(vpce-[0-9a-f]+)\b")
_NAT = re.compile(r"\b(nat-[0-9a-f]+)\b")
_LB_TYPES = {"load_balancer", "network_load_balancer", "gateway_load_balancer"}
_VPCE_TYPES = {"vpc_endpoint", "gateway_load_balancer_endpoint"}
_NAT_TYPES = {"nat_gateway", "natgateway"}


def classify_interface(eni: dict) -> tuple[str, str | None]:
    """(kind, resource_id) of one DescribeNetworkInterfaces entry.

    kind is one of 'fargate_task', 'vpc_endpoint', 'nat_gateway', 'load_balancer',
    'lambda', 'ec2_instance', 'other'; decided from InterfaceType, Description and
    RequesterId, in that order of trust.
    """
    itype = str(eni.get("InterfaceType") or "").lower()
    desc = str(eni.get("Description") or "")
    requester = str(eni.get("RequesterId") or "")
    instance_id = (eni.get("Attachment") or {}).get("InstanceId")
    m = _ECS_ATTACHMENT.match(desc)
    if m:
        return "fargate_task", m.group(1)
    if itype in _VPCE_TYPES or desc.startswith("VPC Endpoint Interface"):
        m = _VPCE.search(desc)
        return "vpc_endpoint", m.group(1) if m else None
    if itype in _NAT_TYPES or desc.startswith("Interface for NAT Gateway"):
        m = _NAT.search(desc)
        return "nat_gateway", m.group(1) if m else None
    if itype in _LB_TYPES or desc.startswith("ELB ") or requester == "amazon-elb":
        return "load_balancer", desc[4:].strip() if desc.startswith("ELB ") else None
    if itype == "lambda" or desc.startswith("AWS Lambda VPC ENI"):
        name = desc[len("AWS Lambda VPC ENI"):].lstrip("-: ").strip() or None
        return "lambda", name
    if instance_id and str(instance_id).startswith("i-") and not eni.get("RequesterManaged"):
        return "ec2_instance", instance_id
    return "other", None


def _ips(values: list | None, key: str) -> list[str]:
    out = []
    for v in values or []:
        ip = canonical_ip(v.get(key) if isinstance(v, dict) else v)
        if ip is not None and ip not in out:
            out.append(ip)
    return out


def _group_ids(groups: list | None) -> list[str]:
    return [g["GroupId"] for g in groups or [] if isinstance(g, dict) and g.get("GroupId")]


def network_interface_row(eni: dict) -> dict:
    kind, resource_id = classify_interface(eni)
    primary = canonical_ip(eni.get("PrivateIpAddress"))
    private_ips = _ips(eni.get("PrivateIpAddresses"), "PrivateIpAddress")
    if primary and primary not in private_ips:
        private_ips.insert(0, primary)
    association = eni.get("Association") or {}
    public_ip = canonical_ip(association.get("PublicIp"))
    if public_ip is None:
        for p in eni.get("PrivateIpAddresses") or []:
            public_ip = canonical_ip((p.get("Association") or {}).get("PublicIp"))
            if public_ip:
                break
    return {
        "eni_id": eni.get("NetworkInterfaceId"),
        "kind": kind,
        "interface_type": eni.get("InterfaceType"),
        "description": eni.get("Description"),
        "requester_id": eni.get("RequesterId"),
        "requester_managed": eni.get("RequesterManaged"),
        "vpc_id": eni.get("VpcId"),
        "subnet_id": eni.get("SubnetId"),
        "availability_zone": eni.get("AvailabilityZone"),
        "private_ip": primary,
        "private_ips": private_ips,
        "ipv6_addresses": _ips(eni.get("Ipv6Addresses"), "Ipv6Address"),
        "public_ip": public_ip,
        "security_group_ids": _group_ids(eni.get("Groups")),
        "resource_id": resource_id,
        "status": eni.get("Status"),
        "instance_id": (eni.get("Attachment") or {}).get("InstanceId"),
        "owner_id": eni.get("OwnerId"),
    }


def normalise_network_interfaces(doc: dict) -> Rows:
    return {"network_interfaces": [network_interface_row(e) for e in doc["NetworkInterfaces"]]}


# --- VPC endpoints -------------------------------------------------------------------

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


def aws_service_of(service_name: str | None) -> str | None:
    """Short AWS service name of an endpoint service: 'com.amazonaws.us-east-1.ecr.dkr' -> 'ecr.dkr'.

    PrivateLink services of other accounts (``com.amazonaws.vpce.<region>.vpce-svc-...``)
    have no AWS service: None.
    """
    if not service_name:
        return None
    parts = service_name.split(".")
    if parts[:2] == ["com", "amazonaws"]:
        parts = parts[2:]
    elif parts[:1] == ["aws"]:
        parts = parts[1:]
    else:
        return None
    if parts[:1] == ["vpce"]:
        return None
    parts = [p for p in parts if not _REGION.match(p)]
    return ".".join(parts) or None


def _policy(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def normalise_vpc_endpoints(doc: dict) -> Rows:
    rows = []
    for ep in doc["VpcEndpoints"]:
        rows.append({
            "endpoint_id": ep.get("VpcEndpointId"),
            "vpc_id": ep.get("VpcId"),
            "service_name": ep.get("ServiceName"),
            "aws_service": aws_service_of(ep.get("ServiceName")),
            "endpoint_type": (ep.get("VpcEndpointType") or "").lower() or None,
            "state": ep.get("State"),
            "private_dns_enabled": ep.get("PrivateDnsEnabled"),
            "subnet_ids": list(ep.get("SubnetIds") or []),
            "network_interface_ids": list(ep.get("NetworkInterfaceIds") or []),
            "security_group_ids": _group_ids(ep.get("Groups")),
            "route_table_ids": list(ep.get("RouteTableIds") or []),
            "policy_document": _policy(ep.get("PolicyDocument")),
            "dns_names": [d["DnsName"] for d in ep.get("DnsEntries") or [] if d.get("DnsName")],
        })
    return {"vpc_endpoints": rows}


# --- NAT gateways: one row per address ------------------------------------------------

def normalise_nat_gateways(doc: dict) -> Rows:
    rows = []
    for nat in doc["NatGateways"]:
        base = {
            "nat_gateway_id": nat.get("NatGatewayId"),
            "vpc_id": nat.get("VpcId"),
            "subnet_id": nat.get("SubnetId"),
            "state": nat.get("State"),
            "connectivity_type": nat.get("ConnectivityType"),
        }
        addresses = nat.get("NatGatewayAddresses") or [{}]
        for a in addresses:
            rows.append({
                **base,
                "eni_id": a.get("NetworkInterfaceId"),
                "private_ip": canonical_ip(a.get("PrivateIp")),
                "public_ip": canonical_ip(a.get("PublicIp")),
            })
    return {"nat_gateways": rows}


# --- subnets and VPCs ----------------------------------------------------------------

def _associated(assocs: list | None, key: str, state_key: str) -> list[str]:
    out = []
    for a in assocs or []:
        state = ((a.get(state_key) or {}).get("State") or "associated").lower()
        if a.get(key) and state in ("associated", "associating") and a[key] not in out:
            out.append(a[key])
    return out


def normalise_subnets(doc: dict) -> Rows:
    return {"subnets": [{
        "subnet_id": s.get("SubnetId"),
        "vpc_id": s.get("VpcId"),
        "cidr_block": s.get("CidrBlock"),
        "ipv6_cidr_blocks": _associated(s.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock", "Ipv6CidrBlockState"),
        "availability_zone": s.get("AvailabilityZone"),
        "availability_zone_id": s.get("AvailabilityZoneId"),
        "map_public_ip_on_launch": s.get("MapPublicIpOnLaunch"),
    } for s in doc["Subnets"]]}


def normalise_vpcs(doc: dict) -> Rows:
    rows = []
    for v in doc["Vpcs"]:
        cidrs = _associated(v.get("CidrBlockAssociationSet"), "CidrBlock", "CidrBlockState")
        if v.get("CidrBlock") and v["CidrBlock"] not in cidrs:
            cidrs.insert(0, v["CidrBlock"])
        rows.append({
            "vpc_id": v.get("VpcId"),
            "cidr_blocks": cidrs,
            "ipv6_cidr_blocks": _associated(v.get("Ipv6CidrBlockAssociationSet"), "Ipv6CidrBlock", "Ipv6CidrBlockState"),
            "is_default": v.get("IsDefault"),
            "dhcp_options_id": v.get("DhcpOptionsId"),
        })
    return {"vpcs": rows}


# --- route tables: one row per route ---------------------------------------------------

# (response key, target_type); the first key present wins, so the NAT instance case
# (InstanceId and NetworkInterfaceId both set) reads as 'network_interface'.
_ROUTE_TARGETS = [
    ("NatGatewayId", "nat_gateway"),
    ("TransitGatewayId", "transit_gateway"),
    ("VpcPeeringConnectionId", "vpc_peering"),
    ("EgressOnlyInternetGatewayId", "egress_only_internet_gateway"),
    ("NetworkInterfaceId", "network_interface"),
    ("InstanceId", "network_interface"),
    ("CarrierGatewayId", "other"),
    ("LocalGatewayId", "other"),
    ("CoreNetworkArn", "other"),
    ("GatewayId", None),  # decided by the id's prefix below
]


def route_target(route: dict) -> tuple[str, str | None]:
    """(target_type, target_id) of one route."""
    for key, kind in _ROUTE_TARGETS:
        value = route.get(key)
        if not value:
            continue
        if kind is not None:
            return kind, value
        if value == "local":
            return "local", "local"
        for prefix, gw_kind in (("igw-", "internet_gateway"), ("vpce-", "vpc_endpoint"),
                                ("vgw-", "virtual_private_gateway"), ("eigw-", "egress_only_internet_gateway"),
                                ("nat-", "nat_gateway"), ("tgw-", "transit_gateway")):
            if value.startswith(prefix):
                return gw_kind, value
        return "other", value
    return "other", None


def route_destination(route: dict) -> tuple[str | None, str | None]:
    if route.get("DestinationPrefixListId"):
        return route["DestinationPrefixListId"], "prefix_list"
    if route.get("DestinationIpv6CidrBlock"):
        return route["DestinationIpv6CidrBlock"], "ipv6"
    if route.get("DestinationCidrBlock"):
        return route["DestinationCidrBlock"], "ipv4"
    return None, None


def normalise_route_tables(doc: dict) -> Rows:
    rows = []
    for rt in doc["RouteTables"]:
        assocs = rt.get("Associations") or []
        base = {
            "route_table_id": rt.get("RouteTableId"),
            "vpc_id": rt.get("VpcId"),
            "is_main": any(bool(a.get("Main")) for a in assocs),
            "subnet_ids": _associated(assocs, "SubnetId", "AssociationState"),
        }
        routes = rt.get("Routes") or []
        if not routes:
            rows.append({**base})
        for r in routes:
            destination, destination_type = route_destination(r)
            target_type, target_id = route_target(r)
            rows.append({
                **base,
                "destination": destination,
                "destination_type": destination_type,
                "target_type": target_type,
                "target_id": target_id,
                "state": (r.get("State") or "active").lower(),
            })
    return {"route_tables": rows}


# --- security groups ----------------------------------------------------------------

_PROTOCOLS = {"-1": -1, "all": -1, "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58,
              "gre": 47, "esp": 50, "ah": 51, "sctp": 132}


def protocol_number(value: Any) -> int | None:
    """IANA number of an EC2 protocol value ('tcp', '6', '-1', 6, ...); -1 means all."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _PROTOCOLS:
        return _PROTOCOLS[text]
    try:
        return int(text)
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _port(value: Any, protocol: int | None) -> int | None:
    if value is None or protocol == -1:
        return None
    value = int(value)
    return None if value == -1 else value


def _rule_rows(group_id: str, direction: str, permissions: list | None) -> list[dict]:
    rows = []
    for p in permissions or []:
        protocol = protocol_number(p.get("IpProtocol"))
        base = {
            "group_id": group_id,
            "direction": direction,
            "protocol": protocol,
            "from_port": _port(p.get("FromPort"), protocol),
            "to_port": _port(p.get("ToPort"), protocol),
        }
        peers = (
            [("cidr_ipv4", r.get("CidrIp"), r.get("Description")) for r in p.get("IpRanges") or []]
            + [("cidr_ipv6", r.get("CidrIpv6"), r.get("Description")) for r in p.get("Ipv6Ranges") or []]
            + [("prefix_list", r.get("PrefixListId"), r.get("Description")) for r in p.get("PrefixListIds") or []]
            + [("security_group", r.get("GroupId"), r.get("Description")) for r in p.get("UserIdGroupPairs") or []]
        )
        for peer_type, peer, description in peers:
            rows.append({**base, "peer_type": peer_type, "peer": peer, "description": description})
    return rows


def normalise_security_groups(doc: dict) -> Rows:
    groups, rules = [], []
    for g in doc["SecurityGroups"]:
        gid = g.get("GroupId")
        groups.append({
            "group_id": gid,
            "group_name": g.get("GroupName"),
            "vpc_id": g.get("VpcId"),
            "description": g.get("Description"),
        })
        rules += _rule_rows(gid, "ingress", g.get("IpPermissions"))
        rules += _rule_rows(gid, "egress", g.get("IpPermissionsEgress"))
    return {"security_groups": groups, "security_group_rules": rules}


# --- network ACLs: one row per entry ---------------------------------------------------

def normalise_network_acls(doc: dict) -> Rows:
    rows = []
    for acl in doc["NetworkAcls"]:
        base = {
            "network_acl_id": acl.get("NetworkAclId"),
            "vpc_id": acl.get("VpcId"),
            "is_default": acl.get("IsDefault"),
            "subnet_ids": [a["SubnetId"] for a in acl.get("Associations") or [] if a.get("SubnetId")],
        }
        entries = acl.get("Entries") or []
        if not entries:
            rows.append({**base})
        for e in entries:
            ports = e.get("PortRange") or {}
            icmp = e.get("IcmpTypeCode") or {}
            rows.append({
                **base,
                "rule_number": as_int(e.get("RuleNumber")),
                "egress": e.get("Egress"),
                "protocol": protocol_number(e.get("Protocol")),
                "rule_action": (e.get("RuleAction") or "").lower() or None,
                "cidr_block": e.get("CidrBlock"),
                "ipv6_cidr_block": e.get("Ipv6CidrBlock"),
                "from_port": as_int(ports.get("From")),
                "to_port": as_int(ports.get("To")),
                "icmp_type": as_int(icmp.get("Type")),
                "icmp_code": as_int(icmp.get("Code")),
            })
    return {"network_acls": rows}


# --- prefix lists and flow logs --------------------------------------------------------

def normalise_managed_prefix_lists(doc: dict) -> Rows:
    return {"prefix_lists": [{
        "prefix_list_id": p.get("PrefixListId"),
        "prefix_list_name": p.get("PrefixListName"),
        "cidr": None,
    } for p in doc["PrefixLists"]]}


def normalise_prefix_list_entries(doc: dict, prefix_list_id: str) -> Rows:
    return {"prefix_lists": [{
        "prefix_list_id": prefix_list_id,
        "prefix_list_name": None,
        "cidr": e.get("Cidr"),
    } for e in doc["Entries"] if e.get("Cidr")]}


def normalise_flow_logs(doc: dict) -> Rows:
    return {"flow_logs": [{
        "flow_log_id": f.get("FlowLogId"),
        "resource_id": f.get("ResourceId"),
        "log_format": f.get("LogFormat"),
        "destination_type": f.get("LogDestinationType"),
        "destination": f.get("LogDestination"),
        "log_group_name": f.get("LogGroupName"),
        "max_aggregation_interval": as_int(f.get("MaxAggregationInterval")),
        "traffic_type": f.get("TrafficType"),
        "flow_log_status": f.get("FlowLogStatus"),
    } for f in doc["FlowLogs"]]}
