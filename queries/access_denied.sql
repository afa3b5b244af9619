-- name: access_denied
-- kind: step
-- title: API calls from tasks that AWS denied, grouped by task, service, action and resource
-- why: A 403 travels inside TLS: the flows say `established` while the task fails. CloudTrail names the call, the role and the path.
-- category: detection
-- param: since int: API calls and task events at or after this time (epoch seconds)
-- param: until int: API calls and task events before this time (epoch seconds)
-- reads: api_calls, eni_assignments, ecs_tasks, task_definitions
--
-- The task is the session's (task and execution roles run as assumed-role/ROLE/TASK_ID), else
-- the task that held the source address at that time (the same time-valid join as flows; a
-- call through an endpoint comes from the task's private address). vpc_endpoint_id NULL: the
-- call went through a NAT gateway or a public IP. source_addr is the task's own address then
-- (source_ip what AWS saw). role: which of the task definition's roles.
WITH denied AS (
    SELECT
        c.*,
        coalesce(
            nullif(regexp_extract(c.error_message, 'on resource: "?([^" ]+)', 1), ''),
            c.resources[1].arn) AS denied_resource,
        lower(regexp_extract(c.error_message, 'not authorized to perform: ([A-Za-z0-9.-]+:[A-Za-z0-9*]+)', 1)) AS denied_action
    FROM api_calls AS c
    WHERE c.event_time >= to_timestamp($since) AND c.event_time < to_timestamp($until)
      AND (lower(c.error_code) IN ('accessdenied', 'accessdeniedexception', 'client.unauthorizedoperation',
                                   'unauthorizedoperation', 'authorizationerror', 'authorizationerrorexception',
                                   'kmsaccessdenied', 'kms.accessdeniedexception', 'kmsaccessdeniedexception',
                                   'vpceaccessdenied')
           OR c.error_message ILIKE '%is not authorized to perform%')
),
tasks AS (
    SELECT task_id, any_value(task_arn) AS task_arn, any_value(cluster_name) AS cluster_name,
           any_value(service_name) AS service_name
    FROM eni_assignments WHERE task_id IS NOT NULL GROUP BY task_id
),
tasked AS (
    SELECT
        d.*,
        coalesce(s.task_id, a.task_id) AS task_id,
        coalesce(s.task_arn, a.task_arn) AS task_arn,
        coalesce(s.cluster_name, a.cluster_name) AS cluster,
        coalesce(s.service_name, a.service_name) AS service
    FROM denied AS d
    LEFT JOIN tasks AS s ON s.task_id = d.session_name
    LEFT JOIN eni_assignments AS a
      ON s.task_id IS NULL AND a.ip = d.source_ip
     AND d.event_time >= a.valid_from - INTERVAL 2 MINUTE
     AND (a.valid_to IS NULL OR d.event_time <= a.valid_to + INTERVAL 2 MINUTE)
    QUALIFY row_number() OVER (PARTITION BY d.event_id, d.event_time, d.event_source, d.event_name
                               ORDER BY a.valid_from DESC NULLS LAST) = 1
),
-- the task's own ENI and address at the time (a call through a NAT gateway shows the NAT's address)
placed AS (
    SELECT t.*, e.eni_id AS source_eni, e.ip AS task_ip
    FROM tasked AS t
    LEFT JOIN eni_assignments AS e
      ON e.task_id = t.task_id AND e.ip_version = 4
     AND t.event_time >= e.valid_from - INTERVAL 2 MINUTE
     AND (e.valid_to IS NULL OR t.event_time <= e.valid_to + INTERVAL 2 MINUTE)
    QUALIFY row_number() OVER (PARTITION BY t.event_id, t.event_time, t.event_source, t.event_name
                               ORDER BY e.valid_from DESC NULLS LAST) = 1
),
roles AS (
    SELECT DISTINCT t.task_id, d.task_role_arn, d.execution_role_arn
    FROM ecs_tasks AS t JOIN task_definitions AS d ON d.task_definition_arn = t.task_definition_arn
)
SELECT
    'access_denied' AS kind,
    'api_call' AS observed_at,
    t.cluster, t.service, t.task_id, t.task_arn,
    mode(t.source_eni) AS source_eni,
    coalesce(mode(t.task_ip), mode(t.source_ip)) AS source_addr,
    mode(t.source_ip) AS source_ip,
    t.event_source, t.event_name, t.denied_action AS action, t.denied_resource AS resource,
    mode(t.error_code) AS error_code,
    mode(t.error_message) AS error_message,
    mode(t.principal_arn) AS principal_arn,
    t.role_arn,
    CASE WHEN bool_or(r.execution_role_arn = t.role_arn) THEN 'execution'
         WHEN bool_or(r.task_role_arn = t.role_arn) THEN 'task' END AS role,
    t.vpc_endpoint_id,
    mode(t.tls_host) AS tls_host,
    mode(t.region) AS region,
    any_value(t.record) AS record,
    count(*) AS events,
    min(t.event_time) AS first_seen,
    max(t.event_time) AS last_seen
FROM placed AS t
LEFT JOIN roles AS r ON r.task_id = t.task_id
WHERE t.task_id IS NOT NULL
GROUP BY t.cluster, t.service, t.task_id, t.task_arn, t.event_source, t.event_name, t.denied_action,
         t.denied_resource, t.role_arn, t.vpc_endpoint_id
ORDER BY first_seen, t.service, t.task_id
