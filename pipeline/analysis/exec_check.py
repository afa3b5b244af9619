"""``flowlogs exec-check``: can ECS Exec reach this task? Each prerequisite, pass or fail, with its fix.

Evaluated against the lake's metadata (imported CLI JSON, or collected): the task (describe-tasks:
``enableExecuteCommand``, platform version, the ExecuteCommandAgent of each container), its task
definition's task role and that role's policies (get-account-authorization-details, evaluated like
``flowlogs explain`` does), the cluster's execute-command configuration (describe-clusters
``--include CONFIGURATIONS``: a KMS key), and the network: an ``ssmmessages`` interface endpoint in
the task's VPC or a default route to a NAT (or an internet gateway with a public IP), and the task's
security groups' egress on 443. What the lake does not hold is ``unknown``, with the file to import.
The facts are in ``shared/reference/iam_dns.md`` (ECS Exec prerequisites).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from pipeline.analysis import policy
from pipeline.analysis.connection import load_network
from pipeline.analysis.iam_findings import PolicyStore
from pipeline.errors import FlowlogsError
from pipeline.vocabulary import EXEC_PREREQUISITES

SSMMESSAGES_ACTIONS = ("ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                       "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel")
MIN_FARGATE_VERSION = (1, 4, 0)
ANY_PUBLIC = "0.0.0.0"  # only a default route (or an egress rule to 0.0.0.0/0) covers it
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True)
class Check:
    prerequisite: str  # a word of EXEC_PREREQUISITES
    result: str  # pass | fail | unknown
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict:
        return {**asdict(self), "meaning": EXEC_PREREQUISITES[self.prerequisite]}


def _one(con, sql: str, params: list) -> dict | None:
    cur = con.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _task(con, cluster: str, task: str) -> dict:
    found = _one(con, "SELECT * FROM current_ecs_tasks WHERE (task_arn = $1 OR task_id = $1) "
                      "AND (cluster_name = $2 OR cluster_arn = $2) ORDER BY snapshot_time DESC LIMIT 1", [task, cluster])
    if found is None:
        raise FlowlogsError(f"task {task} of cluster {cluster} is not in the lake's metadata",
                            f"flowlogs exec-check --collect …, or: aws ecs describe-tasks --cluster {cluster} --tasks "
                            f"{task} > tasks.json && flowlogs metadata import tasks.json")
    return found


def _version(text: str | None) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in (text or "").split("."))
    except ValueError:
        return None


def _update_service(t: dict, extra: str) -> str:
    if t.get("service_name"):
        return (f"aws ecs update-service --cluster {t['cluster_name']} --service {t['service_name']} {extra} "
                "--force-new-deployment")
    return f"start a new task with aws ecs run-task … {extra}"


def check_enable(t: dict) -> Check:
    on = t.get("enable_execute_command")
    if on:
        return Check("enable_execute_command", PASS, "enableExecuteCommand is true")
    if on is None:
        return Check("enable_execute_command", UNKNOWN, "the task's describe-tasks output does not say",
                     f"aws ecs describe-tasks --cluster {t['cluster_name']} --tasks {t['task_id']} > tasks.json && "
                     "flowlogs metadata import tasks.json")
    return Check("enable_execute_command", FAIL, "enableExecuteCommand is false: the task started without ECS Exec",
                 _update_service(t, "--enable-execute-command"))


def check_platform(t: dict) -> Check:
    launch = (t.get("launch_type") or t.get("capacity_provider_name") or "").upper()
    version = t.get("platform_version")
    if not launch.startswith("FARGATE"):
        return Check("platform_version", UNKNOWN, f"launch type {launch or 'unknown'}: on EC2 the ECS agent must be "
                     "1.50.2 or later (not checked)")
    parsed = _version(version)
    if version and version.upper() == "LATEST" or parsed and parsed >= MIN_FARGATE_VERSION:
        return Check("platform_version", PASS, f"Fargate platform version {version}")
    if parsed is None:
        return Check("platform_version", UNKNOWN, f"platform version {version or 'not recorded'}")
    return Check("platform_version", FAIL, f"Fargate platform version {version} is older than 1.4.0",
                 _update_service(t, "--platform-version 1.4.0"))


def check_agent(t: dict) -> Check:
    agents = t.get("exec_agents") or []
    if not agents:
        result = UNKNOWN if t.get("enable_execute_command") is None else FAIL
        return Check("exec_agent", result, "no container reports an ExecuteCommandAgent",
                     "the agent runs only in tasks started with ECS Exec on: start a new task after the other fixes")
    stopped = [a for a in agents if not a.endswith(": RUNNING")]
    if stopped:
        return Check("exec_agent", FAIL, "ExecuteCommandAgent not running: " + ", ".join(stopped),
                     "the agent cannot reach ssmmessages or the task role lacks its permissions (the checks "
                     "below); start a new task once they pass")
    return Check("exec_agent", PASS, ", ".join(agents))


def _role_policies(policies: PolicyStore, role_arn: str, resource_arn: str = "*"):
    role = policies.role(role_arn)
    if role is None:
        return None
    return policies.policies(role, None, policies.resource(resource_arn), resource_arn)


def _denied(role_arn: str, actions: tuple[str, ...], resource: str, found: policy.PolicySet) -> list[str]:
    session = role_arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/exec-check"
    return [a for a in actions
            if not policy.evaluate_request(policy.Request(session, a, resource, role_arn=role_arn), found).allowed]


def _put_role_policy(role_arn: str, name: str, actions: list[str], resource: str) -> str:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    return (f"aws iam put-role-policy --role-name {role_arn.rsplit('/', 1)[-1]} --policy-name {name} "
            f"--policy-document '{json.dumps(document)}'")


def check_role(t: dict, role_arn: str | None, policies: PolicyStore) -> Check:
    if role_arn is None:
        return Check("task_role_ssmmessages", FAIL if t.get("task_definition_known") else UNKNOWN,
                     "the task definition has no task role" if t.get("task_definition_known")
                     else "the task definition is not in the lake",
                     "give the task definition a taskRoleArn allowing the four ssmmessages actions"
                     if t.get("task_definition_known") else
                     f"aws ecs describe-task-definition --task-definition {t['task_definition_arn']} > td.json && "
                     "flowlogs metadata import td.json")
    found = _role_policies(policies, role_arn)
    if found is None:
        return Check("task_role_ssmmessages", UNKNOWN, f"the policies of {role_arn} are not in the lake",
                     "aws iam get-account-authorization-details > iam.json && flowlogs metadata import iam.json")
    missing = _denied(role_arn, SSMMESSAGES_ACTIONS, "*", found)
    if missing:
        return Check("task_role_ssmmessages", FAIL, f"{role_arn} is not allowed {', '.join(missing)}",
                     _put_role_policy(role_arn, "ecs-exec", list(SSMMESSAGES_ACTIONS), "*"))
    return Check("task_role_ssmmessages", PASS, f"{role_arn} allows the four ssmmessages actions")


def _endpoint(network, vpc_id: str | None) -> dict | None:
    for e in network.endpoints.values():
        if e.get("vpc_id") == vpc_id and e.get("aws_service") == "ssmmessages" \
                and str(e.get("state") or "").lower() == "available":
            return e
    return None


def check_route(t: dict, network, vpc_id: str | None, endpoint: dict | None) -> Check:
    subnet = t.get("subnet_id")
    if endpoint is not None:
        if endpoint.get("private_dns_enabled"):
            return Check("ssmmessages_route", PASS, f"interface endpoint {endpoint['endpoint_id']} with private DNS")
        return Check("ssmmessages_route", FAIL, f"interface endpoint {endpoint['endpoint_id']} has private DNS off: "
                     "ssmmessages still resolves to public addresses",
                     f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint['endpoint_id']} --private-dns-enabled")
    if subnet is None or subnet not in network.subnets:
        return Check("ssmmessages_route", UNKNOWN, f"the task's subnet {subnet or '(not recorded)'} is not in the lake",
                     "flowlogs metadata import the describe-subnets, describe-route-tables and describe-vpc-endpoints "
                     "output")
    table, route = network.route(subnet, ANY_PUBLIC)
    fix = (f"aws ec2 create-vpc-endpoint --vpc-id {vpc_id} --vpc-endpoint-type Interface --service-name "
           f"com.amazonaws.<region>.ssmmessages --subnet-ids {subnet} --private-dns-enabled, or a default route to "
           "a NAT gateway")
    if route is None:
        return Check("ssmmessages_route", FAIL, f"no ssmmessages endpoint in {vpc_id} and no default route in "
                     f"{table or 'the subnet'}", fix)
    kind = route.get("target_type")
    if kind == "nat_gateway" and str(route.get("state") or "active").lower() == "active":
        return Check("ssmmessages_route", PASS, f"default route of {table} to {route['target_id']}")
    if kind == "internet_gateway":
        public = (network.interfaces.get(t.get("eni_id") or "") or {}).get("public_ip")
        if public:
            return Check("ssmmessages_route", PASS, f"default route of {table} to {route['target_id']}, public IP {public}")
        return Check("ssmmessages_route", FAIL, f"default route of {table} to {route['target_id']}, but the task has "
                     "no public IP", "assignPublicIp ENABLED in the service's network configuration, or " + fix)
    return Check("ssmmessages_route", FAIL, f"the default route of {table} goes to {kind} {route.get('target_id')} "
                 f"({route.get('state') or 'state unknown'})", fix)


def check_egress(t: dict, network, group_ids: list[str], endpoint: dict | None) -> Check:
    if not group_ids:
        return Check("egress_443", UNKNOWN, "the task's security groups are not in the lake",
                     "flowlogs metadata import the describe-network-interfaces (or describe-services) output")
    if not any(r["group_id"] in group_ids for r in network.rules):
        return Check("egress_443", UNKNOWN, f"the rules of {', '.join(group_ids)} are not in the lake",
                     "flowlogs metadata import the describe-security-groups output")
    if endpoint is not None:
        addresses = [network.interfaces[i]["private_ip"] for i in endpoint.get("network_interface_ids") or []
                     if i in network.interfaces]
        address, peers = (addresses[0] if addresses else ANY_PUBLIC), set(endpoint.get("security_group_ids") or [])
        where = f"endpoint {endpoint['endpoint_id']} ({address})"
    else:
        address, peers, where = ANY_PUBLIC, set(), "the internet (0.0.0.0/0)"
    verdict = network.security_groups_allow(group_ids, "egress", 6, 443, address, peers)
    if verdict.allowed:
        return Check("egress_443", PASS, verdict.explanation)
    cidr = f"{address}/32" if address != ANY_PUBLIC else "0.0.0.0/0"
    return Check("egress_443", FAIL, f"no egress on TCP 443 to {where}: {verdict.explanation}",
                 f"aws ec2 authorize-security-group-egress --group-id {group_ids[0]} --protocol tcp --port 443 "
                 f"--cidr {cidr}")


def _key_arn(key: str, cluster_arn: str | None) -> str:
    if key.startswith("arn:") or not cluster_arn:
        return key
    parts = cluster_arn.split(":")
    return f"arn:{parts[1]}:kms:{parts[3]}:{parts[4]}:key/{key}"


def check_kms(cluster: dict | None, role_arn: str | None, policies: PolicyStore) -> Check:
    if cluster is None:
        return Check("kms_key", UNKNOWN, "the cluster's execute-command configuration is not in the lake",
                     "aws ecs describe-clusters --clusters CLUSTER --include CONFIGURATIONS > clusters.json && "
                     "flowlogs metadata import clusters.json")
    key = cluster.get("exec_kms_key_id")
    if not key:
        return Check("kms_key", PASS, "the cluster's execute-command configuration names no KMS key")
    key_arn = _key_arn(key, cluster.get("cluster_arn"))
    found = _role_policies(policies, role_arn, key_arn) if role_arn else None
    if found is None:
        return Check("kms_key", UNKNOWN, f"sessions are encrypted with {key_arn}; the task role's policies are not in "
                     "the lake", "aws iam get-account-authorization-details > iam.json && flowlogs metadata import iam.json")
    if _denied(role_arn, ("kms:Decrypt",), key_arn, found):
        return Check("kms_key", FAIL, f"{role_arn} is not allowed kms:Decrypt on {key_arn}",
                     _put_role_policy(role_arn, "ecs-exec-kms", ["kms:Decrypt"], key_arn))
    return Check("kms_key", PASS, f"{role_arn} may use {key_arn}")


def exec_check(con, cluster: str, task: str) -> list[Check]:
    """Every ECS Exec prerequisite for ``task`` of ``cluster``, in the order of the vocabulary."""
    t = _task(con, cluster, task)
    definition = _one(con, "SELECT task_role_arn FROM current_task_definitions WHERE task_definition_arn = $1 LIMIT 1",
                      [t["task_definition_arn"]])
    t["task_definition_known"] = definition is not None
    role_arn = definition["task_role_arn"] if definition else None
    cluster_row = _one(con, "SELECT * FROM current_ecs_clusters WHERE cluster_arn = $1 OR cluster_name = $2 LIMIT 1",
                       [t["cluster_arn"], t["cluster_name"]])
    network = load_network(con)
    vpc_id = (network.subnets.get(t.get("subnet_id") or "") or {}).get("vpc_id")
    endpoint = _endpoint(network, vpc_id)
    groups = list((network.interfaces.get(t.get("eni_id") or "") or {}).get("security_group_ids") or [])
    if not groups and t.get("service_name"):
        service = _one(con, "SELECT security_group_ids FROM current_ecs_services WHERE service_name = $1 AND "
                            "cluster_name = $2 LIMIT 1", [t["service_name"], t["cluster_name"]])
        groups = list((service or {}).get("security_group_ids") or [])
    policies = PolicyStore(con)
    checks = [check_enable(t), check_platform(t), check_agent(t), check_role(t, role_arn, policies),
              check_route(t, network, vpc_id, endpoint), check_egress(t, network, groups, endpoint),
              check_kms(cluster_row, role_arn, policies)]
    assert [c.prerequisite for c in checks] == list(EXEC_PREREQUISITES)
    return checks
