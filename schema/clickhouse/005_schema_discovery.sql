-- Tracking plans and schema discovery. The consumer fills these event columns when it builds
-- the row (consumers/events/schema-paths.ts), because 18.16 has no JSONExtract to walk the
-- properties JSON here:
-- `plan_violation_reasons`: each broken plan rule once per event, `rule:path` with array
-- indices as `[]` (`required:properties.plan`, `pattern:properties.products[].sku`,
-- `unplanned:event`); `plan_violation` (001) says whether the workspace flagged the event,
-- `violation_reason` (001) holds the readable messages.
-- `schema_paths` / `schema_types` / `schema_value_hashes` / `schema_examples`: one entry per
-- value the event carries in its properties (traits for identify and group), nested keys as
-- `a.b`, array items as `a[]`, key names that look like ids as `{id}`/`{uuid}`/`{email}`/
-- `{timestamp}`, types as JSON Schema names (integer for whole numbers), a 53-bit hash of the
-- value (0 for objects and arrays) and a short example ('' for keys or values that look secret
-- or personal).
-- Three tables kept by materialized views, so reads never scan events: `schema_events`
-- (volume, first/last seen per event), `schema_keys` (per event, key path and type: values
-- seen, approximate distinct values as a uniqCombined sketch, first/last seen, an example) and
-- `plan_violation_counts` (events per day, event, rule and key; flagged among them).
ALTER TABLE events ADD COLUMN plan_violation_reasons Array(String), ADD COLUMN schema_paths Array(String), ADD COLUMN schema_types Array(String), ADD COLUMN schema_value_hashes Array(UInt64), ADD COLUMN schema_examples Array(String);

CREATE TABLE IF NOT EXISTS schema_events
(
    workspace_id String,
    type String,
    event String,
    events AggregateFunction(count),
    first_seen_ms AggregateFunction(min, UInt64),
    last_seen_ms AggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (workspace_id, type, event);

CREATE MATERIALIZED VIEW IF NOT EXISTS schema_events_mv TO schema_events AS
SELECT workspace_id, type, event, countState() AS events, minState(received_at_ms) AS first_seen_ms, maxState(received_at_ms) AS last_seen_ms
FROM events
WHERE source != 'internal'
GROUP BY workspace_id, type, event;

CREATE TABLE IF NOT EXISTS schema_keys
(
    workspace_id String,
    type String,
    event String,
    path String,
    value_type String,
    occurrences AggregateFunction(count),
    distinct_values AggregateFunction(uniqCombined, UInt64),
    first_seen_ms AggregateFunction(min, UInt64),
    last_seen_ms AggregateFunction(max, UInt64),
    example AggregateFunction(anyLastIf, String, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (workspace_id, type, event, path, value_type);

CREATE MATERIALIZED VIEW IF NOT EXISTS schema_keys_mv TO schema_keys AS
SELECT workspace_id, type, event, path, value_type,
  countState() AS occurrences,
  uniqCombinedState(value_hash) AS distinct_values,
  minState(received_at_ms) AS first_seen_ms,
  maxState(received_at_ms) AS last_seen_ms,
  anyLastIfState(example_value, example_value != '') AS example
FROM events
ARRAY JOIN schema_paths AS path, schema_types AS value_type, schema_value_hashes AS value_hash, schema_examples AS example_value
WHERE source != 'internal'
GROUP BY workspace_id, type, event, path, value_type;

CREATE TABLE IF NOT EXISTS plan_violation_counts
(
    workspace_id String,
    day Date,
    type String,
    event String,
    rule String,
    path String,
    events UInt64,
    flagged UInt64
)
ENGINE = SummingMergeTree((events, flagged))
PARTITION BY toYYYYMM(day)
ORDER BY (workspace_id, type, event, rule, path, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS plan_violation_counts_mv TO plan_violation_counts AS
SELECT workspace_id, toDate(timestamp) AS day, type, event,
  substring(reason, 1, position(reason, ':') - 1) AS rule,
  substring(reason, position(reason, ':') + 1) AS path,
  toUInt64(1) AS events,
  toUInt64(plan_violation) AS flagged
FROM events
ARRAY JOIN plan_violation_reasons AS reason;
