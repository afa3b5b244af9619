-- name: dns_queries_made
-- kind: step
-- title: How many logged queries each named finding's client made for its name, around the finding's time
-- why: A finding named by a DNS answer says how often the task asked (cached answers are not logged).
-- category: analysis
-- reads: dns_queries, named_findings(finding, client, name, since, until): one row per finding named by a query log
-- One join for all findings (not a scan of the query log per finding).
SELECT f.finding, count(q.name) AS queries
FROM named_findings AS f
LEFT JOIN dns_queries AS q
  ON q.srcaddr = f.client AND q.name = f.name
 AND q.query_time >= to_timestamp(f.since) AND q.query_time < to_timestamp(f.until)
GROUP BY f.finding
