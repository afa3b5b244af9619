-- name: addresses
-- kind: step
-- title: The distinct server addresses of the conversations
-- why: Each destination address is resolved once, however many conversations reach it (the input of destinations).
-- category: enrichment
-- reads: conversations
SELECT DISTINCT server_addr AS address FROM conversations
