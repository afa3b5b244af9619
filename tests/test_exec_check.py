"""`flowlogs exec-check` on imported metadata: a task that meets every ECS Exec prerequisite, and for each
prerequisite a task that fails it (the saved CLI JSON changed in that one place), with the fix."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.vocabulary import EXEC_PREREQUISITES

ACCOUNT = "123456789012"
CLUSTER = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/prod"
TASK = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task/prod/0f6e1c"
TD = f"arn:aws:ecs:eu-west-1:{ACCOUNT}:task-definition/orders:7"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-task"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-exec"
SSMMESSAGES = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
               "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]


def account() -> dict[str, dict]:
    """The CLI outputs of an account where task 0f6e1c meets every prerequisite (through a NAT gateway)."""
    return {
        "describe-clusters": {"clusters": [{"clusterArn": CLUSTER, "clusterName": "prod", "status": "ACTIVE",
                                            "configuration": {"executeCommandConfiguration": {
                                                "kmsKeyId": "1234abcd-exec", "logging": "DEFAULT"}}}]},
        "describe-tasks": {"tasks": [{
            "taskArn": TASK, "clusterArn": CLUSTER, "group": "service:orders", "taskDefinitionArn": TD,
            "launchType": "FARGATE", "platformVersion": "1.4.0", "lastStatus": "RUNNING", "desiredStatus": "RUNNING",
            "enableExecuteCommand": True, "createdAt": "2026-12-05T08:00:00Z",
            "containers": [{"name": "app", "managedAgents": [{"name": "ExecuteCommandAgent", "lastStatus": "RUNNING"}]}],
            "attachments": [{"id": "att-1", "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": [
                {"name": "subnetId", "value": "subnet-a"}, {"name": "networkInterfaceId", "value": "eni-task"},
                {"name": "privateIPv4Address", "value": "10.0.1.25"}]}]}]},
        "describe-task-definition": {"taskDefinition": {
            "taskDefinitionArn": TD, "family": "orders", "revision": 7, "taskRoleArn": ROLE, "networkMode": "awsvpc",
            "containerDefinitions": [{"name": "app", "image": "orders:7"}]}},
        "get-account-authorization-details": {"RoleDetailList": [{
            "RoleName": "orders-task", "Arn": ROLE, "RoleId": "AROA1", "Path": "/",
            "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]},
            "RolePolicyList": [{"PolicyName": "exec", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": SSMMESSAGES, "Resource": "*"},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY}]}}],
            "AttachedManagedPolicies": []}], "Policies": []},
        "describe-subnets": {"Subnets": [{"SubnetId": "subnet-a", "VpcId": "vpc-1", "CidrBlock": "10.0.1.0/24"}]},
        "describe-route-tables": {"RouteTables": [{
            "RouteTableId": "rtb-private", "VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-a", "Main": False}],
            "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
                       {"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}]}]},
        "describe-vpc-endpoints": {"VpcEndpoints": []},
        "describe-network-interfaces": {"NetworkInterfaces": [{
            "NetworkInterfaceId": "eni-task", "SubnetId": "subnet-a", "VpcId": "vpc-1", "PrivateIpAddress": "10.0.1.25",
            "Groups": [{"GroupId": "sg-task"}], "InterfaceType": "interface", "Status": "in-use",
            "Description": f"arn:aws:ecs:eu-west-1:{ACCOUNT}:attachment/att-1"}]},
        "describe-security-groups": {"SecurityGroups": [{
            "GroupId": "sg-task", "GroupName": "orders", "VpcId": "vpc-1", "Description": "orders",
            "IpPermissions": [], "IpPermissionsEgress": [
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}]},
    }


def _task(doc):
    return doc["describe-tasks"]["tasks"][0]


def _role_statements(doc):
    return doc["get-account-authorization-details"]["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"]["Statement"]


def _routes(doc):
    return doc["describe-route-tables"]["RouteTables"][0]["Routes"]


BREAKS = {  # prerequisite -> how the account is changed so that it fails, and a word the fix must hold
    "enable_execute_command": (lambda d: _task(d).update(enableExecuteCommand=False, containers=[{"name": "app"}]),
                               "--enable-execute-command"),  # ECS Exec off: no exec agent either
    "platform_version": (lambda d: _task(d).update(platformVersion="1.3.0"), "--platform-version 1.4.0"),
    "exec_agent": (lambda d: _task(d)["containers"][0]["managedAgents"][0].update(lastStatus="STOPPED"), "new task"),
    "task_role_ssmmessages": (lambda d: _role_statements(d).pop(0), "put-role-policy --role-name orders-task"),
    "ssmmessages_route": (lambda d: _routes(d).pop(1), "com.amazonaws.<region>.ssmmessages"),
    "egress_443": (lambda d: d["describe-security-groups"]["SecurityGroups"][0]["IpPermissionsEgress"][0].update(
        FromPort=5432, ToPort=5432), "authorize-security-group-egress --group-id sg-task"),
    "kms_key": (lambda d: _role_statements(d).pop(1), KEY),
}


def run_check(tmp_path, doc: dict[str, dict], *extra: str):
    folder = tmp_path / "cli"
    folder.mkdir()
    for name, body in doc.items():
        (folder / f"{name}.json").write_text(json.dumps(body))
    runner = CliRunner()
    lake = str(tmp_path / "lake")
    imported = runner.invoke(app, ["metadata", "import", str(folder), "--lake", lake, "--at", "2026-12-05T09:00Z"])
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(app, ["exec-check", "--cluster", "prod", "--task", "0f6e1c", "--lake", lake, "-f", "json",
                                 *extra])
    return result, {c["prerequisite"]: c for c in json.loads(result.stdout or "[]")}


def test_a_task_that_meets_every_prerequisite(tmp_path):
    result, checks = run_check(tmp_path, account())
    assert result.exit_code == 0, result.output
    assert list(checks) == list(EXEC_PREREQUISITES)
    assert {name: c["result"] for name, c in checks.items()} == dict.fromkeys(EXEC_PREREQUISITES, "pass")
    assert "nat-1" in checks["ssmmessages_route"]["detail"] and KEY in checks["kms_key"]["detail"]


@pytest.mark.parametrize("prerequisite", list(BREAKS))
def test_a_task_that_fails_one_prerequisite_gets_its_fix(tmp_path, prerequisite):
    doc = copy.deepcopy(account())
    change, fix_word = BREAKS[prerequisite]
    change(doc)
    result, checks = run_check(tmp_path, doc)
    assert result.exit_code == 1, result.output
    failed = {name for name, c in checks.items() if c["result"] == "fail"}
    expected = {prerequisite} | ({"exec_agent"} if prerequisite == "enable_execute_command" else set())
    assert failed == expected, checks
    assert fix_word in checks[prerequisite]["fix"]


def test_an_ssmmessages_endpoint_is_a_route_and_egress_is_checked_against_it(tmp_path):
    doc = account()
    _routes(doc).pop(1)  # no NAT: the endpoint is the only way
    doc["describe-vpc-endpoints"]["VpcEndpoints"] = [{
        "VpcEndpointId": "vpce-ssmm", "VpcId": "vpc-1", "ServiceName": "com.amazonaws.eu-west-1.ssmmessages",
        "VpcEndpointType": "Interface", "State": "available", "PrivateDnsEnabled": True, "SubnetIds": ["subnet-a"],
        "NetworkInterfaceIds": ["eni-vpce"], "Groups": [{"GroupId": "sg-vpce"}]}]
    doc["describe-network-interfaces"]["NetworkInterfaces"].append({
        "NetworkInterfaceId": "eni-vpce", "SubnetId": "subnet-a", "VpcId": "vpc-1", "PrivateIpAddress": "10.0.1.200",
        "Groups": [{"GroupId": "sg-vpce"}], "InterfaceType": "vpc_endpoint", "Status": "in-use"})
    doc["describe-security-groups"]["SecurityGroups"][0]["IpPermissionsEgress"] = [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": "sg-vpce"}]}]
    result, checks = run_check(tmp_path, doc)
    assert result.exit_code == 0, checks
    assert "vpce-ssmm" in checks["ssmmessages_route"]["detail"] and "sg-vpce" in checks["egress_443"]["detail"]


def test_what_the_lake_does_not_hold_is_unknown_with_the_file_to_import(tmp_path):
    doc = account()
    for name in ("describe-clusters", "get-account-authorization-details"):
        del doc[name]
    result, checks = run_check(tmp_path, doc)
    assert result.exit_code == 0, result.output  # nothing failed; two things are not known
    assert checks["task_role_ssmmessages"]["result"] == "unknown" and checks["kms_key"]["result"] == "unknown"
    assert "get-account-authorization-details" in checks["task_role_ssmmessages"]["fix"]
    assert "describe-clusters" in checks["kms_key"]["fix"]


def test_a_task_not_in_the_lake_says_how_to_get_it(tmp_path):
    result, _ = run_check(tmp_path, {"describe-subnets": account()["describe-subnets"]})
    assert result.exit_code == 2 and "not in the lake's metadata" in result.output and "Traceback" not in result.output


def test_collect_reads_the_account_first(aws, tmp_path):
    """--collect against the moto server (whose tasks carry no enableExecuteCommand nor exec agents: unknown)."""
    import boto3

    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc run-task needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="t", Description="t", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name="eu-west-1")
    ecs.create_cluster(clusterName="prod", configuration={"executeCommandConfiguration": {"kmsKeyId": "k-1"}})
    ecs.register_task_definition(family="t", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                                 memory="512", containerDefinitions=[{"name": "app", "image": "x", "memory": 512}])
    task = ecs.run_task(cluster="prod", taskDefinition="t", launchType="FARGATE", platformVersion="1.4.0",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}
                        )["tasks"][0]["taskArn"]
    result = CliRunner().invoke(app, ["exec-check", "--cluster", "prod", "--task", task.rsplit("/", 1)[-1],
                                      "--collect", "--lake", str(tmp_path / "lake"), "-f", "json"])
    checks = {c["prerequisite"]: c for c in json.loads(result.stdout)}
    assert checks["platform_version"]["result"] == "pass"
    assert checks["enable_execute_command"]["result"] == "unknown"
    assert checks["task_role_ssmmessages"]["result"] == "fail"  # the task definition has no task role
    assert checks["kms_key"]["result"] == "unknown" and "k-1" in checks["kms_key"]["detail"]
    assert checks["ssmmessages_route"]["result"] == "fail"  # moto's VPC: no NAT, no endpoint
