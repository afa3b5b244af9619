"""Property: for random security groups, network ACLs and routes and a random failing conversation, every
fix the diagnosis proposes, applied as its AWS CLI text says (parsed here, independently of the code
that wrote it), lets the failing conversations through the hop it fixes, opens no address, port or
protocol outside its ``fix_scope``, and that scope is never wider than the failing conversations' peers
and ports and the rule it goes in front of. Applying the fixes one after another, the conversations
get through.

Routes are the one exception to "no wider than the peers": a missing route is created as the default
route (0.0.0.0/0) to the NAT gateway, a blackhole is re-pointed for its own destination; the scope
says so, and security groups and ACLs still decide who may talk.

And the proof's shortcuts (``proof.Baseline``: verdicts judged once per run, only the touched conversations
and the changed part of their verdict judged again per fix) give the proof a full re-evaluation gives, on
random networks and changes and on the sample account's findings document.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.analysis import fixes, proof, reports
from pipeline.analysis.causes import Diagnoser
from pipeline.analysis.fixes import EPHEMERAL
from pipeline.analysis.network import Network

TASK, OTHER_TASK, STRANGER = "10.0.1.10", "10.0.1.11", "10.0.1.12"
DESTS = ("10.0.2.20", "10.0.2.21")
PUBLIC = ("52.119.160.10", "52.119.161.7")
PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "-1": -1, "all": -1}
# the hop a fix is for, as a finding would show it: (kind, observed_at)
FINDING_FOR = {
    "source_security_group_egress": ("reject", "source_egress"),
    "source_acl_outbound": ("reject", "source_egress"),
    "route": ("no_return", "source_egress"),
    "destination_acl_inbound": ("reject", "destination_ingress"),
    "destination_security_group_ingress": ("reject", "destination_ingress"),
    "destination_acl_outbound_return": ("reject", "destination_egress_return"),
    "source_acl_inbound_return": ("reject", "source_ingress_return"),
}
CAUSE_FOR = {"source_security_group_egress": "security_group_egress", "source_acl_outbound": "network_acl_outbound",
             "route": "route_missing", "destination_acl_inbound": "network_acl_inbound_destination",
             "destination_security_group_ingress": "security_group_ingress_destination",
             "destination_acl_outbound_return": "network_acl_return", "source_acl_inbound_return": "network_acl_return"}
# which side of a conversation a hop's rule names, and which port it judges
PEER = {"source_security_group_egress": "server", "source_acl_outbound": "server", "route": "server",
        "destination_acl_inbound": "client", "destination_security_group_ingress": "client",
        "destination_acl_outbound_return": "client", "source_acl_inbound_return": "server"}
RETURN_HOPS = ("destination_acl_outbound_return", "source_acl_inbound_return")
#: the ACL hops, and whether each judges the ACL's egress entries
ACL_HOPS = {"source_acl_outbound": True, "destination_acl_inbound": False, "destination_acl_outbound_return": True,
            "source_acl_inbound_return": False}

cidrs = st.sampled_from(["0.0.0.0/0", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "10.0.2.0/25", f"{TASK}/32",
                         f"{DESTS[0]}/32", "52.119.160.0/20", f"{PUBLIC[0]}/32"])
ports = st.one_of(st.just((None, None)), st.just((443, 443)), st.just((1024, 65535)), st.just((0, 1023)),
                  st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda t: tuple(sorted(t))))
protocols = st.sampled_from([-1, 6, 17])


@st.composite
def sg_rules(draw, group, direction):
    out = []
    for proto, (lo, hi), peer in draw(st.lists(st.tuples(protocols, ports, st.one_of(
            cidrs, st.sampled_from(["sg-task", "sg-dst", "sg-other"]))), max_size=3)):
        out.append({"group_id": group, "direction": direction, "protocol": proto,
                    "from_port": None if proto == -1 else lo, "to_port": None if proto == -1 else hi,
                    "peer_type": "security_group" if peer.startswith("sg-") else "cidr_ipv4", "peer": peer})
    return out


@st.composite
def acl(draw, acl_id, subnet):
    entries = {}
    for number, egress, proto, (lo, hi), action, cidr in draw(st.lists(st.tuples(
            st.integers(2, 200), st.booleans(), protocols, ports, st.sampled_from(["allow", "deny"]), cidrs), max_size=6)):
        entries[(number, egress)] = {"protocol": proto, "from_port": None if proto == -1 else lo,
                                     "to_port": None if proto == -1 else hi, "rule_action": action, "cidr_block": cidr}
    rows = [{"network_acl_id": acl_id, "vpc_id": "vpc-1", "is_default": False, "subnet_ids": [subnet],
             "rule_number": n, "egress": e, "ipv6_cidr_block": None, **v} for (n, e), v in entries.items()]
    for egress in (True, False):
        rows.append({"network_acl_id": acl_id, "vpc_id": "vpc-1", "is_default": False, "subnet_ids": [subnet],
                     "rule_number": 32767, "egress": egress, "protocol": -1, "from_port": None, "to_port": None,
                     "rule_action": "deny", "cidr_block": "0.0.0.0/0", "ipv6_cidr_block": None})
    return rows


def eni(eni_id, addr, subnet, groups):
    return {"eni_id": eni_id, "private_ip": addr, "private_ips": [addr], "subnet_id": subnet, "vpc_id": "vpc-1",
            "security_group_ids": groups}


@st.composite
def networks(draw):
    routes = [{"route_table_id": "rtb-a", "vpc_id": "vpc-1", "is_main": False, "subnet_ids": ["subnet-a"],
               "destination": "10.0.0.0/16", "destination_type": "ipv4", "target_type": "local", "target_id": "local",
               "state": "active"}]
    default = draw(st.sampled_from(["nat", "blackhole", "none"]))
    if default != "none":
        routes.append({**routes[0], "destination": "0.0.0.0/0", "target_type": "nat_gateway",
                       "target_id": "nat-1", "state": "active" if default == "nat" else "blackhole"})
    interfaces = [eni("eni-task", TASK, "subnet-a", ["sg-task"]), eni("eni-task2", OTHER_TASK, "subnet-a", ["sg-task"]),
                  eni("eni-stranger", STRANGER, "subnet-a", ["sg-other"]),
                  eni("eni-d0", DESTS[0], "subnet-b", ["sg-dst"]), eni("eni-d1", DESTS[1], "subnet-b", ["sg-dst"])]
    return Network(
        interfaces={i["eni_id"]: i for i in interfaces}, by_ip={i["private_ip"]: i for i in interfaces},
        groups={g: {"group_id": g} for g in ("sg-task", "sg-dst", "sg-other")},
        rules=draw(sg_rules("sg-task", "egress")) + draw(sg_rules("sg-dst", "ingress")),
        acl_entries=draw(acl("acl-a", "subnet-a")) + draw(acl("acl-b", "subnet-b")),
        routes=routes,
        subnets={s: {"subnet_id": s, "vpc_id": "vpc-1", "availability_zone": "eu-west-1a"}
                 for s in ("subnet-a", "subnet-b", "subnet-p")},
        nat_gateways={"nat-1": {"nat_gateway_id": "nat-1", "vpc_id": "vpc-1", "subnet_id": "subnet-p",
                                "state": "available"}},
    )


@st.composite
def failing(draw):
    public = draw(st.booleans())
    pool = PUBLIC if public else DESTS
    servers = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True))
    proto, port = draw(st.sampled_from([6, 17])), draw(st.sampled_from([443, 5432, 53, 8080]))
    client_port = draw(st.integers(*EPHEMERAL))
    return public, [proof.Conversation(TASK, s, port, proto, client_port) for s in servers]


probes = st.lists(st.builds(proof.Conversation, st.sampled_from([TASK, OTHER_TASK, STRANGER, "10.0.3.7"]),
                            st.sampled_from(DESTS + PUBLIC + ("10.0.2.99",)), st.sampled_from([22, 53, 442, 443, 444, 5432, 8080]),
                            st.sampled_from([6, 17, 1]), st.integers(0, 65535)), min_size=5, max_size=25)


# -- the CLI text, applied as AWS would --------------------------------------------------------------

def apply_cli(net: Network, text: str) -> Network:
    for command in text.split(" && "):
        words = shlex.split(command)
        opts = {w[2:]: (words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--") else True)
                for i, w in enumerate(words) if w.startswith("--")}
        verb = words[2]
        if verb.startswith("authorize-security-group-"):
            perm = opts["ip-permissions"]
            proto = PROTOS.get(re.search(r"IpProtocol=([^,]+)", perm).group(1))
            lo, hi = (int(x) for x in re.search(r"FromPort=(-?\d+),ToPort=(-?\d+)", perm).groups())
            peers = re.findall(r"GroupId=(sg-[\w-]+)", perm) + re.findall(r"CidrIp=([\d./]+)", perm)
            net = replace(net, rules=net.rules + [
                {"group_id": opts["group-id"], "direction": verb.rsplit("-", 1)[1], "protocol": proto,
                 "from_port": None if lo == -1 else lo, "to_port": None if hi == -1 else hi,
                 "peer_type": "security_group" if p.startswith("sg-") else "cidr_ipv4", "peer": p} for p in peers])
        elif verb == "create-network-acl-entry":
            number, egress = int(opts["rule-number"]), "egress" in opts
            assert not any(e["network_acl_id"] == opts["network-acl-id"] and e["rule_number"] == number
                           and e["egress"] == egress for e in net.acl_entries), f"rule {number} is taken"
            lo, hi = (int(x) for x in re.match(r"From=(\d+),To=(\d+)", opts["port-range"]).groups()) \
                if "port-range" in opts else (None, None)
            template = next(e for e in net.acl_entries if e["network_acl_id"] == opts["network-acl-id"])
            net = replace(net, acl_entries=net.acl_entries + [{
                **template, "rule_number": number, "egress": egress, "protocol": int(opts["protocol"]),
                "from_port": lo, "to_port": hi, "rule_action": opts["rule-action"], "cidr_block": opts["cidr-block"]}])
        elif verb in ("create-route", "replace-route"):
            table, dest = opts["route-table-id"], opts["destination-cidr-block"]
            template = next(r for r in net.routes if r["route_table_id"] == table)
            exists = any(r["route_table_id"] == table and r["destination"] == dest for r in net.routes)
            assert exists == (verb == "replace-route"), f"{verb} for {dest}"
            kept = [r for r in net.routes if not (r["route_table_id"] == table and r["destination"] == dest)]
            net = replace(net, routes=kept + [{**template, "destination": dest, "target_type": "nat_gateway",
                                               "target_id": opts["nat-gateway-id"], "state": "active"}])
        else:
            raise AssertionError(f"unexpected fix command: {command}")
    return net


def finding(convs, public, hop):
    kind, at = FINDING_FOR[hop]
    c = convs[0]
    return {"kind": kind, "observed_at": at, "state": "blocked" if kind == "reject" else "no_reply",
            "dest_type": "aws_service" if public else "vpc_internal", "dest_addr": c.server,
            "dest_addrs": [x.server for x in convs], "dest_port": c.port, "protocol": c.protocol,
            "source_addr": c.client, "source_eni": "eni-task", "client_port": c.client_port, "dest_id": None,
            "dest_service": "sqs" if public else None, "dest_region": "eu-west-1", "vpc_id": "vpc-1"}


def in_scope(net: Network, scope: dict, hop: str, c: proof.Conversation) -> bool:
    proto = {v: k for k, v in PROTOS.items() if k != "-1"}.get(c.protocol, str(c.protocol))
    if scope["protocol"] not in ("all", proto):
        return False
    port = c.client_port if hop in RETURN_HOPS else c.port
    if scope["ports"] and c.protocol in (6, 17) and not scope["ports"][0] <= port <= scope["ports"][1]:
        return False
    addr = getattr(c, PEER[hop])
    groups = set((net.by_ip.get(addr) or {}).get("security_group_ids") or [])
    return any(p in groups if p.startswith("sg-") else ipaddress.ip_address(addr) in ipaddress.ip_network(p)
               for p in scope["peers"])


def no_room(net: Network, cause: dict, hop: str, convs) -> bool:
    """Too few free rule numbers in front of the deny for the peers, even merged into exact CIDRs."""
    number = cause["rule"].split()[-1]
    if number == "*":
        return False
    used = {e["rule_number"] for e in net.acl_entries
            if e["network_acl_id"] == cause["resource"] and e["egress"] == ACL_HOPS[hop]}
    free = [n for n in range(1, int(number)) if n not in used]
    peers = ipaddress.collapse_addresses(ipaddress.ip_network(getattr(c, PEER[hop])) for c in convs)
    return len(free) < len(list(peers))


def check_scope_is_the_evidence(net: Network, scope: dict, hop: str, convs, cause: dict) -> None:
    if hop == "route":
        assert scope["peers"] in (["0.0.0.0/0"], [cause["rule"].split()[-1] if cause["rule"] else "0.0.0.0/0"])
        return
    peers = {getattr(c, PEER[hop]) for c in convs}
    groups = {g for p in peers for g in (net.by_ip.get(p) or {}).get("security_group_ids") or []}
    for p in scope["peers"]:
        assert p in groups if p.startswith("sg-") else (
            ipaddress.ip_network(p).num_addresses <= len(peers)
            and {str(a) for a in ipaddress.ip_network(p)} <= peers), p  # every address it opens is a peer
    assert {PROTOS[scope["protocol"]]} == {c.protocol for c in convs}
    if hop in RETURN_HOPS:
        assert EPHEMERAL[0] <= scope["ports"][0] <= scope["ports"][1] <= EPHEMERAL[1]
        number = cause["rule"].split()[-1]
        if number != "*":
            [deny] = [e for e in net.acl_entries if e["network_acl_id"] == cause["resource"]
                      and e["rule_number"] == int(number) and e["egress"] == (hop == "destination_acl_outbound_return")]
            if deny["protocol"] != -1 and deny["from_port"] is not None:
                assert deny["from_port"] <= scope["ports"][0] <= scope["ports"][1] <= deny["to_port"]
    else:
        assert scope["ports"] == [convs[0].port, convs[0].port]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), failing(), probes)
def test_every_fix_lets_the_failing_conversations_through_and_opens_nothing_outside_its_scope(net, case, others):
    public, convs = case
    for _ in range(len(proof.HOPS) * len(convs) + 1):
        blocked = [(hop, c) for c in convs for hop, ok in proof.hops(net, c).items() if not ok]
        if not blocked:
            break
        hop, _ = min(blocked, key=lambda b: proof.HOPS.index(b[0]))
        on_hop = [c for h, c in blocked if h == hop]
        f = finding(on_hop, public, hop)
        causes = [c for c in Diagnoser(net).diagnose(f) if c["cause"] == CAUSE_FOR[hop]]
        assert causes and causes[0]["confirmed"], (hop, causes)
        cause = causes[0]
        if cause["fix_scope"] is None and hop in ACL_HOPS and no_room(net, cause, hop, on_hop):
            assert "no free rule number is left" in cause["explanation"]
            event("no room in front of the deny")
            return
        assert cause["fix_scope"], (hop, causes)
        event(f"fix on {hop}")
        scope = cause["fix_scope"]
        check_scope_is_the_evidence(net, scope, hop, on_hop, cause)
        after = apply_cli(net, cause["fix"])
        # the hop now lets the conversation the finding names through (and the fix says it was checked)
        assert proof.hops(after, on_hop[0])[hop], (hop, cause["fix"])
        assert cause["fix_verified"] is (all(proof.passes(after, c) for c in on_hop))
        # nothing else opens on that hop outside the scope
        for probe in others + convs:
            before_ok, after_ok = proof.hops(net, probe).get(hop), proof.hops(after, probe).get(hop)
            if before_ok is False and after_ok:
                assert in_scope(net, scope, hop, probe), (hop, scope, probe, cause["fix"])
        net = after
    assert all(proof.passes(net, c) for c in convs)


# -- the proof's shortcuts (proof.Baseline) give the proof of a full re-evaluation --------------------

def touches(net: Network, change, c: proof.Conversation) -> bool:
    """Could ``change`` alter ``c``'s verdict: it is made to a group of either side, the ACL of either subnet or
    the client subnet's route table (what the proof looked at before ``Baseline``)."""
    src_groups, src_subnet = proof._side(net, c.client)
    dst_groups, dst_subnet = proof._side(net, c.server)
    if isinstance(change, fixes.SecurityGroupRule):
        return change.group_id in src_groups + dst_groups
    if isinstance(change, fixes.AclEntries):
        return change.acl_id in {net.acl_for_subnet(s) for s in (src_subnet, dst_subnet) if s}
    return src_subnet is not None and net.route_table_for(src_subnet) == change.table_id


def full_proof(net: Network, change, failing, observed, alike=lambda c: False) -> proof.Proof:
    """The proof without shortcuts: every touched conversation judged on both whole configurations."""
    after = proof.applied(net, change)
    verdicts = [proof.passes(after, c) for c in failing]
    total = sum(c.count for c in failing)
    if not failing or any(v is None for v in verdicts):
        return proof.Proof(None, 0, total, 0, (), ())
    allowed = sum(c.count for c, v in zip(failing, verdicts) if v)
    mine = {c.key for c in failing}
    extra, also, blocks = 0, set(), set()
    for c in observed:
        if c.key in mine or not touches(net, change, c):
            continue
        old, new = proof.passes(net, c), proof.passes(after, c)
        if old is None or new is None or old == new:
            continue
        if new and alike(c):
            extra += c.count
        else:
            (also if new else blocks).add(c.label())
    return proof.Proof(allowed == total and not also and not blocks, allowed + extra, total + extra, extra,
                       tuple(sorted(also)), tuple(sorted(blocks)))


peers = st.lists(st.sampled_from(["sg-task", "sg-dst", "sg-other", f"{TASK}/32", f"{DESTS[0]}/32", "10.0.2.0/24",
                                  "0.0.0.0/0", f"{PUBLIC[0]}/32"]), min_size=1, max_size=3, unique=True)
changes = st.one_of(
    st.builds(fixes.SecurityGroupRule, st.sampled_from(["sg-task", "sg-dst", "sg-other"]),
              st.sampled_from(["ingress", "egress"]), protocols, st.sampled_from([None, (443, 443), (1024, 65535)]),
              peers.map(tuple)),
    peers.map(lambda p: [x for x in p if not x.startswith("sg-")] or ["0.0.0.0/0"]).flatmap(lambda p: st.builds(
        fixes.AclEntries, st.sampled_from(["acl-a", "acl-b"]), st.booleans(), protocols,
        st.sampled_from([None, (443, 443), (1024, 65535)]), st.just(tuple(p)),
        st.just(tuple(range(1, len(p) + 1))), st.just("rule *"))),
    st.builds(fixes.Route, st.just("rtb-a"), st.sampled_from(["0.0.0.0/0", "10.0.0.0/16", "52.119.160.0/20"]),
              st.just("nat-1")))
observed = st.lists(st.builds(proof.Conversation, st.sampled_from([TASK, OTHER_TASK, STRANGER, "10.0.3.7"] + list(DESTS)),
                              st.sampled_from(DESTS + PUBLIC + (TASK, "10.0.2.99")),
                              st.sampled_from([22, 53, 443, 5432, None]), st.sampled_from([6, 17, 1]),
                              st.sampled_from([None, 1024, 40000]), st.integers(1, 3),
                              st.sampled_from(["blocked", "no_reply", "pending", "established"])), min_size=5, max_size=30)


#: what ``opened`` may open to everything: a group's rules one way, an ACL one way, the default route
OPENINGS = ([("rules", g, d) for g in ("sg-task", "sg-dst", "sg-other") for d in ("ingress", "egress")]
            + [("acl", a, egress) for a in ("acl-a", "acl-b") for egress in (True, False)] + [("route",)])


def made_to(change) -> tuple:
    """The opening of ``change``'s own rules."""
    if isinstance(change, fixes.SecurityGroupRule):
        return "rules", change.group_id, change.direction
    return ("acl", change.acl_id, change.egress) if isinstance(change, fixes.AclEntries) else ("route",)


@st.composite
def opened(draw, change):
    """A network of ``networks()`` with the rules opened to everything but those ``change`` is made to (and each
    of the others left as drawn with odds 1 in 10), so that the change often decides whole verdicts: its fix
    is verified, or lets other conversations through."""
    net = draw(networks())
    opens = [o for o, yes in zip(OPENINGS, draw(st.lists(st.integers(0, 9), min_size=len(OPENINGS),
                                                          max_size=len(OPENINGS)))) if yes and o != made_to(change)]
    net = replace(net, rules=net.rules + [
        {"group_id": g, "direction": d, "protocol": -1, "from_port": None, "to_port": None, "peer_type": "cidr_ipv4",
         "peer": "0.0.0.0/0"} for _, g, d in (o for o in opens if o[0] == "rules")])
    net = replace(net, acl_entries=net.acl_entries + [
        {**e, "rule_number": 1, "protocol": -1, "from_port": None, "to_port": None, "rule_action": "allow",
         "cidr_block": "0.0.0.0/0"} for e in net.acl_entries
        if e["rule_number"] == 32767 and ("acl", e["network_acl_id"], e["egress"]) in opens])
    if ("route",) in opens:
        net = replace(net, routes=[r for r in net.routes if r["destination"] != "0.0.0.0/0"] + [
            {**net.routes[0], "destination": "0.0.0.0/0", "target_type": "nat_gateway", "target_id": "nat-1"}])
    return net


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes.flatmap(lambda change: st.tuples(opened(change), st.just(change))), observed,
       st.lists(st.tuples(changes, st.integers(0, 3), st.sampled_from([443, 53])), max_size=3))
def test_a_proof_on_the_baseline_is_the_proof_of_a_full_re_evaluation(case, seen, more):
    """Proofs of several changes (the one the network is open but for, and others; one twice, for two findings)
    sharing one Baseline."""
    net, change = case
    proofs = [(change, 1, 443), *more, (change, 3, 53)]  # the same change for another finding: proven once
    base = proof.Baseline(net, seen)  # shared by the proofs, as a run's Diagnoser shares it
    for change, n, port in proofs:
        failing = seen[:n] or [proof.Conversation(TASK, DESTS[0], port, 6, 40000)]
        alike = (lambda p: lambda c: c.port == p)(port)
        expected = full_proof(net, change, failing, seen, alike)
        event(f"{type(change).__name__}: verified {expected.verified}, also {bool(expected.also)}, "
              f"alike {bool(expected.alike)}")
        assert proof.prove(base, change, failing, alike) == expected


def test_the_sample_accounts_proofs_equal_full_re_evaluations(sample_lake, monkeypatch):
    """The whole findings document, fix texts included, with the proofs' shortcuts and without them."""
    fast = reports.findings_document(sample_lake)
    monkeypatch.setattr(proof, "prove", lambda base, change, failing, alike: full_proof(
        base.net, change, failing, base.observed, alike))
    monkeypatch.setattr(proof.Baseline, "touching", lambda self, resource: self.observed)
    full = reports.findings_document(sample_lake)
    assert [f["likely_causes"] for f in full["findings"]] and (
        {k: v for k, v in fast.items() if k != "generated_at"} == {k: v for k, v in full.items() if k != "generated_at"})
