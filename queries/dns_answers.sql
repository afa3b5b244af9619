-- name: dns_answers
-- kind: step
-- title: Each address a DNS answer gave a client, with the name it asked for
-- why: Flow logs carry addresses; the Resolver query log says which name an address was the answer to.
-- category: enrichment
-- param: since int: epoch seconds (answers from since - max_age on count)
-- param: until int: epoch seconds
-- param: max_age int: seconds an answer stays usable
-- reads: dns_queries
--
-- One row per (query, A/AAAA address in its answers). The name is the name the client asked
-- for (`name`: lower case, no trailing dot), not the end of a CNAME chain: a task that asked
-- for sns.eu-west-1.amazonaws.com and got a CNAME and then addresses wanted SNS. (The service a
-- name stands for is worked out later, once per distinct name: conversation_names.) Narrow on
-- purpose: the answers themselves are read back for the queries a conversation used.
SELECT
    q.vpc_id,
    q.srcaddr AS client_addr,
    q.name,
    q.query_time,  -- with the client and the name, the query's key (its answer is fetched for the few used)
    CAST(floor(epoch(q.query_time)) AS BIGINT) AS answered_at,  -- whole seconds, like the flow records' times
    address
FROM dns_queries AS q, unnest(q.answer_addresses) AS t(address)
WHERE q.query_time >= to_timestamp($since - $max_age) AND q.query_time < to_timestamp($until)
  AND address IS NOT NULL
