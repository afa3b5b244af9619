-- name: probes
-- kind: step
-- title: What the probes saw from inside the task's network: each target's DNS, TCP, TLS and signed call
-- why: Logs tell what happened; a probe tells what happens now, from the task's own subnets, security groups and role, and confirms a fix.
-- category: investigation
-- param: run text: only this probe run (the probe task's id)
-- param: target text: only this target (sqs, secretsmanager… or host:port)
-- reads: probes
--
-- One row per step of each target, in the order the script took them; the identity step (who the
-- calls were made as) first. `error` is the exact text of curl, the resolver or the AWS CLI.
SELECT probe_time, run_id, task_arn, source_ip, cluster, service, step, target, host, port, address, addresses, ok, seconds,
       principal_arn, call, proxy, error, account_id, region
FROM probes
WHERE step <> 'done'
  AND ($run IS NULL OR run_id = $run)
  AND ($target IS NULL OR target = $target OR step = 'identity')
ORDER BY run_id, probe_time, _source, _line
