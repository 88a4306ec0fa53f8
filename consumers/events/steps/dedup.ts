/**
 * Step 2: dedup. Queues and clients deliver at least once; queries must see each
 * (workspace, messageId) once. How:
 * 1. Hot path (here): one Redis MGET of `monfri:seen:<workspace>:<messageId>` for the
 *    batch; a key that exists means the event is already stored -> drop('duplicate').
 *    The same id twice inside one batch keeps only the first. The same MGET also reads
 *    the identity cache keys of the batch's events (for resolve_identity) and the usage
 *    estimate of its workspaces (for the usage hook), so the batch pays one Redis round
 *    trip before the insert for all of them.
 * 2. The key is queued only AFTER the ClickHouse insert succeeded (insert-batch step),
 *    with SET NX and a 7-day TTL, and written in the batch's closing Redis pipeline,
 *    before the handler returns (acks take effect only then). Marking before the insert
 *    would make a failed insert's retry look like a duplicate and lose the event.
 * 3. Backstop: if Redis is down, or the consumer dies between insert and marking, the
 *    duplicate row has the same ReplacingMergeTree key (workspace, day, message_id), and
 *    every query reads FINAL / uniqExact(message_id) (lib/event-queries.ts).
 * So a Redis outage costs extra rows on disk, never a lost or double-counted event.
 */
import { drop, type Outcome, type PipelineDeps, type PipelineItem, type Step } from '../types';
import { monthContaining } from '../../../schema/plans';
import { usageEstimateKey } from '../usage-check';
import { identityCacheKeysOf } from './resolve-identity';
import { withRedisDeadline } from '../../../lib/redis';

export const SEEN_TTL_SECONDS = 7 * 24 * 60 * 60;

export function seenKey(workspaceId: string, messageId: string): string {
  return `monfri:seen:${workspaceId}:${messageId}`;
}

/** One MGET for `keys` (null = no such key); null when Redis is missing or failing (the pipeline degrades, never fails on it). */
async function readKeys(deps: PipelineDeps, keys: string[]): Promise<(string | null)[] | null> {
  if (!deps.redis) return null;
  if (keys.length === 0) return [];
  try {
    const values = await withRedisDeadline(deps.redis.mget<(string | null)[]>(...keys));
    return keys.map((_, index) => (typeof values[index] === 'string' ? values[index] : null));
  } catch (error) {
    deps.redisDegradation?.record('dedup_read');
    console.warn(JSON.stringify({ level: 'warn', msg: 'dedup_redis_unavailable', error: String(error) }));
    return null;
  }
}

export const dedupStep: Step = {
  name: 'dedup',
  async run({ items, state, deps }) {
    const outcomes = new Map<PipelineItem, Outcome>();
    const firstOfId = new Map<string, PipelineItem>();
    for (const item of items) {
      if (!item.event) continue;
      const key = seenKey(item.event.workspaceId, item.event.messageId);
      if (firstOfId.has(key)) outcomes.set(item, drop('duplicate'));
      else firstOfId.set(key, item);
    }
    const keys = [...firstOfId.keys()];
    const month = monthContaining(deps.now()).id;
    const identityKeys = [...new Set([...firstOfId.values()].flatMap((item) => (item.event ? identityCacheKeysOf(item.event) : [])))];
    const estimateKeys = [...new Set([...firstOfId.values()].flatMap((item) => (item.event ? [usageEstimateKey(item.event.workspaceId, month)] : [])))];
    const prefetchKeys = [...identityKeys, ...estimateKeys];
    const values = await readKeys(deps, [...keys, ...prefetchKeys]);
    keys.forEach((key, index) => {
      const item = firstOfId.get(key);
      if (item && typeof values?.[index] === 'string') outcomes.set(item, drop('duplicate'));
    });
    // Only answers Redis actually gave are cached; after a failure resolve-identity asks again.
    if (values) prefetchKeys.forEach((key, index) => state.redisReads.set(key, values[keys.length + index] ?? null));
    return outcomes;
  },
};
