-- name: query_logged_vpcs
-- kind: step
-- title: The VPCs whose Resolver queries are logged
-- why: A VPC without query logging has no DNS evidence, which is not the same as "no queries": causes say which log would settle them.
-- category: enrichment
-- reads: current_query_log_associations, dns_queries
-- A query-log configuration associated with the VPC (metadata, not being deleted or failed), or
-- queries of the VPC in the lake.
SELECT vpc_id FROM current_query_log_associations
WHERE vpc_id IS NOT NULL AND coalesce(upper(status), 'ACTIVE') NOT IN ('DELETING', 'FAILED')
UNION
SELECT DISTINCT vpc_id FROM dns_queries WHERE vpc_id IS NOT NULL
