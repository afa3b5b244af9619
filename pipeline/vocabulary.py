"""The exact words of a diagnosis, defined once: conversation states, where a failure
was observed, finding kinds and likely causes.

In the spirit of Zeek's ``conn_state``: a small vocabulary with one meaning each. The
SQL in ``queries/`` produces these words and nothing else (a test checks it), the
reports explain them with the text below, and the README's tables are generated here.
"""

from __future__ import annotations

STATES = {
    "established": "The reply reached the client (Zeek SF/S1): the network let the conversation through.",
    "no_reply": "The request was seen and nothing came back, with no REJECT anywhere (Zeek S0), after the settle time.",
    "refused": "The server answered with a TCP reset and never with SYN-ACK (Zeek REJ): nothing listens on that port.",
    "blocked": "A REJECT was logged on the path and the reply never reached the client.",
    "pending": "No reply yet, but too recent for a verdict: the reply may not be delivered yet (see --settle).",
}

OBSERVATIONS = {
    "source_egress": "Leaving the client's ENI (its security group egress rules or its subnet's outbound network ACL).",
    "destination_ingress": "Arriving at the server's ENI (its security group ingress rules or its subnet's inbound network ACL).",
    "destination_egress_return": "The reply leaving the server's ENI (its subnet's outbound network ACL).",
    "source_ingress_return": "The reply arriving at the client's ENI (its subnet's inbound network ACL: ACLs are stateless).",
    "dns_query": "The task's DNS query, as the VPC's Route 53 Resolver logged it (query logs): the name was not resolved.",
}

KINDS = {
    "reject": "Traffic was REJECTed on the path (a security group or network ACL said no).",
    "no_return": "Requests left and nothing came back, and no REJECT was logged.",
    "refused": "The destination answered with a reset.",
    "endpoint_bypassed": "Traffic went to an AWS service's public addresses although the VPC has an interface endpoint for "
    "it that the task does not use (private DNS off or not resolving). A warning: it works, through the NAT.",
    "dns_failure": "A name the task asked the VPC's resolver for and did not get (NXDOMAIN, SERVFAIL, or no answer, "
    "repeated): the call never starts, so no flow shows it.",
}

CAUSES = {
    "security_group_egress": "The client's security groups have no egress rule for this protocol, port and destination.",
    "network_acl_outbound": "The client subnet's network ACL denies the request outbound.",
    "security_group_ingress_destination": "The destination's security groups do not allow this client in.",
    "network_acl_inbound_destination": "The destination subnet's network ACL denies the request inbound.",
    "network_acl_return": "A network ACL drops the reply (stateless: the ephemeral ports must be allowed back).",
    "route_missing": "The client subnet's route table has no route to the destination (or a blackhole route).",
    "no_public_ip": "The route is to an internet gateway but the task has no public IP.",
    "nat_gateway_problem": "The route is to a NAT gateway that did not forward the traffic (state, its own subnet's route or ACL).",
    "endpoint_private_dns_disabled": "The interface endpoint for the service has private DNS disabled, so the service name "
    "resolves to public addresses.",
    "destination_unresponsive": "The request arrived and nothing answered: the service is down, overloaded or not listening.",
    "proxy": "The traffic goes to a proxy that did not answer; check HTTPS_PROXY / NO_PROXY in the task definition.",
    "dns_nxdomain": "The name does not exist as the VPC resolves it: a private hosted zone associated with the VPC "
    "(e.g. `amazonaws.com` or `{region}.amazonaws.com`) shadows the public name and has no record for it.",
    "vpc_dns_disabled": "The VPC has `enableDnsSupport` or `enableDnsHostnames` off: interface-endpoint private DNS "
    "cannot work (and without DNS support the Amazon resolver does not answer at all).",
    "custom_dns_servers": "The VPC's DHCP options name DNS servers other than `AmazonProvidedDNS`: endpoint private "
    "names are not served by them (unless they forward to the Route 53 Resolver).",
    "proxy_bypass_missing": "`NO_PROXY` in the task definition lacks `169.254.170.2` (task credentials) or the "
    "service's endpoint names, so those calls go to the proxy too.",
}

#: What a finding's destination is (``destination.type``).
DESTINATION_TYPES = {
    "vpc_endpoint": "An interface VPC endpoint's network interface (all ENIs of one endpoint are one destination).",
    "nat_gateway": "A NAT gateway's own address.",
    "aws_service": "A public address of an AWS service (ip-ranges.json); named by a DNS answer or CloudTrail when known.",
    "vpc_internal": "An address inside the VPC (a task, a load balancer, an instance).",
    "internet": "A public address outside AWS's published ranges.",
    "proxy": "The HTTP(S) proxy named by the task definition's `HTTP_PROXY` / `HTTPS_PROXY`.",
    "unknown": "An address the metadata does not explain.",
}

NOT_VISIBLE = (
    "Flow logs show packets, not permissions or names: an IAM or endpoint-policy denial (HTTP 403 over an established "
    "connection), a DNS answer pointing to the wrong place, or TLS errors do not appear in them. A conversation that is "
    "`established` while the application still fails points there."
)


def markdown_table(words: dict[str, str]) -> str:
    return "\n".join(["| word | meaning |", "|---|---|", *(f"| `{k}` | {v} |" for k, v in words.items())])
