/**
 * Messages of the live feed: what the edge and the consumer publish and what the dashboard
 * receives. An event shows up twice: `received` from the edge as soon as the queue took it,
 * then its outcome from the consumer after the ClickHouse insert, which replaces it (same
 * messageId, same `seq`). An event the tracking plan blocked shows up once, `blocked`, from the edge.
 */
import { z } from 'zod';
import { collectedEventSchema, EVENT_SOURCES, EVENT_TYPES, jsonObjectSchema, type CollectedEvent, type EventSource, type EventType, type JsonObject } from './event';

/**
 * received: accepted by the edge, not yet stored (`reason` carries the edge's bot verdict, if any);
 * stored: counted normally; flagged: stored but excluded (bot, plan violation); dropped: not stored (e.g. duplicate);
 * blocked: refused by the edge's tracking-plan check, never queued (`reason` is the refusal code,
 * `plan.violations` every broken rule).
 */
export const FEED_STATUSES = ['received', 'stored', 'flagged', 'dropped', 'blocked'] as const;
export type FeedStatus = (typeof FEED_STATUSES)[number];
/** The consumer's outcome for an event; it replaces the edge's `received` item. */
export type FeedOutcome = Exclude<FeedStatus, 'received' | 'blocked'>;

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
  /** What the tracking plan said about the event (flagged or recorded), when anything. */
  plan?: CollectedEvent['plan'];
}

/** Validates feed items read back from storage (the live room's ring). */
export const feedItemSchema = z.object({
  workspaceId: z.string(),
  messageId: z.string(),
  type: z.enum(EVENT_TYPES),
  event: z.string().nullable(),
  personId: z.string().nullable(),
  userId: z.string().nullable(),
  anonymousId: z.string().nullable(),
  timestamp: z.string(),
  receivedAt: z.string(),
  source: z.enum(EVENT_SOURCES),
  status: z.enum(FEED_STATUSES),
  reason: z.string().nullable(),
  properties: jsonObjectSchema,
  traits: jsonObjectSchema,
  context: jsonObjectSchema,
  plan: collectedEventSchema.shape.plan,
}) satisfies z.ZodType<FeedItem>;

/** A feed item as the room sends it: `seq` orders items within one workspace's room; an outcome keeps its `received` item's seq. */
export interface LiveItem extends FeedItem {
  seq: number;
}

/** Narrows a socket to one event name and/or one person (userId or anonymousId). */
export interface LiveFilter {
  event: string | null;
  person: string | null;
}

/**
 * Frames the room sends over the WebSocket. The client answers each `events` frame with
 * `{"type":"ack"}` (or `{"type":"ack","frames":n}`); a client too far behind gets `dropped`
 * instead of more frames, then `resumed` once it has caught up.
 */
export type LiveServerFrame =
  | { type: 'hello'; workspaceId: string; filter: LiveFilter; serverTime: string }
  | { type: 'backfill'; items: LiveItem[] }
  /** `at`: when the room sent the frame (epoch ms), for latency breakdowns. */
  | { type: 'events'; items: LiveItem[]; at: number }
  | { type: 'dropped'; reason: 'slow_client' }
  | { type: 'resumed'; dropped: number };

export type LiveClientFrame = { type: 'ack'; frames?: number };
