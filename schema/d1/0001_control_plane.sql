-- Control plane: workspaces and their API keys. Keys are stored only as SHA-256 hashes;
-- `prefix` (the first characters of the key) lets people tell keys apart.
CREATE TABLE IF NOT EXISTS workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  plan TEXT NOT NULL DEFAULT 'starter' CHECK (plan IN ('starter', 'growth', 'scale')),
  anonymize_ip INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('write', 'secret')),
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  label TEXT NOT NULL DEFAULT '',
  -- JSON array of origins a write key may be used from; empty means any origin.
  allowed_origins TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  -- Set when revoked, or in the future when a rotation leaves the old key a grace period.
  revoked_at TEXT
);

CREATE INDEX IF NOT EXISTS api_keys_workspace ON api_keys (workspace_id);
