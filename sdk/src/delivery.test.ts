import { describe, expect, it } from 'vitest';
import { createDelivery, type DeliveryConfig } from './delivery';
import { DROPPED_KEY, MAX_REQUEST_BYTES, QUEUE_KEY_PREFIX, readQueue } from './outbox';
import { memoryStore, type Store } from './storage';
import { FakeClock, FakeTransport, ok, settle, status } from './test-support';
import type { SdkEvent } from './types';

let ids = 0;
function event(padding = ''): SdkEvent {
  ids += 1;
  return { type: 'track', event: 'Test', properties: padding ? { padding } : {}, messageId: `m${ids}`, anonymousId: 'anon', originalTimestamp: '2026-03-01T12:00:00.000Z', context: {} };
}

function setup(overrides: Partial<DeliveryConfig> = {}, store: Store = memoryStore(), clock = new FakeClock(), transport = new FakeTransport()) {
  const warnings: string[] = [];
  const config: DeliveryConfig = {
    url: 'https://edge.example/v1/collect',
    writeKey: 'wk_test',
    flushAt: 5,
    flushInterval: 2000,
    maxQueue: 100,
    store,
    queueKey: `${QUEUE_KEY_PREFIX}${Math.random()}`,
    warn: (message) => warnings.push(message),
    ...overrides,
  };
  return { delivery: createDelivery(config, transport, clock), clock, transport, store, warnings, config };
}

const messageIds = (events: SdkEvent[]): string[] => events.map((e) => e.messageId);
/** How many events a delivery keeps waiting: its outbox mirrors its queue on every change. */
const waiting = ({ store, config }: { store: Store; config: DeliveryConfig }): number => readQueue(store.get(config.queueKey))?.events.length ?? 0;

describe('batching', () => {
  it('sends when flushAt events are waiting, as one batch with sentAt and the write key', async () => {
    const run = setup();
    const { delivery, transport, clock } = run;
    const events = Array.from({ length: 5 }, () => event());
    for (const e of events.slice(0, 4)) delivery.add(e);
    await settle();
    expect(transport.posts).toHaveLength(0);
    delivery.add(events[4] as SdkEvent);
    await settle();
    expect(transport.posts).toHaveLength(1);
    expect(transport.posts[0]).toEqual({ batch: events, sentAt: new Date(clock.now()).toISOString(), writeKey: 'wk_test' });
    expect(waiting(run)).toBe(0);
  });

  it('sends a partial batch after flushInterval', async () => {
    const { delivery, transport, clock } = setup();
    delivery.add(event());
    delivery.add(event());
    await clock.advance(1999);
    expect(transport.posts).toHaveLength(0);
    await clock.advance(1);
    expect(transport.posts).toHaveLength(1);
    expect(transport.posts[0]?.batch).toHaveLength(2);
  });

  it('caps each request under the 64 KB keepalive limit', async () => {
    const { delivery, transport } = setup({ flushAt: 1000 });
    for (let index = 0; index < 12; index++) delivery.add(event('x'.repeat(20_000)));
    await delivery.flush();
    expect(transport.posts.length).toBeGreaterThan(3);
    for (const body of transport.posts) expect(new TextEncoder().encode(JSON.stringify(body)).length).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    expect(transport.delivered).toHaveLength(12);
  });

  it('refuses an event over the edge limit with a warning instead of blocking the queue', async () => {
    const { delivery, transport, warnings } = setup();
    delivery.add(event('x'.repeat(40_000)));
    delivery.add(event());
    await delivery.flush();
    expect(transport.delivered).toHaveLength(1);
    expect(warnings.join()).toMatch(/bytes/);
  });
});

describe('retries', () => {
  it('retries 5xx and network errors with growing backoff and delivers each event exactly once', async () => {
    const { delivery, transport, clock } = setup();
    const answers = ['network-error', status(503), status(500)] as const;
    transport.answer = () => answers[transport.posts.length - 1] ?? ok();
    const events = [event(), event()];
    for (const e of events) delivery.add(e);
    await clock.advance(2000);
    expect(transport.posts).toHaveLength(1);
    // Backoff with random 0.5: 750 ms, then 1500 ms, then 3000 ms.
    await clock.advance(749);
    expect(transport.posts).toHaveLength(1);
    await clock.advance(1);
    expect(transport.posts).toHaveLength(2);
    await clock.advance(1500);
    expect(transport.posts).toHaveLength(3);
    await clock.advance(3000);
    expect(transport.posts).toHaveLength(4);
    expect(messageIds(transport.delivered)).toEqual(messageIds(events));
    expect(transport.posts.every((body) => messageIds(body.batch).join() === messageIds(events).join())).toBe(true);
    await clock.advance(60_000);
    expect(transport.posts).toHaveLength(4);
  });

  it('honours Retry-After on 429', async () => {
    const { delivery, transport, clock } = setup();
    transport.answer = () => (transport.posts.length === 1 ? status(429, '20') : ok());
    delivery.add(event());
    await clock.advance(2000);
    await clock.advance(19_999);
    expect(transport.posts).toHaveLength(1);
    await clock.advance(1);
    expect(transport.posts).toHaveLength(2);
    expect(transport.delivered).toHaveLength(1);
  });

  it('drops a batch refused with another 4xx, warns with the edge reason, and goes on with the next', async () => {
    const { delivery, transport, clock, warnings } = setup({ flushAt: 1 });
    transport.answer = () => (transport.posts.length === 1 ? { ...status(401), reason: 'revoked_key' } : ok());
    const [first, second] = [event(), event()];
    delivery.add(first);
    await settle();
    delivery.add(second);
    await clock.advance(100);
    expect(transport.posts).toHaveLength(2);
    expect(messageIds(transport.delivered)).toEqual([second.messageId]);
    expect(warnings).toContain('401 revoked_key: dropped 1 event(s)');
    await clock.advance(120_000);
    expect(transport.posts).toHaveLength(2);
  });

  it('keeps events that arrive during an outage and sends everything once it ends', async () => {
    const run = setup();
    const { delivery, transport, clock } = run;
    let down = true;
    transport.answer = () => (down ? 'network-error' : ok());
    const events = Array.from({ length: 12 }, () => event());
    for (const e of events) {
      delivery.add(e);
      await clock.advance(700);
    }
    down = false;
    await clock.advance(61_000);
    expect(messageIds(transport.delivered)).toEqual(messageIds(events));
    expect(waiting(run)).toBe(0);
  });

  it('flush() sends at once even during a backoff', async () => {
    const { delivery, transport, clock } = setup();
    transport.answer = () => (transport.posts.length === 1 ? status(503) : ok());
    delivery.add(event());
    await clock.advance(2000);
    await delivery.flush();
    expect(transport.delivered).toHaveLength(1);
  });
});

describe('persisted queue', () => {
  it('survives a reload while the edge is down, then the next page delivers it once', async () => {
    const store = memoryStore();
    const clock = new FakeClock();
    const first = setup({}, store, clock);
    first.transport.answer = () => 'network-error';
    const events = [event(), event(), event()];
    for (const e of events) first.delivery.add(e);
    await clock.advance(2000);
    // The page unloads while the edge is failing: nothing is beaconed, everything is left abandoned.
    first.delivery.hide(true);
    expect(first.transport.beacons).toHaveLength(0);

    const second = setup({}, store, clock);
    expect(waiting(second)).toBe(3);
    await clock.advance(1);
    expect(messageIds(second.transport.delivered)).toEqual(messageIds(events));
    expect(store.keys().filter((key) => key.startsWith(QUEUE_KEY_PREFIX))).toEqual([]);
  });

  it('writes every waiting event to storage as it is added (a crash loses nothing)', () => {
    const { delivery, store, config } = setup();
    const e = event();
    delivery.add(e);
    expect(readQueue(store.get(config.queueKey))?.events).toEqual([e]);
  });

  it('drops the oldest events beyond maxQueue and reports the count', async () => {
    const run = setup({ maxQueue: 3, flushAt: 100 });
    const { delivery, transport, store, warnings } = run;
    transport.answer = () => 'network-error';
    const events = Array.from({ length: 5 }, () => event());
    for (const e of events) delivery.add(e);
    expect(waiting(run)).toBe(3);
    expect(store.get(DROPPED_KEY)).toBe('2');
    expect(warnings.filter((w) => w.includes('dropped'))).toHaveLength(2);
    transport.answer = () => ok();
    await delivery.flush();
    expect(messageIds(transport.delivered)).toEqual(messageIds(events.slice(2)));
  });

  it('does not take a queue that a live tab is still sending', () => {
    const store = memoryStore();
    const clock = new FakeClock();
    const live = setup({}, store, clock);
    live.delivery.add(event());
    const other = setup({}, store, clock);
    expect(waiting(other)).toBe(0);
    expect(waiting(live)).toBe(1);
  });
});

describe('page hide', () => {
  it('beacons what is waiting (in 64 KB pieces) and keeps what the browser would not take', () => {
    const { delivery, transport, store, config } = setup({ flushAt: 1000 });
    const events = Array.from({ length: 8 }, () => event('y'.repeat(20_000)));
    for (const e of events) delivery.add(e);
    let accepted = 0;
    transport.beaconAccepts = (bytes) => {
      expect(bytes).toBeLessThanOrEqual(64 * 1024);
      return ++accepted <= 2;
    };
    delivery.hide(true);
    expect(transport.beacons).toHaveLength(2);
    const beaconed = transport.beacons.flatMap((beacon) => beacon.body.batch);
    const left = readQueue(store.get(config.queueKey));
    expect(left?.stampedAt).toBe(0);
    expect(messageIds([...beaconed, ...(left?.events ?? [])])).toEqual(messageIds(events));
  });

  it('does not beacon the batch already in flight', async () => {
    const run = setup({ flushAt: 2 });
    const { delivery, transport } = run;
    let release: () => void = () => {};
    transport.post = (_url, raw) => {
      transport.posts.push(JSON.parse(raw));
      return new Promise((resolve) => {
        release = () => resolve(ok());
      });
    };
    const [a, b, c] = [event(), event(), event()];
    delivery.add(a);
    delivery.add(b);
    delivery.add(c);
    delivery.hide(false);
    expect(messageIds(transport.beacons.flatMap((beacon) => beacon.body.batch))).toEqual([c.messageId]);
    release();
    await settle();
    expect(waiting(run)).toBe(0);
  });
});

describe('leaving the page', () => {
  it('keeps the outbox abandoned when a request fails after pagehide, so the next page adopts it', async () => {
    const store = memoryStore();
    const clock = new FakeClock();
    const first = setup({}, store, clock);
    let reject: (error: Error) => void = () => {};
    first.transport.post = () =>
      new Promise((_resolve, fail) => {
        reject = fail;
      });
    const e = event();
    first.delivery.add(e);
    await clock.advance(2000);
    first.delivery.hide(true);
    // Unloading fires visibilitychange (hidden) after pagehide.
    first.delivery.hide(false);
    // The unloading page's fetch is cancelled after pagehide.
    reject(new TypeError('Failed to fetch'));
    await settle();
    expect(readQueue(store.get(first.config.queueKey))?.stampedAt).toBe(0);

    const second = setup({}, store, clock);
    expect(waiting(second)).toBe(1);
    await clock.advance(1);
    expect(messageIds(second.transport.delivered)).toEqual([e.messageId]);
  });
});
