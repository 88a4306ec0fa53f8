-- Identity map: which person each identity (anonymous id or user id) belongs to.
-- `identity_key` is 'anonymous:<id>' or 'user:<id>'; a person's id is the identity_key of
-- its root identity (an identified user, e.g. 'user:42'), so resolving is a key lookup.
-- First link wins: `link_rank` falls as `linked_at_ms` grows, so ReplacingMergeTree (and
-- FINAL) keep the EARLIEST link when two consumers race. The consumer never re-links an
-- identity to a different person; it records an identity_conflicts row instead.
CREATE TABLE IF NOT EXISTS identities
(
    workspace_id String,
    identity_key String,
    person_id String,
    source String,
    message_id String,
    linked_at_ms UInt64,
    link_rank UInt64
)
ENGINE = ReplacingMergeTree(link_rank)
ORDER BY (workspace_id, identity_key);

-- Two different identified users are never merged silently: when an event would link an
-- identity that already belongs to another person, the link is refused and recorded here
-- (queryable per person through GET /v1/persons/:id). Keyed so redelivery adds no rows.
CREATE TABLE IF NOT EXISTS identity_conflicts
(
    workspace_id String,
    identity_key String,
    existing_person_id String,
    claimed_person_id String,
    message_id String,
    detected_at_ms UInt64
)
ENGINE = ReplacingMergeTree(detected_at_ms)
ORDER BY (workspace_id, identity_key, claimed_person_id, message_id);
