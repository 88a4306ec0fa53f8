/**
 * Usage metering on the real consumer, real ClickHouse, real D1 and Redis: exact billable counts
 * under a crash between insert and ack, GET /v1/usage against the plan (overage, plan changes,
 * the trial), and threshold notices sent exactly once while consumers race for them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { EVENT_PIPELINE, runPipeline } from '../../consumers/events/pipeline';
import type { Step } from '../../consumers/events/types';
import { usageEstimateKey } from '../../consumers/events/usage-check';
import { sendDueUsageNotices, USAGE_THRESHOLD_EVENT, usageNoticeMessageId } from '../../consumers/usage-notices';
import { defaultProfileLoader } from '../../consumers/workspace-profiles';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis } from '../../lib/redis';
import { monthContaining, type PlanHistory } from '../../schema/plans';
import type { CollectedEvent } from '../../schema/event';
import { collected, deliver, env, storedCounts } from './pipeline-support';
import { bearer, call, createTestWorkspace, OPERATOR } from './support';

afterEach(() => {
  vi.restoreAllMocks();
});

interface UsageAnswer {
  month: string;
  plan: { id: string; includedEvents: number; source: string; appliesToWholeMonth: boolean; since: string | null };
  trial: { endsAt: string | null; active: boolean; endedAt: string | null };
  usage: { billable: number; inTrial: number; counted: number; limit: number; bots: number; notBillable: number };
  daily: { day: string; billable: number; bots: number; other: number }[];
  overage: { events: number; blocks: number; eur: number };
  projection: { method: string; billable: number } | null;
  rules: string[];
}

async function usage(secretKey: string, month?: string): Promise<UsageAnswer> {
  const response = await call(`/v1/usage${month ? `?month=${month}` : ''}`, { headers: bearer(secretKey) });
  expect(response.status).toBe(200);
  return response.json<UsageAnswer>();
}

/** Bulk rows straight into ClickHouse (the columns usage reads; the rest take their defaults), for counts a consumer would take minutes to reach. */
async function insertRows(workspaceId: string, count: number, overrides: { type?: string; is_bot?: number; source?: string } = {}, atMs = Date.now()): Promise<void> {
  const client = createClickHouse(env);
  try {
    const rows = Array.from({ length: count }, (_, index) => ({ workspace_id: workspaceId, message_id: `bulk-${overrides.type ?? 'track'}-${overrides.is_bot ?? 0}-${index}`, type: overrides.type ?? 'track', event: 'Bulk', timestamp: Math.floor(atMs / 1000), timestamp_ms: atMs, source: overrides.source ?? 'server', is_bot: overrides.is_bot ?? 0 }));
    await client.insert({ table: 'events', format: 'JSONEachRow', values: rows });
  } finally {
    await client.close();
  }
}

function messages(bodies: unknown[], attempts = 1): Message<unknown>[] {
  return bodies.map((body, index) => ({ id: `u${index}`, timestamp: new Date(), attempts, body, ack: () => {}, retry: () => {} }));
}

describe('billable counts', () => {
  it('a crash between insert and ack stores the batch twice; usage counts each event once, and only what bills', async () => {
    const ws = await createTestWorkspace('usage crash', { plan: 'starter' });
    // After the plan was chosen (the trial's end): an event counts in the month, and the trial part, of its timestamp.
    const now = new Date().toISOString();
    const at = { timestamp: now, receivedAt: now };
    const events: CollectedEvent[] = [
      ...Array.from({ length: 6 }, () => collected(ws.workspaceId, { type: 'track', ...at })),
      collected(ws.workspaceId, { type: 'page', event: 'Home', ...at }),
      collected(ws.workspaceId, { type: 'screen', event: 'Settings', ...at }),
      collected(ws.workspaceId, { type: 'identify', event: null, userId: 'u1', ...at }),
      collected(ws.workspaceId, { type: 'group', event: null, groupId: 'acme', userId: 'u1', ...at }),
      collected(ws.workspaceId, { bot: { flagged: true, reason: 'user_agent:googlebot' }, ...at }),
    ];
    let insertedBeforeCrash = 0;
    const crashingInsert: Step = {
      name: 'insert_batch',
      async run(input) {
        const rows = input.items.flatMap((item) => (item.row ? [item.row] : []));
        await input.deps.clickhouse.insert({ table: 'events', format: 'JSONEachRow', values: rows });
        insertedBeforeCrash = rows.length;
        throw new Error('consumer crashed mid-batch');
      },
    };
    const deps = { env, now: () => Date.now(), redis: createRedis(env), clickhouse: createClickHouse(env), workspaces: defaultProfileLoader };
    await runPipeline(messages(events), deps, EVENT_PIPELINE.map((step) => (step.name === 'insert_batch' ? crashingInsert : step)));
    const redelivered = await runPipeline(messages(events, 2), deps);
    // The duplicates really went to ClickHouse twice (nothing was marked seen before the crash)...
    expect([insertedBeforeCrash, redelivered.state.stored.length]).toEqual([11, 11]);
    expect((await storedCounts(ws.workspaceId)).events).toBe(11);
    // ...and counted once: 6 track + 1 page + 1 screen bill; identify and group do not; the bot is shown apart.
    const answer = await usage(ws.secretKey);
    expect(answer.usage).toMatchObject({ billable: 8, counted: 8, bots: 1, notBillable: 2 });
    expect(answer.daily.reduce((sum, day) => sum + day.billable, 0)).toBe(8);
  });

  it('the day the trial ended: its trial part is counted again when that day gets rows, not served from the cache', async () => {
    const ws = await createTestWorkspace('usage trial day', { plan: 'starter' });
    const first = await usage(ws.secretKey);
    const trialEnd = Date.parse(first.trial.endedAt ?? '');
    expect(Number.isFinite(trialEnd), 'choosing a plan at creation ends the trial now').toBe(true);
    // Rows from just before the trial ended, written as a consumer would: they land in the trial part of today.
    const insertBefore = async (prefix: string, count: number): Promise<void> => {
      const client = createClickHouse(env);
      const atMs = trialEnd - 1000;
      try {
        const rows = Array.from({ length: count }, (_, index) => ({ workspace_id: ws.workspaceId, message_id: `${prefix}-${index}`, type: 'track', event: 'Trial', timestamp: Math.floor(atMs / 1000), timestamp_ms: atMs, source: 'server', is_bot: 0 }));
        await client.insert({ table: 'events', format: 'JSONEachRow', values: rows });
      } finally {
        await client.close();
      }
    };
    await insertBefore('trial-a', 3);
    expect((await usage(ws.secretKey)).usage).toMatchObject({ billable: 3, inTrial: 3, counted: 0 });
    expect((await usage(ws.secretKey)).usage, 'asked again, nothing changed').toMatchObject({ billable: 3, inTrial: 3, counted: 0 });
    await insertBefore('trial-b', 2);
    expect((await usage(ws.secretKey)).usage).toMatchObject({ billable: 5, inTrial: 5, counted: 0 });
  });
});

describe('GET /v1/usage', () => {
  it('overage at the edges of the limit: one block at limit + 1, two at limit + 50,001', async () => {
    const ws = await createTestWorkspace('usage overage', { plan: 'starter' });
    await insertRows(ws.workspaceId, 50_001);
    const first = await usage(ws.secretKey);
    expect(first.usage).toMatchObject({ billable: 50_001, counted: 50_001, limit: 50_000 });
    expect(first.overage).toEqual(expect.objectContaining({ events: 1, blocks: 1, eur: 12 }));
    await insertRows(ws.workspaceId, 50_000, { type: 'page' });
    const second = await usage(ws.secretKey);
    expect(second.overage).toEqual(expect.objectContaining({ events: 50_001, blocks: 2, eur: 24 }));
    expect(second.projection?.method).toMatch(/average billable events per day/);
    expect(second.rules.length).toBeGreaterThan(3);
  });

  it('a plan changed mid-month applies to the whole month, and the answer says so', async () => {
    const ws = await createTestWorkspace('usage plan change', { plan: 'starter' });
    await insertRows(ws.workspaceId, 60_000);
    expect((await usage(ws.secretKey)).overage.blocks).toBe(1);
    const changed = await call(`/admin/workspaces/${ws.workspaceId}`, { method: 'PATCH', headers: OPERATOR, json: { plan: 'growth' } });
    expect(changed.status).toBe(200);
    const after = await usage(ws.secretKey);
    expect(after.plan).toMatchObject({ id: 'growth', includedEvents: 1_000_000, source: 'chosen', appliesToWholeMonth: true });
    expect(after.overage.blocks).toBe(0);
  });

  it('a new workspace is on the Growth trial, and what it sends while the trial runs is free', async () => {
    const ws = await createTestWorkspace('usage trial');
    await insertRows(ws.workspaceId, 10);
    const answer = await usage(ws.secretKey);
    expect(answer.plan).toMatchObject({ id: 'growth', source: 'trial' });
    expect(answer.trial.active).toBe(true);
    expect(Date.parse(answer.trial.endsAt ?? '') - Date.now()).toBeGreaterThan(13 * 86_400_000);
    expect(answer.usage).toMatchObject({ billable: 10, inTrial: 10, counted: 0 });
  });

  it('refuses a malformed month and keys that are not secret', async () => {
    const ws = await createTestWorkspace('usage auth');
    const bad = await call('/v1/usage?month=2026-13', { headers: bearer(ws.secretKey) });
    expect(bad.status).toBe(400);
    const writeKey = await call('/v1/usage', { headers: bearer(ws.writeKey) });
    expect(writeKey.status).toBe(403);
    const past = await usage(ws.secretKey, '2020-01');
    expect(past).toMatchObject({ month: '2020-01', usage: { billable: 0 }, projection: null });
  });
});

describe('threshold notices', () => {
  it('consumers racing over 80%: exactly one usage.threshold event is queued, and resending finds nothing due', async () => {
    const ws = await createTestWorkspace('usage thresholds', { plan: 'starter' });
    await insertRows(ws.workspaceId, 40_000);
    const month = monthContaining(Date.now()).id;
    // What the consumers' estimate would be after counting those events.
    await createRedis(env).set(usageEstimateKey(ws.workspaceId, month), '40000');
    const send = vi.spyOn(env.EVENTS, 'send');
    const batches = Array.from({ length: 6 }, () => Array.from({ length: 5 }, () => collected(ws.workspaceId, { timestamp: new Date().toISOString() })));
    await Promise.all(batches.map((batch) => deliver(batch)));
    // Also bypass the shared check slot: several exact checks at the same moment.
    const history: PlanHistory = { trialEndsAt: null, changes: [{ plan: 'starter', changedAt: new Date(Date.now() - 3_600_000).toISOString() }] };
    const client = createClickHouse(env);
    const raced = await Promise.all(Array.from({ length: 5 }, () => sendDueUsageNotices(env, client, ws.workspaceId, history, Date.now())));
    const notices = send.mock.calls.map(([body]) => z.object({ messageId: z.string(), event: z.string(), source: z.string(), properties: z.object({ threshold: z.number() }) }).parse(JSON.parse(String(body))));
    expect(notices).toEqual([expect.objectContaining({ messageId: usageNoticeMessageId(ws.workspaceId, month, 80), event: USAGE_THRESHOLD_EVENT, source: 'internal', properties: expect.objectContaining({ threshold: 80 }) })]);
    expect(raced.flat().filter((threshold) => threshold === 80).length).toBeLessThanOrEqual(1);
    const stored = await env.DB.prepare('SELECT threshold, sent_at FROM usage_notices WHERE workspace_id = ?').bind(ws.workspaceId).all<{ threshold: number; sent_at: string | null }>();
    expect(stored.results.map((row) => [row.threshold, row.sent_at !== null])).toEqual([[80, true]]);
    expect(await sendDueUsageNotices(env, client, ws.workspaceId, history, Date.now(), true)).toEqual([]);
    // The notice is an event like any other: stored once, never billable.
    const [noticeBody] = send.mock.calls.map(([body]) => body);
    await deliver([noticeBody, noticeBody]);
    const after = await usage(ws.secretKey);
    expect(after.usage.billable).toBe(40_030);
    await client.close();
  });

  it('past 100%, both notices are due; each is sent once', async () => {
    const ws = await createTestWorkspace('usage 100', { plan: 'starter' });
    await insertRows(ws.workspaceId, 50_000);
    const history: PlanHistory = { trialEndsAt: null, changes: [{ plan: 'starter', changedAt: new Date(Date.now() - 3_600_000).toISOString() }] };
    const client = createClickHouse(env);
    const send = vi.spyOn(env.EVENTS, 'send');
    const [first, second] = await Promise.all([sendDueUsageNotices(env, client, ws.workspaceId, history, Date.now()), sendDueUsageNotices(env, client, ws.workspaceId, history, Date.now())]);
    expect([...(first ?? []), ...(second ?? [])].sort()).toEqual([100, 80]);
    expect(send).toHaveBeenCalledTimes(2);
    await client.close();
  });
});
