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
    "api_call": "An AWS API call the service refused (CloudTrail: the connection worked, a policy said no).",
    "task_event": "A task that stopped before it ran (its stoppedReason, from ECS task events or describe-tasks).",
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


def markdown_table(words: dict[str, str]) -> str:
    return "\n".join(["| word | meaning |", "|---|---|", *(f"| `{k}` | {v} |" for k, v in words.items())])
