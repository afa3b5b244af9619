-- name: evidence
-- kind: step
-- title: The first raw flow records of each finding (at most `records`), REJECTs first, then in time order (ties: line, file)
-- why: The records a reader can check the finding against, with the file and line they came from.
-- category: analysis
-- param: records int: how many records per finding
-- param: since int: the earliest first_seen of the keys (epoch seconds), a bound the join implies
-- param: until int: the latest last_seen of the keys (epoch seconds), likewise
-- reads: flows, finding_keys(finding, src, dst, src_port, dst_port, protocol, first_seen, last_seen): both directions of a few conversations per finding
-- Both directions are one equality join (an OR here would compare every record to every key); the
-- constant bounds let the scan skip the data files and row groups outside every key's time.
SELECT k.finding, f."version", f.account_id, f.interface_id, f.srcaddr, f.dstaddr, f.srcport, f.dstport, f.protocol,
       f.packets, f.bytes, f."start", f."end", f.action, f.log_status, f.tcp_flags, f.flow_direction,
       f.pkt_srcaddr, f.pkt_dstaddr, f._source, f._line
FROM flows AS f
JOIN finding_keys AS k
  ON coalesce(f.pkt_srcaddr, f.srcaddr) = k.src AND coalesce(f.pkt_dstaddr, f.dstaddr) = k.dst
 AND f.srcport = k.src_port AND f.dstport = k.dst_port
 AND f.protocol = k.protocol AND f."start" >= k.first_seen AND f."end" <= k.last_seen
WHERE f."start" >= $since AND f."end" <= $until
QUALIFY row_number() OVER (PARTITION BY k.finding ORDER BY (f.action = 'REJECT') DESC, f."start", f._line, f._source) <= $records
ORDER BY k.finding, (f.action = 'REJECT') DESC, f."start", f._line, f._source
