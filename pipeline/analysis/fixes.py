"""Fixes that open exactly what failed: one configuration change per confirmed cause.

A change opens the failing conversations' protocol and ports to their peers and nothing
else: a security group rule for the destination's group (a reference) or its addresses, a
network ACL allow entry for the peers' addresses with a free rule number just below the
deny (the deny stays for everyone else), a route to the NAT gateway of the task's own AZ.
Each change is a plain value: :mod:`pipeline.analysis.proof` applies it to a copy of the
configuration, and it renders as the AWS CLI command (``fix``), a Terraform or a
CloudFormation change description (resource, attribute, old → new).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pipeline.analysis.network import Network, Verdict, proto_name

EPHEMERAL = (1024, 65535)
FIX_FORMATS = ("cli", "terraform", "cloudformation")
#: The highest rule number an entry may have (32767 is the default ``*`` entry).
LAST_RULE = 32766


def host_cidr(addr: str) -> str:
    """``addr`` as a one-address CIDR (/32 or /128)."""
    return str(ipaddress.ip_network(addr))


def exact_cidrs(hosts: list) -> list[str]:
    """The fewest CIDRs holding exactly ``hosts`` (10.0.2.20 and .21 are 10.0.2.20/31): fewer rule numbers,
    not one address more."""
    out = []
    for version in (4, 6):
        out += [str(n) for n in ipaddress.collapse_addresses(h for h in hosts if h.version == version)]
    return out


def _ports(protocol: int, ports: tuple[int, int] | None) -> tuple[int, int] | None:
    return ports if protocol in (6, 17) else None


@dataclass(frozen=True)
class SecurityGroupRule:
    """Add one rule to a security group: ``protocol``/``ports`` to or from each of ``peers``
    (security group ids or one-address CIDRs)."""

    group_id: str
    direction: str  # ingress | egress
    protocol: int
    ports: tuple[int, int] | None
    peers: tuple[str, ...]

    def rows(self) -> list[dict]:
        """The rules as the ``security_group_rules`` table holds them."""
        out = []
        for peer in self.peers:
            kind = "security_group" if peer.startswith("sg-") else (
                "cidr_ipv6" if ":" in peer else "cidr_ipv4")
            out.append({"group_id": self.group_id, "direction": self.direction, "protocol": self.protocol,
                        "from_port": self.ports[0] if self.ports else None,
                        "to_port": self.ports[1] if self.ports else None, "peer_type": kind, "peer": peer,
                        "description": "flowlogs fix"})
        return out

    def cli(self) -> str:
        ports = f",FromPort={self.ports[0]},ToPort={self.ports[1]}" if self.ports else ",FromPort=-1,ToPort=-1"
        groups = [p for p in self.peers if p.startswith("sg-")]
        v4 = [p for p in self.peers if not p.startswith("sg-") and ":" not in p]
        v6 = [p for p in self.peers if ":" in p]
        peers = ",".join(part for part in (
            "UserIdGroupPairs=[" + ",".join(f"{{GroupId={g}}}" for g in groups) + "]" if groups else "",
            "IpRanges=[" + ",".join(f"{{CidrIp={c}}}" for c in v4) + "]" if v4 else "",
            "Ipv6Ranges=[" + ",".join(f"{{CidrIpv6={c}}}" for c in v6) + "]" if v6 else "") if part)
        proto = proto_name(self.protocol) if self.protocol in (1, 6, 17) else str(self.protocol)
        return (f"aws ec2 authorize-security-group-{self.direction} --group-id {self.group_id} "
                f"--ip-permissions 'IpProtocol={proto}{ports},{peers}'")

    def terraform(self) -> str:
        kind = f"aws_vpc_security_group_{self.direction}_rule"
        lines = []
        for peer in self.peers:
            attr = ("referenced_security_group_id" if peer.startswith("sg-") else
                    "cidr_ipv6" if ":" in peer else "cidr_ipv4")
            ports = (f", from_port = {self.ports[0]}, to_port = {self.ports[1]}" if self.ports else "")
            lines.append(f'{kind} (new, for {self.group_id}): (none) → {{ security_group_id = "{self.group_id}", '
                         f'ip_protocol = "{_tf_proto(self.protocol)}"{ports}, {attr} = "{peer}" }}')
        return "\n".join(lines)

    def cloudformation(self) -> str:
        kind = "AWS::EC2::SecurityGroupIngress" if self.direction == "ingress" else "AWS::EC2::SecurityGroupEgress"
        lines = []
        for peer in self.peers:
            if peer.startswith("sg-"):
                attr = "SourceSecurityGroupId" if self.direction == "ingress" else "DestinationSecurityGroupId"
            else:
                attr = ("CidrIpv6" if ":" in peer else "CidrIp")
            ports = (f", FromPort: {self.ports[0]}, ToPort: {self.ports[1]}" if self.ports else
                     ", FromPort: -1, ToPort: -1")
            lines.append(f"{kind} (new resource): (none) → {{ GroupId: {self.group_id}, "
                         f"IpProtocol: {_tf_proto(self.protocol)}{ports}, {attr}: {peer} }}")
        return "\n".join(lines)

    def scope(self) -> dict:
        return _scope(self.protocol, self.ports, self.peers)


@dataclass(frozen=True)
class AclEntries:
    """Add allow entries to a network ACL, one per peer CIDR, numbered ``rule_numbers`` (each below the
    deny that decided, so that deny still applies to every other address)."""

    acl_id: str
    egress: bool
    protocol: int
    ports: tuple[int, int] | None
    peers: tuple[str, ...]
    rule_numbers: tuple[int, ...]
    before: str  # the rule they go in front of: "rule 90" or "rule *"

    def rows(self, template: dict) -> list[dict]:
        """The entries as the ``network_acls`` table holds them (``template``: an entry of the same ACL)."""
        return [{**template, "rule_number": n, "egress": self.egress, "protocol": self.protocol, "rule_action": "allow",
                 "cidr_block": None if ":" in peer else peer, "ipv6_cidr_block": peer if ":" in peer else None,
                 "from_port": self.ports[0] if self.ports else None, "to_port": self.ports[1] if self.ports else None,
                 "icmp_type": None, "icmp_code": None}
                for n, peer in zip(self.rule_numbers, self.peers)]

    def cli(self) -> str:
        way = "--egress" if self.egress else "--ingress"
        ports = f" --port-range From={self.ports[0]},To={self.ports[1]}" if self.ports else ""
        return " && ".join(
            f"aws ec2 create-network-acl-entry --network-acl-id {self.acl_id} --rule-number {n} {way} "
            f"--protocol {self.protocol}{ports} --{'ipv6-cidr-block' if ':' in peer else 'cidr-block'} {peer} "
            "--rule-action allow"
            for n, peer in zip(self.rule_numbers, self.peers))

    def terraform(self) -> str:
        block = "egress" if self.egress else "ingress"
        ports = (f", from_port = {self.ports[0]}, to_port = {self.ports[1]}" if self.ports else
                 ", from_port = 0, to_port = 0")
        return "\n".join(
            f'aws_network_acl ({self.acl_id}): {block} rule_no {n}: (none) → {{ rule_no = {n}, action = "allow", '
            f'protocol = "{_tf_proto(self.protocol)}"{ports}, {"ipv6_cidr_block" if ":" in peer else "cidr_block"} = '
            f'"{peer}" }} (in front of {self.before}, which stays)'
            for n, peer in zip(self.rule_numbers, self.peers))

    def cloudformation(self) -> str:
        ports = f", PortRange: {{ From: {self.ports[0]}, To: {self.ports[1]} }}" if self.ports else ""
        return "\n".join(
            f"AWS::EC2::NetworkAclEntry (new resource): (none) → {{ NetworkAclId: {self.acl_id}, RuleNumber: {n}, "
            f"Egress: {str(self.egress).lower()}, Protocol: {self.protocol}, RuleAction: allow, "
            f"{'Ipv6CidrBlock' if ':' in peer else 'CidrBlock'}: {peer}{ports} }} (in front of {self.before}, which stays)"
            for n, peer in zip(self.rule_numbers, self.peers))

    def scope(self) -> dict:
        return _scope(self.protocol, self.ports, self.peers)


@dataclass(frozen=True)
class Route:
    """Create a route (``replaces`` None) or point an existing one (a blackhole) at a NAT gateway."""

    table_id: str
    destination: str
    nat_gateway_id: str
    replaces: str | None = None  # the old target of the same destination

    def rows(self, template: dict) -> list[dict]:
        return [{**template, "destination": self.destination, "destination_type": "ipv4",
                 "target_type": "nat_gateway", "target_id": self.nat_gateway_id, "state": "active"}]

    def cli(self) -> str:
        verb = "replace-route" if self.replaces else "create-route"
        return (f"aws ec2 {verb} --route-table-id {self.table_id} --destination-cidr-block {self.destination} "
                f"--nat-gateway-id {self.nat_gateway_id}")

    def terraform(self) -> str:
        return (f'aws_route ({self.table_id}, {self.destination}): nat_gateway_id: '
                f'{self.replaces or "(no route)"} → "{self.nat_gateway_id}"')

    def cloudformation(self) -> str:
        return (f"AWS::EC2::Route ({self.table_id}, DestinationCidrBlock {self.destination}): NatGatewayId: "
                f"{self.replaces or '(no route)'} → {self.nat_gateway_id}")

    def scope(self) -> dict:
        return {"protocol": "all", "ports": None, "peers": [self.destination]}


Change = SecurityGroupRule | AclEntries | Route


def _tf_proto(protocol: int) -> str:
    return proto_name(protocol) if protocol in (1, 6, 17, 58) else ("-1" if protocol == -1 else str(protocol))


def _scope(protocol: int, ports: tuple[int, int] | None, peers: tuple[str, ...]) -> dict:
    return {"protocol": proto_name(protocol), "ports": list(ports) if ports else None, "peers": list(peers)}


def render(change: Change, fmt: str) -> str:
    """The change in ``fmt`` (one of FIX_FORMATS)."""
    return {"cli": change.cli, "terraform": change.terraform, "cloudformation": change.cloudformation}[fmt]()


# -- construction -------------------------------------------------------------------

def security_group_rule(group_id: str, direction: str, protocol: int, port: int | None,
                        peer_groups: list[str], peer_addrs: list[str]) -> SecurityGroupRule:
    """The peer's security group as a reference when it has one, else its addresses, one by one."""
    peers = (sorted(peer_groups)[0],) if peer_groups else tuple(sorted({host_cidr(a) for a in peer_addrs}))
    return SecurityGroupRule(group_id, direction, protocol, _ports(protocol, (port, port) if port is not None else None),
                             peers)


def _entry(net: Network, acl: str, egress: bool, number: int) -> dict | None:
    return next((e for e in net.acl_entries if e["network_acl_id"] == acl and bool(e["egress"]) == egress
                 and e["rule_number"] == number), None)


def free_numbers(net: Network, acl: str, egress: bool, below: int, count: int) -> list[int] | None:
    """``count`` free rule numbers just below ``below`` (the deny), highest first, or None if there are not enough.
    In front of the default ``*`` entry: the next tens after the last numbered rule."""
    used = {e["rule_number"] for e in net.acl_entries if e["network_acl_id"] == acl and bool(e["egress"]) == egress}
    if below > LAST_RULE:
        last = max((n for n in used if n <= LAST_RULE), default=0)
        start = (last // 10 + 1) * 10
        numbers = [n for n in range(start, LAST_RULE + 1) if n not in used][:count]
    else:
        numbers = [n for n in range(below - 1, 0, -1) if n not in used][:count]
    return numbers if len(numbers) == count else None


def acl_entries(net: Network, verdict: Verdict, egress: bool, protocol: int, ports: tuple[int, int] | None,
                peer_addrs: list[str]) -> AclEntries | None:
    """Allow entries in front of the entry that denied (``verdict``): the peers' own addresses, within the
    deny's CIDR, and ``ports`` within the deny's range. None when no free rule number is left below it."""
    number = LAST_RULE + 1 if verdict.rule in (None, "rule *") else int(verdict.rule.split()[-1])
    deny = _entry(net, verdict.resource, egress, number) or {}
    hosts = []
    for addr in sorted(set(peer_addrs)):
        cidr = deny.get("ipv6_cidr_block" if ":" in addr else "cidr_block")
        if not deny or (cidr and ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)):
            hosts.append(ipaddress.ip_network(addr))
    peers = exact_cidrs(hosts)
    if ports and deny.get("protocol") not in (None, -1) and deny.get("from_port") is not None:
        ports = (max(ports[0], deny["from_port"]), min(ports[1], deny["to_port"]))
    numbers = free_numbers(net, verdict.resource, egress, number, len(peers))
    if not peers or numbers is None:
        return None
    return AclEntries(verdict.resource, egress, protocol, _ports(protocol, ports), tuple(peers), tuple(numbers),
                      verdict.rule or "rule *")


def nat_for(net: Network, subnet_id: str) -> tuple[dict | None, str]:
    """The available NAT gateway of the subnet's own AZ, and a note when there is none there."""
    subnet = net.subnets.get(subnet_id) or {}
    vpc, az = subnet.get("vpc_id"), subnet.get("availability_zone")
    nats = sorted((n for n in net.nat_gateways.values() if n.get("state") == "available" and n.get("vpc_id") == vpc),
                  key=lambda n: n["nat_gateway_id"])
    same = [n for n in nats if az and (net.subnets.get(n.get("subnet_id")) or {}).get("availability_zone") == az]
    if same:
        return same[0], ""
    if nats:
        other = (net.subnets.get(nats[0].get("subnet_id")) or {}).get("availability_zone") or "another AZ"
        where = f"no NAT gateway in {az}" if az else f"the AZ of {subnet_id} is not known"
        return nats[0], f"{where}: {nats[0]['nat_gateway_id']} is in {other} (traffic crosses AZs)"
    return None, f"{vpc or 'the VPC'} has no available NAT gateway"


def interface_endpoint(net: Network, f: dict, subnet_id: str, task_groups: list[str]) -> str | None:
    """Create the service's interface endpoint in the task's subnet, with a group allowing 443 from the task's:
    the CLI, or None when the service is not known or already has an endpoint in the VPC."""
    service = (f.get("dest_service") or "").lower()
    vpc = (net.subnets.get(subnet_id) or {}).get("vpc_id") or f.get("vpc_id")
    region = f.get("dest_region")
    if not service or service in ("amazon", "ec2") or not region or not vpc:
        return None
    if any(e.get("vpc_id") == vpc and (e.get("aws_service") or "").lower() == service for e in net.endpoints.values()):
        return None
    peer = f"UserIdGroupPairs=[{{GroupId={task_groups[0]}}}]" if task_groups else f"IpRanges=[{{CidrIp={host_cidr(f['source_addr'])}}}]"
    return (f"aws ec2 create-security-group --vpc-id {vpc} --group-name {service}-endpoint "
            f"--description 'HTTPS from the tasks to the {service} endpoint' && "
            f"aws ec2 authorize-security-group-ingress --group-id <new group id> "
            f"--ip-permissions 'IpProtocol=tcp,FromPort=443,ToPort=443,{peer}' && "
            f"aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface "
            f"--service-name com.amazonaws.{region}.{service} --subnet-ids {subnet_id} "
            "--security-group-ids <new group id> --private-dns-enabled")
