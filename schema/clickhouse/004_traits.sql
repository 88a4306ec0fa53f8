-- Traits, materialised. Identify (and group) traits as top-level key/value arrays on each
-- event, like properties (values as JSON text), so segments and queries read them without
-- parsing JSON (18.16 has no JSONExtract). Two tables kept by materialized views:
-- `person_traits`: each identify trait per person as ingested, the latest by time winning
-- (ReplacingMergeTree on the event time: an older event arriving late never replaces a newer
-- value; reads use argMax over (time, messageId) for ties). `person_stats`: first/last seen,
-- events and sessions per person as ingested (human events, Monfri's own left out). A person
-- is read across every id the identity map gives it (anonymous ids before identification).
-- Times are effective times: the event's timestamp, or its receive time if that is earlier.
ALTER TABLE events ADD COLUMN trait_keys Array(String), ADD COLUMN trait_values Array(String);

CREATE TABLE IF NOT EXISTS person_traits
(
    workspace_id String,
    person_id String,
    key String,
    value String,
    at_ms UInt64,
    message_id String
)
ENGINE = ReplacingMergeTree(at_ms)
ORDER BY (workspace_id, person_id, key);

CREATE MATERIALIZED VIEW IF NOT EXISTS person_traits_mv TO person_traits AS
SELECT workspace_id, person_id, key, value, if(received_at_ms > 0, least(timestamp_ms, received_at_ms), timestamp_ms) AS at_ms, message_id
FROM events
ARRAY JOIN trait_keys AS key, trait_values AS value
WHERE type = 'identify' AND is_bot = 0;

CREATE TABLE IF NOT EXISTS person_stats
(
    workspace_id String,
    person_id String,
    first_seen_ms AggregateFunction(min, UInt64),
    last_seen_ms AggregateFunction(max, UInt64),
    events AggregateFunction(uniqExact, String),
    sessions AggregateFunction(uniqExactIf, String, UInt8)
)
ENGINE = AggregatingMergeTree()
ORDER BY (workspace_id, person_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS person_stats_mv TO person_stats AS
SELECT workspace_id, person_id,
  minState(toUInt64(if(received_at_ms > 0, least(timestamp_ms, received_at_ms), timestamp_ms))) AS first_seen_ms,
  maxState(toUInt64(if(received_at_ms > 0, least(timestamp_ms, received_at_ms), timestamp_ms))) AS last_seen_ms,
  uniqExactState(message_id) AS events,
  uniqExactIfState(session_id, session_id != '') AS sessions
FROM events
WHERE is_bot = 0 AND source != 'internal'
GROUP BY workspace_id, person_id;
