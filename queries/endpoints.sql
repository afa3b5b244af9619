-- name: endpoints
-- kind: question
-- title: Traffic per destination endpoint (VPC endpoint, NAT gateway, AWS service, internet) and its health
-- why: An endpoint that some clients reach and others do not points at the clients' side; one nobody reaches, at the endpoint.
-- category: operational
-- param: port int: only this destination port
-- reads: conversations, destinations, conversation_names
--
-- Public addresses named by a DNS answer or CloudTrail (conversation_names) are one endpoint per
-- name (sns.eu-west-1.amazonaws.com), not per ip-ranges block.
SELECT coalesce(d.type, 'unknown') AS type,
       CASE WHEN d.type IN ('aws_service', 'internet') THEN coalesce(n.name, d.endpoint) ELSE coalesce(d.endpoint, c.server_addr) END AS endpoint,
       max(coalesce(n.name, d.name)) AS name,
       max(CASE WHEN d.type IN ('aws_service', 'internet') THEN coalesce(n.aws_service, d.aws_service) ELSE d.aws_service END) AS aws_service,
       c.server_port AS port, count(DISTINCT c.client_addr) AS clients, count(*) AS conversations,
       count(*) FILTER (WHERE c.state = 'established') AS established,
       count(*) FILTER (WHERE c.state = 'blocked') AS blocked,
       count(*) FILTER (WHERE c.state = 'no_reply') AS no_reply,
       count(*) FILTER (WHERE c.state = 'refused') AS refused,
       sum(c.bytes) AS bytes
FROM conversations AS c
LEFT JOIN destinations AS d ON d.addr = c.server_addr
LEFT JOIN conversation_names AS n
  ON n.client_addr = c.client_addr AND n.server_addr = c.server_addr AND n.first_seen = c.first_seen
WHERE $port IS NULL OR c.server_port = $port
GROUP BY ALL
ORDER BY conversations DESC, endpoint, port
