"""``flowlogs probe``: run the probe script in a new Fargate task on a service's own network and role.

1. describe-services: the service's subnets, security groups, public-IP setting, launch type and
   platform version, and its task definition (describe-task-definition): the task role, the
   execution role and the proxy variables;
2. a probe task definition (the AWS CLI image, the service's task role, so IAM is tested as the
   service sees it, and its proxy variables; awslogs to ``--log-group``, created if missing),
   registered once: its family is named after the digest of its content, so the same content is
   found again and reused;
3. run-task with the service's network configuration copied, the targets in the container's
   environment; then the task is watched (a progress line) until the script's ``done`` line is
   in CloudWatch Logs, the task stops, or the timeout;
4. the task is stopped, its output ingested into the lake's ``probes`` table, and the task
   definition deregistered when asked (else the command to do it is given).

Every AWS call goes through :class:`Calls`, which can instead only print them (``--dry-run``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline import aws
from pipeline.errors import FlowlogsError
from pipeline.ingest import load as ingest
from pipeline.ingest.sources.probe_output import ProbeOutput, has_probe_lines, probe_output
from pipeline.jobs.probe_script import ENTRY_POINT, Target, container_command, script
from pipeline.lake import locking
from pipeline.settings import Settings

DEFAULT_IMAGE = "public.ecr.aws/aws-cli/aws-cli"
DEFAULT_LOG_GROUP = "/flowlogs/probe"
CONTAINER = "probe"
STREAM_PREFIX = "flowlogs"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
STARTED_BY = "flowlogs-probe"


class ProbeTimeout(FlowlogsError):
    """The probe did not finish in time; what it printed so far is kept."""


@dataclass
class Calls:
    """The AWS calls of one probe: made, or (``dry_run``) printed as ``aws`` commands with their input."""

    settings: Settings
    dry_run: bool = False
    say: Callable[[str], None] = print

    def __call__(self, service: str, operation: str, what: str, **params):
        if self.dry_run:
            cli = "".join("-" + c.lower() if c.isupper() else c for c in operation).lstrip("-")
            self.say(f"aws {service} {cli} --cli-input-json '{json.dumps(params, sort_keys=True)}'")
            return None
        client = aws.client(self.settings, service)
        try:
            return getattr(client, _snake(operation))(**params)
        except Exception as exc:  # noqa: BLE001 - every AWS failure becomes an actionable message
            raise aws.explain(exc, f"{service}:{operation}", what) from None


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


@dataclass(frozen=True)
class ServiceView:
    """What the probe copies from the service."""

    cluster: str
    service: str
    network: dict  # awsvpcConfiguration
    launch: dict  # launchType or capacityProviderStrategy, and platformVersion
    task_role_arn: str | None
    execution_role_arn: str | None
    proxy: dict  # HTTP_PROXY/HTTPS_PROXY/NO_PROXY as the service's containers set them


def read_service(calls: Calls, cluster: str, service: str) -> ServiceView:
    """describe-services and describe-task-definition: the network, launch, roles and proxy of ``service``."""
    found = calls("ecs", "DescribeServices", f"service {service} in cluster {cluster}", cluster=cluster,
                  services=[service])
    services = [s for s in (found or {}).get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        reasons = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in (found or {}).get("failures", []))
        raise FlowlogsError(f"no service {service!r} in cluster {cluster!r}{f' ({reasons})' if reasons else ''}",
                            "check --cluster, --service and --region (aws ecs list-services --cluster CLUSTER)")
    s = services[0]
    network = (s.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not network or not network.get("subnets"):
        raise FlowlogsError(f"service {service!r} has no awsvpc network configuration",
                            "the probe copies a Fargate (awsvpc) service's subnets and security groups")
    launch: dict = {}
    if s.get("capacityProviderStrategy"):
        launch["capacityProviderStrategy"] = s["capacityProviderStrategy"]
    else:
        launch["launchType"] = s.get("launchType") or "FARGATE"
    if s.get("platformVersion"):
        launch["platformVersion"] = s["platformVersion"]
    described = calls("ecs", "DescribeTaskDefinition", s["taskDefinition"], taskDefinition=s["taskDefinition"])
    td = described["taskDefinition"]
    proxy: dict = {}
    for container in td.get("containerDefinitions") or []:
        for variable in container.get("environment") or []:
            name = str(variable.get("name", ""))
            if name.upper() in PROXY_VARIABLES and variable.get("value"):
                proxy.setdefault(name, variable["value"])
    return ServiceView(cluster, service, network, launch, td.get("taskRoleArn"), td.get("executionRoleArn"), proxy)


def task_definition(view: ServiceView, image: str, log_group: str, region: str) -> dict:
    """The probe's register-task-definition input, its family named after the digest of the rest."""
    container = {
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "memory": 512,  # the container's hard limit: the whole task's
        "entryPoint": ENTRY_POINT,
        "command": container_command(),
        "environment": [{"name": k, "value": v} for k, v in sorted(view.proxy.items())],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": STREAM_PREFIX}},
    }
    body = {
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [container],
    }
    if view.task_role_arn:
        body["taskRoleArn"] = view.task_role_arn
    if view.execution_role_arn:
        body["executionRoleArn"] = view.execution_role_arn
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {"family": f"flowlogs-probe-{digest}", **body}


def ensure_task_definition(calls: Calls, body: dict) -> str:
    """The probe task definition's ARN: the family's active revision if there is one (same digest, same
    content), else a new registration."""
    if not calls.dry_run:
        client = aws.client(calls.settings, "ecs")
        try:
            found = client.describe_task_definition(taskDefinition=body["family"])["taskDefinition"]
            if found.get("status") == "ACTIVE":
                return found["taskDefinitionArn"]
        except client.exceptions.ClientException:
            pass  # not registered yet
        except Exception as exc:  # noqa: BLE001
            raise aws.explain(exc, "ecs:DescribeTaskDefinition", body["family"]) from None
    registered = calls("ecs", "RegisterTaskDefinition", body["family"], **body)
    return registered["taskDefinition"]["taskDefinitionArn"] if registered else body["family"]


def ensure_log_group(calls: Calls, log_group: str) -> None:
    if calls.dry_run:
        calls("logs", "CreateLogGroup", log_group, logGroupName=log_group)
        return
    client = aws.client(calls.settings, "logs")
    try:
        client.create_log_group(logGroupName=log_group)
    except client.exceptions.ResourceAlreadyExistsException:
        pass
    except Exception as exc:  # noqa: BLE001
        raise aws.explain(exc, "logs:CreateLogGroup", log_group) from None


def run_request(view: ServiceView, task_definition_arn: str, targets: list[Target]) -> dict:
    """The run-task input: the service's network configuration as it is, the targets in the environment."""
    return {
        "cluster": view.cluster,
        "taskDefinition": task_definition_arn,
        "count": 1,
        "startedBy": STARTED_BY,
        "networkConfiguration": {"awsvpcConfiguration": view.network},
        "overrides": {"containerOverrides": [{"name": CONTAINER, "environment": [
            {"name": "FLOWLOGS_PROBE_TARGETS", "value": "\n".join(t.argument for t in targets)},
            {"name": "FLOWLOGS_PROBE_CLUSTER", "value": view.cluster},
            {"name": "FLOWLOGS_PROBE_SERVICE", "value": view.service}]}]},
        **view.launch,
    }


def stream_name(task_arn: str) -> str:
    return f"{STREAM_PREFIX}/{CONTAINER}/{task_arn.rsplit('/', 1)[-1]}"


@dataclass
class Watch:
    """What was seen of the running probe: its status, reasons and output lines."""

    task_arn: str
    status: str = "PROVISIONING"
    stopped_reason: str | None = None
    lines: list[str] = field(default_factory=list)
    token: str | None = None

    @property
    def steps(self) -> set[str]:
        """The steps of the probe lines seen so far."""
        found = set()
        for line in self.lines:
            try:
                found.add(json.loads(line).get("step"))
            except (ValueError, AttributeError):
                continue  # not a probe line (the image's or the shell's own output)
        return found - {None}

    @property
    def done(self) -> bool:
        return "done" in self.steps


def _read_logs(calls: Calls, log_group: str, w: Watch) -> None:
    client = aws.client(calls.settings, "logs")
    while True:
        params = {"logGroupName": log_group, "logStreamName": stream_name(w.task_arn), "startFromHead": True}
        if w.token:
            params["nextToken"] = w.token
        try:
            page = client.get_log_events(**params)
        except client.exceptions.ResourceNotFoundException:
            return  # the stream appears when the container starts
        except Exception as exc:  # noqa: BLE001
            raise aws.explain(exc, "logs:GetLogEvents", f"{log_group} {stream_name(w.task_arn)}") from None
        w.lines += [e["message"] for e in page.get("events", [])]
        if page.get("nextForwardToken") in (None, w.token):
            return
        w.token = page["nextForwardToken"]
        if not page.get("events"):
            return


def watch(calls: Calls, cluster: str, log_group: str, task_arn: str, timeout: float, interval: float,
          progress: Callable[[str], None]) -> Watch:
    """Poll the task and its log stream until the script's ``done`` line, the task's stop, or ``timeout``."""
    ecs = aws.client(calls.settings, "ecs")
    w = Watch(task_arn)
    started = time.monotonic()
    while True:
        try:
            task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        except Exception as exc:  # noqa: BLE001
            raise aws.explain(exc, "ecs:DescribeTasks", task_arn) from None
        w.status, w.stopped_reason = task.get("lastStatus") or w.status, task.get("stoppedReason")
        _read_logs(calls, log_group, w)
        elapsed = time.monotonic() - started
        progress(f"probe task {task_arn.rsplit('/', 1)[-1]}: {w.status}, {len(w.lines)} lines ({elapsed:.0f}s)")
        if w.status == "STOPPED" and not w.done:
            _read_logs(calls, log_group, w)  # what the log driver flushed as the container ended
        if w.done or w.status == "STOPPED":
            return w
        if elapsed >= timeout:
            return w
        time.sleep(interval)


@dataclass
class Outcome:
    task_arn: str | None
    task_definition_arn: str
    watch: Watch | None
    summary: object | None  # the ingest summary of the probe's lines (None: nothing to keep)
    deregistered: bool
    runs: list[str]  # the probe runs in the output (the task's id, as the script read it from the task metadata)


def probe(settings: Settings, store, cluster: str, service: str, targets: list[Target], *, image: str = DEFAULT_IMAGE,
          log_group: str = DEFAULT_LOG_GROUP, timeout: float = 300.0, interval: float = 5.0, dry_run: bool = False,
          deregister: bool = False, say: Callable[[str], None] = print,
          progress: Callable[[str], None] = print) -> Outcome:
    """Run the probe for ``targets`` in ``service``'s network; its lines go into ``store`` (None: dry run)."""
    calls = Calls(settings, dry_run, say)
    view = read_service(calls, cluster, service) if not dry_run else _dry_view(calls, cluster, service)
    region = aws.client(settings, "ecs").meta.region_name
    body = task_definition(view, image, log_group, region)
    ensure_log_group(calls, log_group)
    arn = ensure_task_definition(calls, body)
    ran = calls("ecs", "RunTask", f"{body['family']} in cluster {cluster}", **run_request(view, arn, targets))
    if dry_run:
        say(f"# then: ecs describe-tasks and logs get-log-events every {interval:g}s up to {timeout:g}s, "
            "ecs stop-task, ingest into the lake" + (", ecs deregister-task-definition" if deregister else ""))
        say("# the probe script (run as sh -c SCRIPT flowlogs-probe; the targets in FLOWLOGS_PROBE_TARGETS):")
        say(script())
        return Outcome(None, arn, None, None, False, [])
    if not ran.get("tasks"):
        reasons = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in ran.get("failures", []))
        raise FlowlogsError(f"run-task started no probe task ({reasons or 'no reason given'})",
                            "check the service's subnets and the account's Fargate capacity")
    task_arn = ran["tasks"][0]["taskArn"]
    try:
        seen = watch(calls, cluster, log_group, task_arn, timeout, interval, progress)
    finally:
        _stop(calls, cluster, task_arn)
    source = probe_output(f"logs:{log_group}/{stream_name(task_arn)}", "\n".join(seen.lines))
    summary = None
    if has_probe_lines(source):
        summary = import_output(store, source)
    deregistered = False
    if deregister:
        calls("ecs", "DeregisterTaskDefinition", arn, taskDefinition=arn)
        deregistered = True
    if not seen.done:
        steps = sorted(seen.steps)
        ended = "stopped" if seen.status == "STOPPED" else f"was {seen.status} after {timeout:g}s"
        raise ProbeTimeout(
            f"the probe did not finish: task {task_arn.rsplit('/', 1)[-1]} {ended}"
            + (f" ({seen.stopped_reason})" if seen.stopped_reason else "")
            + f"; {len(seen.lines)} log lines seen"
            + (f", steps {', '.join(steps)} (kept in the lake)" if steps else ", no probe output"),
            "a task stuck in PROVISIONING or PENDING cannot pull the image or reach CloudWatch Logs: try --image "
            "with an image in your ECR, or a longer --timeout; `flowlogs explain` reads a stoppedReason")
    return Outcome(task_arn, arn, seen, summary, deregistered, source.runs())


def import_output(store, source: ProbeOutput):
    """Ingest a probe's output (``flowlogs probe import``) under the lake's lock; returns the ingest summary."""
    with locking.lake_lock(store, f"probe import {source.name}"[:200]):
        summary, _ = ingest.ingest(store, [source], workers=1, command=f"probe import {source.name}")
    return summary


def _stop(calls: Calls, cluster: str, task_arn: str) -> None:
    ecs = aws.client(calls.settings, "ecs")
    try:
        ecs.stop_task(cluster=cluster, task=task_arn, reason="flowlogs probe finished")
    except Exception as exc:  # noqa: BLE001
        raise aws.explain(exc, "ecs:StopTask", task_arn) from None


def _dry_view(calls: Calls, cluster: str, service: str) -> ServiceView:
    """In a dry run the service is not read: its values are shown as placeholders."""
    calls("ecs", "DescribeServices", service, cluster=cluster, services=[service])
    calls("ecs", "DescribeTaskDefinition", "the service's task definition", taskDefinition="<the service's>")
    return ServiceView(cluster, service, {"subnets": ["<the service's subnets>"],
                                          "securityGroups": ["<the service's security groups>"],
                                          "assignPublicIp": "<the service's setting>"},
                       {"launchType": "<the service's launch type>"}, "<the service's task role>",
                       "<the service's execution role>", {})
