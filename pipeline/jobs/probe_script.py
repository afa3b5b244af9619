"""The probe script (``probe.sh``, shipped in the package) and the targets it is given.

A target is a service name (``sqs``: its regional endpoint, and one harmless read-only call
the task's role may be allowed) or ``host:port`` (DNS, TCP and TLS only). The script takes
each as one argument ``name|host|port|call words``; the same arguments serve the probe task,
``--dry-run`` and the ``aws ecs execute-command`` line.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from importlib import resources

from pipeline.errors import FlowlogsError

# service -> (endpoint host, one read-only call that needs a signature and no resource name)
SERVICES: dict[str, tuple[str, str]] = {
    "sqs": ("sqs.{region}.amazonaws.com", "sqs list-queues --max-items 1"),
    "sns": ("sns.{region}.amazonaws.com", "sns list-topics --max-items 1"),
    "secretsmanager": ("secretsmanager.{region}.amazonaws.com", "secretsmanager list-secrets --max-results 1"),
    "ssm": ("ssm.{region}.amazonaws.com", "ssm describe-parameters --max-results 1"),
    "ecr": ("api.ecr.{region}.amazonaws.com", "ecr get-authorization-token"),
    "logs": ("logs.{region}.amazonaws.com", "logs describe-log-groups --max-items 1"),
    "kms": ("kms.{region}.amazonaws.com", "kms list-keys --max-items 1"),
    "s3": ("s3.{region}.amazonaws.com", "s3api list-buckets --max-items 1"),
    "sts": ("sts.{region}.amazonaws.com", "sts get-caller-identity"),
    "dynamodb": ("dynamodb.{region}.amazonaws.com", "dynamodb list-tables --max-items 1"),
    "ssmmessages": ("ssmmessages.{region}.amazonaws.com", ""),  # ECS Exec's channel: no harmless call
}
TARGET_HELP = ", ".join(SERVICES) + ", or host:port (DNS, TCP and TLS only)"


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    call: str  # the AWS CLI words after `aws`, or "" for none

    @property
    def argument(self) -> str:
        return f"{self.name}|{self.host}|{self.port}|{self.call}"


def target(text: str, region: str, port: int = 443) -> Target:
    """``sqs`` or ``host:port`` as a Target; an unknown name is an error that lists the known ones."""
    name = text.strip().lower()
    if name in SERVICES:
        host, call = SERVICES[name]
        return Target(name, host.format(region=region), port, call)
    host, sep, number = text.strip().rpartition(":")
    if sep and host and number.isdigit() and 0 < int(number) < 65536 and "|" not in host:
        return Target(text.strip(), host, int(number), "")
    raise FlowlogsError(f"--target: unknown target {text!r}", f"give one of {TARGET_HELP}")


def script() -> str:
    """The probe script's text (POSIX sh)."""
    return resources.files("pipeline.jobs").joinpath("probe.sh").read_text()


def arguments(targets: list[Target]) -> list[str]:
    return [t.argument for t in targets]


ENTRY_POINT = ["sh", "-c"]  # the aws-cli image's own entry point is `aws`


def container_command() -> list[str]:
    """The probe container's command after ``sh -c``: the script, and its name (the targets come in
    ``FLOWLOGS_PROBE_TARGETS``, set by run-task's overrides)."""
    return [script(), "flowlogs-probe"]


def exec_command_line(cluster: str, task: str, container: str | None, targets: list[Target], region: str,
                      profile: str | None = None, service: str | None = None) -> str:
    """The ``aws ecs execute-command`` line that runs the script in a running container (which needs sh,
    base64 and curl), its output saved for ``flowlogs probe import``."""
    encoded = base64.b64encode(script().encode()).decode()
    names = " ".join(f"{k}={shlex.quote(v)}" for k, v in (("FLOWLOGS_PROBE_CLUSTER", cluster.rsplit("/", 1)[-1]),
                                                          ("FLOWLOGS_PROBE_SERVICE", service)) if v)
    inner = f"echo {encoded} | base64 -d > /tmp/flowlogs-probe.sh && {names} sh /tmp/flowlogs-probe.sh " + " ".join(
        shlex.quote(a) for a in arguments(targets))
    words = ["aws", "ecs", "execute-command", "--region", region, "--cluster", cluster, "--task", task]
    words += ["--container", container] if container else []
    words += ["--profile", profile] if profile else []
    words += ["--interactive", "--command", f"sh -c {shlex.quote(inner)}"]
    return " ".join(shlex.quote(w) for w in words) + f" | tee probe-{task.rsplit('/', 1)[-1]}.txt"
