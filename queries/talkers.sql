-- name: talkers
-- kind: question
-- title: Top talkers: client → server pairs by bytes, with their state
-- why: Who talks to whom, how much, and whether it works: the baseline an incident is compared against.
-- category: volume
-- param: port int: only this destination port
-- reads: conversations, destinations, conversation_names
SELECT c.client_addr, c.server_addr, coalesce(n.name, d.name, d.type) AS destination, c.server_port AS port, c.protocol,
       count(*) AS conversations, sum(c.bytes) AS bytes, sum(c.packets) AS packets,
       count(*) FILTER (WHERE c.state = 'established') AS established,
       count(*) FILTER (WHERE c.state <> 'established') AS failing
FROM conversations AS c
LEFT JOIN destinations AS d ON d.addr = c.server_addr
LEFT JOIN conversation_names AS n  -- the name the client asked for (DNS) or called (CloudTrail)
  ON n.client_addr = c.client_addr AND n.server_addr = c.server_addr AND n.first_seen = c.first_seen
WHERE $port IS NULL OR c.server_port = $port
GROUP BY ALL
ORDER BY bytes DESC NULLS LAST, conversations DESC
LIMIT 50
