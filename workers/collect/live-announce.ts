/**
 * Hands accepted events to the workspace's live room at once (status `received`), so the
 * dashboard shows them without waiting for the queue and the ClickHouse insert; the consumer
 * confirms each one later. Runs after the queue took the events (never shows one we answered
 * 503 for) and inside waitUntil, so the response does not wait for the room. The room gets the
 * JSON already made for the queue and builds the feed items itself: the request pays a copy
 * of strings, not a structured clone of every event.
 */
import type { SerializedEvent } from './handoff';

/** Keeps each RPC well under the 32 MiB message limit (events are at most 32 KB each). */
const MAX_EVENTS_PER_CALL = 250;

/** Best effort, like the stream mirror: a failure is logged and never reaches the answer. */
export async function announceToLiveFeed(env: Pick<Env, 'LIVE_FEED'>, workspaceId: string, accepted: readonly SerializedEvent[]): Promise<void> {
  if (accepted.length === 0) return;
  try {
    const room = env.LIVE_FEED.getByName(workspaceId);
    // One call after another, so the room assigns seq in the request's order.
    for (let start = 0; start < accepted.length; start += MAX_EVENTS_PER_CALL) {
      await room.announce(workspaceId, accepted.slice(start, start + MAX_EVENTS_PER_CALL).map(({ json }) => json));
    }
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', step: 'live_announce', workspaceId, events: accepted.length, error: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
  }
}
