-- name: task_proxies
-- kind: step
-- title: The HTTP(S) proxies task definitions send their calls to (HTTP_PROXY / HTTPS_PROXY), as address and port
-- why: A task with a proxy talks to the proxy, not to the service: its failures are the proxy's path, and its NO_PROXY decides what bypasses it.
-- category: enrichment
-- reads: current_task_definitions, current_dns_records
--
-- One row per task definition, variable and proxy. The URL's host is an address, or a name
-- found as an A record of a private hosted zone (a proxy named by public DNS is not resolved
-- here); the port defaults to 80 (http) or 443 (https) as curl and the SDKs do.
WITH vars AS (
    SELECT task_definition_arn, family, revision, container_name, no_proxy, 'HTTPS_PROXY' AS variable, https_proxy AS url
    FROM current_task_definitions WHERE https_proxy IS NOT NULL AND https_proxy <> ''
    UNION ALL
    SELECT task_definition_arn, family, revision, container_name, no_proxy, 'HTTP_PROXY', http_proxy
    FROM current_task_definitions WHERE http_proxy IS NOT NULL AND http_proxy <> ''
),
parsed AS (
    SELECT *,
           lower(regexp_extract(url, '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)', 1)) AS host,
           coalesce(TRY_CAST(nullif(regexp_extract(url, '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?:[^@/]*@)?(?:\[[^\]]+\]|[^:/]+):([0-9]+)', 1), '') AS INTEGER),
                    CASE WHEN lower(url) LIKE 'https://%' THEN 443 ELSE 80 END) AS port
    FROM vars
)
SELECT p.task_definition_arn, p.family, p.revision, p.container_name, p.variable, p.url, p.no_proxy, p.host, p.port,
       coalesce(CASE WHEN regexp_matches(trim(p.host, '[]'), '^[0-9.]+$|:') THEN trim(p.host, '[]') END,
                r."values"[1]) AS address
FROM parsed AS p
LEFT JOIN current_dns_records AS r ON r.name = rtrim(p.host, '.') AND r.type = 'A'
QUALIFY row_number() OVER (PARTITION BY p.task_definition_arn, p.container_name, p.variable ORDER BY r.name NULLS LAST) = 1
