/**
 * The dedup backstop, proven rather than assumed: two consumers handle the same messages at
 * once (the Redis dedup disabled, or raced so both read "not seen" before either marks),
 * both INSERTs land (raw count() is twice the distinct events), and every query still
 * counts each messageId once (ReplacingMergeTree + FINAL / uniqExact).
 */
import { describe, expect, it } from 'vitest';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis, type Redis } from '../../lib/redis';
import { runPipeline } from '../../consumers/events/pipeline';
import { seenKey } from '../../consumers/events/steps/dedup';
import type { PipelineDeps } from '../../consumers/events/types';
import { defaultProfileLoader } from '../../consumers/workspace-profiles';
import { bearer, call, createTestWorkspace } from './support';
import { collected, env, storedCounts, withMergesStopped } from './pipeline-support';

const N = 8;

function deps(redis: Redis | null): PipelineDeps {
  return { env, now: () => Date.now(), redis, clickhouse: createClickHouse(env), workspaces: defaultProfileLoader };
}

/** The real Redis, except that each mget waits until `parties` callers have made theirs: the race, forced. */
function racedRedis(parties: number): Redis {
  let arrived = 0;
  let release: () => void = () => {};
  const everyoneRead = new Promise<void>((resolve) => (release = resolve));
  return new Proxy(createRedis(env), {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'mget' || typeof value !== 'function') return value;
      return async (...keys: unknown[]): Promise<unknown> => {
        const answer: unknown = await Reflect.apply(value, target, keys);
        if (++arrived >= parties) release();
        await everyoneRead;
        return answer;
      };
    },
  });
}

function messages(bodies: unknown[]): Message<unknown>[] {
  return bodies.map((body, index) => ({ id: `race-${index}`, timestamp: new Date(), attempts: 1, body, ack: () => {}, retry: () => {} }));
}

async function queried(secretKey: string): Promise<{ listed: number; total: number }> {
  const listed = await call('/v1/events?limit=100', { headers: bearer(secretKey) });
  const stats = await call(`/v1/stats?from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`, { headers: bearer(secretKey) });
  expect([listed.status, stats.status]).toEqual([200, 200]);
  return { listed: (await listed.json<{ events: unknown[] }>()).events.length, total: (await stats.json<{ totals: { events: number } }>()).totals.events };
}

describe('two consumers handle the same messages at once', () => {
  it.each([
    ['with the Redis dedup disabled', () => null],
    ['with the Redis dedup raced (both read before either marks)', () => racedRedis(2)],
  ])('%s: both inserts land, raw rows are doubled, every query counts each messageId once', async (_, makeRedis) => {
    const ws = await createTestWorkspace('dedup race');
    const events = Array.from({ length: N }, () => collected(ws.workspaceId));
    const redis = makeRedis();
    await withMergesStopped(async () => {
      const [first, second] = await Promise.all([runPipeline(messages(events), deps(redis)), runPipeline(messages(events), deps(redis))]);
      expect(first.state.stored).toHaveLength(N);
      expect(second.state.stored).toHaveLength(N);
      expect(await storedCounts(ws.workspaceId)).toEqual({ events: N, rows: 2 * N });
      expect(await queried(ws.secretKey)).toEqual({ listed: N, total: N });
    });
    if (redis) {
      // Both marked them seen afterwards (SET NX): a third delivery is a duplicate again.
      const marks = await createRedis(env).mget<(string | null)[]>(...events.map((event) => seenKey(ws.workspaceId, event.messageId)));
      expect(marks.every((mark) => typeof mark === 'string')).toBe(true);
      const third = await runPipeline(messages(events), deps(createRedis(env)));
      expect(third.state.stored).toHaveLength(0);
    }
    expect((await storedCounts(ws.workspaceId)).events).toBe(N);
  });
});
