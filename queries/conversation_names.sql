-- name: conversation_names
-- kind: step
-- title: The name behind each conversation's server address: the DNS answer the client used, or the CloudTrail call
-- why: "AMAZON (public endpoint)" says nothing; the name the task asked for says which service it wanted.
-- category: enrichment
-- param: max_age int: seconds an answer stays usable
-- param: skew int: seconds a flow window may start before its packets
-- param: findings_only int: 1 names only the conversations the findings look at (failing ones, and established
--   ones to AWS's public addresses or to a proxy), 0 every conversation (talkers, endpoints, ad-hoc SQL)
-- reads: conversations, destinations, task_proxies, dns_answers, dns_queries, api_calls, current_nat_gateways
--
-- The rule (time-valid join). The Resolver logs only the queries it did not answer from its
-- cache, so a client that connects again within the TTL, or an SDK that keeps its connection
-- pool and its own cache, uses an answer that was logged once, minutes before. An answer
-- therefore names an address from the moment it was given (minus `skew`: a flow record's
-- window may start before the query) until `max_age` after it, and among the answers that
-- contain the address the client's own beat the VPC's other clients' (whose cached answer it may
-- have been given unlogged), and then the latest wins: an address reused by two names belongs to
-- the name answered last before the conversation.
-- Cost: two ASOF joins on the keys alone (the latest answer at or before each conversation, per
-- client and address; then, for the conversations without one, per VPC and address), not a range join: an address answered to every client of a busy VPC
-- would otherwise meet every answer of the last hour. DuckDB-only construct: ASOF JOIN (on Trino
-- or Spark: max_by over a join on the equality keys and the time range).
-- CloudTrail names what DNS does not: a call without a VPC endpoint (vpc_endpoint_id NULL)
-- whose source address is a public address of a NAT gateway of the client's VPC, during the
-- conversation (± skew, by the minute), names a conversation to a public AWS address when exactly one service was called that way then
-- (tls_host when logged, else the event source).
WITH conv AS (
    SELECT client_addr, server_addr, first_seen, max(last_seen) AS last_seen, any_value(source_vpc) AS vpc_id
    FROM conversations
    WHERE $findings_only = 0 OR state <> 'established'
       OR server_addr IN (SELECT addr FROM destinations WHERE type = 'aws_service')
       OR server_addr IN (SELECT address FROM task_proxies)
    GROUP BY client_addr, server_addr, first_seen
),
own_answer AS (  -- the latest answer the client itself got that holds the address
    SELECT c.client_addr, c.server_addr, c.first_seen, a.client_addr AS asked_by, a.name, a.query_time, a.answered_at
    FROM conv AS c
    ASOF JOIN dns_answers AS a
      ON a.client_addr = c.client_addr AND a.address = c.server_addr AND a.answered_at <= c.first_seen + $skew
),
unowned AS (  -- the conversations with no answer of their own within max_age
    SELECT c.*
    FROM conv AS c
    WHERE NOT EXISTS (SELECT 1 FROM own_answer AS o
                      WHERE o.client_addr = c.client_addr AND o.server_addr = c.server_addr
                        AND o.first_seen = c.first_seen AND o.answered_at >= c.first_seen - $max_age)
),
vpc_answer AS (  -- for those, the latest answer any client of the VPC got that holds the address
    SELECT c.client_addr, c.server_addr, c.first_seen, a.client_addr AS asked_by, a.name, a.query_time, a.answered_at
    FROM unowned AS c
    ASOF JOIN dns_answers AS a
      ON a.vpc_id = c.vpc_id AND a.address = c.server_addr AND a.answered_at <= c.first_seen + $skew  -- plain columns: an
     -- expression here turns the ASOF join into a nested loop; a conversation whose VPC is unknown gets its own answers only
),
chosen AS (
    SELECT client_addr, server_addr, first_seen, asked_by, name, query_time FROM own_answer
    WHERE answered_at >= first_seen - $max_age
    UNION ALL
    SELECT client_addr, server_addr, first_seen, asked_by, name, query_time FROM vpc_answer
    WHERE answered_at >= first_seen - $max_age
),
answered AS (  -- the answer itself, from the query log (the same query logged twice counts once)
    SELECT c.client_addr, c.server_addr, c.first_seen, c.name, q.query_name, q.rcode, q.answers,
           'dns_query' AS named_by
    FROM chosen AS c
    JOIN dns_queries AS q ON q.srcaddr = c.asked_by AND q.name = c.name AND q.query_time = c.query_time
    QUALIFY row_number() OVER (PARTITION BY c.client_addr, c.server_addr, c.first_seen
                               ORDER BY q.query_name, q.rcode, q._source, q._line) = 1
),
hosts AS (  -- the regular expressions once per distinct name, not once per conversation
    SELECT name, aws_service_of_host(name) AS aws_service, aws_region_of_host(name) AS region
    FROM (SELECT DISTINCT name FROM answered)
),
by_dns AS (
    SELECT a.client_addr, a.server_addr, a.first_seen, a.name, h.aws_service, h.region, a.query_name, a.rcode,
           a.answers, a.named_by
    FROM answered AS a JOIN hosts AS h ON h.name = a.name
),
nat_calls AS (  -- per VPC, minute and service: a busy account makes many calls a minute
    SELECT vpc_id, minute,
           coalesce(aws_service_of_host(tls_host),
                    CASE split_part(event_source, '.', 1) WHEN 'ecr' THEN 'ecr.api'
                         ELSE split_part(event_source, '.', 1) END) AS aws_service,
           min(coalesce(rtrim(lower(tls_host), '.'), event_source)) AS name,
           min(coalesce(aws_region_of_host(tls_host), region)) AS region
    FROM (SELECT DISTINCT n.vpc_id, floor(epoch(k.event_time) / 60) AS minute, k.tls_host, k.event_source, k.region
          FROM api_calls AS k
          JOIN current_nat_gateways AS n ON n.public_ip = k.source_ip
          WHERE k.vpc_endpoint_id IS NULL)
    GROUP BY ALL
),
by_trail AS (
    SELECT c.client_addr, c.server_addr, c.first_seen,
           min(t.name) AS name, min(t.aws_service) AS aws_service, min(t.region) AS region,
           NULL AS query_name, NULL AS rcode, NULL AS answers, 'cloudtrail' AS named_by
    FROM conv AS c
    JOIN destinations AS d ON d.addr = c.server_addr AND d.type = 'aws_service'
    JOIN nat_calls AS t
      ON t.vpc_id = c.vpc_id
     AND t.minute BETWEEN floor((c.first_seen - $skew) / 60) AND floor((c.last_seen + $skew) / 60)
    WHERE NOT EXISTS (SELECT 1 FROM by_dns AS b WHERE b.client_addr = c.client_addr AND b.server_addr = c.server_addr
                                                  AND b.first_seen = c.first_seen)
    GROUP BY c.client_addr, c.server_addr, c.first_seen
    HAVING count(DISTINCT t.aws_service) = 1
)
SELECT * FROM by_dns
UNION ALL
SELECT * FROM by_trail
