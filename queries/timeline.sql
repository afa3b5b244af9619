-- name: timeline
-- kind: step
-- title: Flow records per minute (of each conversation's start) for every finding
-- why: The document's timeline: when the failures started, and whether they go on.
-- category: analysis
-- reads: conversations, finding_targets(finding, client, addr, port, proto, state): one row per finding and destination address
-- One equality join for all findings (not a scan of the conversations per finding).
SELECT t.finding, c.first_seen - c.first_seen % 60 AS minute, sum(c.records) AS flows
FROM finding_targets AS t
JOIN conversations AS c
  ON c.client_addr = t.client AND c.server_addr = t.addr AND c.server_port = t.port AND c.protocol = t.proto
 AND c.state = t.state
GROUP BY t.finding, minute
ORDER BY t.finding, minute
