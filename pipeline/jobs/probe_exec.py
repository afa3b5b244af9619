"""``flowlogs probe --task T --exec``: the ``aws ecs execute-command`` line that runs the probe in a running task.

The task is read first (describe-tasks): ECS Exec must be on for it (``enableExecuteCommand``),
and the line names a container whose ExecuteCommandAgent runs; otherwise the error says what is
missing and points at ``flowlogs exec-check``.
"""

from __future__ import annotations

from pipeline import aws
from pipeline.errors import FlowlogsError
from pipeline.metadata.ecs import EXEC_AGENT, service_name_of
from pipeline.jobs.probe_script import Target, exec_command_line
from pipeline.settings import Settings


def exec_container(task: dict, wanted: str | None) -> str:
    """The container to exec into: ``wanted`` if given (it must exist), else the first whose agent runs."""
    containers = task.get("containers") or []
    names = [c.get("name") for c in containers]
    if wanted:
        if wanted not in names:
            raise FlowlogsError(f"--container {wanted}: the task has no such container", f"its containers: {', '.join(map(str, names))}")
        return wanted
    for c in containers:
        if any(a.get("name") == EXEC_AGENT and a.get("lastStatus") == "RUNNING" for a in c.get("managedAgents") or []):
            return c["name"]
    raise FlowlogsError("no container of the task has a running ExecuteCommandAgent",
                        "flowlogs exec-check --cluster CLUSTER --task TASK says which ECS Exec prerequisite is missing")


def exec_line(settings: Settings, cluster: str, task: str, container: str | None, targets: list[Target],
              profile: str | None = None) -> str:
    client = aws.client(settings, "ecs")
    try:
        found = client.describe_tasks(cluster=cluster, tasks=[task])
    except Exception as exc:  # noqa: BLE001 - every AWS failure becomes an actionable message
        raise aws.explain(exc, "ecs:DescribeTasks", f"task {task} in cluster {cluster}") from None
    if not found.get("tasks"):
        raise FlowlogsError(f"no task {task!r} in cluster {cluster!r}", "check --task, --cluster and --region")
    described = found["tasks"][0]
    if not described.get("enableExecuteCommand"):
        raise FlowlogsError(f"task {task} was not started with ECS Exec (enableExecuteCommand is false)",
                            "it cannot be turned on for a running task: update the service with "
                            "--enable-execute-command and let it start new tasks, or probe with --service instead")
    return exec_command_line(cluster, described["taskArn"], exec_container(described, container), targets,
                             client.meta.region_name, profile, service_name_of(described.get("group")))
