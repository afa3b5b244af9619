"""The network configuration as AWS evaluates it: security groups, network ACLs, routes.

Loaded from the metadata tables (the latest snapshot of each resource) and evaluated
the way the VPC does: security groups are stateful allow-lists (any rule of any group
on the ENI allows), network ACLs are stateless and ordered (lowest rule number that
matches decides; ``*``/32767 denies), routes pick the longest matching prefix
(prefix-list routes of gateway endpoints included; blackhole routes drop).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

PROTOCOL_NAMES = {-1: "all", 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}


def proto_name(protocol: int | None) -> str:
    return PROTOCOL_NAMES.get(protocol, str(protocol))


def _net(cidr: str | None):
    try:
        return ipaddress.ip_network(cidr, strict=False) if cidr else None
    except ValueError:
        return None


def _contains(cidr: str | None, addr: str) -> bool:
    net = _net(cidr)
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return net is not None and ip.version == net.version and ip in net


def _port_match(rule_from, rule_to, protocol: int, port: int | None) -> bool:
    if protocol not in (6, 17) or port is None or rule_from is None or rule_to is None:
        return True
    if rule_from == -1 and rule_to == -1:
        return True
    return rule_from <= port <= rule_to


@dataclass
class Verdict:
    """What the configuration says about one hop: allowed or not, and because of what."""

    allowed: bool
    resource: str | None
    rule: str | None
    explanation: str


@dataclass
class Network:
    """Current configuration, from the metadata tables (rows as dicts)."""

    interfaces: dict = field(default_factory=dict)  # eni_id -> row
    by_ip: dict = field(default_factory=dict)  # private ip -> eni row
    groups: dict = field(default_factory=dict)  # group_id -> row
    rules: list = field(default_factory=list)  # security_group_rules rows
    acl_entries: list = field(default_factory=list)  # network_acls rows
    routes: list = field(default_factory=list)  # route_tables rows
    prefix_lists: dict = field(default_factory=dict)  # pl id -> [cidr]
    subnets: dict = field(default_factory=dict)
    endpoints: dict = field(default_factory=dict)
    nat_gateways: dict = field(default_factory=dict)
    vpcs: dict = field(default_factory=dict)  # vpc_id -> row (dhcp_options_id)
    dns_attributes: dict = field(default_factory=dict)  # (vpc_id, 'enableDnsSupport'|'enableDnsHostnames') -> bool
    dhcp_options: dict = field(default_factory=dict)  # dhcp_options_id -> row
    zones: list = field(default_factory=list)  # hosted_zone_vpcs rows: private zones associated with VPCs
    records: dict = field(default_factory=dict)  # hosted_zone_id -> {record name}
    query_logged: set = field(default_factory=set)  # VPC ids whose Resolver queries are logged

    @property
    def known(self) -> bool:
        return bool(self.rules or self.acl_entries or self.routes)

    # -- security groups -------------------------------------------------------
    def _peer_match(self, rule: dict, addr: str, peer_groups: set[str]) -> bool:
        kind, peer = rule["peer_type"], rule["peer"]
        if kind == "security_group":
            return peer in peer_groups
        if kind == "prefix_list":
            return any(_contains(c, addr) for c in self.prefix_lists.get(peer, []))
        return _contains(peer, addr)

    def security_groups_allow(
        self, group_ids: list[str], direction: str, protocol: int, port: int | None, peer_addr: str,
        peer_groups: set[str],
    ) -> Verdict:
        """Does any rule of ``group_ids`` allow this traffic (``direction`` ingress/egress)?"""
        groups = ", ".join(group_ids) or "(no security group)"
        what = f"{proto_name(protocol)}/{port}" if protocol in (6, 17) else proto_name(protocol)
        peer_word = "to" if direction == "egress" else "from"
        for rule in self.rules:
            if rule["group_id"] not in group_ids or rule["direction"] != direction:
                continue
            if rule["protocol"] not in (-1, protocol):
                continue
            if not _port_match(rule["from_port"], rule["to_port"], protocol, port):
                continue
            if self._peer_match(rule, peer_addr, peer_groups):
                return Verdict(True, rule["group_id"], _describe_rule(rule),
                               f"{rule['group_id']} allows {what} {peer_word} {peer_addr} ({_describe_rule(rule)})")
        return Verdict(False, groups, None, f"{groups} has no {direction} rule allowing {what} {peer_word} {peer_addr}")

    # -- network ACLs ----------------------------------------------------------
    def acl_for_subnet(self, subnet_id: str | None) -> str | None:
        vpc = (self.subnets.get(subnet_id) or {}).get("vpc_id")
        default = None
        for entry in self.acl_entries:
            if subnet_id and subnet_id in (entry.get("subnet_ids") or []):
                return entry["network_acl_id"]
            if entry.get("is_default") and entry.get("vpc_id") == vpc:
                default = entry["network_acl_id"]
        return default

    def acl_allows(self, subnet_id: str | None, egress: bool, protocol: int, port: int | None, addr: str) -> Verdict | None:
        """The subnet's network ACL decision for one direction, or None if unknown."""
        acl = self.acl_for_subnet(subnet_id)
        if acl is None:
            return None
        family = ipaddress.ip_address(addr).version
        entries = sorted(
            (e for e in self.acl_entries if e["network_acl_id"] == acl and bool(e["egress"]) == egress),
            key=lambda e: e["rule_number"],
        )
        way = "outbound" if egress else "inbound"
        peer_word = "to" if egress else "from"
        what = f"{proto_name(protocol)} {port}" if protocol in (6, 17) else proto_name(protocol)
        for e in entries:
            cidr = e.get("cidr_block") if family == 4 else e.get("ipv6_cidr_block")
            if not cidr or not _contains(cidr, addr):
                continue
            if e["protocol"] not in (-1, protocol):
                continue
            if not _port_match(e.get("from_port"), e.get("to_port"), protocol, port):
                continue
            number = "*" if e["rule_number"] >= 32767 else str(e["rule_number"])
            allowed = e["rule_action"] == "allow"
            verb = "allows" if allowed else "denies"
            return Verdict(allowed, acl, f"rule {number}",
                           f"{acl} rule {number} {verb} {way} {what} {peer_word} {addr} ({_describe_acl(e)})")
        return Verdict(False, acl, "rule *", f"{acl} has no {way} rule matching {what} {peer_word} {addr} (default deny)")

    # -- routes ----------------------------------------------------------------
    # -- DNS -------------------------------------------------------------------
    def dns_servers(self, vpc_id: str | None) -> list[str] | None:
        """The VPC's DHCP domain-name-servers, or None when its DHCP options are not known."""
        option = self.dhcp_options.get((self.vpcs.get(vpc_id) or {}).get("dhcp_options_id"))
        return None if option is None else list(option.get("domain_name_servers") or [])

    def shadowing_zone(self, vpc_id: str | None, name: str) -> dict | None:
        """The most specific private zone associated with the VPC that holds ``name`` (its suffix), if any."""
        name = name.rstrip(".").lower()
        hits = [z for z in self.zones if z.get("vpc_id") in (vpc_id, None) and z.get("zone_name")
                and (name == z["zone_name"] or name.endswith("." + z["zone_name"]))]
        return max(hits, key=lambda z: len(z["zone_name"]), default=None)

    def route_table_for(self, subnet_id: str | None) -> str | None:
        vpc = (self.subnets.get(subnet_id) or {}).get("vpc_id")
        main = None
        for r in self.routes:
            if subnet_id and subnet_id in (r.get("subnet_ids") or []):
                return r["route_table_id"]
            if r.get("is_main") and r.get("vpc_id") == vpc:
                main = r["route_table_id"]
        return main

    def route(self, subnet_id: str | None, addr: str) -> tuple[str | None, dict | None]:
        """(route table, best route) for ``addr`` from ``subnet_id``; route None = no route."""
        table = self.route_table_for(subnet_id)
        if table is None:
            return None, None
        best, best_len = None, -1
        for r in self.routes:
            if r["route_table_id"] != table or not r.get("destination"):
                continue
            cidrs = self.prefix_lists.get(r["destination"], []) if r["destination_type"] == "prefix_list" else [r["destination"]]
            for cidr in cidrs:
                net = _net(cidr)
                if net is not None and _contains(cidr, addr) and net.prefixlen > best_len:
                    best, best_len = r, net.prefixlen
        return table, best


def _describe_rule(rule: dict) -> str:
    proto = proto_name(rule["protocol"])
    ports = "" if rule["protocol"] == -1 or rule["from_port"] is None else (
        f" {rule['from_port']}" if rule["from_port"] == rule["to_port"] else f" {rule['from_port']}-{rule['to_port']}")
    return f"{rule['direction']} {proto}{ports} {'to' if rule['direction'] == 'egress' else 'from'} {rule['peer']}"


def _describe_acl(e: dict) -> str:
    proto = proto_name(e["protocol"])
    ports = "" if e.get("from_port") is None else f" {e['from_port']}-{e['to_port']}"
    return f"{e['rule_action']} {proto}{ports} {e.get('cidr_block') or e.get('ipv6_cidr_block')}"
