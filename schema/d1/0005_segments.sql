-- Segments and computed traits. `segments` holds each segment's current definition (the
-- condition plus a snapshot of the computed traits it reads, as JSON: schema/segments.ts) and
-- its version; `segment_versions` every version ever saved (who, when). A deleted segment keeps
-- its row (deleted_at) so its id is never reused and its history stays readable.
-- `computed_traits`: a workspace's own trait definitions (count / sum / min / max / last of a
-- property over one event name, optionally within a rolling window).
CREATE TABLE IF NOT EXISTS segments (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  shards INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  deleted_at TEXT
);

CREATE INDEX IF NOT EXISTS segments_workspace ON segments (workspace_id, deleted_at);

CREATE TABLE IF NOT EXISTS segment_versions (
  segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (segment_id, version)
);

CREATE TABLE IF NOT EXISTS computed_traits (
  workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  definition TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (workspace_id, name)
);
