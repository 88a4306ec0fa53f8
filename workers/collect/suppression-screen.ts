/**
 * The suppression list at the edge, one step of the collect pipeline (after validation): events
 * for a deleted person's userId or anonymousId (or an alias from one) are dropped (answered as
 * accepted, stored nowhere) or refused, per workspace (`privacy.suppressedEvents`, see
 * schema/workspace-settings.ts for why dropping is the default).
 *
 * The list comes from D1 through a per-isolate cache with the key cache's TTL, like keys and
 * tracking plans: a deletion takes effect at every edge within KEY_CACHE_TTL_SECONDS (at once on
 * the isolate that took the request). If D1 does not answer, the list held goes on applying; an
 * isolate that never read it lets events through, and the consumer's own check
 * (consumers/events/steps/suppress.ts) still keeps them out of storage.
 */
import { withDeadline } from '../../lib/deadline';
import { suppressedIdentity, workspaceSuppressions } from '../../lib/privacy/store';
import type { SuppressedEventAction } from '../../schema/workspace-settings';
import { D1_LOOKUP_TIMEOUT_MS, D1_REFRESH_TIMEOUT_MS } from '../auth/key-store';

export interface SuppressionScreen {
  suppressed: ReadonlySet<string>;
  action: SuppressedEventAction;
}

interface CachedList {
  keys: ReadonlySet<string>;
  expiresAt: number;
}

const RETRY_AFTER_FAILURE_MS = 5000;

export class SuppressionStore {
  private readonly entries = new Map<string, CachedList>();
  private static readonly MAX_ENTRIES = 10_000;

  async current(db: D1Database, workspaceId: string, ttlSeconds: number, now = Date.now()): Promise<ReadonlySet<string>> {
    const cached = this.entries.get(workspaceId);
    if (cached && cached.expiresAt > now) return cached.keys;
    let keys: ReadonlySet<string>;
    try {
      keys = await withDeadline(workspaceSuppressions(db, workspaceId), cached ? D1_REFRESH_TIMEOUT_MS : D1_LOOKUP_TIMEOUT_MS, 'd1');
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'suppressions_unavailable', workspaceId, error: String(error) }));
      keys = cached?.keys ?? new Set();
      this.entries.set(workspaceId, { keys, expiresAt: now + RETRY_AFTER_FAILURE_MS });
      return keys;
    }
    if (this.entries.size >= SuppressionStore.MAX_ENTRIES) this.entries.clear();
    this.entries.set(workspaceId, { keys, expiresAt: now + ttlSeconds * 1000 });
    return keys;
  }

  /** After a deletion request on this isolate: read the list again on the next event. */
  forget(workspaceId: string): void {
    this.entries.delete(workspaceId);
  }
}

export async function suppressionScreenFor(store: SuppressionStore, db: D1Database, workspaceId: string, action: SuppressedEventAction, ttlSeconds: number): Promise<SuppressionScreen | null> {
  const suppressed = await store.current(db, workspaceId, ttlSeconds);
  return suppressed.size === 0 ? null : { suppressed, action };
}

export function isSuppressed(screen: SuppressionScreen | null | undefined, event: { userId?: string | null; anonymousId?: string | null; previousId?: string | null }): boolean {
  return screen ? suppressedIdentity(event, screen.suppressed) !== null : false;
}
