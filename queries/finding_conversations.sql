-- name: finding_conversations
-- kind: step
-- title: A few conversations of one finding, those in the finding's state first
-- why: Their 5-tuples and times select the finding's raw evidence records.
-- category: analysis
-- param: addrs texts: the finding's destination addresses
-- param: port int: its destination port
-- param: proto int: its protocol number
-- param: client text: its source address
-- param: state text: its state
-- reads: conversations
SELECT client_addr, client_port, server_addr, server_port, first_seen, last_seen
FROM conversations
WHERE server_addr IN (SELECT unnest($addrs)) AND server_port = $port AND protocol = $proto
  AND client_addr = $client
ORDER BY (state = $state) DESC, first_seen
LIMIT 3
