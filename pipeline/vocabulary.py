"""The exact words of a diagnosis, defined once: conversation states, where a failure
was observed, finding kinds, likely causes and destination types, with the labels and
colours the reports show them in.

In the spirit of Zeek's ``conn_state``: a small vocabulary with one meaning each. The
SQL in ``queries/`` produces these words and nothing else (a test checks it), the
reports explain them with the text below, and the README's tables are generated here.
"""

from __future__ import annotations

STATES = {
    "established": "The reply reached the client (Zeek SF/S1): the network let the conversation through.",
    "no_reply": "The request was seen and nothing came back, with no REJECT anywhere (Zeek S0), after the settle time.",
    "refused": "The server answered with a TCP reset and never with SYN-ACK (Zeek REJ): nothing listens on that port. "
    "Without tcp-flags (the default format), inferred from sizes: lone 40-byte (IPv6: 60) replies to 1-2 packet "
    "requests, 3 times or more.",
    "blocked": "A REJECT was logged on the path and the reply never reached the client.",
    "pending": "No reply yet, but too recent for a verdict: the reply may not be delivered yet (see --settle).",
}

OBSERVATIONS = {
    "source_egress": "Leaving the client's ENI (its security group egress rules or its subnet's outbound network ACL).",
    "destination_ingress": "Arriving at the server's ENI (its security group ingress rules or its subnet's inbound network ACL).",
    "destination_egress_return": "The reply leaving the server's ENI (its subnet's outbound network ACL).",
    "source_ingress_return": "The reply arriving at the client's ENI (its subnet's inbound network ACL: ACLs are stateless).",
    "api_call": "An AWS API call the service refused (CloudTrail: the connection worked, a policy said no).",
    "task_event": "A task that stopped before it ran (its stoppedReason, from ECS task events or describe-tasks).",
    "dns_query": "The task's DNS query, as the VPC's Route 53 Resolver logged it (query logs): the name was not resolved.",
}

KINDS = {
    "reject": "Traffic was REJECTed on the path (a security group or network ACL said no).",
    "no_return": "Requests left and nothing came back, and no REJECT was logged.",
    "refused": "The destination answered with a reset.",
    "endpoint_bypassed": "Traffic went to an AWS service's public addresses although the VPC has an interface endpoint for "
    "it that the task does not use (private DNS off or not resolving). A warning: it works, through the NAT.",
    "access_denied": "AWS refused calls from a task (AccessDenied, VpceAccessDenied…): a policy, not the network, said no.",
    "task_start_failed": "Tasks stopped before running (ResourceInitializationError, CannotPullContainerError…): the "
    "execution role was denied, or the task could not reach the service at start.",
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
    "identity_policy": "The role's own policies (inline and managed) do not allow the action, or one denies it.",
    "endpoint_policy": "The VPC endpoint's policy does not allow the call through the endpoint, or denies it.",
    "resource_policy": "The resource's policy (queue, topic, secret, bucket, key) does not allow the caller, or denies it.",
    "permissions_boundary": "The role's permissions boundary does not allow the action, or denies it.",
    "service_control_policy": "An AWS Organizations service control policy denies the action for the account.",
    "resource_control_policy": "An AWS Organizations resource control policy denies access to the resource.",
    "session_policy": "The session policy passed when the role was assumed does not allow the action, or denies it.",
    "dns_nxdomain": "The name does not exist as the VPC resolves it: a private hosted zone associated with the VPC "
    "(e.g. `amazonaws.com` or `{region}.amazonaws.com`) shadows the public name and has no record for it.",
    "vpc_dns_disabled": "The VPC has `enableDnsSupport` or `enableDnsHostnames` off: interface-endpoint private DNS "
    "cannot work (and without DNS support the Amazon resolver does not answer at all).",
    "custom_dns_servers": "The VPC's DHCP options name DNS servers other than `AmazonProvidedDNS`: endpoint private "
    "names are not served by them (unless they forward to the Route 53 Resolver).",
    "proxy_bypass_missing": "`NO_PROXY` in the task definition lacks `169.254.170.2` (task credentials) or the "
    "service's endpoint names, so those calls go to the proxy too.",
}

DESTINATION_TYPES = {
    "vpc_endpoint": "An interface VPC endpoint (all its network interfaces are one destination).",
    "nat_gateway": "A NAT gateway's private address.",
    "aws_service": "A public address in AWS's published ranges (ip-ranges.json): a service in a region, named by a "
    "DNS answer or CloudTrail when known.",
    "vpc_internal": "An address in a known VPC or subnet, or of another network interface there (load balancer, "
    "instance, Lambda, task).",
    "internet": "Any other public address.",
    "proxy": "The HTTP(S) proxy named by the task definition's `HTTP_PROXY` / `HTTPS_PROXY`.",
    "unknown": "An address nothing in the metadata classifies.",
}

#: Where a conversation's ENIs are (``conversations.sql``): the client's, the server's, or in between.
SIDES = {
    "source": "The client's network interface.",
    "destination": "The server's network interface.",
    "path": "A network interface in between (NAT gateway, transit).",
}

#: AWS's own values that the SQL compares against (flow-direction, VpcEndpointType).
AWS_VALUES = {
    "egress": "flow-direction: the record left the network interface.",
    "ingress": "flow-direction: the record arrived at the network interface.",
    "interface": "VpcEndpointType of an interface endpoint (one with network interfaces and private DNS).",
    # labels of service hostnames that VPC endpoint service names spell the other way round (ecr.api, ecr.dkr)
    "ecr": "Hostname label: Amazon ECR (`api.ecr.{region}.amazonaws.com`, `{account}.dkr.ecr.{region}…`).",
    "api": "Hostname label: the ECR API (endpoint service `ecr.api`).",
    "dkr": "Hostname label: the ECR Docker registry (endpoint service `ecr.dkr`).",
    # CloudTrail errorCode values (lower-cased) that mean the call was denied; the message says by which policy
    "accessdenied": "errorCode: S3 and others, access denied.",
    "accessdeniedexception": "errorCode: most JSON-protocol services, access denied.",
    "authorizationerror": "errorCode: SNS, access denied.",
    "authorizationerrorexception": "errorCode: access denied (some services' wording).",
    "unauthorizedoperation": "errorCode: EC2 (Client.UnauthorizedOperation), access denied.",
    "kmsaccessdenied": "errorCode: KMS denied a key use on behalf of the called service.",
    "kmsaccessdeniedexception": "errorCode: KMS denied a key use on behalf of the called service.",
    "vpceaccessdenied": "errorCode of a VPC endpoint network activity event: the endpoint policy denied it.",
    # which of the task definition's roles made a call (the findings' api.role)
    "task": "api.role: the task role (the application's own calls).",
    "execution": "api.role: the task execution role (ECS pulling images, secrets and writing logs for the task).",
}

#: Kinds that mean "the task cannot talk to the service"; the others are warnings.
BROKEN_KINDS = ("reject", "no_return", "refused", "access_denied", "task_start_failed", "dns_failure")
#: Kinds found in API calls, task events and DNS queries, not in flows (their own section of the HTML report).
EVENT_KINDS = ("access_denied", "task_start_failed", "dns_failure")
#: States only given once the settle time has passed (a finding's last sighting is that much before the end).
SETTLED_STATES = ("no_reply",)

#: Causes checked against settings other than the rules and routes (attributes, DHCP options, zones, endpoints).
SETTINGS_CAUSES = ("endpoint_private_dns_disabled", "dns_nxdomain", "vpc_dns_disabled", "custom_dns_servers",
                   "proxy", "proxy_bypass_missing")
#: A network failure at task start: the causes worth checking when no flow finding of the task explains it.
START_NETWORK_CAUSES = ("route_missing", "security_group_egress", "network_acl_outbound")
POLICY_OWNERS = {"identity_policy": "the role's policy", "endpoint_policy": "the endpoint policy",
                 "resource_policy": "the resource policy", "permissions_boundary": "the permissions boundary",
                 "service_control_policy": "a service control policy",
                 "resource_control_policy": "a resource control policy", "session_policy": "the session policy"}

# --- how the reports show the words ---------------------------------------------------

KIND_LABELS = {
    "reject": "Rejected",
    "no_return": "No reply",
    "refused": "Refused",
    "access_denied": "Access denied",
    "task_start_failed": "Task start failed",
    "dns_failure": "Name not resolved",
    "endpoint_bypassed": "Endpoint bypassed",
}
#: HTML colour (chart bars, badges) and terminal style of each kind.
KIND_COLORS = {"reject": "#c9302c", "no_return": "#e08a00", "refused": "#7b3fa0", "access_denied": "#a8431c",
               "task_start_failed": "#4f5a6b", "dns_failure": "#8a5a00", "endpoint_bypassed": "#2f6fb5"}
KIND_STYLES = {"reject": "bold red", "no_return": "bold yellow", "refused": "bold magenta",
               "access_denied": "bold red", "task_start_failed": "bold yellow", "dns_failure": "bold yellow", "endpoint_bypassed": "bold cyan"}
#: A finding's state (never ``pending``), most serious first.
STATE_LABELS = {
    "blocked": "blocked",
    "refused": "refused",
    "no_reply": "no reply",
    "established": "established",
}
DESTINATION_LABELS = {
    "vpc_endpoint": "VPC endpoint",
    "nat_gateway": "NAT gateway",
    "aws_service": "AWS service, public endpoint",
    "vpc_internal": "inside the VPC",
    "internet": "internet",
    "proxy": "proxy",
    "unknown": "unknown",
}
#: Where a destination without an id is, in a short label: ``sts (public endpoint)``.
DESTINATION_PLACES = {
    "aws_service": "public endpoint",
    "internet": "internet",
    "vpc_internal": "in VPC",
    "proxy": "proxy",
    "unknown": "unknown",
}

NOT_VISIBLE = (
    "Flow logs show packets, not permissions or names: an IAM or endpoint-policy denial (HTTP 403 over an established "
    "connection), a DNS answer pointing to the wrong place, or TLS errors do not appear in them. A conversation that is "
    "`established` while the application still fails points there."
)

# What a stopped task's stoppedReason says went wrong, and at which step of its start.
STOP_CATEGORIES = {
    "iam": "AWS refused a call the task's start needed: the execution role (or a policy on the path) is missing a permission.",
    "network": "A call the task's start needed timed out or could not connect: a route, security group, endpoint or DNS.",
    "image": "The container image could not be pulled for a reason other than IAM or the network (missing repository "
    "or tag, registry error, disk).",
    "other": "Any other stop: a container exited or ran out of memory, health checks, scaling, maintenance, a user.",
}

START_STEPS = {
    "secrets_manager": "Fetching a Secrets Manager secret named in the task definition (or private registry credentials).",
    "ssm_parameters": "Fetching SSM Parameter Store values named in the task definition.",
    "ecr_auth": "Getting the ECR registry authorization token (ecr:GetAuthorizationToken).",
    "image_pull": "Pulling the container image (the registry, then its layers from S3 for ECR).",
    "logs": "Setting up the awslogs driver (the CloudWatch Logs group and stream).",
    "assume_role": "Assuming the task role or the execution role.",
    "container_start": "Creating or starting a container after the image was pulled.",
}


#: An incident's lifecycle across scheduled runs (its record in the lake, ``flowlogs report incidents --state``).
INCIDENT_STATES = {
    "open": "Failing: first seen by a run, and not yet judged over.",
    "resolved": "A run's window reached 10 minutes (for `no_reply`, plus the settle time) past its last failure "
    "and saw none: the pairs succeeded or stayed silent.",
}
#: What a run did to an incident; notifications are sent for ``new`` and ``resolved`` only.
INCIDENT_CHANGES = {
    "new": "Opened by this run (first seen, or failing again after it was resolved): a notification is sent.",
    "ongoing": "Open before this run and still open: no notification.",
    "resolved": "Resolved by this run: a notification is sent.",
}


def markdown_table(words: dict[str, str]) -> str:
    return "\n".join(["| word | meaning |", "|---|---|", *(f"| `{k}` | {v} |" for k, v in words.items())])


#: Every word class, for the README and the tests that keep the words defined here only.
#: What named a destination (``destination.named_by``): flow logs carry addresses, these carry names.
NAMED_BY = {
    "dns_query": "The task's own DNS query for the address, as the VPC's Route 53 Resolver logged it (query logs).",
    "cloudtrail": "A CloudTrail record of the service's API called from the task's public (NAT) address, without a "
    "VPC endpoint.",
}

#: Where the SQL of ``queries/`` runs (``--engine``): the same files, transpiled by sqlglot for the others.
ENGINES = {
    "duckdb": "This machine, in process (the default): the lake read where it lies, local or S3.",
    "spark": "A Spark session (--spark-master; local[*] by default), reading the lake's files; pip install "
    "'fargate-flowlogs[spark]'.",
    "athena": "Amazon Athena over the lake's tables on S3 (flowlogs athena ddl --apply makes them); billed by the "
    "bytes scanned.",
}

WORDS = {"states": STATES, "observations": OBSERVATIONS, "kinds": KINDS, "causes": CAUSES,
         "destination_types": DESTINATION_TYPES, "sides": SIDES, "stop_categories": STOP_CATEGORIES,
         "start_steps": START_STEPS, "named_by": NAMED_BY, "incident_states": INCIDENT_STATES,
         "incident_changes": INCIDENT_CHANGES}

# --- flowlogs probe and exec-check ------------------------------------------------------

#: The steps of the probe script, one JSON line each (the ``probes`` table's ``step``).
PROBE_STEPS = {
    "identity": "sts get-caller-identity: the credentials the task's calls are made with (its task role).",
    "dns": "The target's name resolved in the task's network: which addresses, private (an endpoint) or public.",
    "tcp": "A TCP connection to one resolved address and port (no proxy): its time, or curl's error.",
    "tls": "The TLS handshake on that connection: its time, or curl's error (a certificate or an intercepting proxy).",
    "call": "One read-only signed call to the target (through HTTPS_PROXY when the task sets it), with the exact error.",
    "done": "The script finished: every target was probed.",
}
#: The probe steps that test the network path (the others are AWS's answers, and bookkeeping).
PROBE_NETWORK_STEPS = ("dns", "tcp", "tls")

#: What ECS Exec needs, each checked by ``flowlogs exec-check`` (reference: iam_dns.md, ECS Exec prerequisites).
EXEC_PREREQUISITES = {
    "enable_execute_command": "The task was started with ECS Exec turned on (enableExecuteCommand); it cannot be "
    "turned on for a running task.",
    "platform_version": "The Fargate platform version is 1.4.0 or later (Linux).",
    "exec_agent": "The ExecuteCommandAgent managed agent of each container is RUNNING.",
    "task_role_ssmmessages": "The task role allows ssmmessages:CreateControlChannel, CreateDataChannel, "
    "OpenControlChannel and OpenDataChannel.",
    "ssmmessages_route": "The task's subnet reaches ssmmessages: an interface endpoint for it in the VPC, or a default "
    "route to a NAT gateway (or an internet gateway with a public IP).",
    "egress_443": "The task's security groups allow outbound TCP 443 to that endpoint or the internet.",
    "kms_key": "When the cluster's execute-command configuration names a KMS key, the task role allows kms:Decrypt on it.",
}

WORDS.update(probe_steps=PROBE_STEPS, exec_prerequisites=EXEC_PREREQUISITES)
