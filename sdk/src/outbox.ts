/**
 * The persisted retry queue. Each page instance ("tab") writes its waiting events under its
 * own key, stamped with the time of the write, on every change. A page that goes away stamps
 * its leftovers 0 ("abandoned"); a page that crashed stops re-stamping. Any later page load
 * adopts abandoned or stale queues, so events survive reloads and crashes without two live
 * tabs sending each other's events.
 */
import { parseObject } from './json';
import type { Store } from './storage';
import type { SdkEvent } from './types';

export const QUEUE_KEY_PREFIX = 'monfri_q.';
export const DROPPED_KEY = 'monfri_dropped';
/** A live tab re-stamps at least every retry (backoff is capped at 60 s); older means the tab is gone. */
export const STALE_QUEUE_MS = 300_000; // 5 minutes (a literal: the minifier does not fold products)
/** Chrome's keepalive/beacon quota is 64 KiB in flight: stay under it per request. */
export const MAX_REQUEST_BYTES = 61_440; // 60 KiB
/** The edge refuses larger events (schema LIMITS.maxEventBytes): no point queueing them. */
export const MAX_EVENT_BYTES = 32_768; // 32 KiB

const encoder = new TextEncoder();
export const byteLength = (text: string): number => encoder.encode(text).length;

function isQueuedEvent(value: unknown): value is SdkEvent {
  const event = value as Partial<Record<keyof SdkEvent, unknown>> | null | undefined;
  return typeof event?.messageId === 'string' && typeof event.type === 'string';
}

export function readQueue(raw: string | null): { stampedAt: number; events: SdkEvent[] } | null {
  const value = parseObject(raw);
  return value && typeof value.t === 'number' && Array.isArray(value.e) ? { stampedAt: value.t, events: value.e.filter(isQueuedEvent) } : null;
}

export function saveQueue(store: Store, key: string, events: SdkEvent[], stampedAt: number): void {
  if (events.length) store.set(key, JSON.stringify({ t: stampedAt, e: events }));
  else store.del(key);
}

/** Takes over every other page's abandoned or stale queue (removing it from storage). */
export function adoptQueues(store: Store, ownKey: string, now: number): SdkEvent[] {
  const adopted: SdkEvent[] = [];
  for (const key of store.keys()) {
    if (!key.startsWith(QUEUE_KEY_PREFIX) || key === ownKey) continue;
    const queue = readQueue(store.get(key));
    if (queue && now - queue.stampedAt < STALE_QUEUE_MS) continue;
    store.del(key);
    if (queue) adopted.push(...queue.events);
  }
  return adopted;
}

/** Keeps the newest `max` events; says how many of the oldest were dropped. */
export function capQueue(events: SdkEvent[], max: number): number {
  // A negative count removes nothing.
  return events.splice(0, events.length - max).length;
}

export function addDropped(store: Store, count: number): void {
  if (count > 0) store.set(DROPPED_KEY, String((Number(store.get(DROPPED_KEY)) || 0) + count));
}

export function takeDropped(store: Store): number {
  const count = Number(store.get(DROPPED_KEY)) || 0;
  if (count) store.del(DROPPED_KEY);
  return count;
}

/** Splits events, in order, into request bodies' worth: at most `maxCount` and `maxBytes` of events each. */
export function chunkEvents(events: SdkEvent[], maxCount: number, maxBytes: number): SdkEvent[][] {
  const chunks: SdkEvent[][] = [];
  let current: SdkEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = byteLength(JSON.stringify(event)) + 1;
    if (current.length && (current.length >= maxCount || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  return chunks;
}
