-- name: endpoints
-- kind: question
-- title: Traffic per destination endpoint (VPC endpoint, NAT gateway, AWS service, internet) and its health
-- why: An endpoint that some clients reach and others do not points at the clients' side; one nobody reaches, at the endpoint.
-- category: operational
-- param: port int: only this destination port
-- reads: conversations, destinations
SELECT coalesce(d.type, 'unknown') AS type, coalesce(d.endpoint, c.server_addr) AS endpoint, max(d.name) AS name,
       max(d.aws_service) AS aws_service,
       c.server_port AS port, count(DISTINCT c.client_addr) AS clients, count(*) AS conversations,
       count(*) FILTER (WHERE c.state = 'established') AS established,
       count(*) FILTER (WHERE c.state = 'blocked') AS blocked,
       count(*) FILTER (WHERE c.state = 'no_reply') AS no_reply,
       count(*) FILTER (WHERE c.state = 'refused') AS refused,
       sum(c.bytes) AS bytes
FROM conversations AS c LEFT JOIN destinations AS d ON d.addr = c.server_addr
WHERE $port IS NULL OR c.server_port = $port
GROUP BY coalesce(d.type, 'unknown'), coalesce(d.endpoint, c.server_addr), c.server_port
ORDER BY conversations DESC, endpoint, port
