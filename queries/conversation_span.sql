-- name: conversation_span
-- kind: step
-- title: The first and last second of the conversations built
-- why: The name join reads the DNS answers of that span only (and the hour before it).
-- category: analysis
-- reads: conversations
SELECT min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM conversations
