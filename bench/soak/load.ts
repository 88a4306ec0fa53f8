/**
 * The soak's load: a steady, seeded mix of requests at a given event rate, and a client that
 * behaves like a Segment library (a 429, 503 or network error means: send the same body, same
 * messageIds, again with backoff). Every event is recorded by messageId with what the Worker
 * answered about it, so the reconciliation can hold each answer against ClickHouse.
 */
import { seededRandom } from '../../dev/seeded-random';
import { BILLABLE_TYPES } from '../../lib/usage-queries';

export interface SoakWorkspace {
  id: string;
  writeKey: string;
  secretKey: string;
}

/** What the soak meant each event to be: `hostile` is valid at the edge but hard for the consumer (lone surrogates, prototype keys, big values). */
export type EventKind = 'human' | 'bot' | 'invalid' | 'hostile';

export interface EventRecord {
  messageId: string;
  workspace: number;
  kind: EventKind;
  type: string;
  /** A billable type (usage counts it when stored and not bot-flagged). */
  billable: boolean;
  body: Record<string, unknown>;
  /** Requests that carried it (first sends, duplicates, whole-batch retries; not the client's own retries). */
  requests: number;
  acceptedAt: number | null;
  /** Answered with a definite refusal (4xx for the event, or 429/503: nothing kept) at least once. */
  refusedWith: Set<string>;
  /** Some request carrying it ended without a definite answer (timeout, reset, 5xx other than 503): it may or may not have landed. */
  unacknowledged: boolean;
}

type RequestKind = 'server_batch' | 'server_single' | 'browser_collect' | 'browser_origin_batch' | 'duplicates' | 'batch_retry' | 'invalid_track';

interface PlannedRequest {
  kind: RequestKind;
  route: string;
  headers: Record<string, string>;
  body: string;
  events: EventRecord[];
  single: boolean;
}

export interface LoadStats {
  offeredEvents: number;
  requests: Record<RequestKind, number>;
  attempts: number;
  clientRetries: number;
  statuses: Record<string, number>;
  requestLatencies: number[];
  /** 2xx answer -> the event queryable in ClickHouse, sampled. */
  storedLatencies: number[];
  gaveUp: number;
  maxInFlight: number;
}

const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const USERS_PER_WORKSPACE = 3000;
const EVENT_NAMES = ['Viewed Product', 'Added To Cart', 'Checkout Started', 'Order Completed', 'Signed Up'];
/** A Segment library's retry: exponential backoff from 250 ms, capped at 8 s, for at most this long per request. */
const RETRY_FIRST_MS = 250;
const RETRY_CAP_MS = 8_000;
const RETRY_BUDGET_MS = 240_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Fetches at once; over it a tick's events wait for the next tick (the shortfall shows as offered < rate x time). */
const MAX_ACTIVE_FETCHES = 96;
const TICK_MS = 100;
const RECENT_KEPT = 400;

const BASIC = (key: string): string => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SoakLoad {
  readonly events = new Map<string, EventRecord>();
  readonly stats: LoadStats = {
    offeredEvents: 0,
    requests: { server_batch: 0, server_single: 0, browser_collect: 0, browser_origin_batch: 0, duplicates: 0, batch_retry: 0, invalid_track: 0 },
    attempts: 0,
    clientRetries: 0,
    statuses: {},
    requestLatencies: [],
    storedLatencies: [],
    gaveUp: 0,
    maxInFlight: 0,
  };
  /** Accepted events waiting to be seen in ClickHouse: messageId -> when the 2xx came. */
  readonly probes = new Map<string, number>();
  private readonly random: () => number;
  private sequence = 0;
  private activeFetches = 0;
  private readonly deliveries = new Set<Promise<void>>();
  private readonly recentAccepted: EventRecord[][];
  private readonly recentRequests: PlannedRequest[] = [];

  constructor(
    private readonly workerUrl: () => string,
    private readonly workspaces: readonly SoakWorkspace[],
    private readonly runId: string,
    seed: number,
  ) {
    this.random = seededRandom(seed);
    this.recentAccepted = workspaces.map(() => []);
  }

  /** Offers `rate` events/s for `seconds`, in ticks of 100 ms; returns when the last request is sent (not answered). */
  async drive(rate: number, seconds: number, onSecond: (elapsed: number) => void): Promise<void> {
    const started = performance.now();
    let owed = 0;
    let lastSecond = 0;
    let lastTick = started;
    for (;;) {
      const now = performance.now();
      const elapsed = now - started;
      if (elapsed >= seconds * 1000) return;
      // Owed by the clock, not per tick: a busy event loop runs fewer ticks, not fewer events (at most a second's worth is carried).
      owed = Math.min(owed + (rate * (now - lastTick)) / 1000, rate);
      lastTick = now;
      while (owed >= 1 && this.activeFetches < MAX_ACTIVE_FETCHES) {
        const request = this.plan(Math.max(1, Math.floor(owed)));
        owed -= request.events.length;
        this.stats.offeredEvents += request.events.length;
        this.launch(request);
      }
      const second = Math.floor(elapsed / 1000);
      if (second !== lastSecond) {
        lastSecond = second;
        onSecond(second);
      }
      await sleep(Math.max(0, TICK_MS - ((performance.now() - started) % TICK_MS)));
    }
  }

  /** Waits for every request to be answered or given up on (client retries included). */
  async settle(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.all([...this.deliveries]);
  }

  get inFlight(): number {
    return this.deliveries.size;
  }

  private nextId(): string {
    return `soak-${this.runId}-${(this.sequence++).toString(36)}`;
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.random() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  private record(workspace: number, kind: EventKind, body: Record<string, unknown>): EventRecord {
    const type = String(body.type);
    const event: EventRecord = {
      messageId: String(body.messageId),
      workspace,
      kind,
      type,
      billable: (BILLABLE_TYPES as readonly string[]).includes(type),
      body,
      requests: 0,
      acceptedAt: null,
      refusedWith: new Set(),
      unacknowledged: false,
    };
    this.events.set(event.messageId, event);
    return event;
  }

  /** A valid event of a realistic mix (track, page, screen, identify), from a browser or a server library. */
  private validEvent(workspace: number, browser: boolean, kind: 'human' | 'bot' | 'hostile'): EventRecord {
    const user = Math.floor(this.random() * USERS_PER_WORKSPACE);
    const ids = { userId: `user-${user}`, anonymousId: `anon-${workspace}-${user}` };
    const library = browser ? { name: 'monfri.js', version: 'soak' } : { name: 'analytics-node', version: 'soak' };
    const context: Record<string, unknown> = { library, ...(browser ? { page: { url: `https://shop.test/p/${user % 40}`, path: `/p/${user % 40}` } } : {}) };
    // Server traffic describes its end user only through what it forwards (README "Browser or server traffic").
    if (!browser && kind === 'bot') context.userAgent = BOT_UA;
    // An explicit timestamp, as Segment libraries send: a re-send is then byte-for-byte the same event.
    const base = { messageId: this.nextId(), timestamp: new Date().toISOString(), context };
    const roll = this.random();
    let body: Record<string, unknown>;
    if (roll < 0.65) body = { ...base, type: 'track', ...ids, event: this.pick(EVENT_NAMES), properties: { sequence: this.sequence, price: Math.round(this.random() * 10_000) / 100, plan: this.pick(['free', 'pro']) } };
    else if (roll < 0.82) body = { ...base, type: 'page', ...ids, name: 'Product', properties: { path: `/p/${user % 40}` } };
    else if (roll < 0.9) body = { ...base, type: 'screen', ...ids, name: 'Home' };
    else body = { ...base, type: 'identify', ...ids, traits: { plan: this.pick(['free', 'pro']), seats: user % 9 } };
    if (kind === 'hostile') {
      // What once was poison for the consumer: lone UTF-16 surrogates (ClickHouse refuses them in JSONEachRow; the edge repairs them),
      // prototype keys (parsed, so `__proto__` is an own key as a client would send it), a large value.
      const properties = JSON.parse('{"__proto__":{"polluted":true},"constructor":"x"}') as Record<string, unknown>;
      properties.note = 'lone \udbff surrogate';
      properties.blob = 'x'.repeat(8_000);
      properties.nested = { deep: { deeper: [1, 'two', null, { three: 3 }] } };
      body = { ...base, type: 'track', userId: `user-\ud83d-${user}`, anonymousId: `anon-hostile-${workspace}-${user}`, event: `Broken \ud800 ${this.pick(EVENT_NAMES)}`, properties };
    }
    return this.record(workspace, kind, body);
  }

  /** Invalid at the edge: a track without an event name, or an event without any id. The edge must refuse it by messageId. */
  private invalidEvent(workspace: number): EventRecord {
    const messageId = this.nextId();
    const body = this.random() < 0.5 ? { type: 'track', messageId, userId: 'user-invalid', properties: { missing: 'event' } } : { type: 'track', messageId, event: 'No Identity', properties: {} };
    return this.record(workspace, 'invalid', body);
  }

  private mixedEvents(workspace: number, count: number, browser: boolean, allBots: boolean): EventRecord[] {
    return Array.from({ length: count }, () => {
      if (allBots) return this.validEvent(workspace, browser, 'bot');
      const roll = this.random();
      if (roll < 0.03) return this.invalidEvent(workspace);
      if (roll < 0.035) return this.validEvent(workspace, browser, 'hostile');
      if (!browser && roll < 0.085) return this.validEvent(workspace, browser, 'bot');
      return this.validEvent(workspace, browser, 'human');
    });
  }

  /**
   * Browser traffic comes from many visitors: one loopback address for all of it would trip the
   * IP rate layer (1,000 events a minute per IP) by design. Cloudflare sets this header in front
   * of a Worker; locally the soak plays that part (documentation range 198.51.100.0/24 and up).
   */
  private visitorIp(): string {
    const visitor = Math.floor(this.random() * 4096);
    return `198.51.${100 + (visitor >> 8)}.${visitor & 255}`;
  }

  private plan(budget: number): PlannedRequest {
    const workspaceIndex = Math.floor(this.random() * this.workspaces.length);
    const workspace = this.workspaces[workspaceIndex];
    if (!workspace) throw new Error('no workspace');
    const size = (low: number, high: number): number => Math.max(1, Math.min(budget, low + Math.floor(this.random() * (high - low + 1))));
    const json = { 'content-type': 'application/json' };
    const roll = this.random();
    const recentAccepted = this.recentAccepted[workspaceIndex] ?? [];
    if (roll < 0.05 && this.recentRequests.length > 0) {
      // A client that lost the answer re-sends the whole batch: same route, headers and bytes.
      const original = this.pick(this.recentRequests);
      return { ...original, kind: 'batch_retry' };
    }
    if (roll < 0.1 && recentAccepted.length > 0) {
      // The same messageIds again in a new batch (a library re-queueing what it already sent).
      const picked = Array.from({ length: size(3, 15) }, () => this.pick(recentAccepted));
      const unique = [...new Map(picked.map((event) => [event.messageId, event])).values()];
      return { kind: 'duplicates', route: '/v1/batch', headers: { ...json, authorization: `Bearer ${workspace.secretKey}` }, body: JSON.stringify({ batch: unique.map((event) => event.body) }), events: unique, single: false };
    }
    if (roll < 0.12) {
      const event = this.invalidEvent(workspaceIndex);
      return { kind: 'invalid_track', route: '/v1/track', headers: { ...json, authorization: BASIC(workspace.writeKey) }, body: JSON.stringify(event.body), events: [event], single: true };
    }
    if (roll < 0.22) {
      const event = this.random() < 0.05 ? this.validEvent(workspaceIndex, false, 'bot') : this.validEvent(workspaceIndex, false, 'human');
      return { kind: 'server_single', route: `/v1/${event.type}`, headers: { ...json, authorization: BASIC(workspace.writeKey) }, body: JSON.stringify(event.body), events: [event], single: true };
    }
    if (roll < 0.45) {
      const bots = this.random() < 0.05;
      const events = this.mixedEvents(workspaceIndex, size(1, 8), true, bots);
      // The SDK's route: text/plain (no CORS preflight), the write key in the body.
      const headers = { 'content-type': 'text/plain', origin: 'https://shop.test', 'user-agent': bots ? BOT_UA : CHROME_UA, 'cf-connecting-ip': this.visitorIp() };
      return { kind: 'browser_collect', route: '/v1/collect', headers, body: JSON.stringify({ writeKey: workspace.writeKey, batch: events.map((event) => event.body) }), events, single: false };
    }
    if (roll < 0.55) {
      const events = this.mixedEvents(workspaceIndex, size(3, 12), true, false);
      const headers = { ...json, authorization: BASIC(workspace.writeKey), origin: 'https://shop.test', 'user-agent': CHROME_UA, 'cf-connecting-ip': this.visitorIp() };
      return { kind: 'browser_origin_batch', route: '/v1/batch', headers, body: JSON.stringify({ batch: events.map((event) => event.body) }), events, single: false };
    }
    const events = this.mixedEvents(workspaceIndex, size(10, 30), false, false);
    return { kind: 'server_batch', route: '/v1/batch', headers: { ...json, authorization: `Bearer ${workspace.secretKey}` }, body: JSON.stringify({ batch: events.map((event) => event.body) }), events, single: false };
  }

  private launch(request: PlannedRequest): void {
    this.stats.requests[request.kind]++;
    for (const event of request.events) event.requests++;
    const delivery = this.deliver(request).finally(() => this.deliveries.delete(delivery));
    this.deliveries.add(delivery);
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.deliveries.size);
  }

  private async deliver(request: PlannedRequest): Promise<void> {
    const firstAt = Date.now();
    let unclear = false;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.stats.clientRetries++;
        await sleep(Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** (attempt - 1)) * (0.5 + this.random()));
      }
      this.stats.attempts++;
      this.activeFetches++;
      const started = performance.now();
      let status = 0;
      let answer: unknown = null;
      try {
        const response = await fetch(`${this.workerUrl()}${request.route}`, { method: 'POST', headers: request.headers, body: request.body, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        status = response.status;
        const text = await response.text();
        try {
          answer = JSON.parse(text);
        } catch {
          answer = null;
        }
        this.stats.requestLatencies.push(performance.now() - started);
      } catch {
        status = 0;
      } finally {
        this.activeFetches--;
      }
      const errorCode = typeof answer === 'object' && answer !== null && 'error' in answer && typeof answer.error === 'object' && answer.error !== null && 'code' in answer.error ? ` ${String(answer.error.code)}` : '';
      const label = status === 0 ? 'no answer' : status >= 500 || status === 429 ? `${status}${errorCode}` : String(status);
      this.stats.statuses[label] = (this.stats.statuses[label] ?? 0) + 1;
      // 429 and 503 mean nothing of the request was kept (README "Delivery"); no answer or another 5xx leaves it open.
      const retryable = status === 0 || status === 429 || status >= 500;
      if (retryable && status !== 429 && status !== 503) unclear = true;
      if (!retryable) {
        this.apply(request, status, answer);
        return;
      }
      if (Date.now() - firstAt > RETRY_BUDGET_MS) {
        this.stats.gaveUp++;
        for (const event of request.events) {
          if (unclear) event.unacknowledged = true;
          else event.refusedWith.add(`gave_up_after_${status}`);
        }
        return;
      }
    }
  }

  private apply(request: PlannedRequest, status: number, answer: unknown): void {
    const now = Date.now();
    const rejected = new Map<number, string>();
    if (!request.single && typeof answer === 'object' && answer !== null && 'rejected' in answer && Array.isArray(answer.rejected)) {
      for (const item of answer.rejected as unknown[]) {
        if (typeof item === 'object' && item !== null && 'index' in item && typeof item.index === 'number') rejected.set(item.index, 'code' in item ? String(item.code) : 'rejected');
      }
    }
    const code = typeof answer === 'object' && answer !== null && 'error' in answer && typeof answer.error === 'object' && answer.error !== null && 'code' in answer.error ? String(answer.error.code) : String(status);
    const accepted: EventRecord[] = [];
    request.events.forEach((event, index) => {
      const refusal = status >= 200 && status < 300 ? rejected.get(index) : code;
      if (refusal === undefined) {
        if (event.acceptedAt === null) {
          event.acceptedAt = now;
          accepted.push(event);
        }
      } else {
        event.refusedWith.add(refusal);
      }
    });
    if (status >= 200 && status < 300) {
      this.recentRequests.push(request);
      if (this.recentRequests.length > RECENT_KEPT) this.recentRequests.shift();
      const first = accepted[0];
      if (first && this.random() < 0.25 && this.probes.size < 300) this.probes.set(first.messageId, now);
      // Re-sent later as duplicates through a server route: only what came from one, so the copy is the same event
      // (a browser event re-sent by a server would lose its User-Agent header, and with it its bot verdict).
      const fresh = request.kind === 'server_batch' || request.kind === 'server_single' ? accepted.filter((event) => event.kind !== 'invalid') : [];
      const ring = this.recentAccepted[request.events[0]?.workspace ?? 0];
      if (ring) {
        ring.push(...fresh);
        if (ring.length > RECENT_KEPT * 5) ring.splice(0, ring.length - RECENT_KEPT * 5);
      }
    }
  }
}
