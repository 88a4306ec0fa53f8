-- Per-workspace settings as one JSON document, read through schema/workspace-settings.ts
-- (every setting has a default there, so '{}' is a complete document). Bot screening is the
-- first section; later areas add theirs without a migration.
ALTER TABLE workspaces ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
