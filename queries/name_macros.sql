-- name: name_macros
-- kind: step
-- title: AWS service and Region named by a hostname (sns.eu-west-1.amazonaws.com -> sns, eu-west-1)
-- why: A DNS answer or a CloudTrail TLS host names the service behind a public address; the findings group and label by it.
-- category: enrichment
-- reads: nothing
-- method: lower case, no trailing dot; a host outside amazonaws.com / amazonaws.com.cn / api.aws
--   names no service (NULL). The Region, `dualstack` and `fips` labels are dropped (also the legacy `s3-eu-west-1` form)
--   and the last remaining label is the service, as VPC endpoint service names spell it:
--   `api.ecr` -> `ecr.api`, `123.dkr.ecr` -> `ecr.dkr`, `bucket.s3` -> `s3`.
CREATE OR REPLACE MACRO aws_host_labels(host) AS
    trim(regexp_replace(regexp_replace(regexp_replace(  -- twice: adjacent labels share a dot
        regexp_replace(rtrim(lower(host), '.'), '\.(amazonaws\.com(\.cn)?|api\.aws)$', ''),
        '(^|\.)([a-z]{2}(-[a-z]+)+-[0-9]+|dualstack|fips)(\.|$)', '.', 'g'),
        '(^|\.)([a-z]{2}(-[a-z]+)+-[0-9]+|dualstack|fips)(\.|$)', '.', 'g'),
        '-[a-z]{2}(-[a-z]+)+-[0-9]+$', ''), '.');
CREATE OR REPLACE MACRO aws_service_of_host(host) AS
    CASE WHEN regexp_matches(rtrim(lower(host), '.'), '\.(amazonaws\.com(\.cn)?|api\.aws)$') THEN
        CASE WHEN regexp_extract(aws_host_labels(host), '([a-z0-9-]+)$', 1) = 'ecr'
                  AND regexp_extract(aws_host_labels(host), '([a-z0-9-]+)\.[a-z0-9-]+$', 1) IN ('api', 'dkr')
             THEN 'ecr.' || regexp_extract(aws_host_labels(host), '([a-z0-9-]+)\.[a-z0-9-]+$', 1)
             ELSE nullif(regexp_extract(aws_host_labels(host), '([a-z0-9-]+)$', 1), '') END
    END;
CREATE OR REPLACE MACRO aws_region_of_host(host) AS
    nullif(regexp_extract(rtrim(lower(host), '.'), '(^|[.-])([a-z]{2}(-[a-z]+)+-[0-9]+)\.', 2), '');
