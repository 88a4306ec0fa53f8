/**
 * The usage benchmark's events: CollectedEvent-shaped objects (what the edge hands the
 * consumer) turned into `events` rows by the product's own buildEventRow, spread evenly in
 * time from the start of the month until the load, in time order as they would arrive.
 * Deterministic for a spec, and the expected usage is tallied while generating, so every
 * answer of the API can be checked.
 */
import { buildEventRow, type EventRow } from '../../consumers/events/event-row';
import type { CollectedEvent, EventType, JsonObject } from '../../schema/event';

/** Part of the dataset key: change it whenever the generated events change. */
export const GENERATOR_VERSION = 'usage-generator-v1';

export interface DatasetSpec {
  events: number;
  /** Start of the month (UTC). */
  fromMs: number;
  /** When the load started: events are spread over [fromMs, toMs). */
  toMs: number;
  seed: number;
}

/** What GET /v1/usage must answer for the dataset (lib/usage-queries.ts's rules). */
export interface UsageTotals {
  billable: number;
  bots: number;
  other: number;
}

export const BOT_SHARE = 0.04;
const USERS = 20_000;
const TRACK_NAMES = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed', 'Search Performed', 'Signed Up', 'Video Played', 'Button Clicked'];
const PATHS = ['/', '/pricing', '/docs', '/blog/launch', '/products/42', '/checkout', '/account', '/search'];
const BOT_REASONS = ['user_agent:googlebot', 'ua_missing', 'sdk_automation:webdriver', 'user_agent:headlesschrome'];
const BROWSER_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const COUNTRIES = [
  { country: 'DE', region: 'BE', city: 'Berlin' },
  { country: 'FR', region: 'IDF', city: 'Paris' },
  { country: 'US', region: 'CA', city: 'San Francisco' },
  { country: 'NL', region: 'NH', city: 'Amsterdam' },
];

/** mulberry32: small, fast and good enough to spread a synthetic dataset. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick() from an empty list');
  return item;
}

/** Roughly a product's mix: mostly tracks and pages, some identify and group calls. */
function eventType(roll: number): EventType {
  if (roll < 0.62) return 'track';
  if (roll < 0.84) return 'page';
  if (roll < 0.88) return 'screen';
  if (roll < 0.98) return 'identify';
  return 'group';
}

function propertiesFor(type: EventType, path: string, random: () => number): JsonObject {
  if (type === 'track') return { sku: `sku-${Math.floor(random() * 500)}`, price: Math.round(random() * 20_000) / 100, currency: 'EUR', quantity: 1 + Math.floor(random() * 3) };
  if (type === 'page') return { path, url: `https://shop.example${path}`, title: `Shop ${path}` };
  if (type === 'screen') return { name: 'Home', variant: random() < 0.5 ? 'a' : 'b' };
  return {};
}

function traitsFor(type: EventType, user: number): JsonObject {
  if (type === 'identify') return { email: `user${user}@example.com`, plan: user % 5 === 0 ? 'pro' : 'free', createdAt: '2026-01-15T10:00:00.000Z' };
  if (type === 'group') return { name: `Company ${user % 300}`, employees: 10 + (user % 300) };
  return {};
}

export class EventGenerator {
  readonly totals: UsageTotals = { billable: 0, bots: 0, other: 0 };
  private readonly random: () => number;
  private next = 0;

  constructor(
    private readonly spec: DatasetSpec,
    private readonly workspaceId: string,
  ) {
    this.random = randomSource(spec.seed);
  }

  get remaining(): number {
    return this.spec.events - this.next;
  }

  /** The next `count` rows, in time order. */
  rows(count: number): EventRow[] {
    const rows: EventRow[] = [];
    const insertedAtMs = Date.now();
    for (let produced = 0; produced < count && this.next < this.spec.events; produced++) {
      const event = this.event(this.next++);
      this.tally(event);
      rows.push(buildEventRow(event, event.userId ? `user:${event.userId}` : `anonymous:${event.anonymousId ?? ''}`, insertedAtMs));
    }
    return rows;
  }

  private tally(event: CollectedEvent): void {
    if (event.bot.flagged) this.totals.bots++;
    else if (event.type === 'track' || event.type === 'page' || event.type === 'screen') this.totals.billable++;
    else this.totals.other++;
  }

  private event(index: number): CollectedEvent {
    const random = this.random;
    const { fromMs, toMs, events } = this.spec;
    const timestampMs = Math.floor(fromMs + ((index + random()) / events) * (toMs - fromMs));
    const type = eventType(random());
    const user = Math.floor(random() * USERS);
    const identified = type === 'identify' || random() < 0.6;
    const browser = random() < 0.75;
    const bot = random() < BOT_SHARE;
    const path = pick(PATHS, random);
    const page = { url: `https://shop.example${path}`, path, referrer: random() < 0.3 ? 'https://www.google.com/' : '', title: `Shop ${path}` };
    const context: JsonObject = browser
      ? { page, userAgent: BROWSER_UA, locale: 'de-DE', library: { name: 'monfri.js', version: '1.4.0' }, screen: { width: 1512, height: 982 } }
      : { library: { name: 'analytics-node', version: '2.1.0' } };
    const library = browser ? { name: 'monfri.js', version: '1.4.0' } : { name: 'analytics-node', version: '2.1.0' };
    return {
      v: 1,
      workspaceId: this.workspaceId,
      messageId: `usage-${this.spec.seed}-${index}`,
      type,
      event: type === 'track' ? pick(TRACK_NAMES, random) : type === 'page' ? `Shop ${path}` : type === 'screen' ? 'Home' : null,
      userId: identified ? `u${user}` : null,
      anonymousId: `a${user}`,
      groupId: type === 'group' ? `company-${user % 300}` : null,
      previousId: null,
      properties: propertiesFor(type, path, random),
      traits: traitsFor(type, user),
      context,
      integrations: {},
      timestamp: new Date(timestampMs).toISOString(),
      originalTimestamp: new Date(timestampMs - 40).toISOString(),
      sentAt: new Date(timestampMs + 5).toISOString(),
      receivedAt: new Date(timestampMs + 60).toISOString(),
      timestampAdjustment: null,
      source: browser ? 'browser' : 'server',
      ip: browser ? `203.0.113.${user % 250}` : null,
      userAgent: browser ? BROWSER_UA : null,
      geo: browser ? pick(COUNTRIES, random) : null,
      library,
      sessionId: browser ? `s${user}-${Math.floor(timestampMs / 1_800_000)}` : null,
      bot: bot ? { flagged: true, reason: pick(BOT_REASONS, random) } : { flagged: false, reason: null },
    };
  }
}

/** Billable track events for today, inserted between calls while "today is changing". */
export function todayRows(workspaceId: string, runId: string, firstIndex: number, count: number, nowMs: number): EventRow[] {
  return Array.from({ length: count }, (_, offset) => {
    const index = firstIndex + offset;
    const timestamp = new Date(nowMs - (count - offset)).toISOString();
    const event: CollectedEvent = {
      v: 1, workspaceId, messageId: `today-${runId}-${index}`, type: 'track', event: 'Product Viewed', userId: `u${index % USERS}`, anonymousId: `a${index % USERS}`,
      groupId: null, previousId: null, properties: { sku: `sku-${index % 500}`, price: 19.99, currency: 'EUR', quantity: 1 }, traits: {}, context: { library: { name: 'analytics-node', version: '2.1.0' } }, integrations: {},
      timestamp, originalTimestamp: null, sentAt: timestamp, receivedAt: timestamp, timestampAdjustment: null, source: 'server',
      ip: null, userAgent: null, geo: null, library: { name: 'analytics-node', version: '2.1.0' }, sessionId: null, bot: { flagged: false, reason: null },
    };
    return buildEventRow(event, `user:u${index % USERS}`, nowMs);
  });
}
