/**
 * Honest fakes for unit tests (never bundled): a controllable clock with timers, a transport
 * that records requests and answers as told, and a Platform made of them.
 */
import type { CaptureSink, PageHooks, Platform } from './client';
import type { Clock, SendResult, Transport } from './delivery';
import { memoryStore, type Store } from './storage';
import type { EnvironmentFacts, SdkEvent } from './types';

export class FakeClock implements Clock {
  time = Date.parse('2026-03-01T12:00:00.000Z');
  private timers: { at: number; run: () => void }[] = [];
  now = (): number => this.time;
  random = (): number => 0.5;
  setTimeout = (run: () => void, ms: number): unknown => {
    const timer = { at: this.time + ms, run };
    this.timers.push(timer);
    return timer;
  };

  pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward, running due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.time = Math.max(this.time, due.at);
      due.run();
    }
    this.time = target;
    await settle();
  }
}

/** Lets every pending promise chain run (a real macrotask turn). */
export const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

export interface SentBody {
  batch: SdkEvent[];
  sentAt: string;
  writeKey: string;
}

export type Answer = SendResult | 'network-error';

export class FakeTransport implements Transport {
  posts: SentBody[] = [];
  beacons: { body: SentBody; bytes: number }[] = [];
  /** Events the edge answered 2xx for, in order. */
  delivered: SdkEvent[] = [];
  answer: (body: SentBody) => Answer = () => ok();
  beaconAccepts: (bytes: number) => boolean = () => true;

  async post(_url: string, raw: string): Promise<SendResult> {
    const body = JSON.parse(raw) as SentBody;
    this.posts.push(body);
    const answer = this.answer(body);
    if (answer === 'network-error') throw new TypeError('Failed to fetch');
    if (answer.status >= 200 && answer.status < 300) this.delivered.push(...body.batch);
    return answer;
  }

  beacon(_url: string, raw: string): boolean {
    const bytes = new TextEncoder().encode(raw).length;
    if (!this.beaconAccepts(bytes)) return false;
    const body = JSON.parse(raw) as SentBody;
    this.beacons.push({ body, bytes });
    this.delivered.push(...body.batch);
    return true;
  }
}

export const ok = (): SendResult => ({ status: 200, retryAfter: null, rejected: [] });
export const status = (code: number, retryAfter: string | null = null): SendResult => ({ status: code, retryAfter, rejected: [] });

export function throwingStore(): Store {
  const fail = (): never => {
    throw new Error('SecurityError: storage disabled');
  };
  return { get: fail, set: fail, del: fail, keys: fail };
}

export interface FakePlatform extends Platform {
  clock: FakeClock;
  transport: FakeTransport;
  hooks: PageHooks | null;
  sink: CaptureSink | null;
  warnings: string[];
  env: EnvironmentFacts;
  signal: boolean;
}

let counter = 0;
/** A deterministic uuid-shaped id (v4 layout) for tests. */
export function testUuid(): string {
  counter += 1;
  return `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
}

export function fakePlatform(parts: Partial<Pick<Platform, 'store' | 'consent' | 'idCookie'>> & { clock?: FakeClock; transport?: FakeTransport } = {}): FakePlatform {
  const store = parts.store ?? memoryStore();
  const platform: FakePlatform = {
    store,
    idCookie: parts.idCookie === undefined ? memoryStore() : parts.idCookie,
    consent: parts.consent ?? store,
    clock: parts.clock ?? new FakeClock(),
    transport: parts.transport ?? new FakeTransport(),
    hooks: null,
    sink: null,
    warnings: [],
    signal: false,
    env: {
      page: { url: 'https://shop.example/pricing?x=1', path: '/pricing', referrer: 'https://search.example/', title: 'Pricing', search: '?x=1' },
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0.0.0 Safari/537.36',
      locale: 'en-GB',
      screen: { width: 1280, height: 800 },
      timezone: 'Europe/Paris',
      automation: [],
    },
    facts: () => structuredClone(platform.env),
    uuid: testUuid,
    privacySignal: () => platform.signal,
    defaultApiHost: 'https://edge.example',
    listen(hooks) {
      platform.hooks = hooks;
    },
    startCapture(_settings, sink) {
      platform.sink = sink;
    },
    log(level, message) {
      if (level === 'warn') platform.warnings.push(message);
    },
  };
  return platform;
}
