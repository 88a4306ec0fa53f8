/**
 * Hands accepted events to the workspace's live room at once (status `received`), so the
 * dashboard shows them without waiting for the queue and the ClickHouse insert; the consumer
 * confirms each one later. Runs after the queue took the events (never shows one we answered
 * 503 for) and inside waitUntil, so the response does not wait for the room.
 */
import { announceToLiveFeed } from '../../durable-objects/live-feed-publish';
import type { SerializedEvent } from './handoff';

export async function announceAccepted(env: Pick<Env, 'LIVE_FEED'>, workspaceId: string, accepted: readonly SerializedEvent[]): Promise<void> {
  await announceToLiveFeed(env, workspaceId, accepted.map(({ json }) => json), 'live_announce');
}
