/** Splitting messages into Cloudflare Queues `sendBatch` calls, shared by the edge and the replays. */

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
