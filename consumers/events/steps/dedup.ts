/**
 * Step 2: dedup. Queues and clients deliver at least once; queries must see each
 * (workspace, messageId) once. How:
 * 1. Hot path (here): one Redis MGET of `monfri:seen:<workspace>:<messageId>` for the
 *    batch; a key that exists means the event is already stored -> drop('duplicate').
 *    The same id twice inside one batch keeps only the first.
 * 2. The key is written only AFTER the ClickHouse insert succeeded (insert-batch step),
 *    with SET NX and a 7-day TTL. Marking before the insert would make a failed insert's
 *    retry look like a duplicate and lose the event.
 * 3. Backstop: if Redis is down, or the consumer dies between insert and marking, the
 *    duplicate row has the same ReplacingMergeTree key (workspace, day, message_id), and
 *    every query reads FINAL / uniqExact(message_id) (lib/event-queries.ts).
 * So a Redis outage costs extra rows on disk, never a lost or double-counted event.
 */
import { drop, type Outcome, type PipelineDeps, type PipelineItem, type Step } from '../types';

export const SEEN_TTL_SECONDS = 7 * 24 * 60 * 60;

export function seenKey(workspaceId: string, messageId: string): string {
  return `monfri:seen:${workspaceId}:${messageId}`;
}

async function alreadySeen(deps: PipelineDeps, keys: string[]): Promise<boolean[]> {
  if (!deps.redis || keys.length === 0) return keys.map(() => false);
  try {
    const values = await deps.redis.mget<(string | null)[]>(...keys);
    return keys.map((_, index) => values[index] !== null && values[index] !== undefined);
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'dedup_redis_unavailable', error: String(error) }));
    return keys.map(() => false);
  }
}

export const dedupStep: Step = {
  name: 'dedup',
  async run({ items, deps }) {
    const outcomes = new Map<PipelineItem, Outcome>();
    const firstOfId = new Map<string, PipelineItem>();
    for (const item of items) {
      if (!item.event) continue;
      const key = seenKey(item.event.workspaceId, item.event.messageId);
      if (firstOfId.has(key)) outcomes.set(item, drop('duplicate'));
      else firstOfId.set(key, item);
    }
    const keys = [...firstOfId.keys()];
    const seen = await alreadySeen(deps, keys);
    keys.forEach((key, index) => {
      const item = firstOfId.get(key);
      if (item && seen[index]) outcomes.set(item, drop('duplicate'));
    });
    return outcomes;
  },
};
