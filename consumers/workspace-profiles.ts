/**
 * What consumers need to know about a batch's workspaces: their settings (bot screening), their
 * plan history (usage thresholds), their segments and their webhook subscriptions. Four D1 queries in one round trip per
 * batch for the workspaces it holds, kept per isolate for a short while (a change takes effect
 * within the TTL, WORKSPACE_PROFILE_TTL_SECONDS, as key revocation does at the edge). If D1
 * does not answer, the defaults apply and the batch goes on: these refine screening, notices
 * and segments, they must never stop ingestion.
 */
import { activeSegmentsFromRows, activeSegmentsStatement } from '../lib/segments/store';
import { activeWebhooksFromRows, activeWebhooksStatement } from '../lib/webhooks/store';
import { suppressionsFromRows, suppressionsStatement } from '../lib/privacy/store';
import { planChangeSchema, type PlanHistory } from '../schema/plans';
import type { ActiveSegment } from '../schema/segments';
import type { ActiveWebhook } from '../schema/webhooks';
import { DEFAULT_WORKSPACE_SETTINGS, parseWorkspaceSettings, type WorkspaceSettings } from '../schema/workspace-settings';

export const PROFILE_TTL_MS = 30_000;
const MAX_CACHED_WORKSPACES = 10_000;

/** The profile TTL an environment asks for (tests shorten it), else PROFILE_TTL_MS. */
export function profileTtlMs(env: Pick<Env, 'WORKSPACE_PROFILE_TTL_SECONDS'>): number {
  const seconds = Number(env.WORKSPACE_PROFILE_TTL_SECONDS);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : PROFILE_TTL_MS;
}

export interface WorkspaceProfile {
  settings: WorkspaceSettings;
  /** null when it could not be read (D1 down): usage notices wait for the housekeeping then. */
  planHistory: PlanHistory | null;
  /** null when they could not be read (D1 down): the segment work waits on the retry queue then. */
  segments: ActiveSegment[] | null;
  /** Enabled webhook subscriptions; null when they could not be read (D1 down): the events wait on the webhooks queue then. */
  webhooks: ActiveWebhook[] | null;
  /**
   * Identity keys of deleted persons (the suppression list). null when D1 has not answered and
   * this isolate never read it: the events go on (an outage must not stop ingestion) and this is
   * logged; after one read, a failing D1 keeps the list last read (see load).
   */
  suppressed: ReadonlySet<string> | null;
}

export type WorkspaceProfileLoader = (workspaceIds: readonly string[]) => Promise<Map<string, WorkspaceProfile>>;

const UNKNOWN: WorkspaceProfile = { settings: DEFAULT_WORKSPACE_SETTINGS, planHistory: null, segments: null, webhooks: null, suppressed: null };

interface CacheEntry {
  profile: WorkspaceProfile;
  expiresAt: number;
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

async function readProfiles(db: D1Database, ids: readonly string[]): Promise<Map<string, WorkspaceProfile>> {
  const [workspaces, changes, segmentRows, webhookRows, suppressionRows] = await db.batch<Record<string, unknown>>([
    db.prepare(`SELECT id, settings, trial_ends_at FROM workspaces WHERE id IN (${placeholders(ids.length)})`).bind(...ids),
    db.prepare(`SELECT workspace_id, plan, changed_at FROM plan_changes WHERE workspace_id IN (${placeholders(ids.length)}) ORDER BY changed_at`).bind(...ids),
    activeSegmentsStatement(db, ids),
    activeWebhooksStatement(db, ids),
    suppressionsStatement(db, ids),
  ]);
  const suppressions = suppressionsFromRows(ids, suppressionRows?.results ?? []);
  const segments = activeSegmentsFromRows(ids, segmentRows?.results ?? []);
  const webhooks = activeWebhooksFromRows(webhookRows?.results ?? []);
  const changesOf = new Map<string, PlanHistory['changes'][number][]>();
  for (const row of changes?.results ?? []) {
    const change = planChangeSchema.safeParse({ plan: row.plan, changedAt: row.changed_at });
    if (change.success && typeof row.workspace_id === 'string') changesOf.set(row.workspace_id, [...(changesOf.get(row.workspace_id) ?? []), change.data]);
  }
  const profiles = new Map<string, WorkspaceProfile>();
  for (const row of workspaces?.results ?? []) {
    if (typeof row.id !== 'string') continue;
    profiles.set(row.id, {
      settings: parseWorkspaceSettings(typeof row.settings === 'string' ? row.settings : null).settings,
      planHistory: { trialEndsAt: typeof row.trial_ends_at === 'string' ? row.trial_ends_at : null, changes: changesOf.get(row.id) ?? [] },
      segments: segments.get(row.id) ?? [],
      webhooks: webhooks.get(row.id) ?? [],
      suppressed: suppressions.get(row.id) ?? new Set(),
    });
  }
  return profiles;
}

export class WorkspaceProfileCache {
  private readonly entries = new Map<string, CacheEntry>();

  loader(db: D1Database, ttlMs = PROFILE_TTL_MS, now: () => number = Date.now): WorkspaceProfileLoader {
    return (workspaceIds) => this.load(db, workspaceIds, now(), ttlMs);
  }

  private async load(db: D1Database, workspaceIds: readonly string[], nowMs: number, ttlMs: number): Promise<Map<string, WorkspaceProfile>> {
    const found = new Map<string, WorkspaceProfile>();
    const missing: string[] = [];
    for (const id of new Set(workspaceIds)) {
      const entry = this.entries.get(id);
      if (entry && entry.expiresAt > nowMs) found.set(id, entry.profile);
      else missing.push(id);
    }
    if (missing.length === 0) return found;
    try {
      const stored = await readProfiles(db, missing);
      if (this.entries.size + missing.length > MAX_CACHED_WORKSPACES) this.entries.clear();
      for (const id of missing) {
        const profile = stored.get(id) ?? { settings: DEFAULT_WORKSPACE_SETTINGS, planHistory: { trialEndsAt: null, changes: [] }, segments: [], webhooks: [], suppressed: new Set<string>() };
        this.entries.set(id, { profile, expiresAt: nowMs + ttlMs });
        found.set(id, profile);
      }
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'workspace_profiles_unavailable', workspaces: missing.length, error: String(error) }));
      // A deletion must stay in force through a D1 outage: the suppression list last read is kept.
      for (const id of missing) found.set(id, { ...UNKNOWN, suppressed: this.entries.get(id)?.profile.suppressed ?? null });
    }
    return found;
  }
}

/** Every workspace on the default settings and no plan history (unit tests of single steps, benches). */
export const defaultProfileLoader: WorkspaceProfileLoader = async (workspaceIds) => new Map(workspaceIds.map((id) => [id, { settings: DEFAULT_WORKSPACE_SETTINGS, planHistory: { trialEndsAt: null, changes: [] }, segments: [], webhooks: [], suppressed: new Set<string>() }]));
