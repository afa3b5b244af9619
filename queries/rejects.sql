-- name: rejects
-- title: REJECTed flows by ENI, destination, port and protocol
-- why: A REJECT means a security group or network ACL said no; grouping shows which rule family to look at first.
-- category: detection
-- params: since, until (epoch seconds), port (NULL for any)
-- reads: flows
SELECT
    interface_id,
    coalesce(pkt_srcaddr, srcaddr) AS source,
    coalesce(pkt_dstaddr, dstaddr) AS destination,
    dstport AS port,
    protocol,
    flow_direction AS direction,
    count(*) AS flows,
    sum(packets) AS packets,
    to_timestamp(min("start")) AS first_seen,
    to_timestamp(max("end")) AS last_seen
FROM flows
WHERE action = 'REJECT' AND "start" < $until AND "end" >= $since
  AND ($port IS NULL OR dstport = $port)
GROUP BY ALL
ORDER BY flows DESC, interface_id, destination, port
