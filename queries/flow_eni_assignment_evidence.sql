-- name: flow_eni_assignment_evidence
-- kind: view
-- title: Task ENI assignments read from the flow records' own ECS fields
-- why: Which task held an ENI and its address, and when, according to the v7 ecs-* fields of the flow log itself?
-- category: metadata
-- reads: flows
-- requires: flows(ecs_task_arn, ecs_task_id, ecs_cluster_name, ecs_cluster_arn, ecs_service_name, ecs_task_definition_arn, interface_id, srcaddr, dstaddr, flow_direction, start, end)
-- method: one row per (interface_id, task address, task): the address is srcaddr of egress
--   records and dstaddr of ingress records (flow-direction, v5); records without a direction
--   give a row with the ENI only. valid_from/valid_to = min(start)/max(end) of those records.
--   (A task's cluster, service and task definition do not change: the smallest value is kept.)
--   '-' is read as missing. Source 'flow_ecs_fields'.
CREATE OR REPLACE VIEW flow_eni_assignment_evidence AS
WITH f AS (
    SELECT
        nullif(interface_id, '-') AS eni_id,
        CASE lower(nullif(flow_direction, '-'))
            WHEN 'egress' THEN nullif(srcaddr, '-')
            WHEN 'ingress' THEN nullif(dstaddr, '-')
        END AS ip,
        nullif(ecs_task_arn, '-') AS task_arn,
        nullif(ecs_task_id, '-') AS task_id,
        nullif(ecs_cluster_arn, '-') AS cluster_arn,
        nullif(ecs_cluster_name, '-') AS cluster_name,
        nullif(ecs_service_name, '-') AS service_name,
        nullif(ecs_task_definition_arn, '-') AS task_definition_arn,
        CAST("start" AS BIGINT) AS start_s,
        CAST("end" AS BIGINT) AS end_s
    FROM flows
    WHERE nullif(ecs_task_arn, '-') IS NOT NULL OR nullif(ecs_task_id, '-') IS NOT NULL
)
SELECT
    eni_id,
    ip,
    CAST(CASE WHEN ip IS NULL THEN NULL WHEN contains(ip, ':') THEN 6 ELSE 4 END AS INTEGER) AS ip_version,
    task_arn,
    coalesce(min(task_id), regexp_extract(task_arn, '[^/]+$')) AS task_id,
    min(cluster_arn) AS cluster_arn,
    coalesce(min(cluster_name), regexp_extract(min(cluster_arn), '[^/]+$')) AS cluster_name,
    min(service_name) AS service_name,
    min(task_definition_arn) AS task_definition_arn,
    CAST(NULL AS VARCHAR[]) AS container_names,
    CAST(NULL AS VARCHAR) AS subnet_id,
    CAST(NULL AS VARCHAR) AS vpc_id,
    CAST(NULL AS VARCHAR) AS availability_zone,
    CAST(NULL AS VARCHAR[]) AS security_group_ids,
    to_timestamp(min(start_s)) AS valid_from,
    to_timestamp(max(end_s)) AS valid_to,
    'flow_ecs_fields' AS source,
    CAST(NULL AS VARCHAR) AS attachment_id,
    CAST(NULL AS VARCHAR) AS task_last_status,
    'flows' AS source_file,
    'flows' AS snapshot_id,
    to_timestamp(max(end_s)) AS snapshot_time
FROM f
GROUP BY eni_id, ip, task_arn;
