-- name: task_identity
-- kind: step
-- title: Who a task was: its ENIs, addresses, cluster, service and lifetime
-- why: The task report selects the task's records by its ENIs and addresses, over its lifetime.
-- category: investigation
-- param: task text: a task id or ARN
-- reads: eni_assignments, flows
-- The metadata's assignments when it has the task, else the flow records' own ECS fields (v7).
WITH assigned AS (
    SELECT task_id, task_arn, cluster_name, service_name, eni_id, ip,
           min(valid_from) AS valid_from, max(valid_to) AS valid_to, bool_or(valid_to IS NULL) AS running
    FROM eni_assignments WHERE task_id = $task OR task_arn = $task GROUP BY ALL
), logged AS (
    SELECT ecs_task_id AS task_id, ecs_task_arn AS task_arn, ecs_cluster_name AS cluster_name,
           ecs_service_name AS service_name, interface_id AS eni_id, CAST(NULL AS VARCHAR) AS ip,
           to_timestamp(min("start")) AS valid_from, to_timestamp(max("end")) AS valid_to, false AS running
    FROM flows WHERE (ecs_task_id = $task OR ecs_task_arn = $task) AND NOT EXISTS (SELECT 1 FROM assigned)
    GROUP BY ALL
)
SELECT * FROM assigned
UNION ALL BY NAME
SELECT * FROM logged
