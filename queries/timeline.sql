-- name: timeline
-- kind: step
-- title: Flow records per minute (of each conversation's start) for one finding
-- why: The document's timeline: when the failures started, and whether they go on.
-- category: analysis
-- param: client text: the finding's source address
-- param: addrs texts: its destination addresses
-- param: port int: its destination port
-- param: proto int: its protocol number
-- param: state text: the conversation state of its kind
-- reads: conversations
SELECT first_seen - first_seen % 60 AS minute, sum(records) AS flows
FROM conversations
WHERE client_addr = $client AND server_addr IN (SELECT unnest($addrs)) AND server_port = $port
  AND protocol = $proto AND state = $state
GROUP BY minute
ORDER BY minute
