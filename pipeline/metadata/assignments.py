"""Evidence for ``eni_assignments``: which task held which ENI/IP, and when.

Four kinds of evidence, each a row with ``valid_from``/``valid_to``:

- ``describe_tasks`` and ``ecs_event``: the task's own lifecycle times (see
  ``ecs.validity``); ``valid_to`` null while the task is not STOPPED.
- ``eni_snapshot``: a task ENI (Description ``arn:aws:ecs:...:attachment/<id>``) seen by
  DescribeNetworkInterfaces at ``snapshot_time`` held its addresses at least at that
  instant: ``valid_from = valid_to = snapshot_time``. The task is found later through the
  ENI id or the attachment id.
- ``flow_ecs_fields``: the v7 ``ecs-*`` fields of flow records (``assignments_from_flows``);
  ``valid_from``/``valid_to`` = first start / last end seen.

The stored evidence is merged by the view ``eni_assignments`` (queries/eni_assignments.sql);
the rule is documented there.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.addresses import ip_version

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pyarrow as pa

Rows = dict[str, list[dict]]

EVIDENCE_KINDS = ("describe_tasks", "ecs_event", "eni_snapshot", "flow_ecs_fields")


def evidence_from_interfaces(interfaces: list[dict], observed_at: datetime | None, source_file: str) -> list[dict]:
    """``eni_snapshot`` rows for the task ENIs among ``network_interfaces`` rows."""
    rows = []
    for eni in interfaces:
        if eni.get("kind") != "fargate_task":
            continue
        for ip in list(eni.get("private_ips") or []) + list(eni.get("ipv6_addresses") or []):
            rows.append({
                "eni_id": eni.get("eni_id"),
                "ip": ip,
                "ip_version": ip_version(ip),
                "subnet_id": eni.get("subnet_id"),
                "vpc_id": eni.get("vpc_id"),
                "availability_zone": eni.get("availability_zone"),
                "security_group_ids": eni.get("security_group_ids"),
                "valid_from": observed_at,
                "valid_to": observed_at,
                "source": "eni_snapshot",
                "attachment_id": eni.get("resource_id"),
                "source_file": source_file,
                "snapshot_time": observed_at,
            })
    return rows


def assignments_from_flows(con: "duckdb.DuckDBPyConnection") -> "pa.Table":
    """``eni_assignments`` rows (source 'flow_ecs_fields') derived from the view ``flows``.

    Reads the v7 columns ecs_task_arn, ecs_task_id, ecs_cluster_name, ecs_cluster_arn,
    ecs_service_name, ecs_task_definition_arn plus interface_id, srcaddr/dstaddr,
    flow_direction, start and end (epoch seconds). The task's address is srcaddr of
    egress records and dstaddr of ingress records (flow-direction, v5); records without a
    direction give rows with the ENI only. valid_from/valid_to = min(start)/max(end).
    """
    from pipeline.metadata.schema import SCHEMAS
    from pipeline.metadata.views import flow_evidence_sql

    rel = con.sql(flow_evidence_sql())
    table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
    schema = SCHEMAS["eni_assignments"]
    return table.select(schema.names).cast(schema)
