/**
 * Tracking plans in the control plane (PUT/GET/export/versions, /v1 and /admin) and at the
 * edge (allow / flag / block for unplanned events and for violations, per workspace), through
 * the real app against D1; the tally of blocked events the edge hands the consumer, and the
 * consumer storing it in ClickHouse (real queue handler, ClickHouse and Redis).
 */
import { describe, expect, it, vi } from 'vitest';
import configApiFixture from '../../lib/tracking-plans/fixtures/config-api-v7.json';
import publicApiFixture from '../../lib/tracking-plans/fixtures/public-api.json';
import typewriterFixture from '../../lib/tracking-plans/fixtures/typewriter-v8.json';
import { importSegmentPlan } from '../../lib/tracking-plans/segment-import';
import type { CollectedEvent } from '../../schema/event';
import type { TrackingPlan } from '../../schema/tracking-plan';
import { buildEventRow } from '../../consumers/events/event-row';
import { feedItemsOf } from '../../consumers/events/steps/after-insert';
import { segmentEventOf } from '../../consumers/events/segments-hook';
import type { BatchState, PipelineItem } from '../../consumers/events/types';
import { planViolationCountsQuery } from '../../lib/schema-queries';
import { uint64 } from '../../lib/event-queries';
import { PLAN_BLOCKED_KIND, type PlanBlockedTally } from '../../schema/plan-blocked';
import { MAX_TALLY_BYTES, tallyBlocked } from '../../workers/collect/plan-blocked';
import { PlanStore } from '../../workers/collect/plan-screen';
import { z } from 'zod';
import { collected, deliver, selectRows } from './pipeline-support';
import { callCollect, RecordingQueue, type BatchAnswer, type ErrorAnswer } from './collect-support';
import { basic, bearer, call, createTestWorkspace, env, OPERATOR, type DemoWorkspace } from './support';

interface PlanAnswer {
  trackingPlan: { id: string; name: string; version: number; sourceFormat: string; events: number; plan: TrackingPlan };
  changed: boolean;
  import: { format: string; warnings: { code: string; path: string; message: string }[] };
}

async function putPlan(ws: DemoWorkspace, document: unknown): Promise<{ status: number; body: PlanAnswer }> {
  const response = await call('/v1/tracking-plan', { method: 'PUT', headers: bearer(ws.secretKey), json: document });
  return { status: response.status, body: await response.json<PlanAnswer>() };
}

/** A plan without its revision fields: the store names plans itself (a Segment plan id would collide across workspaces in the compiled-plan cache). */
function content(plan: TrackingPlan): TrackingPlan {
  const { id: _id, version: _version, ...rest } = plan;
  return rest;
}

/** A small Public API plan: one event in two versions, an enum, a pattern, a nested array of objects. */
const SHOP_PLAN = {
  name: 'Shop',
  rules: [
    {
      type: 'TRACK',
      key: 'Order Completed',
      version: 1,
      jsonSchema: {
        properties: {
          properties: {
            type: 'object',
            required: ['order_id', 'currency'],
            properties: {
              order_id: { type: 'string', pattern: '^ord_[a-z0-9]{4,}$' },
              currency: { enum: ['EUR', 'USD'] },
              products: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, price: { type: 'number', minimum: 0 } } } },
            },
          },
        },
      },
    },
    {
      type: 'TRACK',
      key: 'Order Completed',
      version: 2,
      jsonSchema: { properties: { properties: { type: 'object', required: ['order_id', 'subtotal'], properties: { order_id: { type: 'string' }, subtotal: { type: 'number' } } } } },
    },
  ],
};

async function withSettings(ws: DemoWorkspace, trackingPlan: Record<string, unknown>): Promise<void> {
  const response = await call(`/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: OPERATOR, json: { trackingPlan } });
  expect(response.status).toBe(200);
}

async function sendBatch(ws: DemoWorkspace, batch: unknown[]) {
  const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.writeKey), json: { batch } });
  return { status: response.status, answer: await response.json<BatchAnswer & { rejected: { violations?: { path: string; rule: string; message: string }[] }[] }>(), events: queue.events(), tallies: queue.tallies() };
}

const tallyRows = (tally: PlanBlockedTally | undefined) => (tally?.counts ?? []).map((count) => `${count.event} ${count.rule}:${count.path} ${count.blocked}`).sort();

const good = { type: 'track', event: 'Order Completed', userId: 'u1', messageId: 'm-good', properties: { order_id: 'ord_abcd', currency: 'EUR', products: [{ sku: 'A', price: 3 }] } };
const bad = { type: 'track', event: 'Order Completed', userId: 'u1', messageId: 'm-bad', properties: { order_id: 'ORD-1', products: [{ price: -1 }] } };
const unplanned = { type: 'track', event: 'Coupon Applied', userId: 'u1', messageId: 'm-unplanned', properties: {} };
const v2 = { type: 'track', event: 'Order Completed', userId: 'u1', messageId: 'm-v2', properties: { order_id: 'x', subtotal: 9 }, context: { protocols: { event_version: 2 } } };

describe('tracking plan API', () => {
  it('imports each Segment shape, answers the import report, keeps the version for the same plan and lists versions', async () => {
    const ws = await createTestWorkspace('plans api');
    const first = await putPlan(ws, publicApiFixture);
    expect(first.status).toBe(201);
    expect(first.body.trackingPlan).toMatchObject({ version: 1, sourceFormat: 'public_api', events: importSegmentPlan(publicApiFixture).plan.events.length });
    expect(first.body.import.warnings).toEqual(importSegmentPlan(publicApiFixture).warnings);
    expect(first.body.import.warnings.length).toBeGreaterThan(0);

    const again = await putPlan(ws, publicApiFixture);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ changed: false, trackingPlan: { version: 1, id: first.body.trackingPlan.id } });

    for (const [fixture, format, version] of [[configApiFixture, 'config_api_v7', 2], [typewriterFixture, 'typewriter_v8', 3]] as const) {
      const next = await putPlan(ws, fixture);
      expect(next.status).toBe(200);
      expect(next.body).toMatchObject({ changed: true, trackingPlan: { version, sourceFormat: format, id: first.body.trackingPlan.id } });
      expect(content(next.body.trackingPlan.plan)).toEqual(content(importSegmentPlan(fixture).plan));
    }

    const versions = await (await call('/v1/tracking-plan/versions', { headers: bearer(ws.secretKey) })).json<{ current: number; versions: { version: number; sourceFormat: string; actor: string }[] }>();
    expect(versions.current).toBe(3);
    expect(versions.versions.map((entry) => [entry.version, entry.sourceFormat])).toEqual([[3, 'typewriter_v8'], [2, 'config_api_v7'], [1, 'public_api']]);
    expect(versions.versions[0]?.actor).toBe(`key:${ws.keyIds.secret}`);
    const old = await (await call('/v1/tracking-plan/versions/1', { headers: bearer(ws.secretKey) })).json<{ plan: TrackingPlan }>();
    expect(content(old.plan)).toEqual(content(importSegmentPlan(publicApiFixture).plan));
    expect((await call('/v1/tracking-plan/versions/9', { headers: bearer(ws.secretKey) })).status).toBe(404);
  });

  it('exports both Segment shapes, each importing back to the stored plan', async () => {
    const ws = await createTestWorkspace('plans export');
    const stored = (await putPlan(ws, configApiFixture)).body.trackingPlan.plan;
    for (const format of ['config-api', 'public-api']) {
      const response = await call(`/v1/tracking-plan/export?format=${format}`, { headers: bearer(ws.secretKey) });
      expect(response.status).toBe(200);
      const exported = await response.json();
      expect(importSegmentPlan(exported).format).toBe(format === 'config-api' ? 'config_api_v7' : 'public_api');
      expect(content(importSegmentPlan(exported).plan)).toEqual(content(stored));
    }
    expect((await call('/v1/tracking-plan/export?format=xml', { headers: bearer(ws.secretKey) })).status).toBe(400);
  });

  it('refuses what is not a plan with a 400 and its reasons, needs a secret key, and is reachable for the operator under /admin', async () => {
    const ws = await createTestWorkspace('plans refusals');
    for (const body of [[1, 2], { rules: 'nope' }, { name: 'x', events: [{ name: '' }] }]) {
      const response = await call('/v1/tracking-plan', { method: 'PUT', headers: bearer(ws.secretKey), json: body });
      expect(response.status).toBe(400);
      expect((await response.json<ErrorAnswer>()).error.code).toBe('invalid_plan');
    }
    const notJson = await call('/v1/tracking-plan', { method: 'PUT', headers: bearer(ws.secretKey), body: '{' });
    expect(notJson.status).toBe(400);
    expect((await call('/v1/tracking-plan', { headers: bearer(ws.secretKey) })).status).toBe(404);
    expect((await call('/v1/tracking-plan', { method: 'PUT', headers: bearer(ws.writeKey), json: SHOP_PLAN })).status).toBe(403);
    const viaAdmin = await call(`/admin/workspaces/${ws.workspaceId}/tracking-plan`, { method: 'PUT', headers: OPERATOR, json: SHOP_PLAN });
    expect(viaAdmin.status).toBe(201);
    const shown = await (await call('/v1/tracking-plan', { headers: bearer(ws.secretKey) })).json<PlanAnswer>();
    expect(shown.trackingPlan.name).toBe('Shop');
    const versions = await (await call(`/admin/workspaces/${ws.workspaceId}/tracking-plan/versions`, { headers: OPERATOR })).json<{ versions: { actor: string }[] }>();
    expect(versions.versions[0]?.actor).toBe('operator');
    expect((await call('/v1/tracking-plan', { method: 'DELETE', headers: bearer(ws.secretKey) })).status).toBe(200);
    expect((await call('/v1/tracking-plan', { headers: bearer(ws.secretKey) })).status).toBe(404);
  });
});

describe('tracking plan at the edge', () => {
  it('allow (the default) accepts everything and records what was wrong without flagging', async () => {
    const ws = await createTestWorkspace('edge allow');
    await putPlan(ws, SHOP_PLAN);
    const { answer, events } = await sendBatch(ws, [good, bad, unplanned]);
    expect(answer).toMatchObject({ accepted: 3, rejected: [] });
    const byId = new Map(events.map((event) => [event.messageId, event]));
    expect(byId.get('m-good')?.plan).toBeUndefined();
    expect(byId.get('m-bad')?.plan).toMatchObject({ flagged: false, unplanned: false });
    expect(byId.get('m-unplanned')?.plan).toMatchObject({ flagged: false, unplanned: true, violations: [{ path: 'event', rule: 'unplanned' }] });
  });

  it('flag stores violating events flagged with every reason; the event version picks the rules', async () => {
    const ws = await createTestWorkspace('edge flag');
    await putPlan(ws, SHOP_PLAN);
    await withSettings(ws, { violations: 'flag', unplanned: 'allow' });
    const { answer, events } = await sendBatch(ws, [good, bad, unplanned, v2, { ...v2, messageId: 'm-v2-as-v1', context: {} }]);
    expect(answer).toMatchObject({ accepted: 5, rejected: [] });
    const byId = new Map(events.map((event) => [event.messageId, event]));
    const reasons = byId.get('m-bad')?.plan?.violations.map((violation) => `${violation.rule} ${violation.path}`).sort();
    expect(reasons).toEqual(['minimum properties.products[0].price', 'pattern properties.order_id', 'required properties.currency', 'required properties.products[0].sku']);
    expect(byId.get('m-bad')?.plan?.flagged).toBe(true);
    expect(byId.get('m-unplanned')?.plan?.flagged).toBe(false);
    expect(byId.get('m-v2')?.plan).toBeUndefined();
    // Without event_version the oldest version applies, as in Segment: v1 wants a currency.
    expect(byId.get('m-v2-as-v1')?.plan?.violations.map((violation) => violation.path)).toContain('properties.currency');
  });

  it('block refuses violating and unplanned events with their reasons while valid siblings are accepted', async () => {
    const ws = await createTestWorkspace('edge block');
    await putPlan(ws, SHOP_PLAN);
    await withSettings(ws, { violations: 'block', unplanned: 'block' });
    const { status, answer, events, tallies } = await sendBatch(ws, [good, bad, unplanned, v2]);
    expect(status).toBe(200);
    expect(answer.accepted).toBe(2);
    expect(events.map((event) => event.messageId).sort()).toEqual(['m-good', 'm-v2']);
    expect(answer.rejected.map((rejection) => [rejection.index, rejection.messageId, rejection.code])).toEqual([[1, 'm-bad', 'plan_violation'], [2, 'm-unplanned', 'unplanned_event']]);
    expect(answer.rejected[0]?.violations).toHaveLength(4);
    expect(answer.rejected[0]?.message).toContain('properties.order_id');
    // One tally for the request (not one message per event), with every broken rule of both.
    expect(tallies).toHaveLength(1);
    expect(tallies[0]).toMatchObject({ kind: PLAN_BLOCKED_KIND, workspaceId: ws.workspaceId });
    expect(tallyRows(tallies[0])).toEqual([
      'Coupon Applied unplanned:event 1',
      'Order Completed minimum:properties.products[].price 1',
      'Order Completed pattern:properties.order_id 1',
      'Order Completed required:properties.currency 1',
      'Order Completed required:properties.products[].sku 1',
    ]);

    const single = await callCollect('/v1/track', { headers: basic(ws.writeKey), json: bad });
    expect(single.response.status).toBe(400);
    const body = await single.response.json<ErrorAnswer & { error: { details: { violations: unknown[] } } }>();
    expect(body.error.code).toBe('plan_violation');
    expect(body.error.details.violations).toHaveLength(4);
    expect(single.queue.tallies().map((tally) => tally.counts.length)).toEqual([4]);
  });

  it('answers the request when the tally cannot be sent, and sends none when nothing was blocked or the accepted events were not handed off', async () => {
    const ws = await createTestWorkspace('edge block send');
    await putPlan(ws, SHOP_PLAN);
    await withSettings(ws, { violations: 'block', unplanned: 'block' });
    const refusing = new RecordingQueue();
    refusing.failWith = new Error('queue down');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const onlyBlocked = await callCollect('/v1/batch', { headers: basic(ws.writeKey), json: { batch: [bad] } }, { queue: refusing });
      expect(onlyBlocked.response.status).toBe(400);
      expect(await onlyBlocked.response.json()).toMatchObject({ accepted: 0, rejected: [{ messageId: 'm-bad', code: 'plan_violation' }] });
      expect(errors.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"step":"plan_blocked_tally"'))).toEqual([expect.stringContaining('queue down')]);
    } finally {
      errors.mockRestore();
    }
    // The accepted event could not be queued: 503, the client sends the request again, and the tally goes with that one.
    const eventsRefused = new (class extends RecordingQueue {
      override async sendBatch(messages: Iterable<MessageSendRequest<unknown>>): Promise<void> {
        const list = [...messages];
        if (list.some((message) => message.contentType === 'text')) throw new Error('queue down');
        return super.sendBatch(list);
      }
    })();
    const withSibling = await callCollect('/v1/batch', { headers: basic(ws.writeKey), json: { batch: [good, bad] } }, { queue: eventsRefused });
    expect(withSibling.response.status).toBe(503);
    expect(eventsRefused.tallies()).toEqual([]);
    expect((await sendBatch(ws, [good])).tallies).toEqual([]);
  });

  it('block for violations only still stores unplanned events, and a new plan version applies at once with a zero TTL', async () => {
    const ws = await createTestWorkspace('edge mixed');
    await putPlan(ws, SHOP_PLAN);
    await withSettings(ws, { violations: 'block', unplanned: 'flag' });
    const first = await sendBatch(ws, [unplanned, bad]);
    expect(first.answer.accepted).toBe(1);
    expect(first.events[0]?.plan).toMatchObject({ flagged: true, unplanned: true });
    const withCoupon = { ...SHOP_PLAN, rules: [...SHOP_PLAN.rules, { type: 'TRACK', key: 'Coupon Applied', version: 1, jsonSchema: { properties: { properties: { type: 'object' } } } }] };
    expect((await putPlan(ws, withCoupon)).body.trackingPlan.version).toBe(2);
    const second = await sendBatch(ws, [unplanned]);
    expect(second.events[0]?.plan).toBeUndefined();
  });
});

describe('the tally of blocked events', () => {
  const violation = (rule: string, path: string) => ({ rule, path, message: `${rule} failed` });
  const blockedEvent = (overrides: Partial<CollectedEvent>, ...violations: ReturnType<typeof violation>[]) => collected('ws_tally', { event: 'Order Completed', timestamp: '2026-11-30T23:59:00.000Z', ...overrides, plan: { flagged: false, unplanned: false, violations } });

  it('counts per day, event, rule and path: a rule broken by every array item once per event, a messageId once, another workspace never', async () => {
    const first = blockedEvent({ messageId: 'b-1' }, violation('minimum', 'properties.products[0].price'), violation('minimum', 'properties.products[1].price'), violation('pattern', 'properties.order_id'));
    const second = blockedEvent({ messageId: 'b-2' }, violation('pattern', 'properties.order_id'));
    const nextDay = blockedEvent({ messageId: 'b-3', timestamp: '2026-12-01T00:00:01.000Z' }, violation('pattern', 'properties.order_id'));
    const identify = blockedEvent({ messageId: 'b-4', type: 'identify', event: null }, violation('enum', 'traits.plan'));
    const elsewhere = { ...blockedEvent({ messageId: 'b-5' }, violation('pattern', 'properties.order_id')), workspaceId: 'ws_other' };
    const counted = await tallyBlocked('ws_tally', [first, second, nextDay, identify, first, elsewhere]);
    expect(counted?.omitted).toBe(0);
    expect(counted?.tally.counts.map((count) => `${count.day} ${count.type} ${count.event} ${count.rule}:${count.path} ${count.blocked}`).sort()).toEqual([
      '2026-11-30 identify  enum:traits.plan 1',
      '2026-11-30 track Order Completed minimum:properties.products[].price 1',
      '2026-11-30 track Order Completed pattern:properties.order_id 2',
      '2026-12-01 track Order Completed pattern:properties.order_id 1',
    ]);
  });

  it('has an id made of the blocked messageIds, whatever their order, and is null when nothing was blocked', async () => {
    const a = blockedEvent({ messageId: 'id-a' }, violation('pattern', 'properties.order_id'));
    const b = blockedEvent({ messageId: 'id-b' }, violation('pattern', 'properties.order_id'));
    const forward = await tallyBlocked('ws_tally', [a, b]);
    expect((await tallyBlocked('ws_tally', [b, a]))?.tally.messageId).toBe(forward?.tally.messageId);
    expect((await tallyBlocked('ws_tally', [a]))?.tally.messageId).not.toBe(forward?.tally.messageId);
    expect((await tallyBlocked('ws_other', [{ ...a, workspaceId: 'ws_other' }, { ...b, workspaceId: 'ws_other' }]))?.tally.messageId).not.toBe(forward?.tally.messageId);
    expect(await tallyBlocked('ws_tally', [])).toBeNull();
  });

  it('stays one queue message for a batch of thousands of distinct names, leaving the rarest rows out', async () => {
    const common = Array.from({ length: 5 }, (_, index) => blockedEvent({ messageId: `common-${index}`, event: 'Common' }, violation('pattern', 'properties.order_id')));
    const distinct = Array.from({ length: 2500 }, (_, index) => blockedEvent({ messageId: `n-${index}`, event: `Event ${index} ${'x'.repeat(150)}` }, violation('unplanned', 'event')));
    const counted = await tallyBlocked('ws_tally', [...distinct, ...common]);
    expect(counted?.omitted).toBeGreaterThan(0);
    expect(new TextEncoder().encode(JSON.stringify(counted?.tally)).byteLength).toBeLessThan(MAX_TALLY_BYTES + 1024);
    expect(counted?.tally.counts[0]).toMatchObject({ event: 'Common', blocked: 5 });
  });
});

describe('the consumer storing tallies', () => {
  const countRow = z.object({ type: z.string(), event: z.string(), rule: z.string(), path: z.string(), events: uint64, flagged: uint64, blocked: uint64 });
  const counts = (workspaceId: string) => selectRows(planViolationCountsQuery(workspaceId, '2026-01-01'), countRow);
  const tally = (workspaceId: string, messageId: string, blocked: number): PlanBlockedTally => ({
    kind: PLAN_BLOCKED_KIND,
    workspaceId,
    messageId,
    counts: [{ day: '2026-11-30', type: 'track', event: 'Order Completed', rule: 'pattern', path: 'properties.order_id', blocked }],
  });

  it('adds them to the counts next to the stored violations, once per tally id, alongside the events of the same batch', async () => {
    const workspaceId = `ws_tallies_${crypto.randomUUID().slice(0, 8)}`;
    const flagged = collected(workspaceId, { event: 'Order Completed', timestamp: '2026-11-30T10:00:00.000Z', plan: { flagged: true, unplanned: false, violations: [{ rule: 'pattern', path: 'properties.order_id', message: 'no' }] } });
    const first = await deliver([JSON.stringify(flagged), tally(workspaceId, 'blocked_a', 3)]);
    expect(first.explicitAcks).toHaveLength(2);
    expect(first.retryMessages).toEqual([]);
    // Redelivered (same id): acknowledged, not counted again; another tally of the same key adds up.
    const again = await deliver([tally(workspaceId, 'blocked_a', 3), tally(workspaceId, 'blocked_b', 2), tally(workspaceId, 'blocked_b', 2)], { attempts: 2 });
    expect(again.explicitAcks).toHaveLength(3);
    expect(await counts(workspaceId)).toEqual([{ type: 'track', event: 'Order Completed', rule: 'pattern', path: 'properties.order_id', events: 1, flagged: 1, blocked: 5 }]);
  });

  it('dead-letters a tally that is not one, with its reason', async () => {
    const workspaceId = `ws_tallies_${crypto.randomUUID().slice(0, 8)}`;
    const broken = { ...tally(workspaceId, 'blocked_broken', 1), counts: [{ day: 'yesterday', type: 'track', event: 'x', rule: 'r', path: 'p', blocked: 1 }] };
    const result = await deliver([broken]);
    expect(result.explicitAcks).toHaveLength(1);
    const letters = await env.DB.prepare('SELECT reason FROM dead_letters WHERE workspace_id = ?').bind(workspaceId).all<{ reason: string }>();
    expect(letters.results.map((row) => row.reason)).toEqual([expect.stringContaining('invalid_plan_blocked_tally: counts.0.day')]);
    expect(await counts(workspaceId)).toEqual([]);
  });

  it('retries every tally of the batch when ClickHouse cannot take them', async () => {
    const workspaceId = `ws_tallies_${crypto.randomUUID().slice(0, 8)}`;
    const result = await deliver([tally(workspaceId, 'blocked_down', 1)], { env: { ...env, CLICKHOUSE_URL: 'http://127.0.0.1:9' } });
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(1);
    expect(await counts(workspaceId)).toEqual([]);
  });
});

describe('the per-isolate plan cache', () => {
  /** One module's unit test: a D1 stand-in that answers the plan row, counts reads, or fails. */
  function database(answer: () => unknown): { db: D1Database; reads: () => number } {
    let reads = 0;
    const db = { prepare: () => ({ bind: () => ({ first: async () => { reads++; return answer(); } }) }) } as unknown as D1Database;
    return { db, reads: () => reads };
  }
  const planText = JSON.stringify({ name: 'Cached', events: [] });

  it('reads D1 once per TTL, parses a revision once, and follows a new revision', async () => {
    let row: unknown = { id: 'tp_1', version: 1, plan: planText };
    const { db, reads } = database(() => row);
    const store = new PlanStore();
    const first = await store.current(db, 'ws', 30, 1_000);
    expect(first).toMatchObject({ id: 'tp_1', version: 1, name: 'Cached' });
    expect(await store.current(db, 'ws', 30, 2_000)).toBe(first);
    expect(reads()).toBe(1);
    // Expired, same revision: read again, not parsed again.
    expect(await store.current(db, 'ws', 30, 40_000)).toBe(first);
    expect(reads()).toBe(2);
    row = { id: 'tp_1', version: 2, plan: planText };
    expect(await store.current(db, 'ws', 30, 80_000)).toMatchObject({ version: 2 });
    row = null;
    expect(await store.current(db, 'ws', 30, 120_000)).toBeNull();
  });

  it('keeps applying the plan it holds when D1 fails, and checks nothing for a workspace it never read', async () => {
    let fail = false;
    const { db } = database(() => {
      if (fail) throw new Error('D1 unavailable');
      return { id: 'tp_1', version: 1, plan: planText };
    });
    const store = new PlanStore();
    const held = await store.current(db, 'ws', 0, 1_000);
    fail = true;
    expect(await store.current(db, 'ws', 0, 2_000)).toBe(held);
    expect(await store.current(db, 'ws-never-seen', 0, 2_000)).toBeNull();
  });

  it('does not apply a stored plan no schema reads', async () => {
    const { db } = database(() => ({ id: 'tp_1', version: 1, plan: '{"name":' }));
    expect(await new PlanStore().current(db, 'ws', 30)).toBeNull();
  });
});

describe('flagged plan violations downstream', () => {
  const violations = [{ path: 'properties.order_id', rule: 'pattern', message: 'must match pattern' }];
  function item(plan: CollectedEvent['plan']): PipelineItem {
    const event = collected('ws_downstream', { userId: 'u1', plan });
    return { message: {} as Message<unknown>, event, personId: 'user:u1', row: buildEventRow(event, 'user:u1', Date.now()), outcome: { kind: 'ok' } };
  }

  it('stay out of segments unless the workspace lets them in; recorded-only violations count', () => {
    expect(segmentEventOf(item({ flagged: true, unplanned: false, violations }))).toBeNull();
    expect(segmentEventOf(item({ flagged: true, unplanned: false, violations }), true)).not.toBeNull();
    expect(segmentEventOf(item({ flagged: false, unplanned: true, violations }))).not.toBeNull();
  });

  it('show on the live feed as flagged with the reasons', () => {
    const state = { stored: [item({ flagged: true, unplanned: false, violations }), item({ flagged: false, unplanned: true, violations }), item(undefined)], dropped: [] } as unknown as BatchState;
    expect(feedItemsOf(state).map((entry) => [entry.status, entry.reason, entry.plan?.violations.length ?? 0])).toEqual([['flagged', 'plan_violation', 1], ['stored', null, 1], ['stored', null, 0]]);
  });
});
