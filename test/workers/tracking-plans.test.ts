/**
 * Tracking plans in the control plane (PUT/GET/export/versions, /v1 and /admin) and at the
 * edge (allow / flag / block for unplanned events and for violations, per workspace), through
 * the real app against D1.
 */
import { describe, expect, it } from 'vitest';
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
import { PlanStore } from '../../workers/collect/plan-screen';
import { collected } from './pipeline-support';
import { callCollect, type BatchAnswer, type ErrorAnswer } from './collect-support';
import { basic, bearer, call, createTestWorkspace, OPERATOR, type DemoWorkspace } from './support';

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
  return { status: response.status, answer: await response.json<BatchAnswer & { rejected: { violations?: { path: string; rule: string; message: string }[] }[] }>(), events: queue.events() };
}

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
    const { status, answer, events } = await sendBatch(ws, [good, bad, unplanned, v2]);
    expect(status).toBe(200);
    expect(answer.accepted).toBe(2);
    expect(events.map((event) => event.messageId).sort()).toEqual(['m-good', 'm-v2']);
    expect(answer.rejected.map((rejection) => [rejection.index, rejection.messageId, rejection.code])).toEqual([[1, 'm-bad', 'plan_violation'], [2, 'm-unplanned', 'unplanned_event']]);
    expect(answer.rejected[0]?.violations).toHaveLength(4);
    expect(answer.rejected[0]?.message).toContain('properties.order_id');

    const single = await callCollect('/v1/track', { headers: basic(ws.writeKey), json: bad });
    expect(single.response.status).toBe(400);
    const body = await single.response.json<ErrorAnswer & { error: { details: { violations: unknown[] } } }>();
    expect(body.error.code).toBe('plan_violation');
    expect(body.error.details.violations).toHaveLength(4);
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
