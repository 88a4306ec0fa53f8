-- Events a tracking plan blocked at the edge. They are refused, never stored, so no view over
-- `events` sees them: the edge sends one tally per request on the events queue and the consumer
-- inserts its rows here (consumers/plan-blocked.ts). Same key as plan_violation_counts (005), so
-- reads add the two up per event, rule and key path: per UTC day of the event's timestamp, call
-- type, event name ('' for identify, group and alias), rule and path (array indices as `[]`),
-- each rule once per event. Increments, summed on merge: a tally delivered twice would count
-- twice, so the consumer marks each tally's id in Redis once inserted and skips one it finds
-- marked (a Redis outage can let a redelivery through).
CREATE TABLE IF NOT EXISTS plan_blocked_counts
(
    workspace_id String,
    day Date,
    type String,
    event String,
    rule String,
    path String,
    blocked UInt64
)
ENGINE = SummingMergeTree(blocked)
PARTITION BY toYYYYMM(day)
ORDER BY (workspace_id, type, event, rule, path, day);
