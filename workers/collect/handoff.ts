/**
 * Hands accepted events on: the `events` Queue (must succeed before we answer 2xx) and the
 * per-workspace Redis Stream mirror (best effort, after the response, never fails ingestion).
 */
import { sendPipeline, withRedisDeadline, type RedisConfig } from '../../lib/redis';
import { chunkForQueue } from '../../lib/queue-batches';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { LIMITS, type CollectedEvent } from '../../schema/event';
import { REQUEST_REJECTIONS } from '../../schema/rejections';
import { ApiError } from '../errors';
import { utf8Length } from './validate';

export const QUEUE_RETRY_AFTER_SECONDS = 10;

/** An event with its JSON, serialised once: sized, sent as the queue message, and mirrored to the stream. */
export interface SerializedEvent {
  event: CollectedEvent;
  json: string;
  bytes: number;
}

/**
 * Scratch space for sizing events: the native encoder counts UTF-8 bytes faster than a JS
 * scan. It stops when the space runs out, which only happens past the per-event limit.
 */
const sizingEncoder = new TextEncoder();
const sizingScratch = new Uint8Array(LIMITS.maxEventBytes + 4);

export function serializeEvent(event: CollectedEvent): SerializedEvent {
  const json = JSON.stringify(event);
  const { read, written } = sizingEncoder.encodeInto(json, sizingScratch);
  return { event, json, bytes: read === json.length ? written : utf8Length(json) };
}

/**
 * All or nothing from the client's view: if any chunk fails the request is answered 503
 * and the client retries the whole batch. Chunks that did go through are then delivered
 * twice; the consumer's per-workspace messageId dedup makes that invisible.
 * Messages are the JSON text we already made (`text`): a `json` message would have the
 * runtime serialise every event a second time. Its UTF-8 bytes are what `chunkForQueue`
 * counted. The consumer's parse step reads text and object bodies alike.
 */
export async function sendToQueue(queue: Queue, events: readonly SerializedEvent[]): Promise<void> {
  try {
    await Promise.all(chunkForQueue(events, (item) => item.bytes).map((chunk) => queue.sendBatch(chunk.map(({ json }) => ({ body: json, contentType: 'text' as const })))));
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', step: 'queue_send', events: events.length, error: error instanceof Error ? error.message : String(error) }));
    throw new ApiError(503, 'queue_unavailable', REQUEST_REJECTIONS.queue_unavailable, undefined, { 'Retry-After': String(QUEUE_RETRY_AFTER_SECONDS) });
  }
}

/**
 * One pipelined request of XADDs to Upstash's REST API, trimmed approximately (`MAXLEN ~`,
 * cheap for Redis); sent without the @upstash/redis client, which cost a one-event request
 * more than the rest of its hand-off (bench/results/edge-request.md). Runs only for events the queue took, so the mirror never shows an event
 * we answered 503 for. Failures are logged and swallowed: the queue, not the mirror, is the
 * system of record.
 */
export async function mirrorToStream(redis: RedisConfig, workspaceId: string, events: readonly SerializedEvent[], maxLen: number): Promise<void> {
  if (events.length === 0) return;
  try {
    const key = eventStreamKey(workspaceId);
    const threshold = String(maxLen);
    await withRedisDeadline(sendPipeline(redis, events.map(({ json }) => ['XADD', key, 'MAXLEN', '~', threshold, '*', STREAM_EVENT_FIELD, json])));
  } catch (error) {
    // Errors name the failure, never the events.
    const reason = (error instanceof Error ? error.message : String(error)).slice(0, 300);
    console.error(JSON.stringify({ level: 'warn', step: 'stream_mirror', workspaceId, events: events.length, error: reason }));
  }
}
