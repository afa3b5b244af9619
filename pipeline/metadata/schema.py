"""The metadata tables: one Arrow schema each, and the key that names one resource.

Every table ends with ``snapshot_id`` (which import wrote the row), ``snapshot_time``
(when the state was observed: collection time, the document's own time, or the file's
modification time) and ``source`` (file name or ``api:<region>:<Operation>``).
``eni_assignments`` is the exception: there ``source`` is the kind of evidence
('ecs_event' | 'describe_tasks' | 'eni_snapshot' | 'flow_ecs_fields') and the file or
API is in ``source_file``.

Only plain Parquet types are used (string, int32/int64, bool, binary, list<string>,
timestamp[us, UTC]) so that Athena/Trino can read the files too.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
STRS = pa.list_(pa.string())
I32 = pa.int32()
I64 = pa.int64()
BOOL = pa.bool_()
BIN = pa.binary()

_COMMON = [("snapshot_id", STR), ("snapshot_time", TS), ("source", STR)]


def _schema(*fields: tuple[str, pa.DataType], common: bool = True) -> pa.Schema:
    return pa.schema(list(fields) + (_COMMON if common else []))


SCHEMAS: dict[str, pa.Schema] = {
    "eni_assignments": _schema(
        ("eni_id", STR),
        ("ip", STR),
        ("ip_version", I32),
        ("task_arn", STR),
        ("task_id", STR),
        ("cluster_arn", STR),
        ("cluster_name", STR),
        ("service_name", STR),
        ("task_definition_arn", STR),
        ("container_names", STRS),
        ("subnet_id", STR),
        ("vpc_id", STR),
        ("availability_zone", STR),
        ("security_group_ids", STRS),
        ("valid_from", TS),
        ("valid_to", TS),
        ("source", STR),
        ("attachment_id", STR),
        ("task_last_status", STR),
        ("source_file", STR),
        ("snapshot_id", STR),
        ("snapshot_time", TS),
        common=False,
    ),
    "network_interfaces": _schema(
        ("eni_id", STR),
        ("kind", STR),
        ("interface_type", STR),
        ("description", STR),
        ("requester_id", STR),
        ("requester_managed", BOOL),
        ("vpc_id", STR),
        ("subnet_id", STR),
        ("availability_zone", STR),
        ("private_ip", STR),
        ("private_ips", STRS),
        ("ipv6_addresses", STRS),
        ("public_ip", STR),
        ("security_group_ids", STRS),
        ("resource_id", STR),
        ("status", STR),
        ("instance_id", STR),
        ("owner_id", STR),
    ),
    "vpc_endpoints": _schema(
        ("endpoint_id", STR),
        ("vpc_id", STR),
        ("service_name", STR),
        ("aws_service", STR),
        ("endpoint_type", STR),
        ("state", STR),
        ("private_dns_enabled", BOOL),
        ("subnet_ids", STRS),
        ("network_interface_ids", STRS),
        ("security_group_ids", STRS),
        ("route_table_ids", STRS),
        ("policy_document", STR),
        ("dns_names", STRS),
    ),
    "nat_gateways": _schema(
        ("nat_gateway_id", STR),
        ("vpc_id", STR),
        ("subnet_id", STR),
        ("state", STR),
        ("connectivity_type", STR),
        ("eni_id", STR),
        ("private_ip", STR),
        ("public_ip", STR),
    ),
    "subnets": _schema(
        ("subnet_id", STR),
        ("vpc_id", STR),
        ("cidr_block", STR),
        ("ipv6_cidr_blocks", STRS),
        ("availability_zone", STR),
        ("availability_zone_id", STR),
        ("map_public_ip_on_launch", BOOL),
    ),
    "vpcs": _schema(
        ("vpc_id", STR),
        ("cidr_blocks", STRS),
        ("ipv6_cidr_blocks", STRS),
        ("is_default", BOOL),
        ("dhcp_options_id", STR),
    ),
    "vpc_dns_attributes": _schema(
        ("vpc_id", STR),
        ("attribute", STR),
        ("enabled", BOOL),
    ),
    "dhcp_options": _schema(
        ("dhcp_options_id", STR),
        ("domain_name_servers", STRS),
        ("domain_name", STR),
        ("owner_id", STR),
    ),
    "hosted_zone_vpcs": _schema(
        ("vpc_id", STR),
        ("hosted_zone_id", STR),
        ("zone_name", STR),
        ("owner", STR),
    ),
    "dns_records": _schema(
        ("hosted_zone_id", STR),
        ("name", STR),
        ("type", STR),
        ("ttl", I64),
        ("values", STRS),
        ("alias_target", STR),
    ),
    "query_log_configs": _schema(
        ("config_id", STR),
        ("name", STR),
        ("destination_arn", STR),
        ("status", STR),
        ("owner_id", STR),
    ),
    "query_log_associations": _schema(
        ("association_id", STR),
        ("config_id", STR),
        ("vpc_id", STR),
        ("status", STR),
        ("error", STR),
    ),
    "route_tables": _schema(
        ("route_table_id", STR),
        ("vpc_id", STR),
        ("is_main", BOOL),
        ("subnet_ids", STRS),
        ("destination", STR),
        ("destination_type", STR),
        ("target_type", STR),
        ("target_id", STR),
        ("state", STR),
    ),
    "security_groups": _schema(
        ("group_id", STR),
        ("group_name", STR),
        ("vpc_id", STR),
        ("description", STR),
    ),
    "security_group_rules": _schema(
        ("group_id", STR),
        ("direction", STR),
        ("protocol", I32),
        ("from_port", I32),
        ("to_port", I32),
        ("peer_type", STR),
        ("peer", STR),
        ("description", STR),
    ),
    "network_acls": _schema(
        ("network_acl_id", STR),
        ("vpc_id", STR),
        ("is_default", BOOL),
        ("subnet_ids", STRS),
        ("rule_number", I32),
        ("egress", BOOL),
        ("protocol", I32),
        ("rule_action", STR),
        ("cidr_block", STR),
        ("ipv6_cidr_block", STR),
        ("from_port", I32),
        ("to_port", I32),
        ("icmp_type", I32),
        ("icmp_code", I32),
    ),
    "prefix_lists": _schema(
        ("prefix_list_id", STR),
        ("prefix_list_name", STR),
        ("cidr", STR),
    ),
    "flow_logs": _schema(
        ("flow_log_id", STR),
        ("resource_id", STR),
        ("log_format", STR),
        ("destination_type", STR),
        ("destination", STR),
        ("log_group_name", STR),
        ("max_aggregation_interval", I32),
        ("traffic_type", STR),
        ("flow_log_status", STR),
    ),
    "aws_ip_ranges": _schema(
        ("prefix", STR),
        ("ip_version", I32),
        ("service", STR),
        ("region", STR),
        ("network_border_group", STR),
        ("range_start", BIN),
        ("range_end", BIN),
        ("prefix_length", I32),
        ("sync_token", STR),
    ),
    "ecs_tasks": _schema(
        ("task_arn", STR),
        ("task_id", STR),
        ("cluster_arn", STR),
        ("cluster_name", STR),
        ("service_name", STR),
        ("task_group", STR),
        ("task_definition_arn", STR),
        ("launch_type", STR),
        ("capacity_provider_name", STR),
        ("platform_version", STR),
        ("last_status", STR),
        ("desired_status", STR),
        ("created_at", TS),
        ("pull_started_at", TS),
        ("pull_stopped_at", TS),
        ("started_at", TS),
        ("stopping_at", TS),
        ("stopped_at", TS),
        ("stop_code", STR),
        ("stopped_reason", STR),
        ("container_names", STRS),
        ("container_reasons", STRS),
        ("eni_id", STR),
        ("private_ip", STR),
        ("ipv6_address", STR),
        ("subnet_id", STR),
        ("availability_zone", STR),
        ("version", I64),
        ("enable_execute_command", BOOL),  # ECS Exec turned on when the task started
        ("exec_agents", STRS),  # "container: STATUS" of each container's ExecuteCommandAgent
    ),
    "ecs_clusters": _schema(
        ("cluster_arn", STR),
        ("cluster_name", STR),
        ("status", STR),
        ("exec_kms_key_id", STR),  # executeCommandConfiguration.kmsKeyId: the key ECS Exec sessions use
        ("exec_logging", STR),  # NONE | DEFAULT | OVERRIDE
        ("exec_log_group", STR),
        ("exec_s3_bucket", STR),
    ),
    "ecs_services": _schema(
        ("service_arn", STR),
        ("service_name", STR),
        ("cluster_arn", STR),
        ("cluster_name", STR),
        ("status", STR),
        ("launch_type", STR),
        ("task_definition_arn", STR),
        ("desired_count", I32),
        ("running_count", I32),
        ("subnet_ids", STRS),
        ("security_group_ids", STRS),
        ("assign_public_ip", STR),
    ),
    # one row per container of a task definition (the task-level columns repeat)
    "task_definitions": _schema(
        ("task_definition_arn", STR),
        ("family", STR),
        ("revision", I32),
        ("task_role_arn", STR),
        ("execution_role_arn", STR),
        ("network_mode", STR),
        ("status", STR),
        ("container_name", STR),
        ("image", STR),
        ("environment", STR),  # JSON object text: variable name -> value
        ("secrets", STR),  # JSON object text: variable name -> valueFrom (secret or parameter ARN)
        ("http_proxy", STR),
        ("https_proxy", STR),
        ("no_proxy", STR),
    ),
    "iam_roles": _schema(
        ("role_arn", STR),
        ("role_name", STR),
        ("role_id", STR),
        ("path", STR),
        ("trust_policy", STR),
        ("permissions_boundary_arn", STR),
        ("managed_policy_arns", STRS),
        ("inline_policy_names", STRS),
    ),
    # the documents roles use: inline (role_arn set) and managed or boundary (policy_arn set)
    "iam_policies": _schema(
        ("policy_arn", STR),
        ("policy_name", STR),
        ("policy_type", STR),  # inline | managed
        ("role_arn", STR),
        ("version_id", STR),
        ("document", STR),
    ),
    "resource_policies": _schema(
        ("resource_arn", STR),
        ("resource_type", STR),  # sqs | sns | secretsmanager | s3 | kms
        ("resource_name", STR),
        ("policy_name", STR),
        ("policy_document", STR),
    ),
    "trails": _schema(
        ("trail_arn", STR),
        ("name", STR),
        ("home_region", STR),
        ("s3_bucket_name", STR),
        ("s3_key_prefix", STR),
        ("is_multi_region", BOOL),
        ("is_organization_trail", BOOL),
        ("include_global_service_events", BOOL),
        ("cloudwatch_logs_log_group_arn", STR),
        ("has_custom_event_selectors", BOOL),
    ),
    "trail_event_selectors": _schema(
        ("trail_arn", STR),
        ("management_events", BOOL),
        ("read_write_type", STR),
        ("data_resource_types", STRS),
        ("network_activity_sources", STRS),
        ("selectors", STR),  # the selectors as JSON text
    ),
}

TABLES: tuple[str, ...] = tuple(SCHEMAS)

# Columns that name one resource: the "current" view of a table keeps, for each key,
# the rows of the latest snapshot that contains that key. None = the whole snapshot.
CURRENT_KEYS: dict[str, tuple[str, ...] | None] = {
    "network_interfaces": ("eni_id",),
    "vpc_endpoints": ("endpoint_id",),
    "nat_gateways": ("nat_gateway_id",),
    "subnets": ("subnet_id",),
    "vpcs": ("vpc_id",),
    "vpc_dns_attributes": ("vpc_id", "attribute"),
    "dhcp_options": ("dhcp_options_id",),
    "hosted_zone_vpcs": ("vpc_id",),
    "dns_records": ("hosted_zone_id",),
    "query_log_configs": ("config_id",),
    "query_log_associations": ("association_id",),
    "route_tables": ("route_table_id",),
    "security_groups": ("group_id",),
    "security_group_rules": ("group_id",),
    "network_acls": ("network_acl_id",),
    "prefix_lists": ("prefix_list_id", "(cidr IS NULL)"),
    "flow_logs": ("flow_log_id",),
    "aws_ip_ranges": None,
    "ecs_tasks": ("task_arn",),
    "ecs_services": ("service_arn",),
    "ecs_clusters": ("cluster_arn",),
    "task_definitions": ("task_definition_arn",),
    "iam_roles": ("role_arn",),
    "iam_policies": ("(coalesce(role_arn, policy_arn))",),
    "resource_policies": ("(coalesce(resource_arn, resource_type || ':' || resource_name))",),
    "trails": ("trail_arn",),
    "trail_event_selectors": ("trail_arn",),
}


def empty_table(table: str) -> pa.Table:
    return SCHEMAS[table].empty_table()


def to_table(table: str, rows: list[dict]) -> pa.Table:
    """Rows (dicts; missing keys are null) as an Arrow table of ``table``'s schema."""
    schema = SCHEMAS[table]
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)
