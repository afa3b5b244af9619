-- name: dns_queries_made
-- kind: step
-- title: How many logged queries one client made for one name in a time range
-- why: A finding named by a DNS answer says how often the task asked (cached answers are not logged).
-- category: analysis
-- param: client text: the task's address
-- param: name text: the name (lower case, no trailing dot)
-- param: since int: epoch seconds
-- param: until int: epoch seconds (exclusive)
-- reads: dns_queries
SELECT count(*) AS queries
FROM dns_queries
WHERE srcaddr = $client AND name = $name
  AND query_time >= to_timestamp($since) AND query_time < to_timestamp($until)
