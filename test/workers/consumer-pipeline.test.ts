import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis, type Redis } from '../../lib/redis';
import type { ClickHouseClient } from '../../lib/clickhouse';
import { sql } from '../../lib/sql';
import { retryDelaySeconds } from '../../consumers/backoff';
import { EVENT_PIPELINE, runPipeline, settleMessages } from '../../consumers/events/pipeline';
import { insertBatchStep } from '../../consumers/events/steps/insert-batch';
import { afterInsertStep } from '../../consumers/events/steps/after-insert';
import { seenKey } from '../../consumers/events/steps/dedup';
import { PIPELINE_STATS_KEY } from '../../consumers/events/stats-key';
import { STEP_NAMES, type PipelineDeps, type Step } from '../../consumers/events/types';
import { defaultProfileLoader } from '../../consumers/workspace-profiles';
import { call, createTestWorkspace, bearer } from './support';
import { collected, deliver, env, selectRows, storedCounts, withMergesStopped } from './pipeline-support';

function depsFor(overrides: Partial<PipelineDeps> = {}): PipelineDeps {
  return { env, now: () => Date.now(), redis: createRedis(env), clickhouse: createClickHouse(env), workspaces: defaultProfileLoader, ...overrides };
}

/** The real Redis client, recording which round-trip methods the pipeline calls (`mget`, `pipeline`). */
function countingRedis(calls: string[]): Redis {
  return new Proxy(createRedis(env), {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || (property !== 'mget' && property !== 'pipeline')) return value;
      return (...args: unknown[]): unknown => {
        calls.push(property);
        return Reflect.apply(value, target, args);
      };
    },
  });
}

/** A ClickHouse client whose inserts into `table` fail (the other inserts and queries are real). */
function failingInsertsInto(table: string): ClickHouseClient {
  return new Proxy(createClickHouse(env), {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'insert' || typeof value !== 'function') return value;
      return async (params: { table: string }): Promise<unknown> => {
        if (params.table === table) throw new Error(`ClickHouse refused ${table}`);
        return Reflect.apply(value, target, [params]);
      };
    },
  });
}

/** Queue messages that record what the runner decided (getQueueResult does not report retry delays). */
function asMessages(bodies: unknown[], attempts = 1, settled: Record<string, string> = {}): Message<unknown>[] {
  return bodies.map((body, index) => ({
    id: `m${index}`,
    timestamp: new Date(),
    attempts,
    body,
    ack: () => {
      settled[`m${index}`] = 'ack';
    },
    retry: (options?: QueueRetryOptions) => {
      settled[`m${index}`] = `retry:${options?.delaySeconds ?? 'none'}`;
    },
  }));
}

async function statsTotal(secretKey: string): Promise<number> {
  const response = await call(`/v1/stats?from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`, { headers: bearer(secretKey) });
  expect(response.status).toBe(200);
  const body = await response.json<{ totals: { events: number } }>();
  return body.totals.events;
}

describe('event pipeline', () => {
  it('runs the named steps in order: parse, suppression, dedup, bot screening, identity, rows, insert, fan-out', async () => {
    expect(EVENT_PIPELINE.map((step) => step.name)).toEqual(['parse', 'suppress', 'dedup', 'screen_bots', 'resolve_identity', 'build_rows', 'insert_batch', 'after_insert']);
    expect(STEP_NAMES).toEqual(EVENT_PIPELINE.map((step) => step.name));
    const result = await runPipeline(asMessages([collected(`ws-order-${crypto.randomUUID()}`)]), depsFor());
    expect(result.timings.map((timing) => timing.step)).toEqual([...STEP_NAMES]);
    expect(result.timings.every((timing) => timing.ms >= 0 && timing.error === undefined)).toBe(true);
  });

  it('stores every field as sent with millisecond timestamps in one insert, and acks the batch', async () => {
    const workspaceId = `ws-fields-${crypto.randomUUID()}`;
    const event = collected(workspaceId, {
      type: 'page',
      event: 'Pricing',
      userId: 'user-1',
      anonymousId: 'anon-fields',
      properties: { plan: 'pro', seats: 3, nested: { ok: true }, quote: "it's \\ \"fine\"\n" },
      context: { page: { url: 'https://x.test/pricing?a=1', path: '/pricing', referrer: 'https://google.test/', title: 'Pricing' }, locale: 'en-GB' },
      integrations: { All: false },
      timestamp: '2026-03-04T05:06:07.089Z',
      originalTimestamp: '2026-03-04T05:06:07.001Z',
      sentAt: '2026-03-04T05:06:08.123Z',
      receivedAt: '2026-03-04T05:06:08.456Z',
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 test',
      geo: { country: 'GB', region: 'ENG', city: 'London' },
      library: { name: 'analytics-node', version: '3.1.0' },
      sessionId: 'sess-9',
      source: 'browser',
      bot: { flagged: true, reason: 'ua:headless' },
    });
    const result = await deliver([event]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const [row] = await selectRows(
      sql`SELECT * FROM events WHERE workspace_id = ${workspaceId}`,
      z.object({
        message_id: z.string(), type: z.string(), event: z.string(), user_id: z.string(), anonymous_id: z.string(), person_id: z.string(),
        timestamp_ms: z.coerce.number(), received_at_ms: z.coerce.number(), sent_at_ms: z.coerce.number(), original_timestamp_ms: z.coerce.number(),
        properties: z.string(), property_keys: z.array(z.string()), property_values: z.array(z.string()), context: z.string(), integrations: z.string(),
        page_url: z.string(), page_path: z.string(), page_referrer: z.string(), page_title: z.string(), user_agent: z.string(), ip: z.string(),
        country: z.string(), region: z.string(), city: z.string(), library_name: z.string(), library_version: z.string(), session_id: z.string(),
        source: z.string(), is_bot: z.coerce.number(), bot_reason: z.string(), plan_violation: z.coerce.number(),
      }),
    );
    expect(row).toMatchObject({
      message_id: event.messageId, type: 'page', event: 'Pricing', user_id: 'user-1', anonymous_id: 'anon-fields', person_id: 'user:user-1',
      timestamp_ms: Date.parse('2026-03-04T05:06:07.089Z'), received_at_ms: Date.parse('2026-03-04T05:06:08.456Z'),
      sent_at_ms: Date.parse('2026-03-04T05:06:08.123Z'), original_timestamp_ms: Date.parse('2026-03-04T05:06:07.001Z'),
      page_url: 'https://x.test/pricing?a=1', page_path: '/pricing', page_referrer: 'https://google.test/', page_title: 'Pricing',
      user_agent: 'Mozilla/5.0 test', ip: '203.0.113.9', country: 'GB', region: 'ENG', city: 'London',
      library_name: 'analytics-node', library_version: '3.1.0', session_id: 'sess-9', source: 'browser', is_bot: 1, bot_reason: 'ua:headless', plan_violation: 0,
    });
    expect(JSON.parse(row?.properties ?? '')).toEqual(event.properties);
    expect(JSON.parse(row?.context ?? '')).toEqual(event.context);
    expect(JSON.parse(row?.integrations ?? '')).toEqual(event.integrations);
    expect(row?.property_keys).toEqual(['plan', 'seats', 'nested', 'quote']);
    expect(row?.property_values).toEqual(['pro', '3', '{"ok":true}', "it's \\ \"fine\"\n"]);
  });

  it('a redelivered batch is dropped as duplicates: one row per messageId', async () => {
    const workspaceId = `ws-redeliver-${crypto.randomUUID()}`;
    const events = Array.from({ length: 5 }, () => collected(workspaceId));
    const first = await deliver(events);
    expect(first.explicitAcks).toHaveLength(5);
    const second = await deliver(events, { attempts: 2 });
    expect(second.explicitAcks).toHaveLength(5);
    expect(second.retryMessages).toEqual([]);
    expect(await storedCounts(workspaceId)).toEqual({ events: 5, rows: 5 });
  });

  it('the same messageId twice in one batch (client retry) is stored once', async () => {
    const workspaceId = `ws-dup-in-batch-${crypto.randomUUID()}`;
    const event = collected(workspaceId);
    const result = await deliver([event, { ...event, receivedAt: new Date().toISOString() }]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await storedCounts(workspaceId)).toEqual({ events: 1, rows: 1 });
  });

  it('without Redis, duplicates reach ClickHouse but the ReplacingMergeTree/uniqExact backstop counts them once', async () => {
    const ws = await createTestWorkspace('backstop');
    const events = Array.from({ length: 4 }, () => collected(ws.workspaceId));
    await withMergesStopped(async () => {
      await runPipeline(asMessages(events), depsFor({ redis: null }));
      const again = await runPipeline(asMessages(events), depsFor({ redis: null }));
      // Nothing told the second run these were duplicates: it inserted them again, and the rows really landed.
      expect(again.state.stored).toHaveLength(4);
      expect(await storedCounts(ws.workspaceId)).toEqual({ events: 4, rows: 8 });
      expect(await statsTotal(ws.secretKey)).toBe(4);
      const listed = await call('/v1/events?limit=100', { headers: bearer(ws.secretKey) });
      expect((await listed.json<{ events: unknown[] }>()).events).toHaveLength(4);
    });
  });

  it('a consumer crash after the insert but before the ack: the retry stores duplicates that queries count once', async () => {
    const ws = await createTestWorkspace('crash');
    const events = Array.from({ length: 6 }, () => collected(ws.workspaceId));
    // Test-only fault: the insert step succeeds, then the consumer "dies" before marking anything seen.
    const crashingInsert: Step = {
      name: 'insert_batch',
      async run(input) {
        await input.deps.clickhouse.insert({ table: 'events', format: 'JSONEachRow', values: input.items.flatMap((item) => (item.row ? [item.row] : [])) });
        throw new Error('consumer crashed mid-batch');
      },
    };
    const faulty = EVENT_PIPELINE.map((step) => (step.name === 'insert_batch' ? crashingInsert : step));
    await withMergesStopped(async () => {
      const crashed = await runPipeline(asMessages(events), depsFor(), faulty);
      expect(crashed.items.every((item) => item.outcome.kind === 'retry')).toBe(true);
      const redelivered = await runPipeline(asMessages(events, 2), depsFor());
      expect(redelivered.state.stored).toHaveLength(6);
      expect(await storedCounts(ws.workspaceId)).toEqual({ events: 6, rows: 12 });
      expect(await statsTotal(ws.secretKey)).toBe(6);
    });
  });

  it('ClickHouse unreachable: every message is retried with exponential backoff, nothing acked, nothing marked seen', async () => {
    const workspaceId = `ws-down-${crypto.randomUUID()}`;
    const events = Array.from({ length: 3 }, () => collected(workspaceId));
    const down = { ...env, CLICKHOUSE_URL: 'http://127.0.0.1:9', RETRY_BASE_SECONDS: '2' };
    const result = await deliver(events, { env: down, attempts: 3 });
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(3);
    const settled: Record<string, string> = {};
    const messages = asMessages(events, 3, settled);
    const run = await runPipeline(messages, depsFor({ clickhouse: createClickHouse(down), env: down }));
    await settleMessages(run.items, down);
    expect(settled).toEqual({ m0: 'retry:8', m1: 'retry:8', m2: 'retry:8' });
    expect(run.timings.find((timing) => timing.step === 'resolve_identity')?.error).toBeDefined();
    const restored = await deliver(events, { attempts: 4 });
    expect(restored.explicitAcks).toHaveLength(3);
    expect(await storedCounts(workspaceId)).toEqual({ events: 3, rows: 3 });
  });

  it('backoff doubles from the base and is capped at 15 minutes', () => {
    expect([1, 2, 3, 4].map((attempts) => retryDelaySeconds(attempts, 2))).toEqual([2, 4, 8, 16]);
    expect(retryDelaySeconds(30, 2)).toBe(900);
    expect(retryDelaySeconds(5, 0)).toBe(0);
  });

  it('a poison message goes straight to the dead-letter store with its reason; the rest of the batch is stored', async () => {
    const workspaceId = `ws-poison-${crypto.randomUUID()}`;
    const good = collected(workspaceId);
    const poison = { ...collected(workspaceId), type: 'explode', messageId: `poison-${crypto.randomUUID()}` };
    const result = await deliver([good, poison]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
    expect(await storedCounts(workspaceId)).toEqual({ events: 1, rows: 1 });
    const letter = await env.DB.prepare('SELECT queue, workspace_id, message_id, reason, body FROM dead_letters WHERE message_id = ?').bind(poison.messageId).first<{ queue: string; workspace_id: string; reason: string; body: string }>();
    expect(letter).toMatchObject({ queue: 'monfri-events', workspace_id: workspaceId });
    expect(letter?.reason).toMatch(/^invalid_event: type/);
    expect(JSON.parse(letter?.body ?? '')).toEqual(poison);
  });

  it('the insert step is what marks messageIds seen (only after a successful insert)', async () => {
    const workspaceId = `ws-mark-${crypto.randomUUID()}`;
    const events = [collected(workspaceId)];
    const failingInsert: Step = { name: 'insert_batch', run: async () => { throw new Error('ClickHouse 503'); } };
    await runPipeline(asMessages(events), depsFor(), EVENT_PIPELINE.map((step) => (step.name === 'insert_batch' ? failingInsert : step)));
    const retried = await runPipeline(asMessages(events), depsFor(), EVENT_PIPELINE.map((step) => (step.name === 'insert_batch' ? insertBatchStep : step)));
    expect(retried.items[0]?.outcome.kind).toBe('ok');
    expect(await storedCounts(workspaceId)).toEqual({ events: 1, rows: 1 });
  });
});

describe('event pipeline round trips', () => {
  it('before the insert a batch reads Redis once (seen marks and cached identities in one MGET); after it, writes once', async () => {
    const workspaceId = `ws-trips-${crypto.randomUUID()}`;
    // Links the anonymous id to the user, so the next batch finds both in the identity cache.
    await deliver([collected(workspaceId, { type: 'identify', userId: 'u-trips', anonymousId: 'a-trips' })]);
    const calls: string[] = [];
    const events = [collected(workspaceId, { userId: null, anonymousId: 'a-trips' }), collected(workspaceId, { userId: 'u-trips', anonymousId: null })];
    const result = await runPipeline(asMessages(events), depsFor({ redis: countingRedis(calls) }));
    expect(result.items.map((item) => [item.outcome.kind, item.personId])).toEqual([['ok', 'user:u-trips'], ['ok', 'user:u-trips']]);
    expect(calls).toEqual(['mget', 'pipeline']);
  });

  it('the live feed gets the batch right after the insert; the seen marks follow in the closing pipeline', async () => {
    const workspaceId = `ws-feed-first-${crypto.randomUUID()}`;
    const event = collected(workspaceId);
    const redis = createRedis(env);
    const seenDuringFanOut: (string | null)[] = [];
    const probe = afterInsertStep([{ name: 'live_feed', run: async () => void seenDuringFanOut.push(await redis.get<string>(seenKey(workspaceId, event.messageId))) }]);
    await runPipeline(asMessages([event]), depsFor(), EVENT_PIPELINE.map((step) => (step.name === 'after_insert' ? probe : step)));
    expect(seenDuringFanOut).toEqual([null]);
    expect(await redis.get<string>(seenKey(workspaceId, event.messageId))).toBe('1');
  });

  it('the batch report rides in the same closing pipeline, with the live-feed publish timings', async () => {
    const workspaceId = `ws-report-${crypto.randomUUID()}`;
    await deliver([collected(workspaceId), collected(workspaceId)]);
    const reports = (await createRedis(env).lrange<string>(PIPELINE_STATS_KEY, 0, 50)).map((line) => z.object({ workspaceIds: z.array(z.string()), startedAt: z.number(), settledAt: z.number(), live: z.array(z.object({ workspaceId: z.string(), items: z.number(), roomAt: z.number().nullable() })) }).loose().parse(JSON.parse(line)));
    const report = reports.find((candidate) => candidate.workspaceIds.includes(workspaceId));
    expect(report?.live).toEqual([expect.objectContaining({ workspaceId, items: 2 })]);
    expect(report?.live[0]?.roomAt).toBeGreaterThanOrEqual(report?.startedAt ?? Infinity);
    expect(report?.settledAt).toBeGreaterThanOrEqual(report?.live[0]?.roomAt ?? Infinity);
  });

  it('a failed identity insert retries the whole batch and marks nothing seen; the redelivery is counted once', async () => {
    const workspaceId = `ws-link-fail-${crypto.randomUUID()}`;
    const events = [collected(workspaceId, { type: 'identify', userId: 'u-fail', anonymousId: 'a-fail' }), collected(workspaceId, { userId: null, anonymousId: 'a-fail' })];
    const failed = await runPipeline(asMessages(events), depsFor({ clickhouse: failingInsertsInto('identities') }));
    expect(failed.items.map((item) => item.outcome.kind)).toEqual(['retry', 'retry']);
    expect(failed.timings.find((timing) => timing.step === 'insert_batch')?.error).toContain('ClickHouse refused identities');
    expect(await createRedis(env).get<string>(seenKey(workspaceId, events[0]?.messageId ?? ''))).toBeNull();
    const redelivered = await deliver(events, { attempts: 2 });
    expect(redelivered.explicitAcks).toHaveLength(2);
    expect((await storedCounts(workspaceId)).events).toBe(2);
  });
});

describe('dead-letter queue consumer', () => {
  it('stores messages that exhausted their retries in D1, verbatim and replayable', async () => {
    const workspaceId = `ws-dlq-${crypto.randomUUID()}`;
    const event = collected(workspaceId);
    const result = await deliver([event], { queue: 'monfri-events-dlq', attempts: 11 });
    expect(result.ackAll).toBe(true);
    const letter = await env.DB.prepare('SELECT queue, reason, attempts, body FROM dead_letters WHERE workspace_id = ?').bind(workspaceId).first<{ queue: string; reason: string; attempts: number; body: string }>();
    expect(letter).toMatchObject({ queue: 'monfri-events', reason: 'retries_exhausted', attempts: 11 });
    expect(JSON.parse(letter?.body ?? '')).toEqual(event);
  });
});
