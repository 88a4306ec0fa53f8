/**
 * Realistic events for the ClickHouse conformance test, deterministic so every engine stores
 * the same rows: an anonymous visitor who identifies later, a second device of the same user,
 * an alias of an old user id, a refused identity link (conflict), duplicates inside a batch and
 * redelivered across batches (several parts), a bot, nested JSON and unicode properties, every
 * event type, a second workspace, and times from 40 days ago to a few minutes ago.
 */
import type { CollectedEvent, JsonObject } from '../../schema/event';
import { PLAN_BLOCKED_KIND, type PlanBlockedCount, type PlanBlockedTally } from '../../schema/plan-blocked';

export const FIXTURE_NOW = Date.parse('2026-11-30T12:00:00.000Z');
export const WORKSPACE = 'ws_conformance_a';
export const OTHER_WORKSPACE = 'ws_conformance_b';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

type Overrides = Partial<CollectedEvent> & { messageId: string; at: number };

function event({ at, ...overrides }: Overrides): CollectedEvent {
  const timestamp = new Date(at).toISOString();
  return {
    v: 1,
    workspaceId: WORKSPACE,
    type: 'track',
    event: null,
    userId: null,
    anonymousId: null,
    groupId: null,
    previousId: null,
    properties: {},
    traits: {},
    context: {},
    integrations: {},
    timestamp,
    originalTimestamp: timestamp,
    sentAt: new Date(at + 250).toISOString(),
    receivedAt: new Date(at + 300).toISOString(),
    timestampAdjustment: null,
    source: 'browser',
    ip: '203.0.113.9',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    geo: { country: 'DE', region: 'BE', city: 'Berlin' },
    library: { name: 'monfri.js', version: '0.3.0' },
    sessionId: 'sess-1',
    bot: { flagged: false, reason: null },
    ...overrides,
  };
}

const ago = (ms: number): number => FIXTURE_NOW - ms;

const productProperties: JsonObject = {
  sku: 'A-1',
  price: 19.99,
  currency: 'EUR',
  tags: ['shoes', 'trail'],
  nested: { deep: { ok: true, none: null } },
  unicode: 'grüße 😀 مرحبا',
  quote: "it's \"fine\" \\",
};

/** The batches, each delivered to the consumer on its own (so duplicates land in different parts). */
export function fixtureBatches(): CollectedEvent[][] {
  const orderByUser = event({ messageId: 'm-order-u1', at: ago(10 * DAY), type: 'track', event: 'Order Completed', userId: 'u1', properties: { total: 120, currency: 'USD' } });
  const anonymousOrder = event({ messageId: 'm-order-a1', at: ago(20 * DAY), event: 'Order Completed', anonymousId: 'a1', properties: { total: 60, currency: 'EUR' } });
  return [
    [
      event({ messageId: 'm-page-a1', at: ago(35 * DAY + 17), type: 'page', event: 'Pricing', anonymousId: 'a1', properties: { path: '/pricing', title: 'Pricing' }, context: { page: { url: 'https://shop.test/pricing', path: '/pricing', referrer: '', title: 'Pricing' } } }),
      event({ messageId: 'm-view-a1', at: ago(34 * DAY + 123), event: 'Product Viewed', anonymousId: 'a1', properties: productProperties }),
      anonymousOrder,
      // The same message twice in one delivery: the consumer keeps the first.
      { ...anonymousOrder },
      event({ messageId: 'm-order-old', at: ago(15 * DAY), event: 'Order Completed', userId: 'u2-old', properties: { total: 75.5, currency: 'EUR' } }),
      event({ messageId: 'm-view-old', at: ago(41 * DAY), event: 'Product Viewed', anonymousId: 'a-old', properties: { sku: 'B-2', price: 5 } }),
    ],
    [
      event({ messageId: 'm-identify-a1', at: ago(19 * DAY), type: 'identify', anonymousId: 'a1', userId: 'u1', traits: { plan: 'growth', email: 'u1@shop.test', seats: 3 } }),
      orderByUser,
      event({ messageId: 'm-screen-u1', at: ago(9 * DAY), type: 'screen', event: 'Home', userId: 'u1', source: 'server', ip: null, userAgent: null, geo: null }),
      event({ messageId: 'm-group-u1', at: ago(8 * DAY), type: 'group', groupId: 'acme', userId: 'u1', traits: { name: 'Acme', seats: 40 } }),
      event({ messageId: 'm-bot', at: ago(5 * DAY), event: 'Order Completed', anonymousId: 'a-bot', properties: { total: 999 }, userAgent: 'Googlebot/2.1', bot: { flagged: true, reason: 'user_agent:googlebot' } }),
    ],
    [
      // Redelivered: the same messageId again in another insert (another part).
      { ...orderByUser },
      event({ messageId: 'm-alias-u2', at: ago(7 * DAY), type: 'alias', userId: 'u2', previousId: 'u2-old' }),
      event({ messageId: 'm-order-u2', at: ago(6 * DAY + 5), event: 'Order Completed', userId: 'u2', properties: { total: 50, currency: 'EUR', coupon: null } }),
    ],
    [
      event({ messageId: 'm-identify-a3-u3', at: ago(6 * DAY), type: 'identify', anonymousId: 'a3', userId: 'u3', traits: { plan: 'starter' } }),
      // a3 already belongs to u3: this link is refused and kept as a conflict.
      event({ messageId: 'm-identify-a3-u4', at: ago(4 * DAY), type: 'identify', anonymousId: 'a3', userId: 'u4', traits: { plan: 'scale' } }),
      event({ messageId: 'm-view-a2', at: ago(3 * DAY), event: 'Product Viewed', anonymousId: 'a2', properties: { sku: 'A-1', price: 19.99, currency: 'EUR' } }),
      event({ messageId: 'm-identify-a2', at: ago(2 * DAY), type: 'identify', anonymousId: 'a2', userId: 'u1', traits: { plan: 'scale', email: 'u1@shop.test' } }),
      event({ messageId: 'm-other-ws', at: ago(1 * DAY), workspaceId: OTHER_WORKSPACE, event: 'Order Completed', userId: 'u1', properties: { total: 1 } }),
    ],
    [
      event({ messageId: 'm-checkout-1', at: ago(30 * MINUTE), event: 'Checkout Started', userId: 'u1', properties: { step: 1 } }),
      event({ messageId: 'm-checkout-2', at: ago(5 * MINUTE + 999), event: 'Checkout Started', anonymousId: 'a9', properties: { step: 2, 'key.with.dots': 'x', '': 'empty key' } }),
      { ...orderByUser },
    ],
    [
      // Bots of every layer, several reasons on one event, attributed to known persons too.
      event({ messageId: 'm-bot-headless', at: ago(20 * MINUTE), event: 'Order Completed', userId: 'u1', properties: { total: 120, currency: 'EUR' }, bot: { flagged: true, reason: 'sdk_automation:webdriver,headless_ua user_agent:headlesschrome' } }),
      event({ messageId: 'm-bot-rate', at: ago(12 * DAY), event: 'Product Viewed', anonymousId: 'a1', properties: { currency: 'EUR' }, bot: { flagged: true, reason: 'ip_rate' } }),
      event({ messageId: 'm-bot-burst', at: ago(3 * DAY), type: 'page', event: 'Pricing', userId: 'u2', bot: { flagged: true, reason: 'burst:1s ip_rate' } }),
      event({ messageId: 'm-bot-noua', at: ago(25 * DAY), event: 'Order Completed', anonymousId: 'a-noua', properties: { total: 60, currency: 'EUR', 'key.with.dots': 'x', '': 'empty key' }, userAgent: null, bot: { flagged: true, reason: 'ua_missing' } }),
    ],
    [
      // Tracking plan verdicts: flagged violations (one rule broken by two array items), an unplanned event recorded only, a type change and a dynamic key.
      event({
        messageId: 'm-plan-flagged',
        at: ago(2 * DAY + 77),
        event: 'Order Completed',
        userId: 'u2',
        properties: { total: '50', currency: 'EUR', items: [{ sku: 'A-1', qty: 0 }, { sku: 'B-2', qty: -1 }], sessions: { '2b7e1516-28ae-4d2a-a6d2-3f1c2b4d5e6f': 3 } },
        plan: {
          flagged: true,
          unplanned: false,
          violations: [
            { path: 'properties.total', rule: 'type', message: 'must be number' },
            { path: 'properties.items[0].qty', rule: 'minimum', message: 'must be >= 1' },
            { path: 'properties.items[1].qty', rule: 'minimum', message: 'must be >= 1' },
          ],
        },
      }),
      event({ messageId: 'm-plan-unplanned', at: ago(1 * DAY + 5), event: 'Coupon Applied', anonymousId: 'a9', properties: { code: 'WINTER' }, plan: { flagged: false, unplanned: true, violations: [{ path: 'event', rule: 'unplanned', message: 'not in the plan' }] } }),
    ],
  ];
}

const day = (at: number): string => new Date(at).toISOString().slice(0, 10);

function tally(workspaceId: string, messageId: string, counts: PlanBlockedCount[]): PlanBlockedTally {
  return { kind: PLAN_BLOCKED_KIND, workspaceId, messageId, counts };
}

/**
 * Tallies of events the plan blocked at the edge, each list delivered on its own (several
 * parts): keys that meet the flagged violations above, an event only ever blocked, identify,
 * days inside and outside the query windows, a second workspace, and a tally delivered twice
 * in one batch (stored once).
 */
export function fixturePlanBlockedTallies(): PlanBlockedTally[][] {
  const first = tally(WORKSPACE, 'blocked_1', [
    { day: day(ago(2 * DAY)), type: 'track', event: 'Order Completed', rule: 'type', path: 'properties.total', blocked: 2 },
    { day: day(ago(2 * DAY)), type: 'track', event: 'Order Completed', rule: 'minimum', path: 'properties.items[].qty', blocked: 1 },
    { day: day(ago(1 * DAY)), type: 'track', event: 'Coupon Applied', rule: 'unplanned', path: 'event', blocked: 3 },
    { day: day(ago(1 * DAY)), type: 'identify', event: '', rule: 'enum', path: 'traits.plan', blocked: 1 },
  ]);
  return [
    [first, first],
    [
      tally(WORKSPACE, 'blocked_2', [
        { day: day(ago(0)), type: 'track', event: 'Order Completed', rule: 'type', path: 'properties.total', blocked: 1 },
        { day: day(ago(35 * DAY)), type: 'track', event: 'Wishlist Shared', rule: 'unplanned', path: 'event', blocked: 4 },
      ]),
      tally(OTHER_WORKSPACE, 'blocked_3', [{ day: day(ago(1 * DAY)), type: 'track', event: 'Order Completed', rule: 'required', path: 'properties.currency', blocked: 7 }]),
    ],
  ];
}

/** Instants the query cases filter on. */
export const FIXTURE_TIMES = {
  now: FIXTURE_NOW,
  thirtyDaysAgo: FIXTURE_NOW - 30 * DAY,
  oneDayAgo: FIXTURE_NOW - DAY,
  oneHourAgo: FIXTURE_NOW - 60 * MINUTE,
  fortyFiveDaysAgo: FIXTURE_NOW - 45 * DAY,
} as const;
