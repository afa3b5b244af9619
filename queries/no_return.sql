-- name: no_return
-- kind: question
-- title: Conversations with no return traffic (requests seen, nothing back, no REJECT)
-- why: Silence is the hardest failure to see in raw flow logs: routes, NAT, unlogged drops or a dead service.
-- category: detection
-- param: port int: only this destination port
-- reads: conversations
SELECT client_addr, server_addr, server_port AS port, protocol, requests, records AS flows,
       to_timestamp(first_seen) AS first_seen, to_timestamp(last_seen) AS last_seen, source_eni, interfaces
FROM conversations
WHERE state = 'no_reply' AND ($port IS NULL OR server_port = $port)
ORDER BY requests DESC, client_addr, server_addr
