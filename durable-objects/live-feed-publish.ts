import type { FeedItem } from '../schema/feed';

/** Keeps each RPC well under the 32 MiB message limit even for batches of large events. */
const MAX_ITEMS_PER_CALL = 250;

/**
 * Publishes processed events to the workspace's live-feed room. Best effort: the events are
 * already stored, so a failure here is logged and swallowed, never thrown into the pipeline.
 * Items of another workspace are left out, so one room can never show another's events.
 * Chunks go out one after another, so the room assigns `seq` in the batch's order.
 */
export async function publishToLiveFeed(env: Env, workspaceId: string, items: FeedItem[]): Promise<void> {
  const own = items.filter((item) => item.workspaceId === workspaceId);
  if (own.length === 0) return;
  try {
    const room = env.LIVE_FEED.getByName(workspaceId);
    for (let start = 0; start < own.length; start += MAX_ITEMS_PER_CALL) await room.broadcast(own.slice(start, start + MAX_ITEMS_PER_CALL));
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', message: 'live feed publish failed', workspaceId, items: own.length, error: error instanceof Error ? error.message : String(error) }));
  }
}
