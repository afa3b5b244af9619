-- name: rejects
-- kind: question
-- title: REJECTed flows by ENI, destination, port and protocol
-- why: A REJECT means a security group or network ACL said no; grouping shows which rule family to look at first.
-- category: detection
-- param: since time: only records ending at or after this time
-- param: until time: only records starting before this time
-- param: port int: only this destination port
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
WHERE action = 'REJECT' AND ($until IS NULL OR "start" < $until) AND ($since IS NULL OR "end" >= $since)
  AND ($port IS NULL OR dstport = $port)
GROUP BY ALL
ORDER BY flows DESC, interface_id, destination, port
