-- name: finding_samples
-- kind: step
-- title: A few conversations of every finding (at most `samples` each), those in the finding's state first
-- why: Their 5-tuples and times select the findings' raw evidence records.
-- category: analysis
-- param: samples int: how many conversations per finding
-- reads: conversations, finding_targets(finding, client, addr, port, proto, state): one row per finding and destination address
-- One equality join for all findings (not a scan of the conversations per finding).
SELECT t.finding, c.client_addr, c.client_port, c.server_addr, c.server_port, c.first_seen, c.last_seen
FROM finding_targets AS t
JOIN conversations AS c
  ON c.client_addr = t.client AND c.server_addr = t.addr AND c.server_port = t.port AND c.protocol = t.proto
QUALIFY row_number() OVER (PARTITION BY t.finding ORDER BY (c.state = t.state) DESC, c.first_seen, c.client_port,
                                                           c.server_addr) <= $samples
ORDER BY t.finding, (c.state = t.state) DESC, c.first_seen, c.client_port, c.server_addr
