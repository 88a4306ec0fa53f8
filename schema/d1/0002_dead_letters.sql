-- Queue messages the pipeline could not store: poison messages (failed validation, with
-- the reason) and messages that exhausted their retries (delivered by the dead-letter
-- queue). Kept verbatim so `npm run admin -- dlq replay` can re-send them; replay is
-- idempotent because the consumer dedups on (workspace, messageId).
CREATE TABLE IF NOT EXISTS dead_letters (
  id TEXT PRIMARY KEY,
  queue TEXT NOT NULL,
  workspace_id TEXT,
  message_id TEXT,
  body TEXT NOT NULL,
  reason TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  replayed_at TEXT,
  replay_count INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS dead_letters_pending ON dead_letters (replayed_at, workspace_id, created_at);
