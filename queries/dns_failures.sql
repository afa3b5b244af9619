-- name: dns_failures
-- kind: step
-- title: Names each task asked for and did not get (NXDOMAIN, SERVFAIL, or no address, repeated)
-- why: A task that cannot resolve its service's name never opens a connection: no flow shows the failure, the query log does.
-- category: detection
-- param: since int: epoch seconds
-- param: until int: epoch seconds
-- reads: dns_queries, eni_assignments, aws_service_of_host() and aws_region_of_host() (name_macros.sql)
--
-- A failed query: an rcode other than NOERROR, or an A query answered NOERROR with no address
-- by a name the same client never got an address for in the window (an AAAA query with no
-- address is an IPv4-only name, not a failure). Kept when repeated: two logged failures or more
-- of the same name by the same task (the Resolver logs only what it did not answer from its cache,
-- negative answers included, so repeats are minutes apart). Names under the VPC's search
-- domains (`*.compute.internal`, `*.ec2.internal`) are the resolver library trying suffixes and
-- are left out. The task is the one that held the query's source address at the query's time.
WITH q AS (
    SELECT * FROM dns_queries
    WHERE query_time >= to_timestamp($since) AND query_time < to_timestamp($until) AND srcaddr IS NOT NULL
      AND name IS NOT NULL AND NOT regexp_matches(name, '\.(compute|ec2)\.internal$')
),
answered AS (
    SELECT DISTINCT srcaddr, name FROM q WHERE array_length(coalesce(answer_addresses, [])) > 0
),
failed AS (
    SELECT q.*, CASE WHEN q.rcode = 'NOERROR' THEN 'NOANSWER' ELSE q.rcode END AS failure
    FROM q
    LEFT JOIN answered AS a ON a.srcaddr = q.srcaddr AND a.name = q.name
    WHERE coalesce(q.rcode, '') <> 'NOERROR'
       OR (q.query_type = 'A' AND array_length(coalesce(q.answer_addresses, [])) = 0 AND a.name IS NULL)
),
tasked AS (
    SELECT f.*, t.task_id, t.task_arn, t.cluster_name, t.service_name, t.eni_id, t.subnet_id,
           t.security_group_ids, coalesce(f.vpc_id, t.vpc_id) AS task_vpc
    FROM failed AS f
    JOIN eni_assignments AS t
      ON t.ip = f.srcaddr AND f.query_time >= t.valid_from - INTERVAL 2 MINUTE
     AND (t.valid_to IS NULL OR f.query_time <= t.valid_to + INTERVAL 2 MINUTE)
    QUALIFY row_number() OVER (PARTITION BY f.srcaddr, f.query_time, f.name, f.query_type
                               ORDER BY t.valid_from DESC) = 1
)
SELECT
    cluster_name AS cluster, service_name AS service, task_id, task_arn, eni_id AS source_eni, srcaddr AS source_addr,
    name, aws_service_of_host(name) AS aws_service, aws_region_of_host(name) AS region,
    arg_max(query_name, query_time) AS query_name, mode(failure) AS rcode,
    arg_max(answers, query_time) AS answers, count(*) AS queries,
    epoch(min(query_time)) AS first_seen, epoch(max(query_time)) AS last_seen,
    max(task_vpc) AS vpc_id, max(subnet_id) AS source_subnet, max(security_group_ids) AS source_groups,
    arg_max(transport, query_time) AS transport
FROM tasked
GROUP BY cluster_name, service_name, task_id, task_arn, eni_id, srcaddr, name
HAVING count(*) >= 2
ORDER BY first_seen, service, task_id, name
