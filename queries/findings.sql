-- name: findings
-- kind: view
-- title: Failing task conversations, grouped by source task, destination endpoint, port and kind
-- why: One line per thing to fix: which task cannot reach which endpoint, since when, and where it fails.
-- category: detection
-- reads: conversations, destinations, conversation_names, task_proxies, eni_assignments, current_vpc_endpoints
--
-- Kinds: reject (state blocked), no_return (state no_reply), refused (state refused; by packet
-- sizes alone, state_from_sizes, when the format has no tcp-flags), and
-- endpoint_bypassed: established conversations to an AWS service's public addresses (tcp/443)
-- that bypass an interface endpoint of the task's VPC. Named (a DNS answer or CloudTrail says
-- which service: conversation_names), only when the VPC has an interface endpoint for THAT
-- service, one finding per task and service. Unnamed, only when some interface endpoint of
-- the VPC has private DNS disabled, one finding per task and such endpoint (the public
-- addresses together): a warning whose cause stays unconfirmed.
-- A named destination (public or internet) is grouped and labelled by its hostname.
-- The most frequent value of a column (mode) breaks ties by the smallest, not by the order rows
-- arrive in (that order differs between runs, threads and the derived path: pipeline.lake.derived).
-- A conversation to the HTTP(S) proxy of the task's task definition (task_proxies: address and
-- port) has the destination type `proxy`; an established one is an endpoint_bypassed candidate
-- (the calls go through the proxy, around the VPC's interface endpoints) that the analysis keeps
-- only when NO_PROXY misses the task credentials address or an endpoint's names.
-- The task is the one the client ENI belonged to at the time (ENI ids are never reused);
-- where the client ENI was not logged, the task that held the client IP at that time: a
-- join on IP alone would give a later task the blame for an earlier one's traffic.
WITH proxies AS (
    SELECT task_definition_arn, address, port, min(family || ':' || revision) AS proxy_task_definition,
           string_agg(DISTINCT variable || '=' || url, ', ' ORDER BY variable || '=' || url) AS proxy_setting,
           min(host || ':' || port || ' (' || variable || ')') AS proxy_name, max(no_proxy) AS no_proxy
    FROM task_proxies WHERE address IS NOT NULL
    GROUP BY task_definition_arn, address, port
),
conv AS (
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
       OR (c.state = 'established' AND c.protocol = 6  -- bypass candidates only: to AWS's public addresses, or a proxy
           AND ((c.server_port = 443 AND c.server_addr IN (SELECT addr FROM destinations WHERE type = 'aws_service'))
                OR c.server_addr IN (SELECT address FROM proxies)))
),
assignment_keys AS (  -- each assignment under its ENI id and under its address: one equality join below
    SELECT CASE WHEN k.by_eni THEN a.eni_id ELSE a.ip END AS match_key, a.*
    FROM eni_assignments AS a
    CROSS JOIN (VALUES (true), (false)) AS k(by_eni)
),
tasked AS (
    SELECT
        conv.*,
        a.task_arn, a.task_id, a.cluster_name, a.service_name, a.vpc_id AS task_vpc, a.task_definition_arn,
        a.security_group_ids AS task_groups, a.subnet_id AS task_subnet
    FROM conv
    LEFT JOIN assignment_keys AS a  -- the client ENI's task, else (ENI not logged) the client IP's
      ON a.match_key = coalesce(conv.source_eni, conv.client_addr)
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
        CASE WHEN px.address IS NOT NULL THEN 'proxy' ELSE d.type END AS dest_type, d.id AS dest_id,
        CASE WHEN px.address IS NOT NULL THEN 'proxy:' || px.address || ':' || px.port
             WHEN n.name IS NOT NULL AND d.type IN ('aws_service', 'internet') THEN 'name:' || n.name
             ELSE coalesce(d.endpoint, t.server_addr) END AS dest_key,
        coalesce(px.proxy_name, n.name, d.name) AS dest_name,
        CASE WHEN d.type IN ('aws_service', 'internet') THEN coalesce(n.aws_service, d.aws_service) ELSE d.aws_service END AS dest_service,
        CASE WHEN d.type IN ('aws_service', 'internet') THEN coalesce(n.region, d.region) ELSE d.region END AS dest_region,
        n.named_by, n.query_name AS dns_query_name, n.rcode AS dns_rcode, n.answers AS dns_answers,
        px.proxy_task_definition, px.proxy_setting, px.no_proxy
    FROM tasked AS t
    LEFT JOIN destinations AS d ON d.addr = t.server_addr
    LEFT JOIN proxies AS px
      ON px.task_definition_arn = t.task_definition_arn AND px.address = t.server_addr AND px.port = t.server_port
    LEFT JOIN conversation_names AS n
      ON n.client_addr = t.client_addr AND n.server_addr = t.server_addr AND n.first_seen = t.first_seen
),
bypassing AS (  -- endpoint_bypassed candidates, each with the interface endpoint it went around
    SELECT p.* REPLACE (CASE WHEN p.named_by IS NULL THEN 'bypass:' || e.endpoint_id ELSE p.dest_key END AS dest_key),
           e.endpoint_id AS bypassed_endpoint
    FROM placed AS p
    JOIN current_vpc_endpoints AS e
      ON e.vpc_id = coalesce(p.task_vpc, p.source_vpc) AND lower(e.endpoint_type) = 'interface'
     AND CASE WHEN p.named_by IS NOT NULL THEN e.aws_service = p.dest_service
              ELSE NOT e.private_dns_enabled AND coalesce(p.dest_service, '') NOT IN ('S3', 'DYNAMODB') END
    WHERE p.kind = 'endpoint_bypassed' AND p.dest_type = 'aws_service' AND p.src_task_id IS NOT NULL
    UNION ALL
    SELECT p.*, CAST(NULL AS VARCHAR) AS bypassed_endpoint  -- through the proxy, in a VPC with interface endpoints
    FROM placed AS p
    WHERE p.kind = 'endpoint_bypassed' AND p.dest_type = 'proxy' AND p.src_task_id IS NOT NULL
      AND EXISTS (SELECT 1 FROM current_vpc_endpoints AS e
                  WHERE e.vpc_id = coalesce(p.task_vpc, p.source_vpc) AND lower(e.endpoint_type) = 'interface')
),
kept AS (
    SELECT *, CAST(NULL AS VARCHAR) AS bypassed_endpoint FROM placed
    WHERE src_task_id IS NOT NULL AND kind <> 'endpoint_bypassed'
    UNION ALL BY NAME
    SELECT * FROM bypassing
)
SELECT
    kind,
    mode(state ORDER BY state) AS state,
    mode(observed_at ORDER BY observed_at) AS observed_at,
    src_cluster AS cluster,
    src_service AS service,
    src_task_id AS task_id,
    src_task_arn AS task_arn,
    mode(source_eni ORDER BY source_eni) AS source_eni,
    mode(client_addr ORDER BY client_addr) AS source_addr,
    mode(server_addr ORDER BY server_addr) AS dest_addr,
    list(DISTINCT server_addr ORDER BY server_addr) AS dest_addrs,
    server_port AS dest_port,
    protocol,
    coalesce(dest_type, 'unknown') AS dest_type,
    CASE coalesce(dest_type, 'unknown') WHEN 'aws_service' THEN NULL WHEN 'proxy' THEN max(dest_id)
         ELSE dest_key END AS dest_id,
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
    mode(destination_eni ORDER BY destination_eni) AS destination_eni,
    coalesce(max(task_subnet), mode(source_subnet ORDER BY source_subnet)) AS source_subnet,
    max(task_groups) AS source_groups,
    coalesce(max(task_vpc), max(source_vpc)) AS vpc_id,
    max(named_by) AS named_by,
    max(bypassed_endpoint) AS bypassed_endpoint,
    arg_max(dns_query_name, first_seen) AS dns_query_name,
    arg_max(dns_rcode, first_seen) AS dns_rcode,
    arg_max(dns_answers, first_seen) AS dns_answers,
    max(proxy_task_definition) AS proxy_task_definition,
    max(proxy_setting) AS proxy_setting,
    max(no_proxy) AS no_proxy
FROM kept
GROUP BY kind, src_cluster, src_service, src_task_id, src_task_arn, coalesce(dest_type, 'unknown'),
         dest_key, server_port, protocol
ORDER BY first_seen, service, task_id, dest_id
