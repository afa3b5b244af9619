-- name: observed_conversations
-- kind: step
-- title: Every client, server, port and protocol the flows show, by state: what a proposed fix must not change
-- why: A fix is proven on a copy of the configuration: the failing conversations must pass and no other conversation seen in the flows may change verdict.
-- category: analysis
-- reads: conversations
SELECT client_addr, server_addr, server_port, protocol, state, min(client_port) AS client_port,
       count(*) AS conversations
FROM conversations
GROUP BY client_addr, server_addr, server_port, protocol, state
ORDER BY client_addr, server_addr, server_port, protocol, state
