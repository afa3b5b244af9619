-- name: current_prefix_lists
-- kind: view
-- title: The current entries of each managed prefix list, with the list's name
-- why: Security group rules and routes name prefix lists; the rules are checked against their CIDRs.
-- category: metadata
-- reads: current_prefix_list_rows
-- method: names come from describe-managed-prefix-lists (rows without a CIDR), CIDRs from
--   get-managed-prefix-list-entries; current_prefix_list_rows holds the latest snapshot's rows of
--   each list. Each entry takes the newest name of its list; a list with no entries is one row
--   with a NULL cidr.
CREATE OR REPLACE VIEW current_prefix_lists AS
WITH names AS (
    SELECT prefix_list_id, arg_max(prefix_list_name, snapshot_time) AS prefix_list_name,
           max(snapshot_time) AS name_time
    FROM current_prefix_list_rows WHERE cidr IS NULL GROUP BY prefix_list_id
),
entries AS (SELECT * FROM current_prefix_list_rows WHERE cidr IS NOT NULL)
SELECT coalesce(e.prefix_list_id, n.prefix_list_id) AS prefix_list_id, n.prefix_list_name, e.cidr,
       e.snapshot_id, coalesce(e.snapshot_time, n.name_time) AS snapshot_time, e.source
FROM entries e FULL OUTER JOIN names n ON n.prefix_list_id = e.prefix_list_id
