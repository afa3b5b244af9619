-- name: talkers
-- kind: question
-- title: Top talkers: client → server pairs by bytes, with their state
-- why: Who talks to whom, how much, and whether it works: the baseline an incident is compared against.
-- category: volume
-- param: port int: only this destination port
-- reads: conversations, destinations
SELECT c.client_addr, c.server_addr, coalesce(d.name, d.type) AS destination, c.server_port AS port, c.protocol,
       count(*) AS conversations, sum(c.bytes) AS bytes, sum(c.packets) AS packets,
       count(*) FILTER (WHERE c.state = 'established') AS established,
       count(*) FILTER (WHERE c.state <> 'established') AS failing
FROM conversations AS c LEFT JOIN destinations AS d ON d.addr = c.server_addr
WHERE $port IS NULL OR c.server_port = $port
GROUP BY ALL
ORDER BY bytes DESC NULLS LAST, conversations DESC
LIMIT 50
