/**
 * Delivery: batches events in memory (sent when `flushAt` are waiting or after
 * `flushInterval`), one request in flight at a time, retries network errors, 5xx and 429 with
 * backoff (honouring Retry-After), drops a batch only on another 4xx (with a warning), and on
 * page hide hands what is waiting to sendBeacon. Every change is written to the outbox, so
 * nothing waiting is lost on reload. Each event keeps its messageId across retries: a
 * resend the edge already accepted is deduplicated downstream by (workspace, messageId).
 * (Closures rather than a class: local names minify, property names would not.)
 */
import { parseRetryAfter, retryDelay } from './backoff';
import { addDropped, adoptQueues, byteLength, capQueue, chunkEvents, MAX_EVENT_BYTES, MAX_REQUEST_BYTES, saveQueue } from './outbox';
import type { Store } from './storage';
import type { SdkEvent } from './types';

export interface SendResult {
  status: number;
  retryAfter: string | null;
  /** Per-event rejections from a 200 answer (the edge says which events it refused and why). */
  rejected: unknown[];
  /** The edge's reason code for refusing the whole request (e.g. origin_not_allowed). */
  reason?: string | null;
}

export interface Transport {
  /** Resolves with the answer; rejects on a network error. */
  post(url: string, body: string): Promise<SendResult>;
  /** navigator.sendBeacon: true when the browser took the body. */
  beacon(url: string, body: string): boolean;
}

export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  random(): number;
}

export interface DeliveryConfig {
  url: string;
  writeKey: string;
  flushAt: number;
  flushInterval: number;
  maxQueue: number;
  maxBatchEvents?: number;
  store: Store;
  /** This page instance's outbox key. */
  queueKey: string;
  warn(message: string, detail?: unknown): void;
}

export interface Delivery {
  add(event: SdkEvent): void;
  /** Sends everything now, ignoring a running backoff; resolves when the queue is empty or a send failed. */
  flush(): Promise<void>;
  /**
   * The page is being hidden (`leaving`: unloaded or frozen): beacon what is waiting, unless
   * the edge is failing right now (a beacon's fate is unknown, so events stay in the outbox
   * for the next page instead). Leftovers are stamped abandoned when leaving.
   */
  hide(leaving: boolean): void;
  /** Back from the back/forward cache: reclaim the outbox, unless another page adopted it meanwhile. */
  resume(): void;
  /** Forget everything waiting (opt-out). */
  clear(): void;
}

/** Room left for `{"batch":[],"sentAt":"...","writeKey":"..."}` around the events. */
const ENVELOPE_BYTES = 512;

const isSuccess = (status: number): boolean => status >= 200 && status < 300;
/** 4xx other than 429 means this batch will never be accepted: retrying cannot help. */
const isRefusal = (status: number): boolean => status >= 400 && status < 500 && status !== 429;

export function createDelivery(config: DeliveryConfig, transport: Transport, clock: Clock): Delivery {
  const { store, queueKey, warn } = config;
  let queue: SdkEvent[] = adoptQueues(store, queueKey, clock.now());
  let inFlight: Set<string> | null = null;
  let running: Promise<void> | null = null;
  let timer: unknown = null;
  let attempt = 0;
  let retryAt = 0;
  /** Set on pagehide: a request failing while the page unloads must not re-stamp the outbox as live. */
  let left = false;

  const persist = (stampedAt = left ? 0 : clock.now()): void => saveQueue(store, queueKey, queue, stampedAt);
  const ids = (batch: SdkEvent[]): Set<string> => new Set(batch.map((event) => event.messageId));
  const pending = (): SdkEvent[] => queue.filter((event) => !inFlight?.has(event.messageId));
  const batches = (events: SdkEvent[]): SdkEvent[][] =>
    chunkEvents(events, config.maxBatchEvents ?? 100, MAX_REQUEST_BYTES - ENVELOPE_BYTES - config.writeKey.length);
  const body = (batch: SdkEvent[]): string => JSON.stringify({ batch, sentAt: new Date(clock.now()).toISOString(), writeKey: config.writeKey });

  const remove = (batch: SdkEvent[]): void => {
    const sent = ids(batch);
    queue = queue.filter((event) => !sent.has(event.messageId));
    persist();
  };

  const cap = (): void => {
    const dropped = capQueue(queue, config.maxQueue);
    if (!dropped) return;
    addDropped(store, dropped);
    warn(`queue full: dropped ${dropped} oldest`);
  };

  const schedule = (ms: number): void => {
    if (timer !== null) return;
    timer = clock.setTimeout(() => {
      timer = null;
      void drain();
    }, ms);
  };

  async function send(batch: SdkEvent[]): Promise<boolean> {
    inFlight = ids(batch);
    // A network error (a rejection) is retried like a 5xx.
    const result = await transport.post(config.url, body(batch)).catch(() => null);
    inFlight = null;
    if (result && (isSuccess(result.status) || isRefusal(result.status))) {
      if (isRefusal(result.status)) warn(`${result.status} ${result.reason ?? ''}: dropped ${batch.length} event(s)`);
      else if (result.rejected.length) warn('rejected', result.rejected);
      attempt = 0;
      remove(batch);
      return true;
    }
    attempt += 1;
    const now = clock.now();
    retryAt = now + retryDelay(attempt, parseRetryAfter(result?.retryAfter, now), clock.random);
    persist();
    schedule(retryAt - now);
    return false;
  }

  async function sendUntilEmpty(): Promise<void> {
    while (queue.length) {
      const wait = retryAt - clock.now();
      if (wait > 0) return schedule(wait);
      const [batch] = batches(queue);
      if (!batch || !(await send(batch))) return;
    }
  }

  function drain(): Promise<void> {
    running ??= sendUntilEmpty().finally(() => {
      running = null;
    });
    return running;
  }

  cap();
  persist();
  if (queue.length) schedule(0);

  return {
    add(event) {
      if (byteLength(JSON.stringify(event)) > MAX_EVENT_BYTES) return warn(`over ${MAX_EVENT_BYTES} bytes: dropped`, event.type);
      queue.push(event);
      cap();
      persist();
      if (pending().length >= config.flushAt) void drain();
      else schedule(config.flushInterval);
    },
    flush() {
      retryAt = 0;
      return drain();
    },
    hide(leaving) {
      if (!attempt) {
        for (const batch of batches(pending())) {
          if (!transport.beacon(config.url, body(batch))) break;
          remove(batch);
        }
      }
      left ||= leaving;
      persist();
    },
    resume() {
      left = false;
      if (store.get(queueKey) === null) queue = [];
      persist();
    },
    clear() {
      queue = [];
      persist();
    },
  };
}
