"""ECS ``describe-tasks``, ``describe-services``, ``describe-task-definition``, ``describe-clusters``
and "ECS Task State Change" events as rows.

A task (from DescribeTasks, or the ``detail`` of an event, which mirrors the Task object)
gives one ``ecs_tasks`` row and one ``eni_assignments`` evidence row per task address.
"""

from __future__ import annotations

import json
from datetime import datetime

from pipeline.addresses import canonical_ip, ip_version
from pipeline.metadata.ec2 import as_int
from pipeline.times import parse_time

Rows = dict[str, list[dict]]

TASK_STATE_CHANGE = "ECS Task State Change"
EXEC_AGENT = "ExecuteCommandAgent"
_ENI_ATTACHMENT_TYPES = {"elasticnetworkinterface", "eni"}
_IPV4_DETAIL = ("privateIPv4Address", "privateIpv4Address")
_IPV6_DETAIL = ("ipv6Address", "privateIPv6Address", "privateIpv6Address")


def cluster_name_of(cluster_arn: str | None) -> str | None:
    """'arn:aws:ecs:r:a:cluster/prod' -> 'prod' (a bare name is returned unchanged)."""
    if not cluster_arn:
        return None
    return cluster_arn.rsplit("/", 1)[-1] if "/" in cluster_arn else cluster_arn.rsplit(":", 1)[-1]


def task_id_of(task_arn: str | None) -> str | None:
    """Last segment of a task ARN, for both the old and the long ARN format."""
    return task_arn.rsplit("/", 1)[-1] if task_arn else None


def service_name_of(group: str | None) -> str | None:
    """'service:web' -> 'web'; tasks not started by a service have no service name."""
    if group and group.startswith("service:"):
        return group[len("service:"):] or None
    return None


def _details(attachment: dict) -> dict:
    return {d.get("name"): d.get("value") for d in attachment.get("details") or [] if isinstance(d, dict)}


def eni_attachments(task: dict) -> list[dict]:
    """The task's ENI attachments as {attachment_id, status, eni_id, subnet_id, ipv4, ipv6}."""
    out = []
    for a in task.get("attachments") or []:
        if str(a.get("type") or "").lower() not in _ENI_ATTACHMENT_TYPES:
            continue
        d = _details(a)
        out.append({
            "attachment_id": a.get("id"),
            "status": a.get("status"),
            "eni_id": d.get("networkInterfaceId"),
            "subnet_id": d.get("subnetId"),
            "ipv4": next((canonical_ip(d[k]) for k in _IPV4_DETAIL if d.get(k)), None),
            "ipv6": next((canonical_ip(d[k]) for k in _IPV6_DETAIL if d.get(k)), None),
        })
    if not out:
        # No attachment details (e.g. a trimmed event): fall back to the containers' view.
        for c in task.get("containers") or []:
            for ni in c.get("networkInterfaces") or []:
                v4 = canonical_ip(ni.get("privateIpv4Address"))
                v6 = canonical_ip(ni.get("ipv6Address"))
                if (v4 or v6) and not any(o["ipv4"] == v4 and o["ipv6"] == v6 for o in out):
                    out.append({"attachment_id": ni.get("attachmentId"), "status": None, "eni_id": None,
                                "subnet_id": None, "ipv4": v4, "ipv6": v6})
    return out


def validity(task: dict, observed_at: datetime | None) -> tuple[datetime | None, datetime | None]:
    """(valid_from, valid_to) of the task's ENI addresses, from the task's own times.

    valid_from is the earliest of createdAt, pullStartedAt and startedAt: the task ENI
    carries traffic before startedAt (secrets and registry auth, image pull), and that is
    the traffic that fails when an endpoint or route is missing. Without any of them the
    observation time is used (the task certainly had the address then).
    valid_to is stoppedAt for a stopped task (the observation time if stoppedAt is missing),
    and null (open-ended) while the task is not STOPPED.
    """
    starts = [t for t in (parse_time(task.get(k)) for k in ("createdAt", "pullStartedAt", "startedAt")) if t]
    valid_from = min(starts) if starts else observed_at
    stopped_at = parse_time(task.get("stoppedAt"))
    if stopped_at is not None:
        return valid_from, stopped_at
    if str(task.get("lastStatus") or "").upper() == "STOPPED":
        return valid_from, observed_at
    return valid_from, None


def task_rows(task: dict, *, evidence: str, observed_at: datetime | None, source_file: str) -> Rows:
    """One ``ecs_tasks`` row and its ``eni_assignments`` evidence rows."""
    task_arn = task.get("taskArn")
    cluster_arn = task.get("clusterArn")
    group = task.get("group")
    containers = task.get("containers") or []
    attachments = eni_attachments(task)
    first = attachments[0] if attachments else {}
    common = {
        "task_arn": task_arn,
        "task_id": task_id_of(task_arn),
        "cluster_arn": cluster_arn,
        "cluster_name": cluster_name_of(cluster_arn),
        "service_name": service_name_of(group),
        "task_definition_arn": task.get("taskDefinitionArn"),
        "container_names": [c["name"] for c in containers if c.get("name")],
        "availability_zone": task.get("availabilityZone"),
    }
    task_row = {
        **common,
        "task_group": group,
        "launch_type": task.get("launchType"),
        "capacity_provider_name": task.get("capacityProviderName"),
        "platform_version": task.get("platformVersion"),
        "last_status": task.get("lastStatus"),
        "desired_status": task.get("desiredStatus"),
        "created_at": parse_time(task.get("createdAt")),
        "pull_started_at": parse_time(task.get("pullStartedAt")),
        "pull_stopped_at": parse_time(task.get("pullStoppedAt")),
        "started_at": parse_time(task.get("startedAt")),
        "stopping_at": parse_time(task.get("stoppingAt")),
        "stopped_at": parse_time(task.get("stoppedAt")),
        "stop_code": task.get("stopCode"),
        "stopped_reason": task.get("stoppedReason"),
        "container_reasons": [f"{c.get('name')}: {c['reason']}" for c in containers if c.get("reason")],
        "eni_id": first.get("eni_id"),
        "private_ip": first.get("ipv4"),
        "ipv6_address": first.get("ipv6"),
        "subnet_id": first.get("subnet_id"),
        "version": as_int(task.get("version")),
        "enable_execute_command": task.get("enableExecuteCommand"),
        "exec_agents": [f"{c.get('name')}: {a.get('lastStatus')}" for c in containers
                        for a in c.get("managedAgents") or [] if a.get("name") == EXEC_AGENT],
        "snapshot_time": observed_at,
    }
    valid_from, valid_to = validity(task, observed_at)
    evidence_rows = []
    for att in attachments:
        ips = [ip for ip in (att["ipv4"], att["ipv6"]) if ip] or [None]
        if ips == [None] and not att["eni_id"]:
            continue
        for ip in ips:
            evidence_rows.append({
                **common,
                "eni_id": att["eni_id"],
                "ip": ip,
                "ip_version": ip_version(ip),
                "subnet_id": att["subnet_id"],
                "vpc_id": None,
                "security_group_ids": None,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "source": evidence,
                "attachment_id": att["attachment_id"],
                "task_last_status": task.get("lastStatus"),
                "source_file": source_file,
                "snapshot_time": observed_at,
            })
    return {"ecs_tasks": [task_row], "eni_assignments": evidence_rows}


def _merge(into: Rows, rows: Rows) -> None:
    for table, values in rows.items():
        into.setdefault(table, []).extend(values)


def normalise_tasks(doc: dict, observed_at: datetime | None, source_file: str) -> Rows:
    out: Rows = {"ecs_tasks": [], "eni_assignments": []}
    for task in doc["tasks"]:
        _merge(out, task_rows(task, evidence="describe_tasks", observed_at=observed_at, source_file=source_file))
    return out


def normalise_events(events: list[dict], source_file: str, default_time: datetime | None = None) -> Rows:
    """Task State Change events; other EventBridge events in the stream are skipped.

    Each event's own ``time`` is its observation time (``detail.updatedAt``, then
    ``default_time``, when it has none)."""
    out: Rows = {"ecs_tasks": [], "eni_assignments": []}
    for event in events:
        if event.get("detail-type") != TASK_STATE_CHANGE:
            continue
        detail = event.get("detail") or {}
        if "taskArn" not in detail and event.get("resources"):
            detail = {**detail, "taskArn": event["resources"][0]}
        observed_at = parse_time(event.get("time")) or parse_time(detail.get("updatedAt")) or default_time
        _merge(out, task_rows(detail, evidence="ecs_event", observed_at=observed_at, source_file=source_file))
    return out


def normalise_services(doc: dict) -> Rows:
    rows = []
    for s in doc["services"]:
        vpc = (s.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        launch_type = s.get("launchType")
        if not launch_type and s.get("capacityProviderStrategy"):
            launch_type = s["capacityProviderStrategy"][0].get("capacityProvider")
        rows.append({
            "service_arn": s.get("serviceArn"),
            "service_name": s.get("serviceName"),
            "cluster_arn": s.get("clusterArn"),
            "cluster_name": cluster_name_of(s.get("clusterArn")),
            "status": s.get("status"),
            "launch_type": launch_type,
            "task_definition_arn": s.get("taskDefinition"),
            "desired_count": as_int(s.get("desiredCount")),
            "running_count": as_int(s.get("runningCount")),
            "subnet_ids": list(vpc.get("subnets") or []),
            "security_group_ids": list(vpc.get("securityGroups") or []),
            "assign_public_ip": vpc.get("assignPublicIp"),
        })
    return {"ecs_services": rows}


def normalise_clusters(doc: dict) -> Rows:
    """``aws ecs describe-clusters --include CONFIGURATIONS``: each cluster's ECS Exec configuration."""
    rows = []
    for c in doc["clusters"]:
        exec_config = (c.get("configuration") or {}).get("executeCommandConfiguration") or {}
        logs = exec_config.get("logConfiguration") or {}
        rows.append({
            "cluster_arn": c.get("clusterArn"),
            "cluster_name": c.get("clusterName") or cluster_name_of(c.get("clusterArn")),
            "status": c.get("status"),
            "exec_kms_key_id": exec_config.get("kmsKeyId"),
            "exec_logging": exec_config.get("logging"),
            "exec_log_group": logs.get("cloudWatchLogGroupName"),
            "exec_s3_bucket": logs.get("s3BucketName"),
        })
    return {"ecs_clusters": rows}


def _env(container: dict, key: str, value_key: str) -> dict:
    return {e["name"]: e.get(value_key) for e in container.get(key) or [] if isinstance(e, dict) and e.get("name")}


def _proxy(environment: dict, name: str) -> str | None:
    """A proxy variable in any case, upper case first (curl and the SDKs read both spellings)."""
    if name in environment:
        return environment[name]
    return next((v for k, v in sorted(environment.items()) if k.upper() == name), None)


def normalise_task_definition(output: dict) -> Rows:
    """``aws ecs describe-task-definition``: one ``task_definitions`` row per container.

    The roles and the family/revision repeat on every container's row; ``environment`` and
    ``secrets`` are JSON objects (name -> value, name -> valueFrom) as text."""
    td = output.get("taskDefinition") or {}
    common = {
        "task_definition_arn": td.get("taskDefinitionArn"),
        "family": td.get("family"),
        "revision": as_int(td.get("revision")),
        "task_role_arn": td.get("taskRoleArn"),
        "execution_role_arn": td.get("executionRoleArn"),
        "network_mode": td.get("networkMode"),
        "status": td.get("status"),
    }
    rows = []
    for c in td.get("containerDefinitions") or [{}]:
        environment = _env(c, "environment", "value")
        rows.append({
            **common,
            "container_name": c.get("name"),
            "image": c.get("image"),
            "environment": json.dumps(environment, sort_keys=True),
            "secrets": json.dumps(_env(c, "secrets", "valueFrom"), sort_keys=True),
            "http_proxy": _proxy(environment, "HTTP_PROXY"),
            "https_proxy": _proxy(environment, "HTTPS_PROXY"),
            "no_proxy": _proxy(environment, "NO_PROXY"),
        })
    return {"task_definitions": rows}
