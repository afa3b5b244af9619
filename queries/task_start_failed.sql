-- name: task_start_failed
-- kind: step
-- title: Tasks that stopped before they ran, with their stoppedReason, ENI and execution role
-- why: A service in a start loop never sends a byte of application traffic; its stoppedReason says whether the execution role was denied or the network timed out.
-- category: detection
-- param: since int: API calls and task events at or after this time (epoch seconds)
-- param: until int: API calls and task events before this time (epoch seconds)
-- reads: ecs_tasks, task_definitions, eni_assignments
--
-- One row per task (its latest state across describe-tasks snapshots and task events). A task
-- "stopped before running" when ECS says TaskFailedToStart or it never reached startedAt.
WITH latest AS (
    SELECT
        task_arn,
        any_value(task_id) AS task_id,
        any_value(cluster_name) AS cluster,
        any_value(service_name) AS service,
        any_value(task_definition_arn) AS task_definition_arn,
        arg_max(stopped_reason, snapshot_time) FILTER (WHERE stopped_reason IS NOT NULL) AS stopped_reason,
        arg_max(stop_code, snapshot_time) FILTER (WHERE stop_code IS NOT NULL) AS stop_code,
        min(created_at) AS created_at,
        max(started_at) AS started_at,
        max(stopped_at) AS stopped_at,
        any_value(eni_id) FILTER (WHERE eni_id IS NOT NULL) AS eni_id,
        any_value(private_ip) FILTER (WHERE private_ip IS NOT NULL) AS private_ip,
        any_value(subnet_id) FILTER (WHERE subnet_id IS NOT NULL) AS subnet_id
    FROM ecs_tasks
    GROUP BY task_arn
)
SELECT
    l.*,
    (SELECT any_value(d.execution_role_arn) FROM task_definitions AS d
      WHERE d.task_definition_arn = l.task_definition_arn) AS execution_role_arn
FROM latest AS l
WHERE l.stopped_reason IS NOT NULL
  AND (l.stop_code = 'TaskFailedToStart' OR l.started_at IS NULL)
  AND coalesce(l.stopped_at, l.created_at) >= to_timestamp($since)
  AND coalesce(l.stopped_at, l.created_at) < to_timestamp($until)
ORDER BY l.cluster, l.service, l.stopped_at, l.task_id
