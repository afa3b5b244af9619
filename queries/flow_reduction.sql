-- name: flow_reduction
-- kind: step
-- title: Flow records reduced per hour, ENI, addresses, ports, protocol, direction and action
-- why: One reduction of the records for both paths: conversations.sql reduces the window's records with it (rec), and the lake keeps it derived (derived/flow_reduction/), each data file reduced once, for scheduled runs.
-- category: analysis
-- reads: the relation its argument names: flow records with an `hour` column (the derived path: the hour of the record's start; conversations.sql: NULL, one group)
-- views: flow_reduction (table macro)
-- The table macro flow_reduction(input_name) reduces the relation named input_name to one row per
-- hour, ENI, addresses, ports, protocol, direction and action; the account, VPC, subnet and ECS
-- fields are the same for all records of an ENI, so as keys they add no rows (and cost less than an
-- arg_min each). Counts, sums, minimums, maximums and bool_or of the rows of several hours (or
-- files) add up to those of their records, so a conversation spanning an hour boundary (or two
-- delivery files) is reassembled whole by flow_reduction_window. Records that conversations never
-- reads (no address or protocol, no start or end) are left out. Sums are BIGINT (one key's records
-- of a window).
CREATE OR REPLACE MACRO flow_reduction(input_name) AS TABLE
SELECT
    hour,
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
FROM query_table(input_name)
WHERE "start" IS NOT NULL AND "end" IS NOT NULL AND srcaddr IS NOT NULL AND dstaddr IS NOT NULL AND protocol IS NOT NULL
GROUP BY hour, interface_id, account_id, vpc_id, subnet_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn,
         srcaddr, dstaddr, src, dst, srcport, dstport, protocol, flow_direction, action;
