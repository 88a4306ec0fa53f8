import type { CollectedEvent } from '../schema/event';
import type { FeedItem, FeedStatus } from '../schema/feed';

/** Keeps each RPC well under the 32 MiB message limit even for batches of large events. */
const MAX_ITEMS_PER_CALL = 250;

/** Why an event is flagged (bot reasons, then `plan_violation`), or null when it is not. */
export function flagReasonOf(event: CollectedEvent): string | null {
  const reasons: string[] = [];
  if (event.bot.flagged) reasons.push(event.bot.reason ?? 'bot');
  if (event.plan?.flagged) reasons.push(event.plan.unplanned ? 'plan_violation:unplanned' : 'plan_violation');
  return reasons.length > 0 ? reasons.join(' ') : null;
}

/** The feed's view of a collected event; `personId` is known only once the consumer resolved identity. */
export function feedItemOf(event: CollectedEvent, status: FeedStatus, reason: string | null, personId: string | null): FeedItem {
  return {
    workspaceId: event.workspaceId,
    messageId: event.messageId,
    type: event.type,
    event: event.event,
    personId,
    userId: event.userId,
    anonymousId: event.anonymousId,
    timestamp: event.timestamp,
    receivedAt: event.receivedAt,
    source: event.source,
    status,
    reason,
    properties: event.properties,
    traits: event.traits,
    context: event.context,
    ...(event.plan ? { plan: event.plan } : {}),
  };
}

/** Accepted, not yet stored: what the edge (and the stream mirror) knows, with the edge's bot verdict. */
export function receivedItemOf(event: CollectedEvent): FeedItem {
  return feedItemOf(event, 'received', flagReasonOf(event), null);
}

/** What one publish did, for the consumer's batch report (latency breakdown in bench/live). */
export interface LivePublishReport {
  workspaceId: string;
  items: number;
  seqFrom: number | null;
  seqTo: number | null;
  /** Epoch ms: the call started, the room ran the last chunk's broadcast, the call returned. */
  startedAt: number;
  roomAt: number | null;
  doneAt: number;
  error?: string;
}

/**
 * Publishes events to the workspace's live-feed room: `received` ones from the edge, outcomes
 * from the consumer. Best effort: the queue (then ClickHouse) holds the events, so a failure
 * here is logged and reported, never thrown into the request or the pipeline.
 * Items of another workspace are left out, so one room can never show another's events.
 * Chunks go out one after another, so the room assigns `seq` in the batch's order.
 */
export async function publishToLiveFeed(env: Pick<Env, 'LIVE_FEED'>, workspaceId: string, items: FeedItem[]): Promise<LivePublishReport | null> {
  const own = items.filter((item) => item.workspaceId === workspaceId);
  if (own.length === 0) return null;
  const report: LivePublishReport = { workspaceId, items: own.length, seqFrom: null, seqTo: null, startedAt: Date.now(), roomAt: null, doneAt: 0 };
  try {
    const room = env.LIVE_FEED.getByName(workspaceId);
    for (let start = 0; start < own.length; start += MAX_ITEMS_PER_CALL) {
      const result = await room.broadcast(own.slice(start, start + MAX_ITEMS_PER_CALL));
      report.seqFrom ??= result.seqFrom;
      report.seqTo = result.seqTo;
      report.roomAt = result.at;
    }
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
    console.warn(JSON.stringify({ level: 'warn', message: 'live feed publish failed', workspaceId, items: own.length, error: report.error }));
  }
  report.doneAt = Date.now();
  return report;
}

/** Keeps each announce RPC well under the 32 MiB message limit (events are at most 32 KB each). */
const MAX_EVENTS_PER_ANNOUNCE = 250;

/**
 * Hands events not yet stored to the workspace's room as `received` items, from their queue
 * JSON (the room builds the items itself: callers pay a copy of strings, not a structured
 * clone). The edge does this for accepted events, segment shards for membership changes.
 * Best effort, like publishToLiveFeed: a failure is logged, never thrown.
 */
export async function announceToLiveFeed(env: Pick<Env, 'LIVE_FEED'>, workspaceId: string, eventJson: readonly string[], step: string): Promise<void> {
  if (eventJson.length === 0) return;
  try {
    const room = env.LIVE_FEED.getByName(workspaceId);
    // One call after another, so the room assigns seq in the given order.
    for (let start = 0; start < eventJson.length; start += MAX_EVENTS_PER_ANNOUNCE) {
      await room.announce(workspaceId, eventJson.slice(start, start + MAX_EVENTS_PER_ANNOUNCE));
    }
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', step, workspaceId, events: eventJson.length, error: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
  }
}
