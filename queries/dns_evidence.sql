-- name: dns_evidence
-- kind: step
-- title: The first logged queries of one dns_failure finding (at most `records`), in time order
-- why: The query-log lines a reader can check the finding against, with the file and line they came from.
-- category: analysis
-- param: client text: the task's address that asked
-- param: name text: the name it asked for (lower case, no trailing dot)
-- param: first int: the finding's first query (epoch seconds)
-- param: last int: its last query (epoch seconds)
-- param: records int: how many queries
-- reads: dns_queries
SELECT query_time, vpc_id, query_name, query_type, rcode, answers, srcaddr, srcport, transport, _source, _line
FROM dns_queries
WHERE srcaddr = $client AND name = $name
  AND query_time >= to_timestamp($first) AND query_time <= to_timestamp($last)
ORDER BY query_time, _line
LIMIT $records
