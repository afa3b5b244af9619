-- name: eni_assignments
-- kind: view
-- title: Which task held which ENI and address, and when (merged evidence)
-- why: A flow's address names a task only together with a time, because a private IP freed by a stopped task is reused by later tasks.
-- category: metadata
-- reads: eni_assignment_evidence_stored, flow_eni_assignment_evidence, current_subnets
-- views: eni_assignment_evidence, eni_assignments, eni_assignment_intervals
-- method: merge rule, applied in this order:
--   1. Task identity: evidence without a task ARN (eni_snapshot) takes the task of any other
--      evidence naming the same ENI id, else the same ECS attachment id; still unknown, the
--      ENI id stands for the task ('eni:<id>').
--   2. One row per (address, task). valid_from = earliest valid_from of its evidence.
--      valid_to = the latest valid_to if any describe_tasks/ecs_event evidence says the task
--      stopped; else open-ended (null) if any evidence says it is still running; else the
--      latest observation (eni_snapshot instants, last flow end).
--   3. Attributes (ENI, cluster, service, subnet, security groups, ...) come from the first
--      evidence that has them, by source priority describe_tasks, ecs_event, eni_snapshot,
--      flow_ecs_fields, then newest snapshot_time, then source file and snapshot id.
--      vpc_id missing is taken from the subnet.
--   4. Conflicts: within one VPC an address has one holder at a time. When two tasks' intervals
--      overlap, the later-starting task wins from its valid_from and the earlier one's
--      valid_to is cut to 1 microsecond before (truncated = true, observed_to keeps the
--      evidence). Two tasks with the same valid_from: the smaller task key keeps the address,
--      the other gets an empty interval (conflict = true) and never resolves.
--   eni_assignment_intervals additionally cuts overlaps across VPCs (per address only) so a
--   join on (ip_key, time) returns at most one row; it is what bulk flow resolution joins to.
CREATE OR REPLACE VIEW eni_assignment_evidence AS
SELECT * FROM eni_assignment_evidence_stored
UNION ALL BY NAME
SELECT * FROM flow_eni_assignment_evidence;

CREATE OR REPLACE VIEW eni_assignments AS
WITH ev AS (
    SELECT e.*, ip_key(e.ip) AS ip_key,
           CASE e.source WHEN 'describe_tasks' THEN 1 WHEN 'ecs_event' THEN 2
                         WHEN 'eni_snapshot' THEN 3 ELSE 4 END AS priority
    FROM eni_assignment_evidence e
),
eni_task AS (
    SELECT eni_id, min(task_arn) AS task_arn FROM ev
    WHERE eni_id IS NOT NULL AND task_arn IS NOT NULL GROUP BY eni_id
),
attachment_task AS (
    SELECT attachment_id, min(task_arn) AS task_arn FROM ev
    WHERE attachment_id IS NOT NULL AND task_arn IS NOT NULL GROUP BY attachment_id
),
linked AS (
    SELECT ev.* REPLACE (coalesce(ev.task_arn, et.task_arn, att.task_arn) AS task_arn)
    FROM ev
    LEFT JOIN eni_task et ON ev.task_arn IS NULL AND et.eni_id = ev.eni_id
    LEFT JOIN attachment_task att ON ev.task_arn IS NULL AND att.attachment_id = ev.attachment_id
),
keyed AS (
    SELECT *,
           coalesce(task_arn, 'eni:' || eni_id, 'task-id:' || task_id) AS task_key,
           row_number() OVER (
               PARTITION BY ip_key, coalesce(task_arn, 'eni:' || eni_id, 'task-id:' || task_id)
               ORDER BY priority, snapshot_time DESC, source_file, snapshot_id) AS rn
    FROM linked
),
merged AS (
    SELECT
        ip_key,
        task_key,
        arg_min(eni_id, rn) FILTER (WHERE eni_id IS NOT NULL) AS eni_id,
        arg_min(ip, rn) FILTER (WHERE ip IS NOT NULL) AS ip,
        arg_min(ip_version, rn) FILTER (WHERE ip_version IS NOT NULL) AS ip_version,
        arg_min(task_arn, rn) FILTER (WHERE task_arn IS NOT NULL) AS task_arn,
        arg_min(task_id, rn) FILTER (WHERE task_id IS NOT NULL) AS task_id,
        arg_min(cluster_arn, rn) FILTER (WHERE cluster_arn IS NOT NULL) AS cluster_arn,
        arg_min(cluster_name, rn) FILTER (WHERE cluster_name IS NOT NULL) AS cluster_name,
        arg_min(service_name, rn) FILTER (WHERE service_name IS NOT NULL) AS service_name,
        arg_min(task_definition_arn, rn) FILTER (WHERE task_definition_arn IS NOT NULL) AS task_definition_arn,
        arg_min(container_names, rn) FILTER (WHERE container_names IS NOT NULL) AS container_names,
        arg_min(subnet_id, rn) FILTER (WHERE subnet_id IS NOT NULL) AS subnet_id,
        arg_min(vpc_id, rn) FILTER (WHERE vpc_id IS NOT NULL) AS vpc_id,
        arg_min(availability_zone, rn) FILTER (WHERE availability_zone IS NOT NULL) AS availability_zone,
        arg_min(security_group_ids, rn) FILTER (WHERE security_group_ids IS NOT NULL) AS security_group_ids,
        arg_min(attachment_id, rn) FILTER (WHERE attachment_id IS NOT NULL) AS attachment_id,
        arg_max(task_last_status, snapshot_time) FILTER (WHERE task_last_status IS NOT NULL) AS task_last_status,
        min(valid_from) AS valid_from,
        CASE
            WHEN bool_or(source IN ('describe_tasks', 'ecs_event') AND valid_to IS NOT NULL) THEN max(valid_to)
            WHEN bool_or(valid_to IS NULL) THEN NULL
            ELSE max(valid_to)
        END AS observed_to,
        arg_min(source, rn) AS source,
        list_sort(list_distinct(list(source))) AS sources,
        count(*) AS evidence_count,
        arg_min(source_file, rn) AS source_file,
        arg_min(snapshot_id, rn) AS snapshot_id,
        max(snapshot_time) AS snapshot_time
    FROM keyed
    GROUP BY ip_key, task_key
),
with_vpc AS (
    SELECT m.* REPLACE (coalesce(m.vpc_id, s.vpc_id) AS vpc_id)
    FROM merged m
    LEFT JOIN (SELECT subnet_id, min(vpc_id) AS vpc_id FROM current_subnets GROUP BY subnet_id) s
           ON s.subnet_id = m.subnet_id
),
ordered AS (
    SELECT *,
           lead(valid_from) OVER (PARTITION BY coalesce(vpc_id, ''), ip_key
                                  ORDER BY valid_from, task_key) AS next_from
    FROM with_vpc
)
SELECT
    eni_id, ip, ip_version, task_arn, task_id, cluster_arn, cluster_name, service_name,
    task_definition_arn, container_names, subnet_id, vpc_id, availability_zone, security_group_ids,
    valid_from,
    CASE WHEN ip_key IS NOT NULL AND next_from IS NOT NULL AND (observed_to IS NULL OR observed_to >= next_from)
         THEN next_from - INTERVAL 1 MICROSECOND ELSE observed_to END AS valid_to,
    source, sources, attachment_id, task_last_status,
    observed_to,
    coalesce(ip_key IS NOT NULL AND next_from IS NOT NULL AND (observed_to IS NULL OR observed_to >= next_from), false) AS truncated,
    coalesce(ip_key IS NOT NULL AND next_from IS NOT NULL AND next_from <= valid_from, false) AS conflict,
    evidence_count, task_key, ip_key, source_file, snapshot_id, snapshot_time
FROM ordered;

CREATE OR REPLACE VIEW eni_assignment_intervals AS
WITH a AS (
    SELECT * FROM eni_assignments WHERE ip_key IS NOT NULL AND NOT conflict
),
o AS (
    SELECT *, lead(valid_from) OVER (PARTITION BY ip_key ORDER BY valid_from, task_key) AS next_any FROM a
),
cut AS (
    SELECT * REPLACE (
        CASE WHEN next_any IS NOT NULL AND (valid_to IS NULL OR valid_to >= next_any)
             THEN next_any - INTERVAL 1 MICROSECOND ELSE valid_to END AS valid_to)
    FROM o
)
SELECT ip_key, ip, eni_id, task_arn, task_id, cluster_name, service_name, vpc_id, subnet_id,
       task_key, valid_from, valid_to,
       epoch(valid_from) AS from_epoch,
       coalesce(epoch(valid_to), 1e18) AS to_epoch
FROM cut
WHERE valid_to IS NULL OR valid_to >= valid_from;
