-- name: address_owners
-- kind: view
-- title: Addresses with a fixed owner (VPC endpoint, NAT gateway, load balancer, Lambda, EC2, other ENI)
-- why: Which AWS resource answers on this private or public IP, when that owner does not change with time?
-- category: metadata
-- input: the table macro address_static(input_name) reads the column `address` of the relation named input_name
-- reads: network_interfaces, current_network_interfaces, current_vpc_endpoints, current_nat_gateways, current_vpcs, current_subnets, current_aws_ip_ranges, eni_assignments
-- views: vpc_cidr_ranges, subnet_cidr_ranges, aws_ip_range_keys, address_owners, address_static (table macro)
-- method: every address of every known ENI (private, IPv6 and public) with the ENI's owner; an
--   ENI listed by a VPC endpoint or a NAT gateway is that endpoint/gateway whatever its
--   InterfaceType says. Task ENIs are left out: their addresses change hands and are
--   resolved in time by eni_assignments. If several ENIs ever had the same address, the one
--   seen last wins (last_seen). address_static() classifies DISTINCT addresses only:
--   owner above, else a known VPC/subnet CIDR containing it ('vpc_internal': VPC IPv6 and
--   BYOIP blocks are inside AWS's ranges too, and "ours" says more), else the longest
--   matching ip-ranges prefix ('aws_service'; on a tie a specific service beats AMAZON), else
--   'private' (not globally routable), else 'internet'.
--   Longest-prefix match without a range join: the 16-byte key (IPv4 as ::ffff:a.b.c.d, so
--   both families at once) is split into two UBIGINT halves, masked to each distinct prefix
--   length present in ip-ranges (key bits: IPv4 /n is 96+n) and equality-joined (hash join)
--   to the ranges' network keys: O(distinct addresses x distinct lengths), no BLOB range
--   join whose plan depends on DuckDB's cardinality estimates. VPC and subnet CIDRs (a few
--   rows) use a plain BETWEEN on the keys.
CREATE OR REPLACE VIEW vpc_cidr_ranges AS
SELECT vpc_id, cidr, cidr_start(cidr) AS range_start, cidr_end(cidr) AS range_end,
       CAST(split_part(cidr, '/', 2) AS INTEGER) AS prefix_length
FROM (SELECT vpc_id, unnest(list_concat(coalesce(cidr_blocks, []), coalesce(ipv6_cidr_blocks, []))) AS cidr FROM current_vpcs)
WHERE cidr IS NOT NULL;

CREATE OR REPLACE VIEW subnet_cidr_ranges AS
SELECT subnet_id, vpc_id, availability_zone, cidr, cidr_start(cidr) AS range_start, cidr_end(cidr) AS range_end,
       CAST(split_part(cidr, '/', 2) AS INTEGER) AS prefix_length
FROM (SELECT subnet_id, vpc_id, availability_zone,
             unnest(list_concat(CASE WHEN cidr_block IS NULL THEN [] ELSE [cidr_block] END,
                                coalesce(ipv6_cidr_blocks, []))) AS cidr
      FROM current_subnets)
WHERE cidr IS NOT NULL;

CREATE OR REPLACE VIEW aws_ip_range_keys AS
SELECT prefix, service, region, network_border_group, prefix_length,
       prefix_length + CASE ip_version WHEN 4 THEN 96 ELSE 0 END AS key_length,
       CAST('0x' || hex(range_start)[1:16] AS UBIGINT) AS hi,
       CAST('0x' || hex(range_start)[17:32] AS UBIGINT) AS lo
FROM current_aws_ip_ranges;

CREATE OR REPLACE VIEW address_owners AS
WITH seen AS (
    SELECT eni_id, min(snapshot_time) AS first_seen, max(snapshot_time) AS last_seen
    FROM network_interfaces GROUP BY eni_id
),
endpoint_enis AS (
    SELECT eni_id, min(endpoint_id) AS endpoint_id, min(aws_service) AS aws_service, min(service_name) AS service_name
    FROM (SELECT unnest(network_interface_ids) AS eni_id, endpoint_id, aws_service, service_name FROM current_vpc_endpoints)
    GROUP BY eni_id
),
nat_enis AS (
    SELECT eni_id, min(nat_gateway_id) AS nat_gateway_id FROM current_nat_gateways WHERE eni_id IS NOT NULL GROUP BY eni_id
),
eni AS (
    SELECT n.eni_id, n.kind, n.resource_id, n.vpc_id, n.subnet_id, n.description, n.private_ips,
           n.ipv6_addresses, n.public_ip, s.first_seen, s.last_seen,
           ep.endpoint_id, ep.aws_service, ep.service_name AS endpoint_service, nat.nat_gateway_id
    FROM current_network_interfaces n
    JOIN seen s ON s.eni_id = n.eni_id
    LEFT JOIN endpoint_enis ep ON ep.eni_id = n.eni_id
    LEFT JOIN nat_enis nat ON nat.eni_id = n.eni_id
),
eni_owner AS (
    SELECT *,
           CASE WHEN endpoint_id IS NOT NULL THEN 'vpc_endpoint'
                WHEN nat_gateway_id IS NOT NULL THEN 'nat_gateway'
                ELSE kind END AS owner_kind,
           coalesce(endpoint_id, nat_gateway_id, resource_id, eni_id) AS owner_id,
           coalesce(endpoint_service, resource_id, description) AS owner_name
    FROM eni
),
eni_addresses AS (
    SELECT ip, 'private' AS scope, owner_kind, owner_id, owner_name, aws_service, eni_id, vpc_id, subnet_id,
           description, first_seen, last_seen
    FROM (SELECT unnest(list_concat(coalesce(private_ips, []), coalesce(ipv6_addresses, []))) AS ip, *
          FROM eni_owner WHERE owner_kind <> 'fargate_task')
    UNION ALL
    SELECT public_ip, 'public', owner_kind, owner_id, owner_name, aws_service, eni_id, vpc_id, subnet_id,
           description, first_seen, last_seen
    FROM eni_owner WHERE owner_kind <> 'fargate_task' AND public_ip IS NOT NULL
),
nat_addresses AS (
    SELECT ip, scope, 'nat_gateway' AS owner_kind, nat_gateway_id AS owner_id, nat_gateway_id AS owner_name,
           CAST(NULL AS VARCHAR) AS aws_service, eni_id, vpc_id, subnet_id,
           CAST(NULL AS VARCHAR) AS description, snapshot_time AS first_seen, snapshot_time AS last_seen
    FROM (SELECT private_ip AS ip, 'private' AS scope, * FROM current_nat_gateways
          UNION ALL BY NAME
          SELECT public_ip AS ip, 'public' AS scope, * FROM current_nat_gateways)
    WHERE ip IS NOT NULL
),
all_addresses AS (
    SELECT * FROM eni_addresses WHERE ip IS NOT NULL
    UNION ALL
    SELECT * FROM nat_addresses
)
SELECT ip, ip_key(ip) AS ip_key, scope, owner_kind, owner_id, owner_name, aws_service, eni_id, vpc_id, subnet_id,
       description, first_seen, last_seen
FROM all_addresses
QUALIFY row_number() OVER (
    PARTITION BY ip_key(ip)
    ORDER BY last_seen DESC NULLS LAST, (owner_kind = 'other'), (eni_id IS NULL), (description IS NULL), owner_id) = 1;

CREATE OR REPLACE MACRO address_static(input_name) AS TABLE
WITH a AS (
    SELECT DISTINCT address FROM query_table(input_name) WHERE address IS NOT NULL
),
k AS MATERIALIZED (
    SELECT address, ip_key(address) AS ip_key FROM a
),
own AS (
    SELECT k.address, o.scope, o.owner_kind, o.owner_id, o.owner_name, o.aws_service AS endpoint_service,
           o.eni_id, o.vpc_id AS owner_vpc_id, o.subnet_id AS owner_subnet_id
    FROM k JOIN address_owners o ON o.ip_key = k.ip_key
),
halves AS MATERIALIZED (
    SELECT address, CAST('0x' || hex(ip_key)[1:16] AS UBIGINT) AS hi, CAST('0x' || hex(ip_key)[17:32] AS UBIGINT) AS lo
    FROM k WHERE ip_key IS NOT NULL
),
masked AS (
    SELECT h.address, l.key_length,
           CASE WHEN l.key_length = 0 THEN CAST(0 AS UBIGINT)
                WHEN l.key_length < 64 THEN (h.hi >> (64 - l.key_length)) << (64 - l.key_length)
                ELSE h.hi END AS hi,
           CASE WHEN l.key_length <= 64 THEN CAST(0 AS UBIGINT)
                WHEN l.key_length < 128 THEN (h.lo >> (128 - l.key_length)) << (128 - l.key_length)
                ELSE h.lo END AS lo
    FROM halves h CROSS JOIN (SELECT DISTINCT key_length FROM aws_ip_range_keys) l
),
aws AS (
    SELECT m.address, r.service AS aws_range_service, r.region AS aws_region, r.prefix AS aws_prefix,
           r.network_border_group
    FROM masked m
    JOIN aws_ip_range_keys r ON r.key_length = m.key_length AND r.hi = m.hi AND r.lo = m.lo
    QUALIFY row_number() OVER (PARTITION BY m.address
                               ORDER BY r.key_length DESC, (r.service = 'AMAZON'), r.service, r.region) = 1
),
sub AS (
    SELECT k.address, s.subnet_id, s.vpc_id, s.availability_zone
    FROM k JOIN subnet_cidr_ranges s ON k.ip_key BETWEEN s.range_start AND s.range_end
    QUALIFY row_number() OVER (PARTITION BY k.address ORDER BY s.prefix_length DESC, s.subnet_id) = 1
),
vpc AS (
    SELECT k.address, v.vpc_id
    FROM k JOIN vpc_cidr_ranges v ON k.ip_key BETWEEN v.range_start AND v.range_end
    QUALIFY row_number() OVER (PARTITION BY k.address ORDER BY v.prefix_length DESC, v.vpc_id) = 1
),
task_ips AS (
    SELECT DISTINCT ip_key FROM eni_assignments WHERE ip_key IS NOT NULL
)
SELECT
    k.address,
    k.ip_key,
    CASE
        WHEN k.ip_key IS NULL THEN 'invalid'
        WHEN own.owner_kind IS NOT NULL THEN own.owner_kind
        WHEN sub.subnet_id IS NOT NULL OR vpc.vpc_id IS NOT NULL THEN 'vpc_internal'
        WHEN aws.aws_range_service IS NOT NULL THEN 'aws_service'
        WHEN NOT ip_is_global(k.address) THEN 'private'
        ELSE 'internet'
    END AS static_kind,
    own.owner_id,
    own.owner_name,
    coalesce(own.endpoint_service, aws.aws_range_service) AS aws_service,
    aws.aws_region,
    aws.aws_prefix,
    own.eni_id,
    coalesce(own.owner_vpc_id, sub.vpc_id, vpc.vpc_id) AS vpc_id,
    coalesce(own.owner_subnet_id, sub.subnet_id) AS subnet_id,
    sub.availability_zone,
    t.ip_key IS NOT NULL AS is_task_address
FROM k
LEFT JOIN own ON own.address = k.address
LEFT JOIN aws ON aws.address = k.address
LEFT JOIN sub ON sub.address = k.address
LEFT JOIN vpc ON vpc.address = k.address
LEFT JOIN task_ips t ON t.ip_key = k.ip_key;
