/** Messages of the live feed: what the consumer publishes and what the dashboard receives. */
import type { EventSource, EventType, JsonObject } from './event';

/** stored: counted normally; flagged: stored but excluded (bot, plan violation); dropped: not stored (e.g. duplicate). */
export type FeedStatus = 'stored' | 'flagged' | 'dropped';

export interface FeedItem {
  workspaceId: string;
  messageId: string;
  type: EventType;
  event: string | null;
  personId: string | null;
  userId: string | null;
  anonymousId: string | null;
  timestamp: string;
  receivedAt: string;
  source: EventSource;
  status: FeedStatus;
  reason: string | null;
  properties: JsonObject;
  traits: JsonObject;
  context: JsonObject;
}
