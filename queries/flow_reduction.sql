-- name: flow_reduction
-- kind: step
-- title: Flow records reduced per hour, ENI, addresses, ports, protocol, direction and action
-- why: What the lake keeps derived (derived/flow_reduction/): a scheduled run reduces each data file once, and conversations are assembled from these rows exactly as from the records.
-- category: analysis
-- reads: flow_rows (the records to reduce: one data file's when the lake derives them, or the records of a window that no derived rows cover)
-- The keys and sums are those of `rec` in conversations.sql, plus the hour of the record's start:
-- counts, sums, minimums, maximums and bool_or of the rows of several hours (or files) add up to
-- those of their records, so a conversation spanning an hour boundary (or two delivery files) is
-- reassembled whole by flow_reduction_window. Records that conversations never reads (no address
-- or protocol, no start or end: the window's test excludes them) are left out. Sums are BIGINT (one file's hour of one key).
SELECT
    "start" - "start" % 3600 AS hour,
    interface_id, account_id, vpc_id, subnet_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn,
    srcaddr, dstaddr,
    coalesce(pkt_srcaddr, srcaddr) AS src,
    coalesce(pkt_dstaddr, dstaddr) AS dst,
    srcport, dstport, protocol, flow_direction, action,
    count(*) AS records,
    CAST(sum(packets) AS BIGINT) AS packets,
    CAST(sum(bytes) AS BIGINT) AS bytes,
    min("start") AS first_start,
    max("end") AS last_end,
    bool_or(tcp_flags IS NOT NULL AND (tcp_flags & 2) = 2 AND (tcp_flags & 16) = 0) AS syn,
    bool_or(tcp_flags IS NOT NULL AND (tcp_flags & 18) = 18) AS synack,
    bool_or(tcp_flags IS NOT NULL AND (tcp_flags & 4) = 4) AS rst,
    bool_or(tcp_flags IS NOT NULL) AS flagged
FROM flow_rows
WHERE "start" IS NOT NULL AND "end" IS NOT NULL AND srcaddr IS NOT NULL AND dstaddr IS NOT NULL AND protocol IS NOT NULL
GROUP BY hour, interface_id, account_id, vpc_id, subnet_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn,
         srcaddr, dstaddr, src, dst, srcport, dstport, protocol, flow_direction, action
