/**
 * Every SQL text the pipeline and the query API send to ClickHouse, built only with
 * lib/sql.ts (values as escaped literals, identifiers from allow-lists). Portable to
 * ClickHouse 18.16 and current releases: no query parameters, no DateTime64, no Map.
 *
 * Exactly-once as queries see it: the consumer's Redis check keeps duplicates out on the
 * hot path; a duplicate that slips through (Redis down, crash between insert and ack)
 * has the same ReplacingMergeTree key, so listings read `FINAL` and counts use
 * `uniqExact(message_id)` (also exact across partitions, where FINAL cannot merge).
 */
import { z } from 'zod';
import type { ClickHouseClient } from './clickhouse';
import { identifier, literal, raw, sql, type RawSql } from './sql';

/** Runs a SELECT built here and validates every row (no `as T` on data from the network). */
export async function queryRows<S extends z.ZodType>(client: ClickHouseClient, query: string, rowSchema: S): Promise<z.output<S>[]> {
  const result = await client.query({ query, format: 'JSONEachRow' });
  return z.array(rowSchema).parse(await result.json());
}

/** 18.16 (and current ClickHouse by default) quote 64-bit integers in JSON output. */
export const uint64 = z.union([z.number(), z.string()]).transform((value) => Number(value));

/** `a, b, c` for an IN list (a bare array literal would be compared as one Array value). */
function inList(values: readonly string[]): RawSql {
  return raw((values.length ? values : ['\u0000none']).map((value) => literal(value)).join(', '));
}

export const EVENTS_TABLE = 'events';
export const IDENTITIES_TABLE = 'identities';
export const IDENTITY_CONFLICTS_TABLE = 'identity_conflicts';

/** Identity keys: one namespace per id kind, so a userId "7" and an anonymousId "7" never collide. */
export function userKey(userId: string): string {
  return `user:${userId}`;
}
export function anonymousKey(anonymousId: string): string {
  return `anonymous:${anonymousId}`;
}

export function lookupIdentitiesQuery(workspaceId: string, identityKeys: readonly string[]): string {
  return sql`SELECT identity_key, person_id FROM identities FINAL
WHERE workspace_id = ${workspaceId} AND identity_key IN (${inList(identityKeys)})`;
}

/** Identities pointing at any of `personIds` (one hop; the caller repeats for chains). */
export function identitiesOfPersonsQuery(workspaceId: string, personIds: readonly string[]): string {
  return sql`SELECT identity_key, person_id, source, message_id, linked_at_ms FROM identities FINAL
WHERE workspace_id = ${workspaceId} AND person_id IN (${inList(personIds)})
ORDER BY linked_at_ms, identity_key`;
}

export function conflictsOfPersonsQuery(workspaceId: string, personIds: readonly string[]): string {
  const ids = inList(personIds);
  return sql`SELECT identity_key, existing_person_id, claimed_person_id, message_id, detected_at_ms FROM identity_conflicts FINAL
WHERE workspace_id = ${workspaceId} AND (existing_person_id IN (${ids}) OR claimed_person_id IN (${ids}))
ORDER BY detected_at_ms, identity_key, claimed_person_id, message_id`;
}

/** Everything a person's events can be recognised by, resolved through the identity map at read time. */
export interface PersonMatch {
  personIds: string[];
  userIds: string[];
  anonymousIds: string[];
}

export interface EventFilters {
  workspaceId: string;
  event?: string;
  person?: PersonMatch;
  fromMs?: number;
  toMs?: number;
  propertyEquals?: readonly (readonly [string, string])[];
  types?: readonly string[];
  includeBots: boolean;
}

function personCondition(person: PersonMatch): RawSql {
  // An event that carries a userId belongs to that user: its anonymous id only counts when no userId was sent
  // (so a refused link, see identity_conflicts, never pulls another user's events in).
  return raw(
    sql`(person_id IN (${inList(person.personIds)}) OR user_id IN (${inList(person.userIds)}) OR (user_id = '' AND anonymous_id IN (${inList(person.anonymousIds)})))`,
  );
}

/** Conditions shared by listings and stats; always scoped to one workspace. */
export function eventConditions(filters: EventFilters): RawSql {
  const parts: string[] = [sql`workspace_id = ${filters.workspaceId}`];
  if (!filters.includeBots) parts.push('is_bot = 0');
  if (filters.event !== undefined) parts.push(sql`event = ${filters.event}`);
  if (filters.types?.length) parts.push(sql`type IN (${inList(filters.types)})`);
  if (filters.fromMs !== undefined) {
    parts.push(sql`timestamp >= toDateTime(${Math.floor(filters.fromMs / 1000)}) AND timestamp_ms >= ${filters.fromMs}`);
  }
  if (filters.toMs !== undefined) {
    parts.push(sql`timestamp <= toDateTime(${Math.floor(filters.toMs / 1000)}) AND timestamp_ms < ${filters.toMs}`);
  }
  for (const [key, value] of filters.propertyEquals ?? []) {
    parts.push(sql`indexOf(property_keys, ${key}) > 0 AND property_values[indexOf(property_keys, ${key})] = ${value}`);
  }
  if (filters.person) parts.push(personCondition(filters.person).text);
  return raw(parts.join(' AND '));
}

export const EVENT_LIST_COLUMNS = [
  'message_id', 'type', 'event', 'user_id', 'anonymous_id', 'person_id', 'group_id', 'previous_id',
  'timestamp_ms', 'received_at_ms', 'sent_at_ms', 'original_timestamp_ms', 'timestamp_adjustment',
  'properties', 'traits', 'context', 'integrations', 'page_url', 'page_path', 'page_referrer', 'page_title',
  'user_agent', 'ip', 'country', 'region', 'city', 'library_name', 'library_version', 'session_id',
  'source', 'is_bot', 'bot_reason', 'plan_violation', 'violation_reason',
] as const;

export interface EventCursor {
  timestampMs: number;
  messageId: string;
}

/** Newest first; the cursor is the last row of the previous page (keyset pagination). */
export function listEventsQuery(filters: EventFilters, limit: number, cursor?: EventCursor): string {
  const columns = raw(EVENT_LIST_COLUMNS.map((column) => identifier(column, EVENT_LIST_COLUMNS)).join(', '));
  const after = cursor
    ? raw(sql` AND (timestamp_ms < ${cursor.timestampMs} OR (timestamp_ms = ${cursor.timestampMs} AND message_id < ${cursor.messageId}))`)
    : raw('');
  return sql`SELECT ${columns} FROM events FINAL
WHERE ${eventConditions(filters)}${after}
ORDER BY timestamp_ms DESC, message_id DESC
LIMIT ${limit}`;
}

/**
 * Analytics (stats, unique persons) count what the customer's users did, not Monfri's own
 * notices (`source = 'internal'`: Segment Entered/Exited, usage.threshold); listings show them.
 */
const NOT_INTERNAL = raw("source != 'internal'");

export const STATS_INTERVALS = ['minute', 'hour', 'day'] as const;
export type StatsInterval = (typeof STATS_INTERVALS)[number];
const BUCKET_FUNCTIONS = { minute: 'toStartOfMinute', hour: 'toStartOfHour', day: 'toStartOfDay' } as const satisfies Record<StatsInterval, string>;

function bucketFunction(interval: StatsInterval): string {
  return identifier(BUCKET_FUNCTIONS[interval], Object.values(BUCKET_FUNCTIONS));
}

/**
 * Event counts per bucket and event name; duplicates never count twice (uniqExact of message_id).
 * Buckets are UTC whatever the server's own time zone (the API answers in UTC); both engines
 * take the zone argument.
 */
export function statsByEventQuery(filters: EventFilters, interval: StatsInterval): string {
  return sql`SELECT toUnixTimestamp(${raw(bucketFunction(interval))}(timestamp, 'UTC')) AS bucket, type, event, uniqExact(message_id) AS events
FROM events
WHERE ${eventConditions(filters)} AND ${NOT_INTERNAL}
GROUP BY bucket, type, event
ORDER BY bucket, type, event`;
}

/**
 * Unique persons over the range, resolved at read time: an anonymous id linked to a user
 * later, or a user id aliased to another, counts as the linked person, not as a second
 * one. The join key is the event's identity (its user id, else its anonymous id).
 * `(subquery) AS scoped ANY LEFT JOIN (subquery) AS linked USING` behaves the same on 18.16 and
 * current ClickHouse (join_use_nulls=0: unmatched -> ''); current releases refuse either subquery
 * of a join without an alias (Code 206), 18.16 accepts them.
 */
export function uniquePersonsQuery(filters: EventFilters): string {
  return sql`SELECT uniqExact(message_id) AS events, uniqExact(if(linked_person != '', linked_person, person_id)) AS persons
FROM (
  SELECT message_id, person_id, if(user_id != '', concat('user:', user_id), concat('anonymous:', anonymous_id)) AS identity_key
  FROM events
  WHERE ${eventConditions(filters)} AND ${NOT_INTERNAL}
) AS scoped
ANY LEFT JOIN (
  SELECT identity_key, person_id AS linked_person FROM identities FINAL WHERE workspace_id = ${filters.workspaceId}
) AS linked USING identity_key`;
}

/**
 * Bot-flagged events by reason (an event with several reasons counts under each), for the
 * Overview's "flagged traffic". Reasons are space-separated in `bot_reason`.
 */
export function botReasonsQuery(filters: EventFilters): string {
  return sql`SELECT reason, uniqExact(message_id) AS events
FROM events
ARRAY JOIN splitByChar(' ', bot_reason) AS reason
WHERE ${eventConditions({ ...filters, includeBots: true })} AND is_bot = 1
GROUP BY reason
ORDER BY events DESC, reason`;
}

/** How many distinct events of the range were flagged as bots (each once, whatever its reasons). */
export function botEventsQuery(filters: EventFilters): string {
  return sql`SELECT uniqExact(message_id) AS events FROM events
WHERE ${eventConditions({ ...filters, includeBots: true })} AND is_bot = 1`;
}

/** Distinct events vs physical rows of a workspace: tests use it to see the dedup backstop at work. */
export function countStoredQuery(workspaceId: string): string {
  return sql`SELECT uniqExact(message_id) AS events, count() AS rows FROM events WHERE workspace_id = ${workspaceId}`;
}
