/**
 * API keys: generation, hashing and lookup. Only SHA-256 hashes are stored or cached;
 * the plaintext key exists in the creating response and nowhere else.
 */
import type { ApiKeyInfo, KeyKind, Plan, ResolvedKey, Workspace } from '../../schema/control-plane';
import { parseWorkspaceSettings } from '../../schema/workspace-settings';
import { randomBase62, sha256Hex } from '../../lib/crypto';
import { withDeadline } from '../../lib/deadline';
import { ApiError } from '../errors';

/** A D1 lookup slower than this counts as D1 being down (the request must not hang with it). */
export const D1_LOOKUP_TIMEOUT_MS = 2000;
/** With a known-valid entry to fall back on, a slow D1 is given much less time: known senders must not feel it. */
export const D1_REFRESH_TIMEOUT_MS = 250;
/**
 * While D1 fails, a key this isolate already knew as valid keeps working for this long past
 * its TTL (stale-if-error): D1 being down must not stop ingestion for known senders. A
 * revocation made meanwhile takes effect when D1 answers again.
 */
export const STALE_IF_ERROR_MS = 15 * 60 * 1000;
export const CONTROL_PLANE_RETRY_AFTER_SECONDS = 5;

const KEY_PREFIX: Record<KeyKind, string> = { write: 'wk_', secret: 'sk_' };
const VISIBLE_PREFIX_LENGTH = 10;

export function generateApiKey(kind: KeyKind): string {
  return `${KEY_PREFIX[kind]}${randomBase62(32)}`;
}

export function keyKindOf(rawKey: string): KeyKind | null {
  if (rawKey.startsWith(KEY_PREFIX.write)) return 'write';
  if (rawKey.startsWith(KEY_PREFIX.secret)) return 'secret';
  return null;
}

export function visiblePrefix(rawKey: string): string {
  return rawKey.slice(0, VISIBLE_PREFIX_LENGTH);
}

export interface WorkspaceRow {
  id: string;
  name: string;
  plan: string;
  anonymize_ip: number;
  created_at: string;
  trial_ends_at: string | null;
  settings: string;
}

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  kind: string;
  prefix: string;
  label: string;
  allowed_origins: string;
  created_at: string;
  revoked_at: string | null;
}

export function workspaceFromRow(row: WorkspaceRow): Workspace {
  const { settings, valid } = parseWorkspaceSettings(row.settings);
  if (!valid) console.warn(JSON.stringify({ level: 'warn', msg: 'workspace_settings_invalid', workspaceId: row.id }));
  return { id: row.id, name: row.name, plan: row.plan as Plan, anonymizeIp: row.anonymize_ip === 1, createdAt: row.created_at, trialEndsAt: row.trial_ends_at, settings };
}

export function keyInfoFromRow(row: ApiKeyRow): ApiKeyInfo {
  const origins: unknown = JSON.parse(row.allowed_origins);
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    kind: row.kind === 'secret' ? 'secret' : 'write',
    prefix: row.prefix,
    label: row.label,
    allowedOrigins: Array.isArray(origins) ? origins.filter((origin): origin is string => typeof origin === 'string') : [],
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export type KeyLookup = { status: 'valid'; key: ResolvedKey } | { status: 'revoked' } | { status: 'unknown' };

interface CacheEntry {
  lookup: KeyLookup;
  expiresAt: number;
}

/**
 * Per-isolate cache of key lookups, keyed by key hash. Revocation takes effect within the
 * TTL; unknown keys are cached briefly so a flood of bad keys does not hammer D1.
 */
export class KeyStore {
  private readonly cache = new Map<string, CacheEntry>();
  private static readonly MAX_ENTRIES = 10_000;

  async lookup(db: D1Database, rawKey: string, ttlSeconds: number, now = Date.now()): Promise<KeyLookup> {
    const hash = await sha256Hex(rawKey);
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.lookup;
    const stale = cached?.lookup.status === 'valid' && now - cached.expiresAt < STALE_IF_ERROR_MS;
    let lookup: KeyLookup;
    try {
      lookup = await withDeadline(lookupInDatabase(db, hash, now), stale ? D1_REFRESH_TIMEOUT_MS : D1_LOOKUP_TIMEOUT_MS, 'd1');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      console.warn(JSON.stringify({ level: 'warn', msg: 'key_lookup_d1_failed', servedStale: stale, error: reason.slice(0, 300) }));
      if (stale && cached) return cached.lookup;
      throw new ApiError(503, 'control_plane_unavailable', 'API keys cannot be checked right now; retry shortly.', undefined, { 'Retry-After': String(CONTROL_PLANE_RETRY_AFTER_SECONDS) });
    }
    const ttlMs = (lookup.status === 'valid' ? ttlSeconds : Math.min(ttlSeconds, 5)) * 1000;
    if (this.cache.size >= KeyStore.MAX_ENTRIES) this.cache.clear();
    this.cache.set(hash, { lookup, expiresAt: now + ttlMs });
    return lookup;
  }

  forget(): void {
    this.cache.clear();
  }
}

async function lookupInDatabase(db: D1Database, hash: string, now: number): Promise<KeyLookup> {
  const row = await db
    .prepare(
      `SELECT k.id, k.workspace_id, k.kind, k.prefix, k.label, k.allowed_origins, k.created_at, k.revoked_at,
              w.name AS w_name, w.plan AS w_plan, w.anonymize_ip AS w_anonymize_ip, w.created_at AS w_created_at, w.trial_ends_at AS w_trial_ends_at, w.settings AS w_settings
         FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
        WHERE k.key_hash = ?`,
    )
    .bind(hash)
    .first<ApiKeyRow & { w_name: string; w_plan: string; w_anonymize_ip: number; w_created_at: string; w_trial_ends_at: string | null; w_settings: string }>();
  if (!row) return { status: 'unknown' };
  if (row.revoked_at && Date.parse(row.revoked_at) <= now) return { status: 'revoked' };
  const info = keyInfoFromRow(row);
  return {
    status: 'valid',
    key: {
      keyId: info.id,
      kind: info.kind,
      allowedOrigins: info.allowedOrigins,
      workspace: workspaceFromRow({ id: row.workspace_id, name: row.w_name, plan: row.w_plan, anonymize_ip: row.w_anonymize_ip, created_at: row.w_created_at, trial_ends_at: row.w_trial_ends_at, settings: row.w_settings }),
    },
  };
}
