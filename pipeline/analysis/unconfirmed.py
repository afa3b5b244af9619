"""Fixes for causes the configuration cannot confirm: fetch the missing configuration first.

When the task's security group, its subnet's network ACL or route table is not in the
imported configuration, the cause stays unconfirmed; its fix says so, names the command
that fetches what is missing (to import with ``flowlogs metadata import``), and then the
least-privilege change to make if that configuration proves the cause.
"""

from __future__ import annotations

from pipeline.analysis.fixes import EPHEMERAL, host_cidr
from pipeline.analysis.network import proto_name

IMPORT = "import it (flowlogs metadata import) and run the report again, or if it proves the cause: "


def _fetch_groups(f: dict, groups: list[str], addr_key: str) -> str:
    if groups:
        return f"aws ec2 describe-security-groups --group-ids {' '.join(groups)}"
    return (f"aws ec2 describe-network-interfaces --filters Name=addresses.private-ip-address,Values={f[addr_key]} "
            "--query 'NetworkInterfaces[].Groups'")


def _permission(f: dict, peer: str) -> str:
    port = f.get("dest_port")
    ports = f",FromPort={port},ToPort={port}" if f["protocol"] in (6, 17) and port is not None else ",FromPort=-1,ToPort=-1"
    proto = proto_name(f["protocol"]) if f["protocol"] in (1, 6, 17) else f["protocol"]
    return f"IpProtocol={proto}{ports},{peer}"


def _cidrs(addrs) -> str:
    return "IpRanges=[" + ",".join(f"{{CidrIp={host_cidr(a)}}}" for a in sorted(set(addrs))) + "]"


def fix(name: str, f: dict, source: dict) -> str | None:
    """The fix text of an unconfirmed network cause, or None for the causes this does not cover."""
    if f.get("protocol") is None or not f.get("source_addr") or not f.get("dest_addr"):
        return None
    groups, subnet = source["groups"], source["subnet"] or "<task subnet>"
    addrs = f.get("dest_addrs") or [f["dest_addr"]]
    first = "unconfirmed (the configuration is not imported): first fetch it: "
    if name == "security_group_egress":
        return (f"{first}{_fetch_groups(f, groups, 'source_addr')}; {IMPORT}aws ec2 authorize-security-group-egress "
                f"--group-id {groups[0] if groups else '<task group>'} --ip-permissions '{_permission(f, _cidrs(addrs))}'")
    if name == "security_group_ingress_destination":
        peer = f"UserIdGroupPairs=[{{GroupId={groups[0]}}}]" if groups else _cidrs([f["source_addr"]])
        return (f"{first}{_fetch_groups(f, [], 'dest_addr')}; {IMPORT}aws ec2 authorize-security-group-ingress "
                f"--group-id <destination group> --ip-permissions '{_permission(f, peer)}'")
    if name in ("network_acl_outbound", "network_acl_inbound_destination", "network_acl_return"):
        where = "<destination subnet>" if name == "network_acl_inbound_destination" else subnet
        egress = name == "network_acl_outbound"
        peer = host_cidr(f["source_addr"] if name == "network_acl_inbound_destination" else f["dest_addr"])
        ports = EPHEMERAL if name == "network_acl_return" else (f["dest_port"], f["dest_port"])
        port_range = f" --port-range From={ports[0]},To={ports[1]}" if f["protocol"] in (6, 17) else ""
        return (f"{first}aws ec2 describe-network-acls --filters Name=association.subnet-id,Values={where}; {IMPORT}"
                f"aws ec2 create-network-acl-entry --network-acl-id <acl> --rule-number <free number below the deny> "
                f"{'--egress' if egress else '--ingress'} --protocol {f['protocol']}{port_range} --cidr-block {peer} "
                "--rule-action allow")
    if name == "route_missing":
        return (f"{first}aws ec2 describe-route-tables --filters Name=association.subnet-id,Values={subnet}; {IMPORT}"
                "aws ec2 create-route --route-table-id <table> --destination-cidr-block 0.0.0.0/0 "
                "--nat-gateway-id <NAT gateway of the task's AZ>")
    return None
