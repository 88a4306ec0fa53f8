import { describe, expect, it } from 'vitest';
import { addDropped, adoptQueues, capQueue, chunkEvents, DROPPED_KEY, QUEUE_KEY_PREFIX, readQueue, saveQueue, STALE_QUEUE_MS, takeDropped } from './outbox';
import { memoryStore } from './storage';
import type { SdkEvent } from './types';

const now = Date.parse('2026-03-01T12:00:00Z');
const event = (id: string, padding = ''): SdkEvent => ({
  type: 'track',
  event: 'Clicked',
  properties: { padding },
  messageId: id,
  anonymousId: 'anon',
  originalTimestamp: new Date(now).toISOString(),
  context: {},
});

describe('outbox persistence', () => {
  it('round-trips a queue through storage and removes the key when empty', () => {
    const store = memoryStore();
    saveQueue(store, `${QUEUE_KEY_PREFIX}tab`, [event('a'), event('b')], now);
    expect(readQueue(store.get(`${QUEUE_KEY_PREFIX}tab`))).toEqual({ stampedAt: now, events: [event('a'), event('b')] });
    saveQueue(store, `${QUEUE_KEY_PREFIX}tab`, [], now);
    expect(store.keys()).toEqual([]);
  });

  it('adopts abandoned and stale queues, not live ones nor its own, and removes what it adopts', () => {
    const store = memoryStore();
    saveQueue(store, `${QUEUE_KEY_PREFIX}closed`, [event('a')], 0);
    saveQueue(store, `${QUEUE_KEY_PREFIX}crashed`, [event('b')], now - STALE_QUEUE_MS);
    saveQueue(store, `${QUEUE_KEY_PREFIX}live`, [event('c')], now - 1000);
    saveQueue(store, `${QUEUE_KEY_PREFIX}me`, [event('d')], 0);
    store.set('unrelated', 'x');
    const adopted = adoptQueues(store, `${QUEUE_KEY_PREFIX}me`, now);
    expect(adopted.map((e) => e.messageId).sort()).toEqual(['a', 'b']);
    expect(store.keys().sort()).toEqual([`${QUEUE_KEY_PREFIX}live`, `${QUEUE_KEY_PREFIX}me`, 'unrelated']);
  });

  it('drops corrupt entries and keeps only well-formed events', () => {
    const store = memoryStore();
    store.set(`${QUEUE_KEY_PREFIX}bad`, '{not json');
    store.set(`${QUEUE_KEY_PREFIX}mixed`, JSON.stringify({ t: 0, e: [event('ok'), { type: 'track' }, 'x', null] }));
    expect(adoptQueues(store, `${QUEUE_KEY_PREFIX}me`, now).map((e) => e.messageId)).toEqual(['ok']);
    expect(store.keys()).toEqual([]);
  });
});

describe('bounded queue', () => {
  it('drops the oldest first and counts the drops until they are reported', () => {
    const store = memoryStore();
    const events = ['1', '2', '3', '4', '5'].map((id) => event(id));
    const dropped = capQueue(events, 3);
    expect(dropped).toBe(2);
    expect(events.map((e) => e.messageId)).toEqual(['3', '4', '5']);
    addDropped(store, dropped);
    addDropped(store, 4);
    expect(store.get(DROPPED_KEY)).toBe('6');
    expect(takeDropped(store)).toBe(6);
    expect(takeDropped(store)).toBe(0);
  });
});

describe('chunking', () => {
  it('splits by count, in order', () => {
    const chunks = chunkEvents(['1', '2', '3', '4', '5'].map((id) => event(id)), 2, 1_000_000);
    expect(chunks.map((chunk) => chunk.map((e) => e.messageId))).toEqual([['1', '2'], ['3', '4'], ['5']]);
  });

  it('splits by bytes (UTF-8) so no chunk exceeds the limit', () => {
    const events = Array.from({ length: 10 }, (_, index) => event(String(index), 'é'.repeat(5000)));
    const size = new TextEncoder().encode(JSON.stringify(events[0])).length + 1;
    const chunks = chunkEvents(events, 100, 25_000);
    for (const chunk of chunks) expect(chunk.length * size).toBeLessThanOrEqual(25_000);
    expect(chunks.flat().map((e) => e.messageId)).toEqual(events.map((e) => e.messageId));
    expect(chunks.length).toBe(Math.ceil(10 / Math.floor(25_000 / size)));
  });
});
