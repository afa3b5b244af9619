-- name: resolve
-- kind: view
-- title: Who owned an address at a given time
-- why: Which task, service, VPC endpoint, NAT gateway, load balancer or AWS service was behind this address at that moment?
-- category: metadata
-- audience: sql
-- input: fill the temp table resolve_input(address VARCHAR, at_time TIMESTAMPTZ, vpc_id VARCHAR); at_time NULL = now, vpc_id optional
-- reads: resolve_input, address_static(), eni_assignments
-- views: resolve_input (temp table), resolve
-- method: static owners come from address_static() over the DISTINCT input addresses (one
--   ip_key per address, one range join on ip-ranges and CIDRs). A task address is resolved
--   by time: the eni_assignments row of that address whose [valid_from, valid_to] holds
--   at_time (NULL: the open-ended one), preferring the given vpc_id, then the latest start.
--   Joining on the address alone would be wrong: after a task stops its IP goes to later
--   tasks. A time-valid task beats every static owner; then endpoint/NAT/LB/Lambda/EC2/
--   other ENI, 'vpc_internal' (in a known VPC/subnet CIDR), 'aws_service' (longest ip-ranges
--   prefix), 'private', 'internet'.
--   For millions of flow records use flows_with_owners (flows_with_owners.sql).
CREATE TEMP TABLE IF NOT EXISTS resolve_input (address VARCHAR, at_time TIMESTAMPTZ, vpc_id VARCHAR);

CREATE OR REPLACE VIEW resolve AS
WITH i AS (
    SELECT DISTINCT address, at_time, vpc_id FROM resolve_input WHERE address IS NOT NULL
),
s AS (
    SELECT * FROM address_static('resolve_input')
),
t AS (
    SELECT i.address, i.at_time, i.vpc_id AS vpc_hint, a.task_key, a.task_arn, a.task_id, a.cluster_name,
           a.service_name, a.task_definition_arn, a.eni_id AS task_eni_id, a.vpc_id AS task_vpc_id,
           a.subnet_id AS task_subnet_id, a.valid_from, a.valid_to, a.source AS assignment_source
    FROM i
    JOIN s ON s.address = i.address
    JOIN eni_assignments a ON a.ip_key = s.ip_key
    WHERE NOT a.conflict
      AND CASE WHEN i.at_time IS NULL THEN a.valid_to IS NULL
               ELSE i.at_time >= a.valid_from AND (a.valid_to IS NULL OR i.at_time <= a.valid_to) END
      AND (i.vpc_id IS NULL OR a.vpc_id IS NULL OR a.vpc_id = i.vpc_id)
    QUALIFY row_number() OVER (
        PARTITION BY i.address, i.at_time, i.vpc_id
        ORDER BY (a.vpc_id IS NOT DISTINCT FROM i.vpc_id) DESC, a.valid_from DESC, a.task_key) = 1
)
SELECT
    i.address,
    i.at_time,
    i.vpc_id AS vpc_hint,
    CASE WHEN t.task_key IS NOT NULL THEN 'ecs_task' ELSE s.static_kind END AS owner_kind,
    CASE WHEN t.task_key IS NOT NULL THEN coalesce(t.task_arn, t.task_eni_id) ELSE s.owner_id END AS owner_id,
    CASE WHEN t.task_key IS NOT NULL THEN t.service_name ELSE s.owner_name END AS owner_name,
    t.task_arn, t.task_id, t.service_name, t.cluster_name, t.task_definition_arn,
    t.valid_from AS assignment_valid_from, t.valid_to AS assignment_valid_to, t.assignment_source,
    s.aws_service, s.aws_region, s.aws_prefix,
    coalesce(t.task_eni_id, s.eni_id) AS eni_id,
    coalesce(t.task_vpc_id, s.vpc_id) AS vpc_id,
    coalesce(t.task_subnet_id, s.subnet_id) AS subnet_id,
    s.static_kind,
    s.is_task_address
FROM i
JOIN s ON s.address = i.address
LEFT JOIN t ON t.address = i.address AND t.at_time IS NOT DISTINCT FROM i.at_time AND t.vpc_hint IS NOT DISTINCT FROM i.vpc_id;
