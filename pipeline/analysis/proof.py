"""A fix proven before anyone runs it: applied to an in-memory copy of the configuration,
the same rule evaluation (security groups, network ACLs both ways, routes) runs again on the
failing conversations and on every other conversation the flows show. (Only on those the change can
touch, and only the part of their verdict that reads what it changes: ``Baseline`` judges the rest once
per run, which is the same verdict by construction.)

A fix is verified when every failing conversation would pass and no other observed
conversation changes verdict; ``fix_verified`` is None when the configuration cannot judge
the path (nothing of it is known, or the change is not one this evaluation models).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from pipeline.analysis.fixes import AclEntries, Change, SecurityGroupRule
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

    @property
    def hop_key(self) -> tuple:
        """All the rules judge of it (the reply's port too)."""
        return (*self.key, self.client_port)

    def label(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.client} → {self.server}{port}"


def conversations(rows: list[dict]) -> list[Conversation]:
    """Rows of ``observed_conversations`` as Conversations."""
    return [Conversation(r["client_addr"], r["server_addr"], r["server_port"], r["protocol"], r["client_port"],
                         int(r["conversations"]), r["state"]) for r in rows]


def changed_field(change: Change) -> str:
    """The one field of Network that ``change`` alters (a key of ``PARTS``)."""
    if isinstance(change, SecurityGroupRule):
        return "rules"
    return "acl_entries" if isinstance(change, AclEntries) else "routes"


def applied(net: Network, change: Change) -> Network:
    """A copy of ``net`` with ``change`` made (``net`` is not touched; only ``changed_field(change)`` differs)."""
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


def _group_hops(net: Network, c: Conversation) -> dict[str, bool]:
    """The security group hops of ``c`` (stateful: the reply is not judged by them)."""
    src_groups, _ = _side(net, c.client)
    dst_groups, _ = _side(net, c.server)
    out = {}
    if src_groups:
        out["source_security_group_egress"] = net.security_groups_allow(
            src_groups, "egress", c.protocol, c.port, c.server, set(dst_groups)).allowed
    if dst_groups:
        out["destination_security_group_ingress"] = net.security_groups_allow(
            dst_groups, "ingress", c.protocol, c.port, c.client, set(src_groups)).allowed
    return out


def _acl_hops(net: Network, c: Conversation) -> dict[str, bool]:
    """The network ACL hops of ``c``, both ways (they are stateless)."""
    _, src_subnet = _side(net, c.client)
    _, dst_subnet = _side(net, c.server)
    out = {}
    for name, subnet, egress, port, peer in (
            ("source_acl_outbound", src_subnet, True, c.port, c.server),
            ("destination_acl_inbound", dst_subnet, False, c.port, c.client),
            ("destination_acl_outbound_return", dst_subnet, True, c.client_port, c.client),
            ("source_acl_inbound_return", src_subnet, False, c.client_port, c.server)):
        verdict = net.acl_allows(subnet, egress, c.protocol, port, peer) if subnet else None
        if verdict is not None:
            out[name] = verdict.allowed
    return out


def _route_hops(net: Network, c: Conversation) -> dict[str, bool]:
    """The route hop of ``c``: out of the client's subnet."""
    _, src_subnet = _side(net, c.client)
    if src_subnet:
        table, route = net.route(src_subnet, c.server)
        if table is not None:
            return {"route": route is not None and route.get("state") != "blackhole"}
    return {}


#: The parts of a conversation's verdict, by the one Network field of rules each part reads (besides the ENIs,
#: subnets and prefix lists no fix changes): a change to that field can alter that part only.
PARTS = {"rules": _group_hops, "acl_entries": _acl_hops, "routes": _route_hops}


def hops(net: Network, c: Conversation) -> dict[str, bool]:
    """The verdict of each hop of ``c`` the configuration knows (security groups are stateful: the reply is
    not judged by them; network ACLs are, both ways)."""
    out = {}
    for part in PARTS.values():
        out.update(part(net, c))
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


def _resource(change: Change) -> tuple[str, str]:
    """What ``change`` is made to: its security group, network ACL or route table."""
    if isinstance(change, SecurityGroupRule):
        return "group", change.group_id
    return ("acl", change.acl_id) if isinstance(change, AclEntries) else ("table", change.table_id)


def _resources(net: Network, c: Conversation) -> set[tuple[str, str | None]]:
    """The resources a change must be made to to alter ``c``'s verdict: the groups of either side, the ACLs of
    either subnet, the client subnet's route table."""
    src_groups, src_subnet = _side(net, c.client)
    dst_groups, dst_subnet = _side(net, c.server)
    out = {("group", g) for g in src_groups + dst_groups}
    out |= {("acl", net.acl_for_subnet(s)) for s in (src_subnet, dst_subnet) if s}
    if src_subnet is not None:
        out.add(("table", net.route_table_for(src_subnet)))
    return out


class Baseline:
    """The configuration as it is and the conversations observed under it, judged once for every proof.

    A scheduled run proves a hundred fixes against thousands of observed conversations, and its findings
    mostly share a few fixes (the same rule for every task of a service); judging every conversation again
    per finding was most of its time. Here each conversation's verdict is kept in its parts (``PARTS``);
    each distinct change is judged once, on the conversations that touch the resource it changes only, and
    of their verdicts only the part that reads the field it changes is evaluated again: the rest is the
    same by construction, so the proof is the one a full re-evaluation gives."""

    def __init__(self, net: Network, observed: list[Conversation]):
        self.net, self.observed = net, observed
        self._parts: dict[tuple, dict[str, dict[str, bool]]] = {}
        self._touching: dict[tuple, list[Conversation]] = {}
        self._copies: dict[Change, tuple[Network, str]] = {}
        self._altered: dict[Change, list[tuple[Conversation, bool]]] = {}
        for c in observed:
            for resource in _resources(net, c):
                self._touching.setdefault(resource, []).append(c)

    def touching(self, resource: tuple[str, str]) -> list[Conversation]:
        """The observed conversations whose verdict a change to ``resource`` ("group"/"acl"/"table", id) could
        alter, in observed order."""
        return self._touching.get(resource, [])

    def _judged(self, c: Conversation) -> dict[str, dict[str, bool]]:
        key = c.hop_key
        if key not in self._parts:
            self._parts[key] = {name: part(self.net, c) for name, part in PARTS.items()}
        return self._parts[key]

    def before(self, c: Conversation) -> bool | None:
        """``passes(self.net, c)``."""
        return _verdict(self._judged(c))

    def _made(self, change: Change) -> tuple[Network, str]:
        """(the configuration with ``change`` made, the one field it differs in)."""
        if change not in self._copies:
            self._copies[change] = applied(self.net, change), changed_field(change)
        return self._copies[change]

    def after(self, change: Change, c: Conversation) -> bool | None:
        """``passes(applied(self.net, change), c)``."""
        after, field = self._made(change)
        return _verdict({**self._judged(c), field: PARTS[field](after, c)})

    def altered(self, change: Change) -> list[tuple[Conversation, bool]]:
        """The observed conversations ``change`` lets through (True) or stops (False), in observed order."""
        if change not in self._altered:
            judged = ((c, self.before(c), self.after(change, c)) for c in self.touching(_resource(change)))
            self._altered[change] = [(c, new) for c, old, new in judged
                                     if old is not None and new is not None and old != new]
        return self._altered[change]


def _verdict(parts: dict[str, dict[str, bool]]) -> bool | None:
    verdicts = [v for part in parts.values() for v in part.values()]
    return all(verdicts) if verdicts else None


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


def prove(base: Baseline, change: Change, failing: list[Conversation],
          alike: Callable[[Conversation], bool] = lambda c: False) -> Proof:
    """Apply ``change`` to a copy of ``base.net``; judge ``failing`` and every other observed conversation again
    (those it can touch: the others keep their verdict; once per distinct change, ``Baseline.altered``).

    An observed conversation that fails the same way (``alike``: same port, protocol and state, another task
    of the fault) and would pass counts with the failing ones; any other change of verdict is reported."""
    verdicts = [base.after(change, c) for c in failing]
    total = sum(c.count for c in failing)
    if not failing or any(v is None for v in verdicts):
        return Proof(None, 0, total, 0, (), ())
    allowed = sum(c.count for c, v in zip(failing, verdicts) if v)
    mine = {c.key for c in failing}
    extra, also, blocks = 0, set(), set()
    for c, new in base.altered(change):
        if c.key in mine:
            continue
        if new and alike(c):
            extra += c.count
        else:
            (also if new else blocks).add(c.label())
    return Proof(allowed == total and not also and not blocks, allowed + extra, total + extra, extra,
                 tuple(sorted(also)), tuple(sorted(blocks)))
