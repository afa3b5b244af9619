-- name: flow_bounds
-- kind: step
-- title: The time the flow records cover: the first start and the last end, in epoch seconds
-- why: The default window of every report, and the check that a requested window holds any records.
-- category: analysis
-- reads: flows
SELECT min("start") AS first, max("end") AS last FROM flows
