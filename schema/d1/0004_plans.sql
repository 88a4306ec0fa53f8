-- Plans over time. `trial_ends_at`: the end of the 14-day Growth trial every new workspace
-- starts with (NULL for workspaces from before trials). `plan_changes`: each plan a workspace
-- chose and when; the plan in effect at a month's end sets that month's limit
-- (schema/plans.ts has the rules). `usage_notices`: the 80% and 100% threshold notices, one per
-- workspace, month and threshold (the primary key makes sending them exactly once).
ALTER TABLE workspaces ADD COLUMN trial_ends_at TEXT;

CREATE TABLE IF NOT EXISTS plan_changes (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  plan TEXT NOT NULL CHECK (plan IN ('starter', 'growth', 'scale')),
  changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS plan_changes_workspace ON plan_changes (workspace_id, changed_at);

-- Claimed first (the primary key lets one consumer win), marked sent once the event is queued;
-- a claim left unsent (a crash in between) is sent by the housekeeping.
CREATE TABLE IF NOT EXISTS usage_notices (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  month TEXT NOT NULL,
  threshold INTEGER NOT NULL,
  claimed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  sent_at TEXT,
  PRIMARY KEY (workspace_id, month, threshold)
);
