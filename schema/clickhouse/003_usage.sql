-- Usage per workspace per day, cheap to read for a month and exact under duplicates.
-- `usage_days`: the exact distinct counts of one day (uniqExact over `events`, so duplicates
-- from redeliveries and client retries never count twice), written whenever a day is counted.
-- `usage_inserts`: rows inserted per day, kept by a materialized view; it only tells when a
-- counted day has changed since (late or new events): then that day is counted again.
-- Both are read with a handful of rows per month, whatever the number of events.
CREATE TABLE IF NOT EXISTS usage_days
(
    workspace_id String,
    day Date,
    billable UInt64,
    bots UInt64,
    other UInt64,
    rows_counted UInt64,
    counted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(counted_at_ms)
PARTITION BY toYYYYMM(day)
ORDER BY (workspace_id, day);

CREATE TABLE IF NOT EXISTS usage_inserts
(
    workspace_id String,
    day Date,
    rows UInt64
)
ENGINE = SummingMergeTree(rows)
PARTITION BY toYYYYMM(day)
ORDER BY (workspace_id, day);

-- Events stored before this migration: what the view below would have counted.
INSERT INTO usage_inserts SELECT workspace_id, toDate(timestamp) AS day, count() AS rows FROM events GROUP BY workspace_id, day;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_inserts_mv TO usage_inserts AS
SELECT workspace_id, toDate(timestamp) AS day, count() AS rows FROM events GROUP BY workspace_id, day;
