-- name: task
-- kind: question
-- title: One task's flow records, ENI-centric, with direction and decoded TCP flags
-- why: The focused packet view of one task: what it sent, what came back, what was rejected, and by which path.
-- category: investigation
-- param: since time: only records ending at or after this time
-- param: until time: only records starting before this time
-- param: enis texts: the task's ENI ids
-- param: ips texts: the task's addresses
-- reads: flows
SELECT
    to_timestamp("start") AS "start",
    interface_id,
    CASE WHEN flow_direction = 'egress' OR (flow_direction IS NULL AND list_contains($ips, srcaddr)) THEN '→' ELSE '←' END AS dir,
    coalesce(pkt_srcaddr, srcaddr) || ':' || coalesce(CAST(srcport AS VARCHAR), '-') AS source,
    coalesce(pkt_dstaddr, dstaddr) || ':' || coalesce(CAST(dstport AS VARCHAR), '-') AS destination,
    protocol,
    action,
    concat_ws(',',
        CASE WHEN (tcp_flags & 18) = 18 THEN 'SYN-ACK' WHEN (tcp_flags & 2) = 2 THEN 'SYN' END,
        CASE WHEN (tcp_flags & 1) = 1 THEN 'FIN' END,
        CASE WHEN (tcp_flags & 4) = 4 THEN 'RST' END) AS flags,
    packets, bytes, traffic_path, pkt_dst_aws_service
FROM flows
WHERE ($until IS NULL OR "start" < $until) AND ($since IS NULL OR "end" >= $since)
  AND (($enis IS NULL AND $ips IS NULL) OR list_contains($enis, interface_id) OR list_contains($ips, srcaddr) OR list_contains($ips, dstaddr))
ORDER BY "start", interface_id, _line
