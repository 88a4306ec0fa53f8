-- Tracking plans: one per workspace. `tracking_plans` holds the current revision (the plan in
-- Monfri's model as JSON, schema/tracking-plan.ts; the Segment shape it was imported from and
-- what the import reported); `tracking_plan_versions` every revision ever saved (who, when).
-- The edge and the consumers read the current row; (id, version) keys the compiled plan.
CREATE TABLE IF NOT EXISTS tracking_plans (
  workspace_id TEXT PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  plan TEXT NOT NULL,
  source_format TEXT NOT NULL,
  import_warnings TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS tracking_plan_versions (
  plan_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  plan TEXT NOT NULL,
  source_format TEXT NOT NULL,
  import_warnings TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (plan_id, version)
);
