-- name: conversations
-- kind: view
-- title: Conversations: both directions of each flow, counted once across ENIs and windows
-- why: A failure is a conversation that did not complete; pairing request and reply (and the ENIs that logged them) is what tells a REJECT on the way out from a reply dropped on the way back.
-- category: analysis
-- param: since time: records overlapping the window from this time (flowlogs passes the window's start)
-- param: until time: records overlapping the window up to this time
-- param: as_of time: what the lake knows up to (the last record's end, or now)
-- param: settle seconds: how long silence must last before it counts as no reply
-- param: addrs texts: only the records to or from these addresses (a service's tasks: the filters pushed down)
-- param: port int: only the records to or from this port
-- reads: flows
--
-- Method. Addresses are packet-level (pkt-srcaddr/pkt-dstaddr when the format has them), so
-- the task ENI, the endpoint ENI and the NAT ENI's private leg all name the same 5-tuple and
-- count as ONE conversation. The key has no time window: a reply in the next aggregation
-- window or a long connection with tcp-flags 0 in the middle windows stays one conversation.
-- The client is the side that sent SYN (or received SYN-ACK) where tcp-flags exist, else the
-- side with the ephemeral / non-service port, else the side that sent first. Each record is placed by the ENI that logged
-- it: an ENI whose own address is the client's is the source side, the server's the
-- destination side, any other (NAT, transit) the path.
-- Resets without tcp-flags (the default v2 format has none): a reset still leaves a mark in the
-- sizes. A conversation whose every reply record is one packet of bare headers (40 bytes over
-- IPv4, 60 over IPv6: a RST carries no options and no data) to a request of 1-2 packets the size
-- of a SYN (headers plus 4-60 bytes of options, no data) is reset-sized; when the same server
-- address and port gives at least 3 reset-sized conversations in the window (over and over, so
-- one odd packet is not enough), they are `refused`, with state_from_sizes set. Look-alikes
-- stay established: a keep-alive probe is 40/41 bytes (no SYN options) and, with timestamps,
-- so is not its 52-byte ACK; a lone ACK to a small request inside a long connection belongs to a
-- conversation with more packets than that. With tcp-flags anywhere in the conversation, the
-- flags decide.
-- Filters pushed down: with `addrs` (the addresses a service's tasks held) or `port`, only the
-- records to or from them are read; a conversation has the task's address on both of its
-- directions, so it stays whole. Each ENI's own address is still worked out from all its records. (Resets inferred from sizes count the reset-sized conversations
-- of a server within what is read.)
-- Cost: the records are first reduced to one row per ENI, addresses, ports, direction and action
-- (rec: a long connection's windows fall into one row, ~5 records to one); the rest of the query
-- works on those rows, with counts, sums, minimums and bool_or that add up to the per-record
-- values (arg_min over the rows' first start = arg_min over their records' start). Each ENI's
-- own address comes from a second, narrow pass (pairs), so that rec is used once and DuckDB does
-- not keep it in memory.
-- DuckDB-only constructs: arg_max/arg_min, list(DISTINCT ...); the reduction (rec) is the table macro
-- flow_reduction (flow_reduction.sql: the & operator), which the connection defines first.
-- Derived path: pipeline.analysis.conversations replaces `rec` and `pairs` by the window's rows of
-- the lake's derived reduction (pipeline.lake.derived; the same macro, flow_reduction_window.sql)
-- and runs the rest as it is, from `own` on: keep `own` the CTE right after `pairs`, and read only
-- the columns of rec that flow_reduction_window has (not hour).
-- In parts: when the window would not fit the memory limit, pipeline.analysis.conversations runs the
-- query in pieces on DuckDB: `pairs` and `own` over the whole window (by parts of the ENIs), then
-- `rec` (or the derived rows) and `keyed` to `judged` for one part of the unordered address pairs at
-- a time, then `sized` and the final SELECT over all parts. Keep `window_records` the first CTE,
-- `rec` right after it, `pairs`' `FROM flows` on a line of its own, and `sized` the only step that
-- looks across conversations.
WITH window_records AS (  -- the records the window (and addrs, port) keeps, all in one hour (NULL): rec has no hour
    SELECT *, CAST(NULL AS BIGINT) AS hour
    FROM flows
    WHERE "start" < $until AND "end" >= $since
      AND ($addrs IS NULL OR coalesce(pkt_srcaddr, srcaddr) IN (SELECT unnest($addrs))
                          OR coalesce(pkt_dstaddr, dstaddr) IN (SELECT unnest($addrs)))
      AND ($port IS NULL OR srcport = $port OR dstport = $port)
),
rec AS (  -- the records, one row per ENI, addresses, ports, protocol, direction and action (flow_reduction.sql;
          -- its hour is NULL here, and read by nothing)
    SELECT * FROM flow_reduction(window_records)
),
pairs AS (  -- the records (all of them: not narrowed by addrs or port), counted per ENI, interface addresses
            -- and direction (for own)
    SELECT interface_id, srcaddr, dstaddr, flow_direction, count(*) AS records
    FROM flows
    WHERE "start" < $until AND "end" >= $since
      AND srcaddr IS NOT NULL AND dstaddr IS NOT NULL AND protocol IS NOT NULL
    GROUP BY interface_id, srcaddr, dstaddr, flow_direction
),
own AS (  -- each ENI's own address per family: srcaddr of its egress records and dstaddr of its
          -- ingress records (flow-direction, v5), else the address in most of its records,
          -- private first (srcaddr/dstaddr show an ENI's private IPv4, never its public one)
    SELECT interface_id, family, arg_max(addr, n) AS eni_addr
    FROM (
        SELECT interface_id, addr, strpos(addr, ':') > 0 AS family,
               sum(w) + CASE WHEN regexp_matches(addr, '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.)')
                             THEN 0.5 ELSE 0 END AS n
        FROM (
            SELECT interface_id, srcaddr AS addr,
                   records * CASE flow_direction WHEN 'egress' THEN 10 WHEN 'ingress' THEN 0 ELSE 1 END AS w FROM pairs
            UNION ALL
            SELECT interface_id, dstaddr,
                   records * CASE flow_direction WHEN 'ingress' THEN 10 WHEN 'egress' THEN 0 ELSE 1 END FROM pairs
        ) AS sides
        GROUP BY interface_id, addr, family
    ) AS counted
    GROUP BY interface_id, family
),
keyed AS (
    SELECT
        rec.*,
        own.eni_addr,
        least(src || '|' || coalesce(srcport, 0), dst || '|' || coalesce(dstport, 0)) AS k_lo,
        greatest(src || '|' || coalesce(srcport, 0), dst || '|' || coalesce(dstport, 0)) AS k_hi,
        (src || '|' || coalesce(srcport, 0)) <= (dst || '|' || coalesce(dstport, 0)) AS from_lo,
        CASE  -- how much a port looks like a service (server) port
            WHEN srcport IN (22, 25, 53, 80, 123, 389, 443, 636, 1433, 2049, 3306, 5432, 5439, 6379, 8080, 8443, 9092, 9200, 9243, 11211, 27017) THEN 3
            WHEN srcport < 1024 THEN 2 WHEN srcport < 32768 THEN 1 ELSE 0 END AS src_port_rank,
        CASE
            WHEN dstport IN (22, 25, 53, 80, 123, 389, 443, 636, 1433, 2049, 3306, 5432, 5439, 6379, 8080, 8443, 9092, 9200, 9243, 11211, 27017) THEN 3
            WHEN dstport < 1024 THEN 2 WHEN dstport < 32768 THEN 1 ELSE 0 END AS dst_port_rank
    FROM rec
    LEFT JOIN own ON own.interface_id = rec.interface_id AND own.family = (strpos(rec.srcaddr, ':') > 0)
),
roles AS (  -- who is the client of each unordered 5-tuple
    SELECT
        k_lo, k_hi, protocol,
        bool_or(from_lo AND syn) AS lo_syn,
        bool_or(NOT from_lo AND syn) AS hi_syn,
        bool_or(from_lo AND synack) AS lo_synack,
        bool_or(NOT from_lo AND synack) AS hi_synack,
        max(CASE WHEN from_lo THEN dst_port_rank - src_port_rank ELSE src_port_rank - dst_port_rank END) AS hi_server_score,
        arg_min(from_lo, first_start) AS lo_first,
        min(CASE WHEN from_lo THEN srcport ELSE dstport END) AS lo_port,
        min(CASE WHEN from_lo THEN dstport ELSE srcport END) AS hi_port
    FROM keyed
    GROUP BY k_lo, k_hi, protocol
),
placed AS (
    SELECT
        keyed.*,
        CASE
            WHEN roles.lo_syn AND NOT roles.hi_syn THEN keyed.from_lo
            WHEN roles.hi_syn AND NOT roles.lo_syn THEN NOT keyed.from_lo
            WHEN roles.hi_synack AND NOT roles.lo_synack THEN keyed.from_lo
            WHEN roles.lo_synack AND NOT roles.hi_synack THEN NOT keyed.from_lo
            WHEN roles.hi_server_score > 0 THEN keyed.from_lo
            WHEN roles.hi_server_score < 0 THEN NOT keyed.from_lo
            WHEN roles.lo_first IS NOT NULL AND roles.lo_port = roles.hi_port THEN (keyed.from_lo = roles.lo_first)
            ELSE (keyed.from_lo = (roles.hi_port <= roles.lo_port))
        END AS forward
    FROM keyed
    JOIN roles USING (k_lo, k_hi, protocol)
),
observed AS (
    SELECT
        placed.*,
        CASE WHEN forward THEN src ELSE dst END AS client_addr,
        CASE WHEN forward THEN srcport ELSE dstport END AS client_port,
        CASE WHEN forward THEN dst ELSE src END AS server_addr,
        CASE WHEN forward THEN dstport ELSE srcport END AS server_port,
        CASE
            WHEN eni_addr = (CASE WHEN forward THEN src ELSE dst END) THEN 'source'
            WHEN eni_addr = (CASE WHEN forward THEN dst ELSE src END) THEN 'destination'
            ELSE 'path'
        END AS side,
        CASE WHEN strpos(src, ':') > 0 THEN 40 ELSE 20 END AS ip_header
    FROM placed
),
judged AS (  -- one row per conversation; the state by the flags (or without them, by who answered)
    SELECT
        client_addr, client_port, server_addr, server_port, protocol,
        CASE
            WHEN bool_or(NOT forward AND action = 'ACCEPT' AND rst) AND NOT bool_or(NOT forward AND synack) THEN 'refused'
            WHEN bool_or(NOT forward AND action = 'ACCEPT' AND side = 'source')
              OR (NOT bool_or(side = 'source') AND bool_or(NOT forward AND action = 'ACCEPT')) THEN 'established'
            WHEN bool_or(action = 'REJECT') THEN 'blocked'
            WHEN max(last_end) FILTER (WHERE forward) > $as_of - $settle THEN 'pending'
            ELSE 'no_reply'
        END AS flag_state,
        protocol = 6 AND NOT bool_or(flagged)
            AND bool_or(forward) AND bool_or(NOT forward)
            AND coalesce(bool_and(packets = 1 AND bytes = ip_header + 20) FILTER (WHERE NOT forward), false)
            AND coalesce(bool_and(packets <= 2 AND bytes BETWEEN packets * (ip_header + 24) AND packets * (ip_header + 60))
                         FILTER (WHERE forward), false) AS reset_sized,
        CASE
            WHEN bool_or(action = 'REJECT' AND forward AND side = 'source') THEN 'source_egress'
            WHEN bool_or(action = 'REJECT' AND forward AND side = 'destination') THEN 'destination_ingress'
            WHEN bool_or(action = 'REJECT' AND NOT forward AND side = 'destination') THEN 'destination_egress_return'
            WHEN bool_or(action = 'REJECT' AND NOT forward AND side = 'source') THEN 'source_ingress_return'
            WHEN bool_or(forward AND side = 'source') THEN 'source_egress'
            ELSE 'destination_ingress'
        END AS observed_at,
        arg_min(interface_id, first_start) FILTER (WHERE side = 'source') AS source_eni,
        arg_min(interface_id, first_start) FILTER (WHERE side = 'destination') AS destination_eni,
        list(DISTINCT interface_id) AS interfaces,
        bool_or(side = 'source') AS source_logged,
        bool_or(side = 'destination') AS destination_logged,
        bool_or(forward AND side = 'destination' AND action = 'ACCEPT') AS request_arrived,
        bool_or(NOT forward AND side = 'destination' AND action = 'ACCEPT') AS reply_sent,
        CAST(coalesce(sum(records) FILTER (WHERE forward), 0) AS BIGINT) AS requests,
        CAST(coalesce(sum(records) FILTER (WHERE NOT forward), 0) AS BIGINT) AS replies,
        CAST(coalesce(sum(records) FILTER (WHERE action = 'REJECT'), 0) AS BIGINT) AS rejects,
        CAST(sum(records) AS BIGINT) AS records,
        -- packets and bytes once per conversation: from the ENI that saw most of it
        coalesce(sum(packets) FILTER (WHERE side = 'source'), sum(packets) FILTER (WHERE side = 'destination'), sum(packets)) AS packets,
        coalesce(sum(bytes) FILTER (WHERE side = 'source'), sum(bytes) FILTER (WHERE side = 'destination'), sum(bytes)) AS bytes,
        min(first_start) AS first_seen,
        max(last_end) AS last_seen,
        arg_min(vpc_id, first_start) FILTER (WHERE side = 'source') AS source_vpc,
        arg_min(subnet_id, first_start) FILTER (WHERE side = 'source') AS source_subnet,
        arg_min(account_id, first_start) AS account_id,
        max(ecs_cluster_name) FILTER (WHERE side = 'source') AS ecs_cluster_name,
        max(ecs_service_name) FILTER (WHERE side = 'source') AS ecs_service_name,
        max(ecs_task_id) FILTER (WHERE side = 'source') AS ecs_task_id,
        max(ecs_task_arn) FILTER (WHERE side = 'source') AS ecs_task_arn
    FROM observed
    GROUP BY client_addr, client_port, server_addr, server_port, protocol
),
sized AS (
    SELECT judged.*,
           flag_state = 'established' AND reset_sized
           AND sum(CASE WHEN reset_sized THEN 1 ELSE 0 END) OVER (PARTITION BY server_addr, server_port, protocol) >= 3
           AS state_from_sizes
    FROM judged
)
SELECT
    client_addr, client_port, server_addr, server_port, protocol,
    CASE WHEN state_from_sizes THEN 'refused' ELSE flag_state END AS state,
    observed_at, source_eni, destination_eni, interfaces, source_logged, destination_logged, request_arrived,
    reply_sent, requests, replies, rejects, records, packets, bytes, first_seen, last_seen, source_vpc, source_subnet,
    account_id, ecs_cluster_name, ecs_service_name, ecs_task_id, ecs_task_arn, state_from_sizes
FROM sized
