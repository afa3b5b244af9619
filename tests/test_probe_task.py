"""`flowlogs probe` against the moto server: the service read, the probe task definition registered once,
run-task with the service's network, the log read, the stop, and the timeout.

moto's ECS run-task never runs a container, so nothing writes the probe's output: each test writes the
log events the probe script would have printed itself, into the task's log stream, right after the
run-task call (a botocore after-call hook on the client the probe uses). What the test writes is given
below (``lines_for``); that the script prints such lines is tested in test_probe_script.py. moto also needs
the container's own memory and a VPC with DNS hostnames to run an awsvpc task (both valid on AWS).
"""

from __future__ import annotations

import json
import shlex
import subprocess

import boto3
import pytest
from typer.testing import CliRunner

from pipeline import aws
from pipeline.cli import app
from pipeline.errors import FlowlogsError
from pipeline.jobs import probe as P
from pipeline.jobs.probe_script import exec_command_line, target
from pipeline.lake import store as lake
from pipeline.settings import Settings

REGION = "eu-west-1"
TASK_ROLE = "arn:aws:iam::123456789012:role/orders-task"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/orders-execution"


@pytest.fixture
def service(aws):
    """A Fargate service 'orders' in cluster 'prod': two subnets, one security group, no public IP, a proxy."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's awsvpc run-task needs it
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    sg = ec2.create_security_group(GroupName="orders", Description="orders", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="prod")
    td = ecs.register_task_definition(
        family="orders", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        taskRoleArn=TASK_ROLE, executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=[{"name": "app", "image": "orders:1", "memory": 512, "environment": [
            {"name": "HTTPS_PROXY", "value": "http://proxy.internal:3128"}, {"name": "NO_PROXY", "value": "169.254.170.2"},
            {"name": "LOG_LEVEL", "value": "info"}]}])["taskDefinition"]["taskDefinitionArn"]
    network = {"subnets": subnets, "securityGroups": [sg], "assignPublicIp": "DISABLED"}
    ecs.create_service(cluster="prod", serviceName="orders", taskDefinition=td, desiredCount=0, launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": network})
    return {"network": network, "ecs": ecs, "logs": boto3.client("logs", region_name=REGION)}


def lines_for(task_id: str, *, done: bool = True, denied: bool = True) -> list[str]:
    """What the probe script prints for one sqs target through an endpoint: resolved privately, connected,
    handshake made, the call refused by the endpoint policy (or not)."""
    base = {"probe": "flowlogs/1", "time": "2026-12-05T09:00:00Z", "run": task_id, "account": "123456789012",
            "cluster": "prod", "service": "orders",
            "region": REGION, "task_arn": f"arn:aws:ecs:{REGION}:123456789012:task/prod/{task_id}",
            "source_ip": "10.0.1.25"}
    where = {"target": "sqs", "host": f"sqs.{REGION}.amazonaws.com", "port": 443}
    error = ("An error occurred (AccessDeniedException) when calling the ListQueues operation: User: "
             f"arn:aws:sts::123456789012:assumed-role/orders-task/{task_id} is not authorized to perform: "
             "sqs:listqueues because no VPC endpoint policy allows the sqs:listqueues action")
    steps = [
        {"step": "identity", "ok": True, "principal": f"arn:aws:sts::123456789012:assumed-role/orders-task/{task_id}"},
        {"step": "dns", **where, "ok": True, "addresses": ["10.0.1.77"]},
        {"step": "tcp", **where, "address": "10.0.1.77", "ok": True, "seconds": 0.0012},
        {"step": "tls", **where, "address": "10.0.1.77", "ok": True, "seconds": 0.0108},
        {"step": "call", **where, "call": "aws sqs list-queues --max-items 1", "ok": not denied,
         "proxy": "http://proxy.internal:3128", **({"error": error} if denied else {})},
    ] + ([{"step": "done", "targets": 1}] if done else [])
    return [json.dumps({**base, **s}) for s in steps]


def settings() -> Settings:
    return Settings(region=REGION)


@pytest.fixture
def simulate_probe_output(service):
    """``simulate(**kwargs)``: after each run-task, the task's log stream with the probe's lines in it (what
    the container would write); returns what was seen of the request. The hooks go with the test."""
    events = aws.client(settings(), "ecs").meta.events
    hooks = []

    def simulate(**kwargs) -> dict:
        seen: dict = {}

        def before_run_task(params=None, **_):
            seen["request"] = json.loads(json.dumps(params))  # the request as the probe sends it

        def after_run_task(parsed=None, **_):
            task_arn = seen["task_arn"] = parsed["tasks"][0]["taskArn"]
            group, stream = P.DEFAULT_LOG_GROUP, P.stream_name(task_arn)
            service["logs"].create_log_stream(logGroupName=group, logStreamName=stream)
            service["logs"].put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
                {"timestamp": 1_796_000_000_000 + i, "message": line}
                for i, line in enumerate(lines_for(task_arn.rsplit("/", 1)[-1], **kwargs))])

        for name, hook in (("before-parameter-build.ecs.RunTask", before_run_task),
                           ("after-call.ecs.RunTask", after_run_task)):
            events.register(name, hook)
            hooks.append((name, hook))
        return seen

    yield simulate
    for name, hook in hooks:
        events.unregister(name, hook)


def test_the_probe_runs_on_the_services_network_and_role_and_keeps_what_it_saw(service, simulate_probe_output, tmp_path):
    store = lake.open_lake(tmp_path / "lake")
    seen = simulate_probe_output()
    progress: list[str] = []
    outcome = P.probe(settings(), store, "prod", "orders", [target("sqs", REGION)], timeout=30, interval=0.1,
                      progress=progress.append)

    request = seen["request"]  # the run-task request as sent
    assert request["networkConfiguration"] == {"awsvpcConfiguration": service["network"]}
    assert request["launchType"] == "FARGATE" and request["cluster"] == "prod"
    (override,) = request["overrides"]["containerOverrides"]
    assert override["environment"] == [
        {"name": "FLOWLOGS_PROBE_TARGETS", "value": f"sqs|sqs.{REGION}.amazonaws.com|443|sqs list-queues --max-items 1"},
        {"name": "FLOWLOGS_PROBE_CLUSTER", "value": "prod"}, {"name": "FLOWLOGS_PROBE_SERVICE", "value": "orders"}]
    td = service["ecs"].describe_task_definition(taskDefinition=request["taskDefinition"])["taskDefinition"]
    assert td["taskRoleArn"] == TASK_ROLE and td["executionRoleArn"] == EXECUTION_ROLE
    assert td["family"].startswith("flowlogs-probe-")
    (container,) = td["containerDefinitions"]
    assert container["image"] == P.DEFAULT_IMAGE and container["entryPoint"] == ["sh", "-c"]
    assert container["command"][0].startswith("# flowlogs probe")
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "HTTPS_PROXY": "http://proxy.internal:3128", "NO_PROXY": "169.254.170.2"}  # the proxy variables only
    assert container["logConfiguration"]["options"]["awslogs-group"] == P.DEFAULT_LOG_GROUP

    task = service["ecs"].describe_tasks(cluster="prod", tasks=[outcome.task_arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"  # stopped once the output was read
    assert progress and "probe task" in progress[-1]
    assert outcome.summary.records == {"probes": 6} and outcome.runs == [outcome.task_arn.rsplit("/", 1)[-1]]

    from pipeline.analysis.connection import connect
    from pipeline.analysis.probes import results

    rows = results(connect(store), outcome.task_arn.rsplit("/", 1)[-1])
    assert [r["step"] for r in rows] == ["identity", "dns", "tcp", "tls", "call"]
    assert rows[-1]["cause"] == "endpoint_policy" and rows[-1]["proxy"] == "http://proxy.internal:3128"


def test_the_probe_task_definition_is_registered_once_and_reused(service, simulate_probe_output, tmp_path):
    store = lake.open_lake(tmp_path / "lake")
    simulate_probe_output(denied=False)
    first = P.probe(settings(), store, "prod", "orders", [target("sqs", REGION)], timeout=30, interval=0.1,
                    progress=lambda _: None)
    second = P.probe(settings(), store, "prod", "orders", [target("sns", REGION)], timeout=30, interval=0.1,
                     progress=lambda _: None, deregister=True)
    assert first.task_definition_arn == second.task_definition_arn  # same content: same family, same revision
    family = first.task_definition_arn.rsplit("/", 1)[-1].split(":")[0]
    assert service["ecs"].list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == []  # deregistered
    assert first.task_arn != second.task_arn


def test_a_timeout_is_reported_with_what_was_seen_and_the_task_is_stopped(service, simulate_probe_output, tmp_path):
    store = lake.open_lake(tmp_path / "lake")
    simulate_probe_output(done=False)
    with pytest.raises(P.ProbeTimeout) as raised:
        P.probe(settings(), store, "prod", "orders", [target("sqs", REGION)], timeout=0.5, interval=0.1,
                progress=lambda _: None)
    message = raised.value.message
    assert "did not finish" in message and "5 log lines seen" in message
    assert "steps call, dns, identity, tcp, tls (kept in the lake)" in message
    tasks = service["ecs"].list_tasks(cluster="prod", desiredStatus="STOPPED")["taskArns"]
    assert len(tasks) == 1


def test_a_service_that_does_not_exist_is_an_error_naming_it(service, tmp_path):
    with pytest.raises(FlowlogsError) as raised:
        P.probe(settings(), lake.open_lake(tmp_path / "lake"), "prod", "billing", [target("sqs", REGION)])
    assert "no service 'billing' in cluster 'prod'" in raised.value.message


def test_dry_run_prints_every_call_and_the_script_and_runs_nothing(service, tmp_path):
    result = CliRunner().invoke(app, ["probe", "--cluster", "prod", "--service", "orders", "--target", "sqs",
                                      "--dry-run", "--region", REGION, "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 0, result.output
    calls = [line.split(" --cli-input-json")[0] for line in result.stdout.splitlines() if line.startswith("aws ")]
    assert calls == ["aws ecs describe-services", "aws ecs describe-task-definition", "aws logs create-log-group",
                     "aws ecs register-task-definition", "aws ecs run-task"]
    assert "# flowlogs probe" in result.stdout and 'emit done' in result.stdout
    assert service["ecs"].list_tasks(cluster="prod")["taskArns"] == []
    assert service["logs"].describe_log_groups()["logGroups"] == []
    assert not (tmp_path / "lake").exists()


def test_exec_on_a_task_without_ecs_exec_says_why_and_what_to_do(service, tmp_path):
    task = service["ecs"].run_task(cluster="prod", taskDefinition="orders", launchType="FARGATE", count=1,
                                   networkConfiguration={"awsvpcConfiguration": service["network"]})["tasks"][0]
    result = CliRunner().invoke(app, ["probe", "--cluster", "prod", "--task", task["taskArn"], "--exec",
                                      "--target", "sqs", "--region", REGION])
    assert result.exit_code == 2 and "enableExecuteCommand is false" in result.output
    assert "--enable-execute-command" in result.output and "Traceback" not in result.output


def test_the_exec_line_runs_the_probe_script_with_the_targets(tmp_path):
    line = exec_command_line("prod", "arn:aws:ecs:eu-west-1:123456789012:task/prod/0f6e1c", "app",
                             [target("127.0.0.1:1", REGION)], REGION, profile="prod", service="orders")
    command, _, tee = line.rpartition(" | ")
    words = shlex.split(command)
    assert words[:3] == ["aws", "ecs", "execute-command"] and tee == "tee probe-0f6e1c.txt"
    assert {"--cluster", "prod", "--container", "app", "--profile", "--interactive"} <= set(words)
    inner = shlex.split(words[words.index("--command") + 1])
    assert inner[:2] == ["sh", "-c"]
    done = subprocess.run(inner, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "FLOWLOGS_PROBE_TIMEOUT": "2"})
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert [x["step"] for x in lines] == ["identity", "dns", "tcp", "done"], done.stderr
    assert {(x["cluster"], x["service"]) for x in lines} == {("prod", "orders")}
