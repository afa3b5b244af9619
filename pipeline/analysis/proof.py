"""A fix proven before anyone runs it: applied to an in-memory copy of the configuration,
the same rule evaluation (security groups, network ACLs both ways, routes) runs again on the
failing conversations and on every other conversation the flows show.

A fix is verified when every failing conversation would pass and no other observed
conversation changes verdict; ``fix_verified`` is None when the configuration cannot judge
the path (nothing of it is known, or the change is not one this evaluation models).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from pipeline.analysis.fixes import AclEntries, Change, Route, SecurityGroupRule
from pipeline.analysis.network import Network

#: How many conversations "also allows" names before "and N more".
NAMED = 3


@dataclass(frozen=True)
class Conversation:
    """One client → server conversation as the rules see it (``client_port``: the reply's destination port)."""

    client: str
    server: str
    port: int | None
    protocol: int
    client_port: int | None = None
    count: int = 1
    state: str | None = None

    @property
    def key(self) -> tuple:
        return (self.client, self.server, self.port, self.protocol)

    def label(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.client} → {self.server}{port}"


def conversations(rows: list[dict]) -> list[Conversation]:
    """Rows of ``observed_conversations`` as Conversations."""
    return [Conversation(r["client_addr"], r["server_addr"], r["server_port"], r["protocol"], r["client_port"],
                         int(r["conversations"]), r["state"]) for r in rows]


def applied(net: Network, change: Change) -> Network:
    """A copy of ``net`` with ``change`` made (``net`` is not touched)."""
    if isinstance(change, SecurityGroupRule):
        return replace(net, rules=[*net.rules, *change.rows()])
    if isinstance(change, AclEntries):
        template = next(e for e in net.acl_entries if e["network_acl_id"] == change.acl_id)
        return replace(net, acl_entries=[*net.acl_entries, *change.rows(template)])
    template = next(r for r in net.routes if r["route_table_id"] == change.table_id)
    kept = [r for r in net.routes if not (r["route_table_id"] == change.table_id and r.get("destination") == change.destination)]
    return replace(net, routes=[*kept, *change.rows(template)])


def with_setting(net: Network, cause: dict, f: dict) -> Network | None:
    """A copy of ``net`` with the fix of a settings cause (private DNS, VPC DNS attributes, DHCP servers, a
    shadowing zone's record) made; None for a cause whose fix is not a setting."""
    name, resource = cause["cause"], cause["resource"]
    if name == "endpoint_private_dns_disabled":
        return replace(net, endpoints={**net.endpoints, resource: {**net.endpoints[resource], "private_dns_enabled": True}})
    if name == "vpc_dns_disabled":
        return replace(net, dns_attributes={**net.dns_attributes, **{k: True for k in net.dns_attributes if k[0] == resource}})
    if name == "custom_dns_servers":
        return replace(net, dhcp_options={**net.dhcp_options, resource: {
            **net.dhcp_options[resource], "domain_name_servers": ["AmazonProvidedDNS"]}})
    if name == "dns_nxdomain":
        return replace(net, records={**net.records, resource: {*net.records.get(resource, set()), f["dest_name"]}})
    return None


def _side(net: Network, addr: str, eni_id: str | None = None) -> tuple[list[str], str | None]:
    """(security groups, subnet) of the ENI holding ``addr`` (an endpoint's groups when its ENI lists none)."""
    eni = net.interfaces.get(eni_id or "") or net.by_ip.get(addr) or {}
    groups = list(eni.get("security_group_ids") or [])
    if not groups and eni.get("resource_id") in net.endpoints:
        groups = list(net.endpoints[eni["resource_id"]].get("security_group_ids") or [])
    return groups, eni.get("subnet_id")


#: The hops of a conversation, in path order: the request out and in, the reply back.
HOPS = ("source_security_group_egress", "source_acl_outbound", "route", "destination_acl_inbound",
        "destination_security_group_ingress", "destination_acl_outbound_return", "source_acl_inbound_return")


def hops(net: Network, c: Conversation) -> dict[str, bool]:
    """The verdict of each hop of ``c`` the configuration knows (security groups are stateful: the reply is
    not judged by them; network ACLs are, both ways)."""
    src_groups, src_subnet = _side(net, c.client)
    dst_groups, dst_subnet = _side(net, c.server)
    out = {}
    if src_groups:
        out["source_security_group_egress"] = net.security_groups_allow(
            src_groups, "egress", c.protocol, c.port, c.server, set(dst_groups)).allowed
    if dst_groups:
        out["destination_security_group_ingress"] = net.security_groups_allow(
            dst_groups, "ingress", c.protocol, c.port, c.client, set(src_groups)).allowed
    for name, subnet, egress, port, peer in (
            ("source_acl_outbound", src_subnet, True, c.port, c.server),
            ("destination_acl_inbound", dst_subnet, False, c.port, c.client),
            ("destination_acl_outbound_return", dst_subnet, True, c.client_port, c.client),
            ("source_acl_inbound_return", src_subnet, False, c.client_port, c.server)):
        verdict = net.acl_allows(subnet, egress, c.protocol, port, peer) if subnet else None
        if verdict is not None:
            out[name] = verdict.allowed
    if src_subnet:
        table, route = net.route(src_subnet, c.server)
        if table is not None:
            out["route"] = route is not None and route.get("state") != "blackhole"
    return {name: out[name] for name in HOPS if name in out}


def passes(net: Network, c: Conversation) -> bool | None:
    """Would the configuration let ``c`` through, both ways? None when no hop of it is known."""
    verdicts = hops(net, c)
    return all(verdicts.values()) if verdicts else None


def decided_by(net: Network, c: Conversation, acl: str, egress: bool, number: int) -> bool:
    """Is ``c`` denied by entry ``number`` of ``acl`` (``egress``: outbound), on its way there or back?"""
    _, src_subnet = _side(net, c.client)
    _, dst_subnet = _side(net, c.server)
    legs = ((src_subnet, c.port, c.server), (dst_subnet, c.client_port, c.client)) if egress else (
        (dst_subnet, c.port, c.client), (src_subnet, c.client_port, c.server))
    for subnet, port, peer in legs:
        if subnet and net.acl_for_subnet(subnet) == acl:
            verdict = net.acl_allows(subnet, egress, c.protocol, port, peer)
            if verdict is not None and not verdict.allowed and verdict.rule == f"rule {number}":
                return True
    return False


def _touches(net: Network, change: Change, c: Conversation) -> bool:
    """Could ``change`` alter ``c``'s verdict? (Only those are evaluated: the change's group, ACL or table.)"""
    src_groups, src_subnet = _side(net, c.client)
    dst_groups, dst_subnet = _side(net, c.server)
    if isinstance(change, SecurityGroupRule):
        return change.group_id in src_groups + dst_groups
    if isinstance(change, AclEntries):
        return change.acl_id in {net.acl_for_subnet(s) for s in (src_subnet, dst_subnet) if s}
    return isinstance(change, Route) and src_subnet is not None and net.route_table_for(src_subnet) == change.table_id


@dataclass(frozen=True)
class Proof:
    verified: bool | None
    allowed: int  # failing conversations that would pass
    failing: int
    alike: int  # of those, conversations of other clients or servers failing the same way
    also: tuple[str, ...]  # other observed conversations the change would let through
    blocks: tuple[str, ...]  # observed conversations the change would stop

    def sentence(self) -> str:
        if self.verified is None:
            return "Fix not verified: the configuration does not cover this path."
        alike = f" (with {self.alike} of other tasks failing the same way)" if self.alike else ""
        text = (f"Checked on a copy of the configuration: would allow {self.allowed} conversation"
                f"{'' if self.allowed == 1 else 's'} of {self.failing} failing{alike}; also allows: "
                f"{_named(self.also) or 'no other observed conversation'}")
        return text + (f"; would block: {_named(self.blocks)}." if self.blocks else ".")


def _named(labels: tuple[str, ...]) -> str:
    return ", ".join(labels[:NAMED]) + (f" and {len(labels) - NAMED} more" if len(labels) > NAMED else "")


def prove(net: Network, change: Change, failing: list[Conversation], observed: list[Conversation],
          alike: Callable[[Conversation], bool] = lambda c: False) -> Proof:
    """Apply ``change`` to a copy of ``net``; judge ``failing`` and every other ``observed`` conversation again.

    An observed conversation that fails the same way (``alike``: same port, protocol and state, another task
    of the fault) and would pass counts with the failing ones; any other change of verdict is reported."""
    after = applied(net, change)
    verdicts = [passes(after, c) for c in failing]
    total = sum(c.count for c in failing)
    if not failing or any(v is None for v in verdicts):
        return Proof(None, 0, total, 0, (), ())
    allowed = sum(c.count for c, v in zip(failing, verdicts) if v)
    mine = {c.key for c in failing}
    extra, also, blocks = 0, set(), set()
    for c in observed:
        if c.key in mine or not _touches(net, change, c):
            continue
        old, new = passes(net, c), passes(after, c)
        if old is None or new is None or old == new:
            continue
        if new and alike(c):
            extra += c.count
        else:
            (also if new else blocks).add(c.label())
    return Proof(allowed == total and not also and not blocks, allowed + extra, total + extra, extra,
                 tuple(sorted(also)), tuple(sorted(blocks)))
