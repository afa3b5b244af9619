-- name: scope_addresses
-- kind: step
-- title: Every address the tasks of a cluster, service or task held (the filters of a report, pushed down)
-- why: `report findings --service orders` reads only the flow records of orders' addresses, not the whole lake.
-- category: analysis
-- param: cluster text: the cluster name
-- param: service text: the service name
-- param: task text: the task id or ARN
-- reads: eni_assignments
-- An address another task held at another time is included too: the analysis still attributes
-- each conversation to the task that held the address then, and the report keeps the right ones.
SELECT DISTINCT ip AS address
FROM eni_assignments
WHERE ip IS NOT NULL
  AND ($cluster IS NULL OR cluster_name = $cluster)
  AND ($service IS NULL OR service_name = $service)
  AND ($task IS NULL OR task_id = $task OR task_arn = $task)
ORDER BY address
