-- name: flows_with_owners
-- kind: view
-- title: Every flow record with the owner of its source and destination address
-- why: Who was talking to whom, per flow record: which task/service on one side, which endpoint, NAT or AWS service on the other?
-- category: metadata
-- audience: sql
-- reads: flows, address_static(), eni_assignment_intervals
-- requires: flows(srcaddr, dstaddr, start)
-- views: flow_addresses, flow_address_owners, flows_with_owners
-- method: never per record in Python. (1) the DISTINCT srcaddr/dstaddr values of flows are
--   classified once by address_static() (one ip_key per distinct address, one range join on
--   ip-ranges and CIDRs) and numbered (addr_id), materialised; the task intervals of those
--   addresses are tagged with the same addr_id; (2) each record joins the small address table
--   on the address text (hash join), and (3) joins the intervals on (addr_id AND start BETWEEN
--   from_epoch AND to_epoch): an integer hash join with a range residual, at most one match
--   because the intervals of one address never overlap (eni_assignment_intervals). A task
--   valid at the record's start wins over the static owner.
--   DuckDB cannot know how few distinct addresses there are and may build its hash tables on
--   the flows side; register_views(..., materialize=True) stores flow_address_owners in a temp
--   table first (exact row count), which makes those joins build on the small side. Columns per side: *_owner_kind, *_owner_id, *_owner_name,
--   *_aws_service, *_aws_region, *_vpc_id, *_task_arn, *_service_name.
CREATE OR REPLACE VIEW flow_addresses AS
SELECT srcaddr AS address FROM flows
UNION
SELECT dstaddr AS address FROM flows;

CREATE OR REPLACE VIEW flow_address_owners AS
SELECT row_number() OVER (ORDER BY address) AS addr_id, * FROM address_static('flow_addresses');

CREATE OR REPLACE VIEW flows_with_owners AS
WITH fa AS MATERIALIZED (
    SELECT * FROM flow_address_owners
),
ti AS MATERIALIZED (
    SELECT fa.addr_id, i.task_arn, i.task_key, i.eni_id, i.service_name, i.vpc_id, i.from_epoch, i.to_epoch
    FROM eni_assignment_intervals i JOIN fa ON fa.ip_key = i.ip_key
)
SELECT
    f.*,
    CASE WHEN st.task_key IS NOT NULL THEN 'ecs_task' ELSE so.static_kind END AS src_owner_kind,
    CASE WHEN st.task_key IS NOT NULL THEN coalesce(st.task_arn, st.eni_id) ELSE so.owner_id END AS src_owner_id,
    CASE WHEN st.task_key IS NOT NULL THEN st.service_name ELSE so.owner_name END AS src_owner_name,
    so.aws_service AS src_aws_service,
    so.aws_region AS src_aws_region,
    coalesce(st.vpc_id, so.vpc_id) AS src_vpc_id,
    st.task_arn AS src_task_arn,
    st.service_name AS src_service_name,
    CASE WHEN dt.task_key IS NOT NULL THEN 'ecs_task' ELSE d.static_kind END AS dst_owner_kind,
    CASE WHEN dt.task_key IS NOT NULL THEN coalesce(dt.task_arn, dt.eni_id) ELSE d.owner_id END AS dst_owner_id,
    CASE WHEN dt.task_key IS NOT NULL THEN dt.service_name ELSE d.owner_name END AS dst_owner_name,
    d.aws_service AS dst_aws_service,
    d.aws_region AS dst_aws_region,
    coalesce(dt.vpc_id, d.vpc_id) AS dst_vpc_id,
    dt.task_arn AS dst_task_arn,
    dt.service_name AS dst_service_name
FROM flows f
LEFT JOIN fa so ON so.address = f.srcaddr
LEFT JOIN ti st ON st.addr_id = so.addr_id AND f."start" BETWEEN st.from_epoch AND st.to_epoch
LEFT JOIN fa d ON d.address = f.dstaddr
LEFT JOIN ti dt ON dt.addr_id = d.addr_id AND f."start" BETWEEN dt.from_epoch AND dt.to_epoch;
