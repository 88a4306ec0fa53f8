/**
 * The durable dead-letter store (D1 `dead_letters`): poison messages the pipeline refuses
 * (with the reason) and messages that exhausted their retries (delivered by the
 * `monfri-events-dlq` queue). `queue` is where a replay sends the body back to.
 */
import { z } from 'zod';

export const EVENTS_QUEUE = 'monfri-events';
export const EVENTS_DLQ = 'monfri-events-dlq';
export const WEBHOOKS_QUEUE = 'monfri-webhooks';
export const WEBHOOKS_DLQ = 'monfri-webhooks-dlq';
export const SEGMENTS_QUEUE = 'monfri-segments';
export const SEGMENTS_DLQ = 'monfri-segments-dlq';
/** The reason recorded for events the dead-letter queue delivers (retries used up, not refused). */
export const RETRIES_EXHAUSTED = 'retries_exhausted';

export interface DeadLetterInput {
  queue: string;
  body: unknown;
  reason: string;
  attempts: number;
}

/** Just enough of a body to index it by workspace and message; the body itself is kept verbatim. */
const looseEventIds = z.object({ workspaceId: z.string().optional(), messageId: z.string().optional() }).loose();

function idsOf(body: unknown): { workspaceId: string | null; messageId: string | null } {
  const parsed = looseEventIds.safeParse(typeof body === 'string' ? safeJson(body) : body);
  return parsed.success ? { workspaceId: parsed.data.workspaceId ?? null, messageId: parsed.data.messageId ?? null } : { workspaceId: null, messageId: null };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export async function storeDeadLetters(db: D1Database, letters: readonly DeadLetterInput[]): Promise<void> {
  if (letters.length === 0) return;
  const statement = db.prepare('INSERT INTO dead_letters (id, queue, workspace_id, message_id, body, reason, attempts) VALUES (?, ?, ?, ?, ?, ?, ?)');
  await db.batch(
    letters.map((letter) => {
      const { workspaceId, messageId } = idsOf(letter.body);
      const body = typeof letter.body === 'string' ? letter.body : JSON.stringify(letter.body ?? null);
      return statement.bind(crypto.randomUUID(), letter.queue, workspaceId, messageId, body, letter.reason.slice(0, 2000), letter.attempts);
    }),
  );
}

/**
 * `monfri-events-dlq`: events that failed `max_retries` times (e.g. ClickHouse down for
 * longer than the backoff covers). Stored for `npm run admin -- dlq replay`; if D1 itself
 * fails they stay on this queue and are retried.
 */
export async function handleEventsDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  try {
    await storeDeadLetters(env.DB, batch.messages.map((message) => ({ queue: EVENTS_QUEUE, body: message.body, reason: RETRIES_EXHAUSTED, attempts: message.attempts })));
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', queue: batch.queue, error: String(error) }));
    batch.retryAll({ delaySeconds: 30 });
  }
}
