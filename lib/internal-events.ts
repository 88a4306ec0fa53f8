/**
 * Monfri's own events (segment membership changes, usage notices): `source: internal`, never
 * billable, never fed back into segments, but stored, shown on the live feed and offered to
 * webhooks like any event. One shape for all of them, so the consumer treats them alike.
 */
import type { CollectedEvent, JsonObject } from '../schema/event';

export interface InternalEventInput {
  workspaceId: string;
  messageId: string;
  event: string;
  userId: string | null;
  anonymousId: string | null;
  properties: JsonObject;
  nowMs: number;
}

export function internalEvent(input: InternalEventInput): CollectedEvent {
  const at = new Date(input.nowMs).toISOString();
  return {
    v: 1,
    workspaceId: input.workspaceId,
    messageId: input.messageId,
    type: 'track',
    event: input.event,
    userId: input.userId,
    anonymousId: input.anonymousId,
    groupId: null,
    previousId: null,
    properties: input.properties,
    traits: {},
    context: { library: { name: 'monfri', version: '1' } },
    integrations: {},
    timestamp: at,
    originalTimestamp: null,
    sentAt: null,
    receivedAt: at,
    timestampAdjustment: null,
    source: 'internal',
    ip: null,
    userAgent: null,
    geo: null,
    library: { name: 'monfri', version: '1' },
    sessionId: null,
    bot: { flagged: false, reason: null },
  };
}
