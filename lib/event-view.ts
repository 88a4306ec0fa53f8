/**
 * ClickHouse `events` rows as the query API returns them: camelCase, ISO times with milliseconds,
 * JSON parsed back. In lib/ because the query API and the webhooks hook (a consumer) both show
 * events this way, and consumers must not import workers.
 */
import { z } from 'zod';
import { uint64 } from './event-queries';
import { jsonObjectSchema, type JsonObject } from '../schema/event';

export const eventRowSchema = z.object({
  message_id: z.string(),
  type: z.string(),
  event: z.string(),
  user_id: z.string(),
  anonymous_id: z.string(),
  person_id: z.string(),
  group_id: z.string(),
  previous_id: z.string(),
  timestamp_ms: uint64,
  received_at_ms: uint64,
  sent_at_ms: uint64,
  original_timestamp_ms: uint64,
  timestamp_adjustment: z.string(),
  properties: z.string(),
  traits: z.string(),
  context: z.string(),
  integrations: z.string(),
  page_url: z.string(),
  page_path: z.string(),
  page_referrer: z.string(),
  page_title: z.string(),
  user_agent: z.string(),
  ip: z.string(),
  country: z.string(),
  region: z.string(),
  city: z.string(),
  library_name: z.string(),
  library_version: z.string(),
  session_id: z.string(),
  source: z.string(),
  is_bot: uint64,
  bot_reason: z.string(),
  plan_violation: uint64,
  violation_reason: z.string(),
});
export type EventRowView = z.output<typeof eventRowSchema>;

export function jsonObjectOf(text: string): JsonObject {
  try {
    const parsed = jsonObjectSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

const isoOrNull = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
const orNull = (value: string): string | null => (value === '' ? null : value);

export function eventView(row: EventRowView) {
  return {
    messageId: row.message_id,
    type: row.type,
    event: orNull(row.event),
    userId: orNull(row.user_id),
    anonymousId: orNull(row.anonymous_id),
    personId: row.person_id,
    groupId: orNull(row.group_id),
    previousId: orNull(row.previous_id),
    timestamp: new Date(row.timestamp_ms).toISOString(),
    timestampMs: row.timestamp_ms,
    receivedAt: isoOrNull(row.received_at_ms),
    sentAt: isoOrNull(row.sent_at_ms),
    originalTimestamp: isoOrNull(row.original_timestamp_ms),
    timestampAdjustment: orNull(row.timestamp_adjustment),
    properties: jsonObjectOf(row.properties),
    traits: jsonObjectOf(row.traits),
    context: jsonObjectOf(row.context),
    integrations: jsonObjectOf(row.integrations),
    page: { url: orNull(row.page_url), path: orNull(row.page_path), referrer: orNull(row.page_referrer), title: orNull(row.page_title) },
    userAgent: orNull(row.user_agent),
    ip: orNull(row.ip),
    geo: { country: orNull(row.country), region: orNull(row.region), city: orNull(row.city) },
    library: { name: row.library_name, version: row.library_version },
    sessionId: orNull(row.session_id),
    source: row.source,
    bot: { flagged: row.is_bot === 1, reason: orNull(row.bot_reason) },
    planViolation: { flagged: row.plan_violation === 1, reason: orNull(row.violation_reason) },
  };
}
