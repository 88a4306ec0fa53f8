-- One row per accepted event. Portable to ClickHouse 18.16 and current releases:
-- no DateTime64 (millisecond times are UInt64 epoch millis next to a DateTime),
-- no Map/JSON types (properties are lossless JSON text plus key/value arrays).
-- ReplacingMergeTree on (workspace_id, day, message_id) is the dedup backstop behind
-- the consumer's Redis check: queries that must count exactly use FINAL.
CREATE TABLE IF NOT EXISTS events
(
    workspace_id String,
    message_id String,
    type String,
    event String,
    user_id String,
    anonymous_id String,
    person_id String,
    group_id String,
    previous_id String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at_ms UInt64,
    sent_at_ms UInt64,
    original_timestamp_ms UInt64,
    timestamp_adjustment String,
    properties String,
    property_keys Array(String),
    property_values Array(String),
    traits String,
    context String,
    integrations String,
    page_url String,
    page_path String,
    page_referrer String,
    page_title String,
    user_agent String,
    ip String,
    country String,
    region String,
    city String,
    library_name String,
    library_version String,
    session_id String,
    source String,
    is_bot UInt8,
    bot_reason String,
    plan_violation UInt8,
    violation_reason String,
    inserted_at DateTime
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workspace_id, toDate(timestamp), message_id);
