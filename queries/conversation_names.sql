-- name: conversation_names
-- title: The name behind each conversation's server address: the DNS answer the client used, or the CloudTrail call
-- why: "AMAZON (public endpoint)" says nothing; the name the task asked for says which service it wanted.
-- category: enrichment
-- params: max_age (seconds an answer stays usable), skew (seconds: flow windows start before the packets)
-- reads: conversations, destinations, dns_answers, api_calls, current_nat_gateways
--
-- The rule (time-valid join). The Resolver logs only the queries it did not answer from its
-- cache, so a client that connects again within the TTL, or an SDK that keeps its connection
-- pool and its own cache, uses an answer that was logged once, minutes before. An answer
-- therefore names an address from the moment it was given (minus `skew`: a flow record's
-- window may start before the query) until `max_age` after it, and among the answers that
-- contain the address the client's own beat the VPC's other clients' (whose cached answer it may
-- have been given unlogged), and then the latest wins: an address reused by two names belongs to
-- the name answered last before the conversation.
-- CloudTrail names what DNS does not: a call without a VPC endpoint (vpc_endpoint_id NULL)
-- whose source address is a public address of a NAT gateway of the client's VPC, during the
-- conversation (± skew), names a conversation to a public AWS address when exactly one service was called that way then
-- (tls_host when logged, else the event source).
WITH conv AS (
    SELECT client_addr, server_addr, first_seen, max(last_seen) AS last_seen, any_value(source_vpc) AS vpc_id
    FROM conversations
    GROUP BY client_addr, server_addr, first_seen
),
by_dns AS (
    SELECT c.client_addr, c.server_addr, c.first_seen,
           a.name, a.aws_service, a.region, a.query_name, a.rcode, a.answers, 'dns_query' AS named_by
    FROM conv AS c
    JOIN dns_answers AS a
      ON a.address = c.server_addr
     AND a.at <= c.first_seen + $skew AND a.at >= c.first_seen - $max_age
     AND (c.vpc_id IS NULL OR a.vpc_id IS NULL OR a.vpc_id = c.vpc_id)
    QUALIFY row_number() OVER (PARTITION BY c.client_addr, c.server_addr, c.first_seen
                               ORDER BY (a.client_addr = c.client_addr) DESC, a.at DESC, a.name) = 1
),
nat_calls AS (
    SELECT n.vpc_id, epoch(k.event_time) AS at,
           coalesce(rtrim(lower(k.tls_host), '.'), k.event_source) AS name,
           coalesce(aws_service_of_host(k.tls_host),
                    CASE split_part(k.event_source, '.', 1) WHEN 'ecr' THEN 'ecr.api'
                         ELSE split_part(k.event_source, '.', 1) END) AS aws_service,
           coalesce(aws_region_of_host(k.tls_host), k.region) AS region
    FROM api_calls AS k
    JOIN current_nat_gateways AS n ON n.public_ip = k.source_ip
    WHERE k.vpc_endpoint_id IS NULL
),
by_trail AS (
    SELECT c.client_addr, c.server_addr, c.first_seen,
           min(t.name) AS name, min(t.aws_service) AS aws_service, min(t.region) AS region,
           NULL AS query_name, NULL AS rcode, NULL AS answers, 'cloudtrail' AS named_by
    FROM conv AS c
    JOIN destinations AS d ON d.addr = c.server_addr AND d.type = 'aws_service'
    JOIN nat_calls AS t
      ON t.vpc_id = c.vpc_id AND t.at >= c.first_seen - $skew AND t.at <= c.last_seen + $skew
    WHERE NOT EXISTS (SELECT 1 FROM by_dns AS d WHERE d.client_addr = c.client_addr AND d.server_addr = c.server_addr
                                                  AND d.first_seen = c.first_seen)
    GROUP BY c.client_addr, c.server_addr, c.first_seen
    HAVING count(DISTINCT t.aws_service) = 1
)
SELECT * FROM by_dns
UNION ALL
SELECT * FROM by_trail
