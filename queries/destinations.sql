-- name: destinations
-- kind: view
-- title: What each destination address is: VPC endpoint, NAT gateway, AWS service range, VPC-internal or internet
-- why: Failures are grouped and explained per destination endpoint (all ENIs of one VPC endpoint together), not per IP.
-- category: enrichment
-- input: the table addresses(address): the distinct server addresses of the conversations
-- reads: addresses, address_static() (queries/address_owners.sql), current_vpc_endpoints
--
-- The static owner of each distinct address comes from address_static(): an endpoint or NAT
-- ENI, a known VPC/subnet CIDR, the longest ip-ranges prefix (IPv4 and IPv6), or internet.
-- Here it becomes the finding's destination type, and the `endpoint` key that groups all
-- ENIs of one VPC endpoint, or all addresses of one AWS service range in one region.
SELECT
    s.address AS addr,
    CASE
        WHEN s.static_kind IN ('vpc_endpoint', 'nat_gateway', 'aws_service', 'internet') THEN s.static_kind
        WHEN s.static_kind = 'invalid' THEN 'unknown'
        ELSE 'vpc_internal'
    END AS type,
    CASE WHEN s.static_kind IN ('aws_service', 'internet') THEN NULL ELSE coalesce(s.owner_id, s.address) END AS id,
    CASE s.static_kind
        WHEN 'vpc_endpoint' THEN ep.service_name
        WHEN 'aws_service' THEN s.aws_service || ' ' || s.aws_region
        ELSE s.owner_name
    END AS name,
    CASE
        WHEN s.static_kind IN ('vpc_endpoint', 'nat_gateway') THEN s.owner_id
        WHEN s.static_kind = 'aws_service' THEN 'aws:' || s.aws_service || ':' || s.aws_region
        ELSE s.address
    END AS endpoint,
    s.aws_service,
    CASE WHEN s.static_kind = 'vpc_endpoint' THEN regexp_extract(ep.service_name, 'com\.amazonaws\.([a-z0-9-]+)\.', 1)
         ELSE s.aws_region END AS region
FROM address_static('addresses') AS s
LEFT JOIN current_vpc_endpoints AS ep ON s.static_kind = 'vpc_endpoint' AND ep.endpoint_id = s.owner_id
