-- name: findings
-- kind: view
-- title: Failing task conversations, grouped by source task, destination endpoint, port and kind
-- why: One line per thing to fix: which task cannot reach which endpoint, since when, and where it fails.
-- category: detection
-- reads: conversations, destinations, eni_assignments, current_vpc_endpoints
--
-- Kinds: reject (state blocked), no_return (state no_reply), refused (state refused; by packet
-- sizes alone, state_from_sizes, when the format has no tcp-flags), and
-- endpoint_bypassed: established conversations to an AWS service's public addresses (tcp/443)
-- from a VPC that has an interface endpoint with private DNS disabled.
-- The task is the one the client ENI belonged to at the time (ENI ids are never reused);
-- where the client ENI was not logged, the task that held the client IP at that time: a
-- join on IP alone would give a later task the blame for an earlier one's traffic.
WITH conv AS (
    SELECT
        c.*,
        CASE c.state
            WHEN 'blocked' THEN 'reject'
            WHEN 'no_reply' THEN 'no_return'
            WHEN 'refused' THEN 'refused'
            WHEN 'established' THEN 'endpoint_bypassed'
        END AS kind,
        to_timestamp(c.first_seen) AS first_ts
    FROM conversations AS c
    WHERE c.state IN ('blocked', 'no_reply', 'refused')
       OR (c.state = 'established' AND c.protocol = 6 AND c.server_port = 443)
),
tasked AS (
    SELECT
        conv.*,
        a.task_arn, a.task_id, a.cluster_name, a.service_name, a.vpc_id AS task_vpc,
        a.security_group_ids AS task_groups, a.subnet_id AS task_subnet
    FROM conv
    LEFT JOIN eni_assignments AS a
      ON (a.eni_id = conv.source_eni OR (conv.source_eni IS NULL AND a.ip = conv.client_addr))
     AND conv.first_ts >= a.valid_from - INTERVAL 2 MINUTE
     AND (a.valid_to IS NULL OR conv.first_ts <= a.valid_to + INTERVAL 2 MINUTE)
    QUALIFY row_number() OVER (
        PARTITION BY conv.client_addr, conv.client_port, conv.server_addr, conv.server_port, conv.protocol
        ORDER BY (a.eni_id = conv.source_eni) DESC NULLS LAST, a.valid_from DESC NULLS LAST) = 1
),
placed AS (
    SELECT
        t.*,
        coalesce(t.task_id, t.ecs_task_id) AS src_task_id,
        coalesce(t.task_arn, t.ecs_task_arn) AS src_task_arn,
        coalesce(t.cluster_name, t.ecs_cluster_name) AS src_cluster,
        coalesce(t.service_name, t.ecs_service_name) AS src_service,
        d.type AS dest_type, d.id AS dest_id, coalesce(d.endpoint, t.server_addr) AS dest_key, d.name AS dest_name, d.aws_service AS dest_service, d.region AS dest_region
    FROM tasked AS t
    LEFT JOIN destinations AS d ON d.addr = t.server_addr
),
kept AS (
    SELECT * FROM placed
    WHERE src_task_id IS NOT NULL
      AND (kind <> 'endpoint_bypassed'
           OR (dest_type = 'aws_service'
               AND coalesce(dest_service, '') NOT IN ('S3', 'DYNAMODB')
               AND EXISTS (SELECT 1 FROM current_vpc_endpoints AS e
                           WHERE e.vpc_id = coalesce(placed.task_vpc, placed.source_vpc)
                             AND lower(e.endpoint_type) = 'interface' AND NOT e.private_dns_enabled)))
)
SELECT
    kind,
    mode(state) AS state,
    mode(observed_at) AS observed_at,
    src_cluster AS cluster,
    src_service AS service,
    src_task_id AS task_id,
    src_task_arn AS task_arn,
    mode(source_eni) AS source_eni,
    mode(client_addr) AS source_addr,
    mode(server_addr) AS dest_addr,
    list(DISTINCT server_addr ORDER BY server_addr) AS dest_addrs,
    server_port AS dest_port,
    protocol,
    coalesce(dest_type, 'unknown') AS dest_type,
    CASE WHEN coalesce(dest_type, 'unknown') = 'aws_service' THEN NULL ELSE dest_key END AS dest_id,
    max(dest_name) AS dest_name,
    max(dest_service) AS dest_service,
    max(dest_region) AS dest_region,
    count(*) AS conversations,
    sum(records) AS flows,
    sum(packets) AS packets,
    sum(bytes) AS bytes,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen,
    bool_or(source_logged) AS source_logged,
    bool_or(destination_logged) AS destination_logged,
    bool_or(request_arrived) AS request_arrived,
    bool_or(reply_sent) AS reply_sent,
    bool_and(state_from_sizes) AS state_from_sizes,
    mode(destination_eni) AS destination_eni,
    coalesce(max(task_subnet), mode(source_subnet)) AS source_subnet,
    max(task_groups) AS source_groups,
    coalesce(max(task_vpc), max(source_vpc)) AS vpc_id
FROM kept
GROUP BY kind, src_cluster, src_service, src_task_id, src_task_arn, coalesce(dest_type, 'unknown'),
         dest_key, server_port, protocol
ORDER BY first_seen, service, task_id, dest_id
