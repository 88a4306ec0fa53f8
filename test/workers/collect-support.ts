/** Helpers for the collect tests: the real Hono app with a recording Queue in place of EVENTS. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { collectedEventSchema, type CollectedEvent } from '../../schema/event';
import { isPlanBlockedMessage, planBlockedTallySchema, type PlanBlockedTally } from '../../schema/plan-blocked';
import { createApp } from '../../workers/app';
import { env } from './support';

/** What a consumer receives for a sent message: `text` bodies stay strings, others round-trip through JSON. */
function delivered(message: MessageSendRequest<unknown>): MessageSendRequest<unknown> {
  if (message.contentType === 'text') {
    if (typeof message.body !== 'string') throw new TypeError('A text message body must be a string.');
    return message;
  }
  // Round-trip through JSON like the runtime's `json` content type, so nothing unserialisable slips through.
  return { ...message, body: JSON.parse(JSON.stringify(message.body)) as unknown };
}

/** A sent message's body as the consumer's parse step reads it (text bodies are JSON). */
export function messageEvent(message: MessageSendRequest<unknown>): CollectedEvent {
  return collectedEventSchema.parse(typeof message.body === 'string' ? JSON.parse(message.body) : message.body);
}

/** The bytes a message body takes on the queue: UTF-8 text, or the JSON of an object. */
export function messageBytes(message: MessageSendRequest<unknown>): number {
  return new TextEncoder().encode(typeof message.body === 'string' ? message.body : JSON.stringify(message.body)).byteLength;
}

/** A Queue that keeps every sendBatch call (as the runtime would see it), or fails on demand. */
export class RecordingQueue {
  readonly calls: MessageSendRequest<unknown>[][] = [];
  failWith: Error | null = null;

  async send(body: unknown, options?: QueueSendOptions): Promise<void> {
    await this.sendBatch([{ body, ...options }]);
  }

  async sendBatch(messages: Iterable<MessageSendRequest<unknown>>): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.calls.push([...messages].map(delivered));
  }

  /** Every delivered event, re-validated exactly as a consumer would (the tallies of blocked events left out). */
  events(): CollectedEvent[] {
    return this.calls.flat().filter((message) => !isPlanBlockedMessage(message.body)).map(messageEvent);
  }

  /** The tallies of blocked events the edge sent, re-validated as the consumer does. */
  tallies(): PlanBlockedTally[] {
    return this.calls.flat().filter((message) => isPlanBlockedMessage(message.body)).map((message) => planBlockedTallySchema.parse(message.body));
  }

  asQueue(): Queue {
    return this as unknown as Queue;
  }
}

export interface AppCall {
  response: Response;
  queue: RecordingQueue;
}

export interface AppCallOptions {
  queue?: RecordingQueue;
  cf?: Record<string, unknown>;
  envOverrides?: Partial<Env>;
}

const app = createApp();

/** Calls the real app (routes, auth against D1, onError) and waits for its waitUntil work (the stream mirror). */
export async function callCollect(path: string, init: RequestInit & { json?: unknown } = {}, options: AppCallOptions = {}): Promise<AppCall> {
  const queue = options.queue ?? new RecordingQueue();
  const { json, headers, ...rest } = init;
  const request = new Request(`http://monfri.test${path}`, {
    method: 'POST',
    ...rest,
    headers: { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...(headers as Record<string, string> | undefined) },
    body: json === undefined ? rest.body : JSON.stringify(json),
    cf: options.cf,
  });
  const testEnv: Env = { ...env, ...options.envOverrides, EVENTS: queue.asQueue() };
  const ctx = createExecutionContext();
  const response = await app.fetch(request, testEnv, ctx);
  await waitOnExecutionContext(ctx);
  return { response, queue };
}

export function trackEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'track', event: 'Order Completed', userId: 'user-1', properties: { total: 42 }, ...overrides };
}

export interface BatchAnswer {
  success: boolean;
  accepted: number;
  rejected: { index: number; messageId: string | null; code: string; message: string; path: string }[];
  error?: { code: string; message: string };
}

export interface ErrorAnswer {
  error: { code: string; message: string; details?: unknown };
}
