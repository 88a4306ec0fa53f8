/**
 * The incremental segment engine alone (lib/segments/engine.ts): windows on event time with
 * late and out-of-order events, counts at least / at most / exactly, "did not do" by time,
 * traits latest-wins, computed traits, identity merges, what is offered and what is refused.
 * The same semantics are checked against ClickHouse's recomputation in test/workers/segments.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, compileSegment, definitionProblems, emptyState, isMember, mergeStates, nextChangeAt, offers, type PersonState } from '../../lib/segments/engine';
import { routeBatch, splitWork, MAX_WORK_MESSAGE_BYTES, type SegmentWork } from '../../lib/segments/routing';
import { shardOf } from '../../lib/segments/shards';
import { conditionSchema, segmentInputSchema, type ActiveSegment, type ComputedTraitDefinition, type Condition, type ConditionInput, type SegmentEvent } from '../../schema/segments';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1, 12);

function segment(condition: ConditionInput, computedTraits: ComputedTraitDefinition[] = [], shards = 1): ActiveSegment {
  return { id: 'seg_test', name: 'Test', version: 1, shards, condition: conditionSchema.parse(condition), computedTraits };
}

let sequence = 0;
function event(overrides: Partial<SegmentEvent> & { at: number }): SegmentEvent {
  sequence++;
  return { messageId: `m${String(sequence).padStart(4, '0')}`, personId: 'user:1', type: 'track', event: 'Order Completed', sessionId: null, properties: {}, traits: {}, ...overrides };
}

function run(definition: ActiveSegment, events: SegmentEvent[], now = NOW, start: PersonState = emptyState()): PersonState {
  const compiled = compileSegment(definition);
  return events.reduce((state, next) => applyEvent(compiled, state, next, now), start);
}

const bigOrders = segment({ type: 'performed', event: 'Order Completed', where: [{ property: 'total', op: 'gt', value: 50 }], count: { op: 'at_least', value: 3 }, withinDays: 30 });

describe('performed N times within a window', () => {
  it('counts matching events inside the window only, whatever order they arrive in', () => {
    const compiled = compileSegment(bigOrders);
    const events = [event({ at: NOW - 2 * DAY, properties: { total: 60 } }), event({ at: NOW - 40 * DAY, properties: { total: 90 } }), event({ at: NOW - 1 * DAY, properties: { total: 10 } }), event({ at: NOW - 5 * DAY, properties: { total: '70' } })];
    const twoInWindow = run(bigOrders, events);
    expect(isMember(compiled, twoInWindow, NOW)).toBe(false);
    // A late event from inside the window (older than the others) still counts.
    const withLate = run(bigOrders, [event({ at: NOW - 29 * DAY, properties: { total: 51 } })], NOW, twoInWindow);
    expect(isMember(compiled, withLate, NOW)).toBe(true);
    // The window moves: once the oldest falls out, membership ends at exactly that instant.
    const exitAt = nextChangeAt(compiled, withLate, NOW);
    expect(exitAt).toBe(NOW - 29 * DAY + 30 * DAY);
    expect(isMember(compiled, withLate, (exitAt ?? 0) - 1)).toBe(true);
    expect(isMember(compiled, withLate, exitAt ?? 0)).toBe(false);
  });

  it('tells at most and exactly apart from at least (it keeps one more event than the count)', () => {
    const exactly = segment({ type: 'performed', event: 'Order Completed', count: { op: 'exactly', value: 2 }, withinDays: 7 });
    const atMost = segment({ type: 'performed', event: 'Order Completed', count: { op: 'at_most', value: 1 }, withinDays: 7 });
    const three = [event({ at: NOW - DAY }), event({ at: NOW - 2 * DAY }), event({ at: NOW - 3 * DAY })];
    expect(isMember(compileSegment(exactly), run(exactly, three.slice(0, 2)), NOW)).toBe(true);
    expect(isMember(compileSegment(exactly), run(exactly, three), NOW)).toBe(false);
    expect(isMember(compileSegment(atMost), run(atMost, three.slice(0, 1)), NOW)).toBe(true);
    expect(isMember(compileSegment(atMost), run(atMost, three), NOW)).toBe(false);
    // Having done nothing matching is "at most 1" too: such a definition needs every event offered.
    expect(compileSegment(atMost).needsAllEvents).toBe(true);
    expect(isMember(compileSegment(atMost), run(atMost, [event({ at: NOW, event: 'Page Viewed' })]), NOW)).toBe(true);
  });

  it('compares property values as text, numbers parsed from it; null and missing never match', () => {
    const filters = segment({
      type: 'all',
      conditions: [
        { type: 'performed', event: 'Signup', where: [{ property: 'plan', op: 'in', value: ['pro', 'team'] }] },
        { type: 'performed', event: 'Signup', where: [{ property: 'seats', op: 'gte', value: 5 }] },
        { type: 'performed', event: 'Signup', where: [{ property: 'coupon', op: 'exists' }] },
      ],
    });
    const compiled = compileSegment(filters);
    expect(isMember(compiled, run(filters, [event({ at: NOW, event: 'Signup', properties: { plan: 'pro', seats: '5', coupon: 'X' } })]), NOW)).toBe(true);
    expect(isMember(compiled, run(filters, [event({ at: NOW, event: 'Signup', properties: { plan: 'pro', seats: 'five', coupon: 'X' } })]), NOW)).toBe(false);
    expect(isMember(compiled, run(filters, [event({ at: NOW, event: 'Signup', properties: { plan: 'pro', seats: 9, coupon: null } })]), NOW)).toBe(false);
    // ClickHouse keeps the string "null" and null as the same text: both absent, so recomputation agrees.
    expect(isMember(compiled, run(filters, [event({ at: NOW, event: 'Signup', properties: { plan: 'pro', seats: 9, coupon: 'null' } })]), NOW)).toBe(false);
  });
});

describe('did not perform, traits and computed traits', () => {
  it('"did not order within 7 days" becomes true by time alone, at the instant the last order is 7 days old', () => {
    const lapsed = segment({ type: 'all', conditions: [{ type: 'performed', event: 'Signup' }, { type: 'not_performed', event: 'Order Completed', withinDays: 7 }] });
    const compiled = compileSegment(lapsed);
    const state = run(lapsed, [event({ at: NOW - 10 * DAY, event: 'Signup' }), event({ at: NOW - 2 * DAY })]);
    expect(isMember(compiled, state, NOW)).toBe(false);
    const due = nextChangeAt(compiled, state, NOW);
    expect(due).toBe(NOW + 5 * DAY);
    expect(isMember(compiled, state, due ?? 0)).toBe(true);
  });

  it('keeps the latest identify trait by event time: an older identify arriving late never overwrites', () => {
    const growth = segment({ type: 'trait', trait: 'plan', op: 'eq', value: 'growth' });
    const compiled = compileSegment(growth);
    const newer = event({ at: NOW - DAY, type: 'identify', event: null, traits: { plan: 'growth' } });
    const older = event({ at: NOW - 5 * DAY, type: 'identify', event: null, traits: { plan: 'starter' } });
    expect(isMember(compiled, run(growth, [newer, older]), NOW)).toBe(true);
    expect(isMember(compiled, run(growth, [older, newer]), NOW)).toBe(true);
    expect(offers(compiled, { type: 'identify', event: null, traitKeys: ['plan'] })).toBe(true);
    expect(offers(compiled, { type: 'identify', event: null, traitKeys: ['email'] })).toBe(false);
    expect(offers(compiled, { type: 'track', event: 'Order Completed', traitKeys: [] })).toBe(false);
  });

  it('computes built-in and defined traits: revenue in 30 days, event and session counts, last seen', () => {
    const revenue: ComputedTraitDefinition = { name: 'revenue_30d', kind: 'sum', event: 'Order Completed', property: 'total', withinDays: 30 };
    const definition = segment(
      {
        type: 'all',
        conditions: [
          { type: 'computed', trait: 'revenue_30d', op: 'gte', value: 100 },
          { type: 'computed', trait: 'session_count', op: 'gte', value: 2 },
          { type: 'computed', trait: 'last_seen', op: 'within_days', value: 7 },
        ],
      },
      [revenue],
    );
    const compiled = compileSegment(definition);
    const state = run(definition, [event({ at: NOW - 40 * DAY, properties: { total: 500 }, sessionId: 's1' }), event({ at: NOW - 3 * DAY, properties: { total: 60 }, sessionId: 's1' }), event({ at: NOW - 2 * DAY, properties: { total: 45.5 }, sessionId: 's2' })]);
    expect(isMember(compiled, state, NOW)).toBe(true);
    // 105.5 until the 60 leaves the window, then 45.5.
    expect(isMember(compiled, state, NOW - 3 * DAY + 30 * DAY)).toBe(false);
    // last_seen (2 days ago) stops being "within 7 days" first.
    expect(nextChangeAt(compiled, state, NOW)).toBe(NOW - 2 * DAY + 7 * DAY);
  });
});

describe('identity merges', () => {
  it('merges an anonymous visitor into the user: two anonymous orders and one as the user make three', () => {
    const compiled = compileSegment(bigOrders);
    const anonymous = run(bigOrders, [event({ at: NOW - 3 * DAY, personId: 'anonymous:a', properties: { total: 80 } }), event({ at: NOW - 2 * DAY, personId: 'anonymous:a', properties: { total: 90 } })]);
    const user = run(bigOrders, [event({ at: NOW - DAY, properties: { total: 100 } })]);
    expect(isMember(compiled, anonymous, NOW) || isMember(compiled, user, NOW)).toBe(false);
    const merged = mergeStates(compiled, user, anonymous, NOW);
    expect(isMember(compiled, merged, NOW)).toBe(true);
    // The same event merged twice (both states saw it) still counts once.
    const shared = event({ at: NOW - DAY, properties: { total: 70 } });
    const twice = mergeStates(compiled, run(bigOrders, [shared]), run(bigOrders, [shared]), NOW);
    expect(twice.lists.l0).toHaveLength(1);
  });
});

describe('definitions', () => {
  it('refuses what cannot be evaluated incrementally, saying where', () => {
    expect(definitionProblems(conditionSchema.parse({ type: 'computed', trait: 'lifetime_value', op: 'gt', value: 1 }), [])).toEqual(['condition 1 (lifetime_value): no computed trait named lifetime_value']);
    expect(definitionProblems(conditionSchema.parse({ type: 'computed', trait: 'last_seen', op: 'gt', value: 1 }), [])[0]).toMatch(/within_days/);
    expect(definitionProblems(conditionSchema.parse({ type: 'computed', trait: 'event_count', op: 'within_days', value: 3 }), [])[0]).toMatch(/only applies to first_seen and last_seen/);
    const deep: ConditionInput = { type: 'all', conditions: [{ type: 'any', conditions: [{ type: 'all', conditions: [{ type: 'any', conditions: [{ type: 'performed', event: 'X', where: [], count: { op: 'at_least', value: 1 } }] }] }] }] };
    expect(definitionProblems(conditionSchema.parse(deep), [])).toEqual(['conditions nest deeper than 4 levels']);
    expect(definitionProblems(bigOrders.condition, [])).toEqual([]);
  });

  it('refuses unknown keys instead of ignoring them (a typo must not silently widen a segment)', () => {
    const typo = segmentInputSchema.safeParse({ name: 'x', condition: { type: 'performed', event: 'Order Completed', withinDay: 30 } });
    expect(typo.success).toBe(false);
    expect(JSON.stringify(typo.error?.issues)).toContain('withinDay');
    expect(segmentInputSchema.safeParse({ name: 'x', condition: { type: 'performed', event: 'A', where: [{ property: 'n', op: 'gt', value: 'ten' }] } }).success).toBe(false);
  });
});

describe('routing a batch', () => {
  it('offers each event only to the segments it can move and merges to every segment, per shard', () => {
    const orders = { ...bigOrders, id: 'seg_orders', shards: 4 };
    const plans = segment({ type: 'trait', trait: 'plan', op: 'eq', value: 'growth' });
    const events = [event({ at: NOW, personId: 'user:1', properties: { total: 80 } }), event({ at: NOW, personId: 'user:2', event: 'Page Viewed' }), event({ at: NOW, personId: 'user:3', type: 'identify', event: null, traits: { plan: 'growth' } })];
    const shares = routeBatch([orders, { ...plans, id: 'seg_plans' }], events, [{ from: 'anonymous:a', to: 'user:1' }]);
    const ordersShare = shares.find((share) => share.segment.id === 'seg_orders');
    const plansShare = shares.find((share) => share.segment.id === 'seg_plans');
    expect([...(ordersShare?.shards.values() ?? [])].flatMap((share) => share.events.map((entry) => entry.personId))).toEqual(['user:1']);
    expect(ordersShare?.shards.get(shardOf('user:1', 4))?.events).toHaveLength(1);
    expect([...(plansShare?.shards.values() ?? [])].flatMap((share) => share.events.map((entry) => entry.personId))).toEqual(['user:3']);
    const crossShard = shardOf('anonymous:a', 4) !== shardOf('user:1', 4);
    expect(ordersShare?.moves.length).toBe(crossShard ? 1 : 0);
    expect(plansShare?.shards.get(0)?.merges).toEqual([{ from: 'anonymous:a', to: 'user:1' }]);
  });

  it('splits retry work under the queue message limit without losing or repeating anything', () => {
    const many = Array.from({ length: 400 }, (_, index) => event({ at: NOW - index, properties: { note: 'x'.repeat(500) } }));
    const work: SegmentWork = { kind: 'workspace', workspaceId: 'ws', events: many, merges: [{ from: 'anonymous:a', to: 'user:1' }] };
    const { messages, tooLarge } = splitWork(work);
    expect(messages.length).toBeGreaterThan(1);
    expect(tooLarge).toEqual([]);
    for (const message of messages) expect(new TextEncoder().encode(JSON.stringify(message)).byteLength).toBeLessThanOrEqual(MAX_WORK_MESSAGE_BYTES);
    expect(messages.flatMap((message) => message.events.map((entry) => entry.messageId))).toEqual(many.map((entry) => entry.messageId));
    expect(messages.flatMap((message) => message.merges)).toEqual(work.merges);
    const huge = splitWork({ ...work, events: [event({ at: NOW, properties: { blob: 'y'.repeat(MAX_WORK_MESSAGE_BYTES) } })] });
    expect(huge.tooLarge).toHaveLength(1);
  });
});
