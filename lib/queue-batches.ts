/** Splitting messages into Cloudflare Queues `sendBatch` calls, shared by the edge, the consumers and the replays. */

/** One sendBatch: at most 100 messages and 256 KB; headroom for each message's envelope. */
export const QUEUE_SEND_LIMITS = {
  maxMessages: 100,
  maxBytes: 240 * 1024,
  perMessageOverheadBytes: 128,
} as const;

/** Splits items, in order, into chunks that each fit one sendBatch; `bytesOf` is an item's message size. */
export function chunkForQueue<T>(items: readonly T[], bytesOf: (item: T) => number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let currentBytes = 0;
  for (const item of items) {
    const size = bytesOf(item) + QUEUE_SEND_LIMITS.perMessageOverheadBytes;
    const full = current.length >= QUEUE_SEND_LIMITS.maxMessages || currentBytes + size > QUEUE_SEND_LIMITS.maxBytes;
    if (current.length > 0 && full) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(item);
    currentBytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A sendBatch failed part way: `sent` of `total` went out first (in order), so a caller can say how far it got. */
export class QueueSendError extends Error {
  constructor(
    readonly sent: number,
    readonly total: number,
    cause: unknown,
  ) {
    super(`queue send failed after ${sent} of ${total} messages: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Sends bodies in order, in batches that respect the Queues limits; returns how many were sent, or throws QueueSendError. */
export async function sendInBatches(queue: Queue, bodies: readonly unknown[]): Promise<number> {
  const encoder = new TextEncoder();
  const messages = bodies.map((body) => ({ body, bytes: encoder.encode(JSON.stringify(body)).byteLength }));
  let sent = 0;
  for (const chunk of chunkForQueue(messages, (message) => message.bytes)) {
    try {
      await queue.sendBatch(chunk.map(({ body }) => ({ body, contentType: 'json' as const })));
    } catch (error) {
      throw new QueueSendError(sent, messages.length, error);
    }
    sent += chunk.length;
  }
  return sent;
}
