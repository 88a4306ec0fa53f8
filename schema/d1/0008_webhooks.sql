-- Webhook subscriptions and their delivery log. The signing secret must be recoverable to
-- sign, so it is stored encrypted (AES-GCM under the WEBHOOK_SECRETS_KEY Worker secret), never
-- in clear; a rotated-out secret stays beside it until previous_secret_expires_at (24 h grace).
-- failing_since: when the current run of failures began (null after any success); 5 days of
-- it disables the subscription with disabled_reason. A deleted subscription keeps its row.
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  filter TEXT NOT NULL,
  include_bots INTEGER NOT NULL DEFAULT 0,
  enabled INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  secret_sealed TEXT NOT NULL,
  previous_secret_sealed TEXT,
  previous_secret_expires_at TEXT,
  failing_since TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  deleted_at TEXT
);

CREATE INDEX IF NOT EXISTS webhook_subscriptions_workspace ON webhook_subscriptions (workspace_id, deleted_at);

-- One row per attempt (a test send too). webhook_id is the stable `webhook-id` header.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  webhook_id TEXT NOT NULL,
  event TEXT NOT NULL DEFAULT '',
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  http_status INTEGER,
  latency_ms INTEGER NOT NULL,
  error TEXT,
  response_snippet TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX IF NOT EXISTS webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
