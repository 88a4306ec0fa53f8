-- Privacy: person deletion jobs and the suppression list.
-- `suppressions`: identities (identity keys, 'user:<id>' / 'anonymous:<id>') whose events the
-- edge and the consumers no longer store. Written when a deletion is requested, before anything
-- is deleted, and never removed by the job: a replay of the stream mirror or a dead-letter
-- re-drive meets it in the consumer, so a deletion cannot be undone by data still in flight.
CREATE TABLE IF NOT EXISTS suppressions (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  identity_key TEXT NOT NULL,
  job_id TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (workspace_id, identity_key)
);

-- One row per deletion request. The job runs on the monfri-deletions queue; its state lives
-- here so a crash (or a lost message) resumes it: every step is idempotent, and the scheduled
-- housekeeping re-queues a job that has not moved for a while.
-- `identities`: JSON array of the identity keys being deleted (resolved once, then kept).
-- `counts`: JSON object of raw rows per ClickHouse table found before the delete.
CREATE TABLE IF NOT EXISTS deletion_jobs (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
  step TEXT NOT NULL DEFAULT 'queued',
  identities TEXT NOT NULL DEFAULT '[]',
  counts TEXT,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  suppressed_at TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at TEXT
);

CREATE INDEX IF NOT EXISTS deletion_jobs_workspace ON deletion_jobs (workspace_id, subject, status);
CREATE INDEX IF NOT EXISTS deletion_jobs_open ON deletion_jobs (status, updated_at);
