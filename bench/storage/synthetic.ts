/**
 * Seeded synthetic event data for the storage benchmark: the same bytes for PostgreSQL and
 * ClickHouse, reproducible from (seed, size). Rows are built with the product's own
 * `buildEventRow` from CollectedEvent-shaped objects, so ClickHouse holds our real table.
 *
 * Shape: Zipf-distributed users (sessions per user) and event names, sessions of a few
 * events with a funnel (Product Viewed -> Product Added -> Order Completed) more likely
 * than chance, a daily and weekly rhythm over DAYS days, typed properties (strings,
 * numbers, booleans, nested objects, arrays), and users who start anonymous and are
 * identified at their k-th session (an `identify` event links anonymous id -> user).
 * Events come out in time order (as a live stream arrives), one day at a time, in chunks.
 */
import { buildEventRow, type EventRow } from '../../consumers/events/event-row';
import type { CollectedEvent, JsonObject } from '../../schema/event';

/** Bump when the generated data changes: loaded data with another version is reloaded. */
export const GENERATOR_VERSION = 1;

const DAY_MS = 86_400_000;
const DAYS = 42;
/** Fixed end of the data, so "the last 30 days" are the same days on every run. */
const END_MS = Date.UTC(2026, 5, 1);
const EVENTS_PER_USER = 10;
const USER_ZIPF_EXPONENT = 0.9;
const EVENT_ZIPF_EXPONENT = 1.1;
const IDENTIFIED_SHARE = 0.6;
const MEAN_EXTRA_SESSION_EVENTS = 4;
const MEAN_EVENT_GAP_MS = 40_000;
/** Link ranks fall as link time grows (as consumers/events/steps/insert-batch.ts writes them). */
const LINK_RANK_BASE = 2 ** 52;

export const FUNNEL_STEPS = ['Product Viewed', 'Product Added', 'Order Completed'] as const;
/** Chance that the next event of a session is the next funnel step. */
const FUNNEL_ADVANCE: readonly number[] = [0.3, 0.35];

/** ~40 names, most common first (Zipf by position). */
const EVENT_NAMES = [
  'Page Viewed', 'Product Viewed', 'Button Clicked', 'Search Performed', 'Product List Viewed', 'Product Added',
  'Cart Viewed', 'Signed In', 'Link Clicked', 'Form Submitted', 'Video Played', 'Checkout Started',
  'Product Removed', 'Filter Applied', 'Order Completed', 'Notification Opened', 'Feature Used', 'Settings Updated',
  'Item Shared', 'Comment Posted', 'File Uploaded', 'Report Exported', 'Invite Sent', 'Payment Info Entered',
  'Coupon Applied', 'Wishlist Added', 'Review Submitted', 'Plan Viewed', 'Trial Started', 'Subscription Upgraded',
  'Signed Out', 'Password Reset', 'Onboarding Step Completed', 'Dashboard Viewed', 'Integration Connected',
  'Webhook Created', 'API Key Created', 'Team Member Added', 'Subscription Cancelled', 'Account Deleted',
] as const;

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
] as const;

const PLACES = [
  ['DE', 'BE', 'Berlin'], ['DE', 'BY', 'Munich'], ['FR', 'IDF', 'Paris'], ['NL', 'NH', 'Amsterdam'], ['GB', 'ENG', 'London'],
  ['US', 'CA', 'San Francisco'], ['US', 'NY', 'New York'], ['ES', 'MD', 'Madrid'], ['IT', 'LM', 'Milan'], ['PL', 'MZ', 'Warsaw'],
  ['SE', 'AB', 'Stockholm'], ['BR', 'SP', 'Sao Paulo'],
] as const;

const PLANS = ['free', 'starter', 'growth', 'scale'] as const;
const CATEGORIES = ['shoes', 'shirts', 'bags', 'watches', 'books', 'games', 'garden', 'kitchen'] as const;
const PATHS = ['/', '/pricing', '/docs', '/blog', '/products', '/cart', '/checkout', '/account', '/search', '/features'] as const;

/** Relative traffic per UTC hour: quiet nights, a European/US afternoon peak. */
const HOUR_WEIGHTS = [2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 6, 7, 7.5, 8, 8, 8.5, 9, 9.5, 9.5, 9, 8, 7, 6, 5, 4, 3] as const;

export interface DatasetSpec {
  seed: number;
  events: number;
  users: number;
  days: number;
  startMs: number;
  endMs: number;
  workspaceId: string;
}

export function datasetSpec(events: number, seed: number): DatasetSpec {
  return { seed, events, users: Math.max(100, Math.round(events / EVENTS_PER_USER)), days: DAYS, startMs: END_MS - DAYS * DAY_MS, endMs: END_MS, workspaceId: 'ws_bench_storage' };
}

/** Identifies the loaded data: a different key means a reload. */
export function datasetKey(spec: DatasetSpec): string {
  return `generator-v${GENERATOR_VERSION} seed=${spec.seed} events=${spec.events} users=${spec.users} days=${spec.days} end=${new Date(spec.endMs).toISOString()}`;
}

/** The identity-map row of an anonymous id linked by an identify event (schema/clickhouse/002_identities.sql). */
export interface IdentityRow {
  workspace_id: string;
  identity_key: string;
  person_id: string;
  source: string;
  message_id: string;
  linked_at_ms: number;
  link_rank: number;
}

export interface DataChunk {
  events: EventRow[];
  identities: IdentityRow[];
}

/** Who a person is, as the product's events-by-person query takes it (lib/event-queries PersonMatch). */
export interface PersonRef {
  personIds: string[];
  userIds: string[];
  anonymousIds: string[];
  /** Every person_id value the person's events carry (its user key and its anonymous key). */
  storedPersonIds: string[];
}

/** sfc32: fast, seedable, good enough for synthetic data. */
export function createRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** A 32-bit mix of a few integers: per-user attributes without per-user state. */
function hash32(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

function unitOf(...parts: number[]): number {
  return hash32(...parts) / 4294967296;
}

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0');
}

/** A UUID-shaped id (version 4 layout) from four 32-bit words. */
function uuidFrom(w0: number, w1: number, w2: number, w3: number): string {
  const h = hex8(w0) + hex8(w1) + hex8(w2) + hex8(w3);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[w2 >>> 30]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function randomUuid(random: () => number): string {
  const word = (): number => Math.floor(random() * 4294967296);
  return uuidFrom(word(), word(), word(), word());
}

/** Inverse-CDF sampler of ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^exponent. */
export function zipfSampler(n: number, exponent: number): (random: () => number) => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** exponent;
    cdf[k] = total;
  }
  return (random) => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cdf[middle] ?? total) < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

function pick<T>(items: readonly T[], random: () => number): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function exponential(mean: number, random: () => number): number {
  return -Math.log(1 - random()) * mean;
}

/** Per-user facts derived from (seed, rank): stable without storing them. */
interface UserFacts {
  userId: string;
  anonymousId: string;
  identified: boolean;
  /** The session (1-based) that starts with the identify call. */
  identifySession: number;
  userAgent: string;
  place: readonly [string, string, string];
  ip: string;
  plan: (typeof PLANS)[number];
}

function userFacts(seed: number, rank: number): UserFacts {
  const place = PLACES[hash32(seed, rank, 5) % PLACES.length] ?? PLACES[0];
  const ipWord = hash32(seed, rank, 7);
  return {
    userId: `u_${hex8(hash32(seed, rank, 1))}${rank.toString(36)}`,
    anonymousId: uuidFrom(hash32(seed, rank, 2), hash32(seed, rank, 3), hash32(seed, rank, 4), hash32(seed, rank, 9)),
    identified: unitOf(seed, rank, 10) < IDENTIFIED_SHARE,
    identifySession: 1 + Math.floor(unitOf(seed, rank, 11) * 4),
    userAgent: USER_AGENTS[hash32(seed, rank, 6) % USER_AGENTS.length] ?? USER_AGENTS[0],
    place,
    ip: `${(ipWord >>> 24) % 223 + 1}.${(ipWord >>> 16) & 255}.${(ipWord >>> 8) & 255}.${(ipWord & 253) + 1}`,
    plan: PLANS[hash32(seed, rank, 8) % PLANS.length] ?? 'free',
  };
}

export function personRefOf(facts: Pick<UserFacts, 'userId' | 'anonymousId'>): PersonRef {
  const person = `user:${facts.userId}`;
  return { personIds: [person], userIds: [facts.userId], anonymousIds: [facts.anonymousId], storedPersonIds: [person, `anonymous:${facts.anonymousId}`] };
}

/**
 * A typical identified user for the "one user's events" query: the first one at or below
 * rank `fromRank` (a mid-activity user, tens of events), identified at an early session.
 */
export function typicalUser(spec: DatasetSpec, fromRank = 1000): PersonRef {
  for (let rank = Math.min(fromRank, spec.users - 1); rank < spec.users; rank++) {
    const facts = userFacts(spec.seed, rank);
    if (facts.identified && facts.identifySession === 1) return personRefOf(facts);
  }
  throw new Error('no identified user in the dataset');
}

/** One event before it is expanded into a CollectedEvent (compact: a day can hold 250k of them). */
interface PlannedEvent {
  rank: number;
  timeMs: number;
  /** Index into EVENT_NAMES, or -1 for the identify call. */
  name: number;
  session: number;
  carriesUserId: boolean;
}

interface PlannedSession {
  rank: number;
  startMs: number;
  length: number;
}

const FUNNEL_INDEXES = FUNNEL_STEPS.map((step) => EVENT_NAMES.indexOf(step));

function nextEventName(previous: number, random: () => number, sampleName: (random: () => number) => number): number {
  const step = FUNNEL_INDEXES.indexOf(previous);
  const advance = step >= 0 ? FUNNEL_ADVANCE[step] : undefined;
  if (advance !== undefined && random() < advance) return FUNNEL_INDEXES[step + 1] ?? sampleName(random);
  return sampleName(random);
}

function sampleHourStart(random: () => number): number {
  const total = HOUR_WEIGHTS.reduce((sum, weight) => sum + weight, 0);
  let target = random() * total;
  for (let hour = 0; hour < HOUR_WEIGHTS.length; hour++) {
    target -= HOUR_WEIGHTS[hour] ?? 0;
    if (target <= 0) return hour;
  }
  return HOUR_WEIGHTS.length - 1;
}

/** Events per day: weekends quieter, slow growth; sums to exactly `events`. */
function dailyQuotas(spec: DatasetSpec): number[] {
  const weights = Array.from({ length: spec.days }, (_, day) => {
    const weekday = new Date(spec.startMs + day * DAY_MS).getUTCDay();
    return (weekday === 0 || weekday === 6 ? 0.65 : 1) * (1 + 0.01 * day);
  });
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const quotas = weights.map((weight) => Math.floor((spec.events * weight) / total));
  quotas[quotas.length - 1] = (quotas.at(-1) ?? 0) + spec.events - quotas.reduce((sum, quota) => sum + quota, 0);
  return quotas;
}

function price(random: () => number): number {
  return Math.round((5 + exponential(40, random)) * 100) / 100;
}

/** Typed properties per event kind: strings, numbers, booleans, nested objects and arrays. */
function propertiesFor(name: string, path: string, random: () => number, facts: UserFacts): JsonObject {
  const productId = `p_${Math.floor(random() ** 2 * 5000)}`;
  switch (name) {
    case 'Page Viewed':
      return { path, title: `Monfri ${path}`, referrer: random() < 0.3 ? 'https://www.google.com/' : '', duration_ms: Math.round(exponential(20_000, random)) };
    case 'Product Viewed':
    case 'Product Added':
    case 'Product Removed':
      return {
        product_id: productId,
        sku: `SKU-${productId.slice(2)}`,
        category: pick(CATEGORIES, random),
        price: price(random),
        currency: 'EUR',
        quantity: 1 + Math.floor(exponential(0.6, random)),
        item: { brand: `brand_${Math.floor(random() * 60)}`, variant: pick(['red', 'blue', 'black', 'white'], random), tags: ['new', 'sale', 'eco'].filter(() => random() < 0.4) },
      };
    case 'Order Completed': {
      const items = 1 + Math.floor(exponential(1, random));
      const products = Array.from({ length: items }, () => ({ product_id: `p_${Math.floor(random() ** 2 * 5000)}`, price: price(random), quantity: 1 + Math.floor(exponential(0.5, random)) }));
      return {
        order_id: `o_${hex8(Math.floor(random() * 4294967296))}`,
        revenue: Math.round(products.reduce((sum, product) => sum + product.price * product.quantity, 0) * 100) / 100,
        currency: 'EUR',
        coupon: random() < 0.2 ? 'WELCOME10' : null,
        products,
      };
    }
    case 'Search Performed':
      return { query: pick(['shoes', 'red bag', 'watch', 'pricing', 'api', 'export csv', 'gift'], random), results: Math.floor(exponential(30, random)), filters: { in_stock: random() < 0.5 } };
    default:
      return { plan: facts.plan, feature: `feature_${Math.floor(random() * 25)}`, value: Math.round(random() * 1000) / 10, beta: random() < 0.1, meta: { origin: pick(['web', 'mobile', 'api'], random), version: 1 + Math.floor(random() * 3) } };
  }
}

function collectedEvent(spec: DatasetSpec, planned: PlannedEvent, facts: UserFacts, random: () => number, workspaceId: string): CollectedEvent {
  const identify = planned.name < 0;
  const name = identify ? null : (EVENT_NAMES[planned.name] ?? 'Page Viewed');
  const path = pick(PATHS, random);
  const server = name === 'Order Completed' || name === 'Subscription Upgraded';
  const iso = (offsetMs: number): string => new Date(planned.timeMs + offsetMs).toISOString();
  return {
    v: 1,
    workspaceId,
    messageId: randomUuid(random),
    type: identify ? 'identify' : 'track',
    event: name,
    userId: planned.carriesUserId ? facts.userId : null,
    anonymousId: facts.anonymousId,
    groupId: null,
    previousId: null,
    properties: name === null ? {} : propertiesFor(name, path, random, facts),
    traits: identify ? { email: `${facts.userId}@example.com`, plan: facts.plan, name: `User ${facts.userId.slice(2, 8)}`, created_at: iso(-DAY_MS) } : {},
    context: server
      ? { library: { name: 'monfri-node', version: '2.1.0' } }
      : {
          library: { name: 'monfri.js', version: '1.4.2' },
          page: { path, url: `https://shop.example.com${path}`, title: `Monfri ${path}`, referrer: '', search: '' },
          userAgent: facts.userAgent,
          locale: 'en-US',
          timezone: 'Europe/Berlin',
          screen: { width: 1440, height: 900 },
        },
    integrations: {},
    timestamp: iso(0),
    originalTimestamp: iso(0),
    sentAt: iso(180),
    receivedAt: iso(230),
    timestampAdjustment: null,
    source: server ? 'server' : 'browser',
    ip: facts.ip,
    userAgent: server ? null : facts.userAgent,
    geo: { country: facts.place[0], region: facts.place[1], city: facts.place[2] },
    library: server ? { name: 'monfri-node', version: '2.1.0' } : { name: 'monfri.js', version: '1.4.2' },
    sessionId: `s_${hex8(hash32(spec.seed, planned.rank, planned.session))}`,
    bot: { flagged: false, reason: null },
  };
}

/** Mutable per-user state while the days are generated (typed arrays: 1M users at 10M events). */
interface UserState {
  sessions: Uint32Array;
  /** Last event second per user: no two events of a user share a second (see below). */
  lastSecond: Float64Array;
  identifiedAtMs: Float64Array;
}

function planDay(spec: DatasetSpec, day: number, quota: number, random: () => number, sampleUser: (random: () => number) => number, sampleName: (random: () => number) => number, state: UserState): PlannedEvent[] {
  const dayStart = spec.startMs + day * DAY_MS;
  const sessions: PlannedSession[] = [];
  for (let planned = 0; planned < quota; ) {
    const length = Math.min(quota - planned, 1 + Math.floor(exponential(MEAN_EXTRA_SESSION_EVENTS, random)));
    sessions.push({ rank: sampleUser(random), startMs: dayStart + sampleHourStart(random) * 3_600_000 + Math.floor(random() * 3_600_000), length });
    planned += length;
  }
  sessions.sort((a, b) => a.startMs - b.startMs);
  const events: PlannedEvent[] = [];
  for (const session of sessions) {
    const count = (state.sessions[session.rank] ?? 0) + 1;
    state.sessions[session.rank] = count;
    const facts = userFacts(spec.seed, session.rank);
    const identifiesNow = facts.identified && count === facts.identifySession;
    const carriesUserId = facts.identified && count >= facts.identifySession;
    let timeMs = session.startMs;
    let name = -1;
    for (let index = 0; index < session.length; index++) {
      if (index > 0) timeMs += 1000 + Math.floor(exponential(MEAN_EVENT_GAP_MS, random));
      name = identifiesNow && index === 0 ? -1 : nextEventName(name, random, sampleName);
      events.push({ rank: session.rank, timeMs, name, session: count, carriesUserId });
    }
  }
  events.sort((a, b) => a.timeMs - b.timeMs);
  // windowFunnel orders events of one second differently on 18.16 and 26.x (verified), so no
  // user gets two events in one second: every engine then computes the same funnel.
  for (const event of events) {
    const last = state.lastSecond[event.rank] ?? -1;
    if (Math.floor(event.timeMs / 1000) <= last) event.timeMs = (last + 1) * 1000 + (event.timeMs % 1000);
    state.lastSecond[event.rank] = Math.floor(event.timeMs / 1000);
  }
  return events;
}

function personIdAt(planned: PlannedEvent, facts: UserFacts, state: UserState): string {
  // As the consumer resolves it at ingest: the user once a userId is sent or the anonymous id is linked.
  const identifiedAt = state.identifiedAtMs[planned.rank] ?? Number.NaN;
  return planned.carriesUserId || planned.timeMs >= identifiedAt ? `user:${facts.userId}` : `anonymous:${facts.anonymousId}`;
}

/** The whole dataset, in time order, `chunkRows` events at a time (the last chunk may be smaller). */
export function* generateChunks(spec: DatasetSpec, chunkRows: number): Generator<DataChunk> {
  const random = createRandom(spec.seed);
  const sampleUser = zipfSampler(spec.users, USER_ZIPF_EXPONENT);
  const sampleName = zipfSampler(EVENT_NAMES.length, EVENT_ZIPF_EXPONENT);
  const state: UserState = { sessions: new Uint32Array(spec.users), lastSecond: new Float64Array(spec.users).fill(-1), identifiedAtMs: new Float64Array(spec.users).fill(Number.NaN) };
  let chunk: DataChunk = { events: [], identities: [] };
  const quotas = dailyQuotas(spec);
  for (let day = 0; day < spec.days; day++) {
    for (const planned of planDay(spec, day, quotas[day] ?? 0, random, sampleUser, sampleName, state)) {
      const facts = userFacts(spec.seed, planned.rank);
      const event = collectedEvent(spec, planned, facts, random, spec.workspaceId);
      if (planned.name < 0) {
        state.identifiedAtMs[planned.rank] = planned.timeMs;
        const linkedAtMs = planned.timeMs + 300;
        chunk.identities.push({ workspace_id: spec.workspaceId, identity_key: `anonymous:${facts.anonymousId}`, person_id: `user:${facts.userId}`, source: 'identify', message_id: event.messageId, linked_at_ms: linkedAtMs, link_rank: LINK_RANK_BASE - linkedAtMs });
      }
      chunk.events.push(buildEventRow(event, personIdAt(planned, facts, state), planned.timeMs + 400));
      if (chunk.events.length >= chunkRows) {
        yield chunk;
        chunk = { events: [], identities: [] };
      }
    }
  }
  if (chunk.events.length > 0) yield chunk;
}

/**
 * Rows for the insert-latency probes: like the dataset's (same builder, same shapes), in a
 * workspace of their own that no query reads, timed in the data's last hour so they land in
 * the current month's partition.
 */
export function probeRows(spec: DatasetSpec, count: number, salt: number): EventRow[] {
  const random = createRandom(hash32(spec.seed, salt));
  const sampleName = zipfSampler(EVENT_NAMES.length, EVENT_ZIPF_EXPONENT);
  return Array.from({ length: count }, (_, index) => {
    const rank = Math.floor(random() * spec.users);
    const facts = userFacts(spec.seed, rank);
    const planned: PlannedEvent = { rank, timeMs: spec.endMs - 3_600_000 + index * 10 + Math.floor(random() * 10), name: sampleName(random), session: 1, carriesUserId: facts.identified };
    const personId = facts.identified ? `user:${facts.userId}` : `anonymous:${facts.anonymousId}`;
    return buildEventRow(collectedEvent(spec, planned, facts, random, `${spec.workspaceId}_probe`), personId, planned.timeMs + 400);
  });
}
