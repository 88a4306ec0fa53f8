/**
 * The tally of events a tracking plan blocked: the edge refuses them (never stored, so no
 * materialized view over `events` can count them) and sends one of these per request on the
 * `events` queue, next to the accepted events; the consumer adds it to `plan_blocked_counts`
 * (schema/clickhouse/006_plan_blocked_counts.sql). Counted like `plan_violation_counts`: per
 * UTC day of the event's timestamp, call type, event name ('' for identify, group and alias),
 * rule and key path (array indices as `[]`), each rule once per event.
 */
import { z } from 'zod';
import { EVENT_TYPES, LIMITS } from './event';

/** Tells a tally from an event on the shared queue (events carry no `kind`). */
export const PLAN_BLOCKED_KIND = 'plan_blocked';

export const planBlockedCountSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  type: z.enum(EVENT_TYPES),
  event: z.string().max(LIMITS.maxEventNameLength),
  rule: z.string(),
  path: z.string(),
  blocked: z.number().int().positive(),
});
export type PlanBlockedCount = z.output<typeof planBlockedCountSchema>;

export const planBlockedTallySchema = z.object({
  kind: z.literal(PLAN_BLOCKED_KIND),
  workspaceId: z.string().min(1),
  /** The tally's own id, made from the blocked events' messageIds: a redelivery or a client's retry of the same batch has the same one. */
  messageId: z.string().min(1),
  counts: z.array(planBlockedCountSchema).min(1),
});
export type PlanBlockedTally = z.output<typeof planBlockedTallySchema>;

/** Whether a queue message body is a tally (sent as a `json` message, so an object; a replay sends it back as one). */
export function isPlanBlockedMessage(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'kind' in body && body.kind === PLAN_BLOCKED_KIND;
}
