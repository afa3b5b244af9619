-- name: flow_reduction_window
-- kind: step
-- title: The window's records as reduced rows: derived rows of the hours wholly inside it, plus the rest reduced from the records
-- why: Conversations of a scheduled run read the reduction each data file was given once (derived/flow_reduction/) instead of reducing the window's records again.
-- category: analysis
-- reads: flow_reduction_parts (rows of flow_reduction: the derived rows of every (data file, hour) whose records all overlap the window, and the reduction of the window's other records; or one part of them, by a hash of the address pair, when the window's rows would not fit the memory limit)
-- One row per key of `rec` in conversations.sql (no hour): the parts' counts and sums added,
-- first start the minimum, last end the maximum, flags or-ed: the values rec computes from the
-- records themselves, whichever hour or file they came from.
SELECT
    interface_id, account_id, vpc_id, subnet_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn,
    srcaddr, dstaddr, src, dst, srcport, dstport, protocol, flow_direction, action,
    CAST(sum(records) AS BIGINT) AS records,
    sum(packets) AS packets,
    sum(bytes) AS bytes,
    min(first_start) AS first_start,
    max(last_end) AS last_end,
    bool_or(syn) AS syn,
    bool_or(synack) AS synack,
    bool_or(rst) AS rst,
    bool_or(flagged) AS flagged
FROM flow_reduction_parts
GROUP BY interface_id, account_id, vpc_id, subnet_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn,
         srcaddr, dstaddr, src, dst, srcport, dstport, protocol, flow_direction, action
