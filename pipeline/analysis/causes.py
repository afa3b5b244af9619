"""Likely causes of a finding: ranked from the flow evidence, confirmed against the rules.

The flow records say *where* a conversation failed (``observed_at``) and how (REJECT,
silence, reset); that ranks the candidate causes. When the configuration is in the lake,
each candidate is evaluated against the real security groups, network ACLs, routes and
endpoints: a candidate the configuration proves is ``confirmed`` and names the exact
resource and rule; one the configuration rules out is dropped; the rest stay as
unconfirmed possibilities. Every cause comes with an AWS CLI command to fix it.
"""

from __future__ import annotations

from pipeline import addresses
from pipeline.analysis import fixes, proof, unconfirmed
from pipeline.analysis.fixes import EPHEMERAL
from pipeline.analysis.network import Network, proto_name
from pipeline.vocabulary import CAUSES, SETTINGS_CAUSES

#: The task credentials endpoint: SDKs fetch the task role's credentials there, never through a proxy.
TASK_CREDENTIALS = "169.254.170.2"


def _public(addr: str | None) -> bool:
    return bool(addresses.is_global(addr))


def endpoint_hostname(endpoint: dict) -> str | None:
    """The private DNS name of an interface endpoint's service: ``sqs.eu-west-1.amazonaws.com``,
    ``api.ecr.…`` for ecr.api, ``dkr.ecr.…`` for ecr.dkr (whose names are ``<account>.dkr.ecr.…``)."""
    svc, name = endpoint.get("aws_service"), endpoint.get("service_name") or ""
    region = next((p for p in name.split(".") if p.count("-") >= 2 and p[-1].isdigit()), None)
    if not svc or not region:
        return None
    first, _, rest = svc.partition(".")
    return f"{rest}.{first}.{region}.amazonaws.com" if rest else f"{svc}.{region}.amazonaws.com"


def candidates(f: dict) -> list[str]:
    """Causes from the flow evidence alone, most likely first."""
    kind, at, dest_type = f["kind"], f["observed_at"], f["dest_type"]
    if kind == "endpoint_bypassed":
        if dest_type == "proxy":
            return ["proxy_bypass_missing"]
        return ["endpoint_private_dns_disabled", "vpc_dns_disabled", "custom_dns_servers"]
    if dest_type == "proxy":  # the task definition sends its calls there: that first, the network under it
        return ["proxy"] + candidates({**f, "dest_type": "vpc_internal"})
    if kind == "dns_failure":
        return (["dns_nxdomain"] if f.get("rcode") == "NXDOMAIN" else []) + ["vpc_dns_disabled", "custom_dns_servers"]
    if kind == "refused":
        return ["destination_unresponsive"]
    if kind == "reject":
        return {
            "source_egress": ["security_group_egress", "network_acl_outbound"],
            "destination_ingress": ["security_group_ingress_destination", "network_acl_inbound_destination"],
            "destination_egress_return": ["network_acl_return"],
            "source_ingress_return": ["network_acl_return"],
        }[at]
    # no_return: nothing came back and nothing was rejected
    if f.get("dest_port") == 53 and f.get("protocol") in (6, 17):
        return ["custom_dns_servers", "route_missing", "security_group_egress", "network_acl_outbound",
                "destination_unresponsive"]
    if dest_type in ("aws_service", "internet") or _public(f["dest_addr"]):
        return ["route_missing", "no_public_ip", "nat_gateway_problem", "proxy", "destination_unresponsive"]
    if f.get("request_arrived"):
        return ["destination_unresponsive"]
    if f.get("destination_logged"):
        return ["route_missing", "network_acl_outbound", "security_group_egress"]
    return ["security_group_ingress_destination", "network_acl_inbound_destination", "network_acl_return",
            "destination_unresponsive", "route_missing"]


def sizes_note(f: dict) -> str:
    """Why a finding is ``refused`` when the flow-log format has no tcp-flags."""
    reset = 60 if ":" in (f.get("dest_addr") or "") else 40
    n = f.get("conversations")
    attempts = f"each of the {n} attempts" if n else "each attempt"
    return (f"Inferred from packet sizes, as the flow-log format has no tcp-flags: {attempts} got a single "
            f"{reset}-byte reply (a TCP reset) to a 1-2 packet request, and no data was exchanged.")


def _cause(name: str, confirmed: bool, resource=None, rule=None, explanation=None, fix=None) -> dict:
    return {"cause": name, "confirmed": confirmed, "resource": resource, "rule": rule,
            "explanation": explanation or CAUSES[name], "fix": fix, "fix_verified": None, "fix_scope": None}


class Diagnoser:
    """Confirms candidate causes for findings against one Network.

    ``observed``: a callable giving the conversations the flows show (rows of ``observed_conversations``),
    called once, when the first fix is proven; without it a fix is proven on the finding's own
    conversations only."""

    def __init__(self, net: Network, observed=None):
        self.net = net
        self._observed_rows = observed
        self._baseline: proof.Baseline | None = None
        self._by_client: dict[tuple, list[proof.Conversation]] = {}  # (client, port, protocol) -> observed

    def _source(self, f: dict) -> dict:
        eni = self.net.interfaces.get(f.get("source_eni") or "") or self.net.by_ip.get(f.get("source_addr") or "") or {}
        return {
            "groups": list(f.get("source_groups") or eni.get("security_group_ids") or []),
            "subnet": f.get("source_subnet") or eni.get("subnet_id"),
            "public_ip": eni.get("public_ip"),
        }

    def _destination(self, f: dict) -> dict:
        eni = self.net.interfaces.get(f.get("destination_eni") or "") or self.net.by_ip.get(f.get("dest_addr") or "") or {}
        groups = list(eni.get("security_group_ids") or [])
        endpoint = self.net.endpoints.get(f.get("dest_id") or "")
        if endpoint and not groups:
            groups = list(endpoint.get("security_group_ids") or [])
        return {"eni": eni, "groups": groups, "subnet": eni.get("subnet_id"), "endpoint": endpoint}

    def diagnose(self, f: dict) -> list[dict]:
        confirmed, open_, names = [], [], candidates(f)
        for name in names:
            result = getattr(self, f"_check_{name}")(f) if self.net.known or name in SETTINGS_CAUSES else None
            if result is False:
                continue  # the configuration rules this cause out
            if isinstance(result, dict):
                confirmed.append(self._setting_proven(result, f) if result["confirmed"] else result)
            else:
                open_.append(_cause(name, False, fix=unconfirmed.fix(name, f, self._source(f))
                                    or self._generic_fix(name, f)))
        causes = confirmed + open_
        if f.get("state_from_sizes"):
            for cause in causes:
                cause["explanation"] = f"{cause['explanation']} {sizes_note(f)}"
        return causes

    # -- fixes: built least-privilege (``fixes``), proven on a copy of the configuration (``proof``) --
    def baseline(self) -> proof.Baseline:
        """The observed conversations, judged once against ``self.net`` for every fix proven."""
        if self._baseline is None:
            observed = proof.conversations(self._observed_rows() if self._observed_rows else [])
            for c in observed:
                self._by_client.setdefault((c.client, c.port, c.protocol), []).append(c)
            self._baseline = proof.Baseline(self.net, observed)
        return self._baseline

    def _failing(self, f: dict) -> list[proof.Conversation]:
        """The finding's conversations, from the observed ones (else one per destination address)."""
        addrs = set(f.get("dest_addrs") or [f["dest_addr"]])
        self.baseline()
        mine = [c for c in self._by_client.get((f["source_addr"], f["dest_port"], f["protocol"]), [])
                if c.server in addrs and c.state == f.get("state")]
        return mine or [proof.Conversation(f["source_addr"], a, f["dest_port"], f["protocol"], f.get("client_port"))
                        for a in sorted(addrs)]

    @staticmethod
    def _alike(f: dict):
        """Does a conversation fail the way the finding's do (same port and protocol, same state or not judged yet)?"""
        return lambda c: (c.port, c.protocol) == (f["dest_port"], f["protocol"]) and c.state in (f.get("state"), "pending")

    def _fixed(self, cause: dict, change, f: dict, note: str = "") -> dict:
        """``cause`` with ``change`` as its fix, proven: ``fix``, ``fix_verified``, ``fix_scope``, ``fix_as``."""
        checked = proof.prove(self.baseline(), change, self._failing(f), self._alike(f))
        cause.update(fix=change.cli(), fix_verified=checked.verified, fix_scope=change.scope(),
                     fix_as={fmt: fixes.render(change, fmt) for fmt in fixes.FIX_FORMATS if fmt != "cli"})
        cause["explanation"] = " ".join(p.rstrip(".") + "." for p in (cause["explanation"], note, checked.sentence()) if p)
        return cause

    def _setting_proven(self, cause: dict, f: dict) -> dict:
        """A settings cause's fix, made on a copy of the configuration: the same check must no longer confirm it."""
        patched = proof.with_setting(self.net, cause, f)
        if patched is None:
            return cause
        again = getattr(Diagnoser(patched), f"_check_{cause['cause']}")(f)
        cause["fix_verified"] = not isinstance(again, dict)
        cause["explanation"] += (". Checked on a copy of the configuration: with the fix, the cause no longer holds"
                                 if cause["fix_verified"] else ". Checked on a copy of the configuration: the fix "
                                 "does not remove the cause")
        return cause

    # -- checks: a dict (confirmed), False (ruled out) or None (cannot tell) --------
    def _known_groups(self, groups: list[str]) -> bool:
        """Are the groups' rules in the imported configuration? (A group absent from it proves nothing.)"""
        return all(g in self.net.groups or any(r["group_id"] == g for r in self.net.rules) for g in groups)

    def _check_security_group_egress(self, f):
        src = self._source(f)
        if not src["groups"]:
            return None
        dst = self._destination(f)
        v = self.net.security_groups_allow(src["groups"], "egress", f["protocol"], f["dest_port"], f["dest_addr"],
                                           set(dst["groups"]))
        if v.allowed:
            return False
        if not self._known_groups(src["groups"]):
            return None
        change = fixes.security_group_rule(src["groups"][0], "egress", f["protocol"], f["dest_port"], dst["groups"],
                                           f.get("dest_addrs") or [f["dest_addr"]])
        cause = _cause("security_group_egress", True, src["groups"][0] if len(src["groups"]) == 1 else ", ".join(src["groups"]),
                       None, v.explanation)
        return self._fixed(cause, change, f)

    def _check_security_group_ingress_destination(self, f):
        dst, src = self._destination(f), self._source(f)
        if not dst["groups"]:
            return None
        v = self.net.security_groups_allow(dst["groups"], "ingress", f["protocol"], f["dest_port"], f["source_addr"],
                                           set(src["groups"]))
        if v.allowed:
            return False
        if not self._known_groups(dst["groups"]):
            return None
        change = fixes.security_group_rule(dst["groups"][0], "ingress", f["protocol"], f["dest_port"], src["groups"],
                                           [f["source_addr"]])
        cause = _cause("security_group_ingress_destination", True, dst["groups"][0], None, v.explanation)
        return self._fixed(cause, change, f)

    def _acl_check(self, name, f, subnet, egress, port, peers, ports):
        """The subnet's ACL for the conversations to or from ``peers`` (the first decides the verdict); the fix
        allows, in front of that deny, every peer it denies."""
        if not subnet:
            return None
        v = self.net.acl_allows(subnet, egress, f["protocol"], port, peers[0])
        if v is None:
            return None
        if v.allowed:
            return False
        verdicts = {p: self.net.acl_allows(subnet, egress, f["protocol"], port, p) for p in peers}
        # the peers the same entry denies: the allows go in front of it (another deny is another cause's fix)
        denied = [p for p, w in verdicts.items() if not w.allowed and w.rule == v.rule]
        cause = _cause(name, True, v.resource, v.rule, v.explanation)
        change = fixes.acl_entries(self.net, v, egress, f["protocol"], ports, denied)
        if change is None:
            cause["explanation"] += f"; no free rule number is left in front of {v.rule}: renumber the entries first"
            return cause
        return self._fixed(cause, change, f, self._deny_note(v, egress, f))

    def _deny_note(self, v, egress: bool, f: dict) -> str:
        """Say whether the deny stops anything else the flows show (else deleting it would do as well)."""
        if v.rule == "rule *":
            return ""
        number = v.rule.split()[-1]
        mine = {c.key for c in self._failing(f)}
        alike = self._alike(f)
        others = [c for c in self.baseline().touching(("acl", v.resource)) if c.key not in mine and not alike(c)
                  and proof.decided_by(self.net, c, v.resource, egress, int(number))]
        if others:
            return (f"{v.rule} also denies {len(others)} other conversation{'s' if len(others) > 1 else ''} seen in the "
                    f"flows (e.g. {others[0].label()}): it stays, the allow goes in front of it.")
        return (f"{v.rule} denies nothing else seen in the flows (only conversations failing this way): deleting it (aws ec2 delete-network-acl-entry "
                f"--network-acl-id {v.resource} --rule-number {number} {'--egress' if egress else '--ingress'}) would "
                "also work, but opens all it covers.")

    def _check_network_acl_outbound(self, f):
        port = f["dest_port"]
        return self._acl_check("network_acl_outbound", f, self._source(f)["subnet"], True, port,
                               [f["dest_addr"], *(a for a in f.get("dest_addrs") or [] if a != f["dest_addr"])],
                               (port, port) if port is not None else None)

    def _check_network_acl_inbound_destination(self, f):
        port = f["dest_port"]
        return self._acl_check("network_acl_inbound_destination", f, self._destination(f)["subnet"], False, port,
                               [f["source_addr"]], (port, port) if port is not None else None)

    def _check_network_acl_return(self, f):
        """The reply: into the client's subnet (inbound) or out of the server's (outbound)."""
        client_port = f.get("client_port") or EPHEMERAL[0]
        if f["observed_at"] != "destination_egress_return":
            servers = [f["dest_addr"], *(a for a in f.get("dest_addrs") or [] if a != f["dest_addr"])]
            hit = self._acl_check("network_acl_return", f, self._source(f)["subnet"], False, client_port, servers, EPHEMERAL)
            if hit is not False and (hit or f["observed_at"] == "source_ingress_return"):
                return hit
        return self._acl_check("network_acl_return", f, self._destination(f)["subnet"], True, client_port,
                               [f["source_addr"]], EPHEMERAL)

    def _check_route_missing(self, f):
        src = self._source(f)
        subnet = src["subnet"]
        if not subnet:
            return None
        table, route = self.net.route(subnet, f["dest_addr"])
        if table is None:
            return None
        if route is not None and route.get("state") != "blackhole":
            return False
        nat, where = fixes.nat_for(self.net, subnet)
        endpoint = fixes.interface_endpoint(self.net, f, subnet, src["groups"]) if f.get("dest_type") == "aws_service" else None
        if route is None:
            why = f"{table} (subnet {subnet}) has no route matching {f['dest_addr']}: no 0.0.0.0/0 to a NAT or internet gateway"
            rule, destination, old = None, "0.0.0.0/0", None
        else:
            why = f"{table} routes {route['destination']} to {route.get('target_id')}, which is a blackhole"
            rule, destination, old = f"route {route['destination']}", route["destination"], route.get("target_id")
        if f.get("dest_type") == "aws_service":
            why += ("; or create an interface VPC endpoint for the service this task calls"
                    + (f" instead: {endpoint}" if endpoint else ""))
        cause = _cause("route_missing", True, table, rule, why)
        if nat is None:
            cause.update(explanation=f"{why}; {where}", fix=endpoint or (
                f"aws ec2 create-nat-gateway --subnet-id <public subnet> --allocation-id <eip> then "
                f"aws ec2 create-route --route-table-id {table} --destination-cidr-block {destination} --nat-gateway-id <new id>"))
            return cause
        return self._fixed(cause, fixes.Route(table, destination, nat["nat_gateway_id"], old), f, where)

    def _check_no_public_ip(self, f):
        src = self._source(f)
        table, route = self.net.route(src["subnet"], f["dest_addr"]) if src["subnet"] else (None, None)
        if route is None or route.get("target_type") != "internet_gateway":
            return False if table else None
        if src["public_ip"]:
            return False
        return _cause("no_public_ip", True, table, f"route {route['destination']}",
                      f"{table} sends {f['dest_addr']} to {route.get('target_id')} but the task has no public IP",
                      "aws ecs update-service --cluster <cluster> --service <service> --network-configuration "
                      "'awsvpcConfiguration={subnets=[<subnet>],securityGroups=[<sg>],assignPublicIp=ENABLED}'")

    def _check_nat_gateway_problem(self, f):
        src = self._source(f)
        table, route = self.net.route(src["subnet"], f["dest_addr"]) if src["subnet"] else (None, None)
        if route is None or route.get("target_type") != "nat_gateway":
            return False if table else None
        nat = self.net.nat_gateways.get(route.get("target_id")) or {}
        if nat.get("state") in (None, "available"):
            return None
        return _cause("nat_gateway_problem", True, route.get("target_id"), None,
                      f"{route.get('target_id')} is {nat.get('state')}", None)

    def _check_proxy(self, f):
        if f.get("dest_type") != "proxy":  # no proxy in the task definition we know of: a proxy port is a hint
            return None if f.get("dest_port") in (3128, 8080, 8888) else False
        explanation = (f"The task definition {f['proxy_task_definition']} sets {f['proxy_setting']}: the task's HTTP(S) "
                       f"calls, AWS ones included, go to the proxy {f['dest_addr']}:{f['dest_port']}, and that "
                       f"conversation is {f['state'].replace('_', ' ')} (the network cause follows)")
        fix = (f"fix the path to the proxy (the next cause), or stop using it for AWS calls: register a new revision "
               f"of {f['proxy_task_definition'].split(':')[0]} without {f['proxy_setting'].split('=')[0]} or with the "
               "services' endpoint names in NO_PROXY (aws ecs register-task-definition --cli-input-json ...)")
        return _cause("proxy", True, f["proxy_task_definition"], f["proxy_setting"], explanation, fix)

    def _check_proxy_bypass_missing(self, f):
        """NO_PROXY must hold the task credentials address and the names of the VPC's interface endpoints."""
        entries = [e.strip().lower() for e in (f.get("no_proxy") or "").split(",") if e.strip()]

        def covered(host: str) -> bool:
            return any(e == "*" or host == e.lstrip("*.") or host.endswith("." + e.lstrip("*.")) for e in entries)

        missing = [] if TASK_CREDENTIALS in entries else [TASK_CREDENTIALS]
        for ep in sorted(self.net.endpoints.values(), key=lambda e: e["endpoint_id"]):
            if ep.get("vpc_id") != f.get("vpc_id") or (ep.get("endpoint_type") or "").lower() != "interface":
                continue
            host = endpoint_hostname(ep)
            if host and not covered(host):
                missing.append(host)
        if not missing:
            return False
        wanted = ",".join(entries + missing)
        explanation = (f"The task definition {f['proxy_task_definition']} sends calls to the proxy ({f['proxy_setting']}) "
                       f"and its NO_PROXY ({f.get('no_proxy') or 'unset'}) lacks {', '.join(missing)}: "
                       + ("task credentials are fetched through the proxy, " if TASK_CREDENTIALS in missing else "")
                       + "calls to the VPC's interface endpoints go around them through the proxy")
        fix = (f"register a new revision of {f['proxy_task_definition'].split(':')[0]} with NO_PROXY={wanted} "
               "(aws ecs register-task-definition --cli-input-json ...) and update the service")
        return _cause("proxy_bypass_missing", True, f["proxy_task_definition"], f"NO_PROXY={f.get('no_proxy') or ''}",
                      explanation, fix)

    def _check_destination_unresponsive(self, f):
        return None

    def _check_endpoint_private_dns_disabled(self, f):
        """Named: the endpoint for the service the task resolved has private DNS off (confirmed) or on (ruled
        out). Unnamed: the endpoint is one with private DNS off, and which log would settle it."""
        endpoint = self.net.endpoints.get(f.get("bypassed_endpoint") or "")
        if endpoint is None:
            return None
        ep_id, svc = endpoint["endpoint_id"], endpoint.get("aws_service")
        fix = f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {ep_id} --private-dns-enabled"
        if f.get("named_by"):
            if endpoint.get("private_dns_enabled"):
                return False
            how = "resolved" if f["named_by"] == "dns_query" else "called (CloudTrail: no vpcEndpointId, from the NAT)"
            explanation = (f"The task {how} {f['dest_name']} and reached it at public addresses "
                           f"({', '.join(f['dest_addrs'][:3])}) although {ep_id} ({svc}) is in the VPC with private DNS "
                           "disabled; the service name resolves to public IPs, so traffic leaves through "
                           f"{f.get('dest_via') or 'the NAT gateway'}.")
            return _cause("endpoint_private_dns_disabled", True, ep_id, None, explanation, fix)
        vpc = f.get("vpc_id")
        settle = (f"Resolver query logging is on for {vpc} but no logged answer in the window names these addresses "
                  "(the lookup may predate the window)" if vpc in self.net.query_logged else
                  f"{vpc} has no Resolver query logging, so the names cannot be known: associate a query-log config "
                  f"(aws route53resolver associate-resolver-query-log-config --resource-id {vpc} "
                  "--resolver-query-log-config-id <id>) and ingest the logs")
        explanation = (f"The task sends tcp/{f['dest_port']} to public AWS addresses ({', '.join(f['dest_addrs'][:3])}"
                       f"{'…' if len(f['dest_addrs']) > 3 else ''}) and {ep_id} ({svc}) is in the VPC with private DNS "
                       f"disabled, but nothing says these calls are for {svc}. {settle}; or ingest CloudTrail "
                       "(tlsDetails.clientProvidedHostHeader, or the service's calls from the NAT's address without "
                       "vpcEndpointId) to confirm or rule out the bypass.")
        return _cause("endpoint_private_dns_disabled", False, ep_id, None, explanation, fix)

    def _check_vpc_dns_disabled(self, f):
        vpc = f.get("vpc_id")
        wanted = ("enableDnsSupport",) if f["kind"] == "dns_failure" else ("enableDnsSupport", "enableDnsHostnames")
        values = {a: self.net.dns_attributes.get((vpc, a)) for a in wanted}
        off = [a for a, v in values.items() if v is False]
        if not off:
            return False if all(v is True for v in values.values()) else None
        flag = {"enableDnsSupport": "--enable-dns-support", "enableDnsHostnames": "--enable-dns-hostnames"}
        fix = " && ".join(f"aws ec2 modify-vpc-attribute --vpc-id {vpc} {flag[a]} '{{\"Value\":true}}'" for a in off)
        explanation = (f"{vpc} has {' and '.join(a + ' = false' for a in off)}: "
                       + ("the Amazon resolver does not answer in it" if "enableDnsSupport" in off else
                          "interface endpoints' private DNS names cannot be used, so service names resolve to public IPs"))
        return _cause("vpc_dns_disabled", True, vpc, ", ".join(f"{a}=false" for a in off), explanation, fix)

    def _check_custom_dns_servers(self, f):
        vpc = f.get("vpc_id")
        servers = self.net.dns_servers(vpc)
        if servers is None:
            return None
        if "AmazonProvidedDNS" in servers or (f["kind"] == "no_return" and f.get("dest_addr") not in servers):
            return False
        options = (self.net.vpcs.get(vpc) or {}).get("dhcp_options_id")
        explanation = (f"{vpc} uses DHCP options {options} with domain-name-servers {', '.join(servers)}, not "
                       "AmazonProvidedDNS: endpoint private names are not served by them")
        if f["kind"] == "no_return":
            explanation = (f"The task's DNS queries to {f['dest_addr']} ({proto_name(f['protocol'])}/53), a server named by "
                           f"{vpc}'s DHCP options {options}, go unanswered: no name resolves")
        fix = (f"aws ec2 create-dhcp-options --dhcp-configurations 'Key=domain-name-servers,Values=AmazonProvidedDNS' "
               f"then aws ec2 associate-dhcp-options --vpc-id {vpc} --dhcp-options-id <new id> (or make "
               f"{', '.join(servers)} forward amazonaws.com to the VPC resolver)")
        return _cause("custom_dns_servers", True, options, f"domain-name-servers={','.join(servers)}", explanation, fix)

    def _check_dns_nxdomain(self, f):
        vpc, name = f.get("vpc_id"), f.get("dest_name") or ""
        zone = self.net.shadowing_zone(vpc, name)
        if zone is None:
            return False if any(z.get("vpc_id") in (vpc, None) for z in self.net.zones) else None
        zone_id = zone["hosted_zone_id"]
        if name in self.net.records.get(zone_id, set()):
            return None  # the zone has the record: NXDOMAIN is not its doing
        region = f.get("dest_region") or "<region>"
        explanation = (f"The private hosted zone {zone['zone_name']} ({zone_id}) is associated with {vpc}, so the VPC "
                       f"resolves every name under it from that zone, and it has no record for {name}: NXDOMAIN "
                       "instead of the public answer")
        fix = (f"aws route53 change-resource-record-sets --hosted-zone-id {zone_id} --change-batch "
               f"'{{\"Changes\":[{{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{{\"Name\":\"{name}\",\"Type\":\"CNAME\","
               f"\"TTL\":60,\"ResourceRecords\":[{{\"Value\":\"<endpoint DNS name>\"}}]}}}}]}}' or "
               f"aws route53 disassociate-vpc-from-hosted-zone --hosted-zone-id {zone_id} "
               f"--vpc VPCRegion={region},VPCId={vpc}")
        return _cause("dns_nxdomain", True, zone_id, f"zone {zone['zone_name']}", explanation, fix)

    def _generic_fix(self, name: str, f: dict) -> str | None:
        return {
            "destination_unresponsive": f"check the service behind {f['dest_addr']}:{f['dest_port']} "
                                        "(health, listener, its own logs)",
            "proxy": "check HTTPS_PROXY / NO_PROXY in the task definition: aws ecs describe-task-definition "
                     "--task-definition <family> --query 'taskDefinition.containerDefinitions[].environment'",
        }.get(name)
