-- name: destinations
-- title: What each destination address is: VPC endpoint, NAT gateway, AWS service range, VPC-internal or internet
-- why: Failures are grouped and explained per destination endpoint (all ENIs of one VPC endpoint together), not per IP.
-- category: enrichment
-- params: none
-- reads: addresses(addr, ip_key, is_global), vpc_ranges(vpc_id, range_start, range_end), current_network_interfaces,
--        current_vpc_endpoints, current_aws_ip_ranges
--
-- Method: distinct addresses only (a few thousand at most), each with its 16-byte key
-- (IPv4 as ::ffff:a.b.c.d) so one range join over ip-ranges serves IPv4 and IPv6; the most
-- specific prefix wins, a named service (S3, EC2…) over AMAZON on a tie. ENIs match on any of
-- their private addresses. Read from the *current* metadata (latest snapshot per resource).
WITH eni AS (
    SELECT DISTINCT ip, eni_id, kind, resource_id
    FROM (
        SELECT unnest(list_distinct(list_append(coalesce(private_ips, []), private_ip))) AS ip, eni_id, kind, resource_id
        FROM current_network_interfaces
    ) AS e
    WHERE ip IS NOT NULL
),
ranges AS (
    SELECT a.addr, r.service, r.region, r.prefix_length
    FROM addresses AS a
    JOIN current_aws_ip_ranges AS r ON a.ip_key BETWEEN r.range_start AND r.range_end
    QUALIFY row_number() OVER (PARTITION BY a.addr
                               ORDER BY r.prefix_length DESC, (r.service = 'AMAZON') ASC, r.service) = 1
),
in_vpc AS (
    SELECT DISTINCT a.addr, v.vpc_id
    FROM addresses AS a JOIN vpc_ranges AS v ON a.ip_key BETWEEN v.range_start AND v.range_end
)
SELECT
    a.addr,
    CASE
        WHEN e.kind = 'vpc_endpoint' THEN 'vpc_endpoint'
        WHEN e.kind = 'nat_gateway' THEN 'nat_gateway'
        WHEN e.eni_id IS NOT NULL OR v.vpc_id IS NOT NULL THEN 'vpc_internal'
        WHEN r.service IS NOT NULL THEN 'aws_service'
        WHEN a.is_global THEN 'internet'
        WHEN NOT a.is_global THEN 'vpc_internal'
        ELSE 'unknown'
    END AS type,
    CASE
        WHEN e.kind IN ('vpc_endpoint', 'nat_gateway') THEN e.resource_id
        WHEN e.eni_id IS NOT NULL THEN coalesce(e.resource_id, e.eni_id)
        ELSE NULL
    END AS id,
    CASE
        WHEN e.kind = 'vpc_endpoint' THEN ep.service_name
        WHEN e.kind = 'nat_gateway' THEN 'NAT gateway ' || e.resource_id
        WHEN e.eni_id IS NOT NULL THEN e.kind || ' ' || coalesce(e.resource_id, e.eni_id)
        WHEN r.service IS NOT NULL THEN r.service || ' ' || r.region
        ELSE NULL
    END AS name,
    CASE  -- the destination endpoint: all ENIs of a VPC endpoint, all addresses of one AWS service range
        WHEN e.kind IN ('vpc_endpoint', 'nat_gateway') THEN e.resource_id
        WHEN e.eni_id IS NULL AND v.vpc_id IS NULL AND r.service IS NOT NULL THEN 'aws:' || r.service || ':' || r.region
        ELSE a.addr
    END AS endpoint,
    CASE WHEN e.kind = 'vpc_endpoint' THEN ep.aws_service ELSE r.service END AS aws_service,
    CASE WHEN e.kind = 'vpc_endpoint' THEN regexp_extract(ep.service_name, 'com\.amazonaws\.([a-z0-9-]+)\.', 1)
         ELSE r.region END AS region
FROM addresses AS a
LEFT JOIN eni AS e ON e.ip = a.addr
LEFT JOIN current_vpc_endpoints AS ep ON e.kind = 'vpc_endpoint' AND ep.endpoint_id = e.resource_id
LEFT JOIN ranges AS r ON r.addr = a.addr
LEFT JOIN in_vpc AS v ON v.addr = a.addr
QUALIFY row_number() OVER (PARTITION BY a.addr ORDER BY e.eni_id NULLS LAST) = 1
