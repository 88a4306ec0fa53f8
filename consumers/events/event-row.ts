/**
 * One ClickHouse `events` row per event (pure: no Worker types, so the benchmark can build
 * rows too). Used by step 4 (build-rows), every field as sent. Times are kept to the
 * millisecond as UInt64 epoch ms next to a DateTime (18.16 has no DateTime64); properties
 * are lossless JSON text plus top-level key/value arrays for filtering (traits too).
 */
import type { CollectedEvent, JsonObject, JsonValue } from '../../schema/event';
import { planViolationColumns, schemaColumns } from './schema-paths';

function epochMs(iso: string | null): number {
  if (!iso) return 0;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

function stringAt(object: JsonObject | undefined, key: string): string {
  const value = object?.[key];
  return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

function objectAt(object: JsonObject, key: string): JsonObject | undefined {
  const value = object[key];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
}

/** Strings as they are; anything else as its JSON text, so `property equals` compares what was sent. */
export function propertyValueText(value: JsonValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Page fields come from context.page (browser SDKs) or, for page calls, from properties (Segment server libraries). */
function pageField(event: CollectedEvent, key: string): string {
  const fromContext = stringAt(objectAt(event.context, 'page'), key);
  if (fromContext || event.type !== 'page') return fromContext;
  return stringAt(event.properties, key);
}

export function buildEventRow(event: CollectedEvent, personId: string, insertedAtMs: number): EventRow {
  const timestampMs = epochMs(event.timestamp);
  const propertyEntries = Object.entries(event.properties);
  const traitEntries = Object.entries(event.traits);
  return {
    workspace_id: event.workspaceId,
    message_id: event.messageId,
    type: event.type,
    event: event.event ?? '',
    user_id: event.userId ?? '',
    anonymous_id: event.anonymousId ?? '',
    person_id: personId,
    group_id: event.groupId ?? '',
    previous_id: event.previousId ?? '',
    timestamp: Math.floor(timestampMs / 1000),
    timestamp_ms: timestampMs,
    received_at_ms: epochMs(event.receivedAt),
    sent_at_ms: epochMs(event.sentAt),
    original_timestamp_ms: epochMs(event.originalTimestamp),
    timestamp_adjustment: event.timestampAdjustment ?? '',
    properties: JSON.stringify(event.properties),
    property_keys: propertyEntries.map(([key]) => key),
    property_values: propertyEntries.map(([, value]) => propertyValueText(value)),
    traits: JSON.stringify(event.traits),
    // Traits as JSON text (a string keeps its quotes), so a trait's type survives to the person's profile.
    trait_keys: traitEntries.map(([key]) => key),
    trait_values: traitEntries.map(([, value]) => JSON.stringify(value)),
    context: JSON.stringify(event.context),
    integrations: JSON.stringify(event.integrations),
    page_url: pageField(event, 'url'),
    page_path: pageField(event, 'path'),
    page_referrer: pageField(event, 'referrer'),
    page_title: pageField(event, 'title'),
    user_agent: event.userAgent ?? stringAt(event.context, 'userAgent'),
    ip: event.ip ?? '',
    country: event.geo?.country ?? '',
    region: event.geo?.region ?? '',
    city: event.geo?.city ?? '',
    library_name: event.library.name,
    library_version: event.library.version,
    session_id: event.sessionId ?? '',
    source: event.source,
    is_bot: event.bot.flagged ? 1 : 0,
    bot_reason: event.bot.reason ?? '',
    ...planViolationColumns(event.plan),
    ...schemaColumns(event),
    inserted_at: Math.floor(insertedAtMs / 1000),
  };
}

/** One ClickHouse `events` row (JSONEachRow); columns match schema/clickhouse/001_events.sql and the later migrations that add columns (004, 005). */
export interface EventRow {
  workspace_id: string;
  message_id: string;
  type: string;
  event: string;
  user_id: string;
  anonymous_id: string;
  person_id: string;
  group_id: string;
  previous_id: string;
  timestamp: number;
  timestamp_ms: number;
  received_at_ms: number;
  sent_at_ms: number;
  original_timestamp_ms: number;
  timestamp_adjustment: string;
  properties: string;
  property_keys: string[];
  property_values: string[];
  traits: string;
  trait_keys: string[];
  trait_values: string[];
  context: string;
  integrations: string;
  page_url: string;
  page_path: string;
  page_referrer: string;
  page_title: string;
  user_agent: string;
  ip: string;
  country: string;
  region: string;
  city: string;
  library_name: string;
  library_version: string;
  session_id: string;
  source: string;
  is_bot: number;
  bot_reason: string;
  plan_violation: number;
  violation_reason: string;
  plan_violation_reasons: string[];
  schema_paths: string[];
  schema_types: string[];
  schema_value_hashes: number[];
  schema_examples: string[];
  inserted_at: number;
}
