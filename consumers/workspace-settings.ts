/**
 * Workspace settings as consumers read them: one D1 query per batch for the workspaces it
 * holds, kept per isolate for a short while (a change takes effect within SETTINGS_TTL_MS, as
 * key revocation does at the edge). If D1 does not answer, the defaults apply and the batch goes
 * on: settings refine screening, they must never stop ingestion.
 */
import { parseWorkspaceSettings, type WorkspaceSettings, DEFAULT_WORKSPACE_SETTINGS } from '../schema/workspace-settings';

export const SETTINGS_TTL_MS = 30_000;
const MAX_CACHED_WORKSPACES = 10_000;

export type WorkspaceSettingsLoader = (workspaceIds: readonly string[]) => Promise<Map<string, WorkspaceSettings>>;

interface CacheEntry {
  settings: WorkspaceSettings;
  expiresAt: number;
}

export class WorkspaceSettingsCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(private readonly ttlMs = SETTINGS_TTL_MS) {}

  loader(db: D1Database, now: () => number = Date.now): WorkspaceSettingsLoader {
    return (workspaceIds) => this.load(db, workspaceIds, now());
  }

  private async load(db: D1Database, workspaceIds: readonly string[], nowMs: number): Promise<Map<string, WorkspaceSettings>> {
    const found = new Map<string, WorkspaceSettings>();
    const missing: string[] = [];
    for (const id of new Set(workspaceIds)) {
      const entry = this.entries.get(id);
      if (entry && entry.expiresAt > nowMs) found.set(id, entry.settings);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    try {
      const { results } = await db
        .prepare(`SELECT id, settings FROM workspaces WHERE id IN (${missing.map(() => '?').join(', ')})`)
        .bind(...missing)
        .all<{ id: string; settings: string }>();
      const stored = new Map(results.map((row) => [row.id, parseWorkspaceSettings(row.settings).settings]));
      if (this.entries.size + missing.length > MAX_CACHED_WORKSPACES) this.entries.clear();
      for (const id of missing) {
        const settings = stored.get(id) ?? DEFAULT_WORKSPACE_SETTINGS;
        this.entries.set(id, { settings, expiresAt: nowMs + this.ttlMs });
        found.set(id, settings);
      }
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'workspace_settings_unavailable', workspaces: missing.length, error: String(error) }));
      for (const id of missing) found.set(id, DEFAULT_WORKSPACE_SETTINGS);
    }
    return found;
  }
}

/** Every workspace on the defaults (unit tests of single steps, benches). */
export const defaultSettingsLoader: WorkspaceSettingsLoader = async (workspaceIds) => new Map(workspaceIds.map((id) => [id, DEFAULT_WORKSPACE_SETTINGS]));
