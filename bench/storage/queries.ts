/**
 * The benchmark's read queries, each written twice: ClickHouse SQL that runs on 18.16 and on
 * current releases (no window functions, no DateTime64, no query parameters), and the
 * idiomatic PostgreSQL query for the same answer. Each answer becomes text lines so the
 * engines can be compared line by line.
 */
import { z } from 'zod';
import { FUNNEL_STEPS } from './synthetic';
import { EVENT_LIST_COLUMNS, eventConditions, listEventsQuery, uint64, type EventFilters } from '../../lib/event-queries';
import { raw, sql } from '../../lib/sql';
import type { QueryScope } from './engine';

export const FUNNEL_WINDOW_SECONDS = 86_400;
const TOP_USERS = 100;
const TOP_EVENTS = 20;
const LIST_LIMIT = 100;

export type PostgresValue = string | number | Date | string[];

export interface BenchQuery {
  id: string;
  title: string;
  /** What the row measures, for the report's notes. */
  measures: string;
  clickhouse(scope: QueryScope): string;
  clickhouseRow: z.ZodType<string>;
  postgres(scope: QueryScope): { text: string; values: PostgresValue[] };
  postgresRow: z.ZodType<string>;
}

const count = uint64;
const text = z.string().nullable().transform((value) => value ?? '');
const epochMsOf = z.date().transform((value) => value.getTime());

function clickhouseRange(scope: QueryScope): string {
  return sql`timestamp >= toDateTime(${Math.floor(scope.fromMs / 1000)}) AND timestamp < toDateTime(${Math.floor(scope.toMs / 1000)})`;
}

function postgresRangeValues(scope: QueryScope): [string, Date, Date] {
  return [scope.workspaceId, new Date(scope.fromMs), new Date(scope.toMs)];
}

const eventsByUser: BenchQuery = {
  id: 'events-by-user',
  title: 'events last 30 days by user (all users grouped, top 100)',
  measures: `per-person event counts over the 30-day window, every person grouped, the ${TOP_USERS} largest returned (the page's "aggregation query")`,
  clickhouse: (scope) => sql`SELECT person_id, count() AS events FROM events
WHERE workspace_id = ${scope.workspaceId} AND ${raw(clickhouseRange(scope))}
GROUP BY person_id ORDER BY events DESC, person_id LIMIT ${TOP_USERS}`,
  clickhouseRow: z.object({ person_id: z.string(), events: count }).transform((row) => `${row.person_id}\t${row.events}`),
  postgres: (scope) => ({
    text: `SELECT person_id, count(*) AS events FROM events
WHERE workspace_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3
GROUP BY person_id ORDER BY events DESC, person_id LIMIT ${TOP_USERS}`,
    values: postgresRangeValues(scope),
  }),
  postgresRow: z.object({ person_id: z.string(), events: count }).transform((row) => `${row.person_id}\t${row.events}`),
};

const POSTGRES_LIST_COLUMNS = [
  'message_id', 'type', 'event', 'user_id', 'anonymous_id', 'person_id', 'group_id', 'previous_id', '"timestamp"', 'received_at', 'sent_at',
  'original_timestamp', 'timestamp_adjustment', 'properties', 'traits', 'context', 'integrations', 'page_url', 'page_path', 'page_referrer',
  'page_title', 'user_agent', 'ip', 'country', 'region', 'city', 'library_name', 'library_version', 'session_id', 'source', 'is_bot',
  'bot_reason', 'plan_violation', 'violation_reason',
].join(', ');

function personFilters(scope: QueryScope): EventFilters {
  return { workspaceId: scope.workspaceId, person: scope.person, fromMs: scope.fromMs, toMs: scope.toMs, includeBots: false };
}

function oneUsersEvents(id: string, title: string, measures: string, clickhouse: (scope: QueryScope) => string): BenchQuery {
  return {
    id,
    title,
    measures,
    clickhouse,
    clickhouseRow: z.object({ message_id: z.string(), timestamp_ms: count, event: z.string() }).transform((row) => `${row.message_id}\t${row.timestamp_ms}\t${row.event}`),
    postgres: (scope) => ({
      text: `SELECT ${POSTGRES_LIST_COLUMNS} FROM events
WHERE workspace_id = $1 AND person_id = ANY($4) AND NOT is_bot AND "timestamp" >= $2 AND "timestamp" < $3
ORDER BY "timestamp" DESC, message_id DESC LIMIT ${LIST_LIMIT}`,
      values: [...postgresRangeValues(scope), scope.person.storedPersonIds],
    }),
    postgresRow: z.object({ message_id: z.string(), timestamp: epochMsOf, event: text }).transform((row) => `${row.message_id}\t${row.timestamp}\t${row.event}`),
  };
}

const productUserEvents = oneUsersEvents(
  'user-events',
  "one user's events, last 30 days (newest 100, all columns)",
  `one identified user's events in the window, newest ${LIST_LIMIT}, every column: ClickHouse runs the product's own listEventsQuery (lib/event-queries.ts: FINAL, matched by person/user/anonymous id); PostgreSQL the same rows by person_id through its (workspace_id, person_id, timestamp) index`,
  (scope) => listEventsQuery(personFilters(scope), LIST_LIMIT),
);

/** The product's listing without FINAL: shows what FINAL costs apart from scanning without a person index. */
const userEventsWithoutFinal = oneUsersEvents(
  'user-events-no-final',
  "one user's events, ClickHouse without FINAL",
  "the same listing with the product's conditions (eventConditions) but without FINAL on ClickHouse (exact here only because the data holds no duplicates); PostgreSQL runs its query again",
  (scope) => sql`SELECT ${raw(EVENT_LIST_COLUMNS.join(', '))} FROM events
WHERE ${eventConditions(personFilters(scope))}
ORDER BY timestamp_ms DESC, message_id DESC
LIMIT ${LIST_LIMIT}`,
);

/**
 * Persons resolved at read time through the identity map, as lib/event-queries.ts
 * uniquePersonsQuery does: events from before an identify count as the identified person.
 */
const dailyActivePersons: BenchQuery = {
  id: 'daily-active-persons',
  title: 'daily active persons, 30 days (identity map joined)',
  measures: 'distinct persons per UTC day over the window, each event resolved to its person through the identities table (anonymous ids linked by identify count as the user)',
  clickhouse: (scope) => sql`SELECT toUnixTimestamp(toStartOfDay(timestamp, 'UTC')) AS day_start, uniqExact(if(linked_person != '', linked_person, person_id)) AS persons
FROM (
  SELECT timestamp, person_id, if(user_id != '', concat('user:', user_id), concat('anonymous:', anonymous_id)) AS identity_key
  FROM events
  WHERE workspace_id = ${scope.workspaceId} AND ${raw(clickhouseRange(scope))}
) AS scoped
ANY LEFT JOIN (
  SELECT identity_key, person_id AS linked_person FROM identities FINAL WHERE workspace_id = ${scope.workspaceId}
) AS linked USING identity_key
GROUP BY day_start ORDER BY day_start`,
  clickhouseRow: z.object({ day_start: count, persons: count }).transform((row) => `${row.day_start}\t${row.persons}`),
  postgres: (scope) => ({
    text: `SELECT day_start, count(*) AS persons FROM (
  SELECT extract(epoch FROM date_trunc('day', e."timestamp", 'UTC'))::bigint AS day_start, coalesce(i.person_id, e.person_id) AS person
  FROM events e
  LEFT JOIN identities i ON i.workspace_id = e.workspace_id
    AND i.identity_key = CASE WHEN e.user_id IS NOT NULL THEN 'user:' || e.user_id ELSE 'anonymous:' || e.anonymous_id END
  WHERE e.workspace_id = $1 AND e."timestamp" >= $2 AND e."timestamp" < $3
  GROUP BY 1, 2
) AS daily
GROUP BY day_start ORDER BY day_start`,
    values: postgresRangeValues(scope),
  }),
  postgresRow: z.object({ day_start: count, persons: count }).transform((row) => `${row.day_start}\t${row.persons}`),
};

function topEvents(id: string, title: string, measures: string, clickhouseCount: 'count()' | 'uniqExact(message_id)'): BenchQuery {
  return {
    id,
    title,
    measures,
    clickhouse: (scope) => sql`SELECT event, ${raw(clickhouseCount)} AS events FROM events
WHERE workspace_id = ${scope.workspaceId} AND type = 'track' AND ${raw(clickhouseRange(scope))}
GROUP BY event ORDER BY events DESC, event LIMIT ${TOP_EVENTS}`,
    clickhouseRow: z.object({ event: z.string(), events: count }).transform((row) => `${row.event}\t${row.events}`),
    postgres: (scope) => ({
      text: `SELECT event, count(*) AS events FROM events
WHERE workspace_id = $1 AND type = 'track' AND "timestamp" >= $2 AND "timestamp" < $3
GROUP BY event ORDER BY events DESC, event LIMIT ${TOP_EVENTS}`,
      values: postgresRangeValues(scope),
    }),
    postgresRow: z.object({ event: text, events: count }).transform((row) => `${row.event}\t${row.events}`),
  };
}

/**
 * windowFunnel's rule, in PostgreSQL: for each person, events in time order (ties: earlier
 * step first); a step-2 event counts when the latest step-1 event at or before it is at most
 * the window earlier, and a step-3 event when some counted step-2 event before it has a
 * chain start (its step-1 time) at most the window earlier. Times in whole seconds, as
 * ClickHouse's DateTime has them.
 */
const funnel: BenchQuery = {
  id: 'funnel',
  title: `3-step funnel, 30 days (${FUNNEL_STEPS.join(' -> ')}, 1-day window)`,
  measures: `persons by the deepest funnel step reached (ClickHouse windowFunnel(${FUNNEL_WINDOW_SECONDS}); PostgreSQL two window-function passes that apply the same rule), over persons with any step event in the window`,
  clickhouse: (scope) => sql`SELECT level, count() AS persons FROM (
  SELECT person_id, windowFunnel(${FUNNEL_WINDOW_SECONDS})(timestamp, event = ${FUNNEL_STEPS[0]}, event = ${FUNNEL_STEPS[1]}, event = ${FUNNEL_STEPS[2]}) AS level
  FROM events
  WHERE workspace_id = ${scope.workspaceId} AND ${raw(clickhouseRange(scope))} AND event IN (${FUNNEL_STEPS[0]}, ${FUNNEL_STEPS[1]}, ${FUNNEL_STEPS[2]})
  GROUP BY person_id
) AS funnel
GROUP BY level ORDER BY level`,
  clickhouseRow: z.object({ level: count, persons: count }).transform((row) => `${row.level}\t${row.persons}`),
  postgres: (scope) => ({
    text: `WITH steps AS (
  SELECT person_id, floor(extract(epoch FROM "timestamp"))::bigint AS ts, CASE event WHEN $4 THEN 1 WHEN $5 THEN 2 ELSE 3 END AS step
  FROM events
  WHERE workspace_id = $1 AND "timestamp" >= $2 AND "timestamp" < $3 AND event IN ($4, $5, $6)
), with_step1 AS (
  SELECT person_id, ts, step, max(ts) FILTER (WHERE step = 1) OVER running AS step1_at
  FROM steps WINDOW running AS (PARTITION BY person_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING)
), with_step2 AS (
  SELECT person_id, ts, step, step1_at,
         max(CASE WHEN step = 2 AND ts <= step1_at + $7 THEN step1_at END) OVER running AS step2_chain_start
  FROM with_step1 WINDOW running AS (PARTITION BY person_id ORDER BY ts, step ROWS UNBOUNDED PRECEDING)
), levels AS (
  SELECT person_id,
         CASE WHEN bool_or(step = 3 AND ts <= step2_chain_start + $7) THEN 3
              WHEN bool_or(step = 2 AND ts <= step1_at + $7) THEN 2
              WHEN bool_or(step = 1) THEN 1
              ELSE 0 END AS level
  FROM with_step2 GROUP BY person_id
)
SELECT level, count(*) AS persons FROM levels GROUP BY level ORDER BY level`,
    values: [...postgresRangeValues(scope), FUNNEL_STEPS[0], FUNNEL_STEPS[1], FUNNEL_STEPS[2], FUNNEL_WINDOW_SECONDS],
  }),
  postgresRow: z.object({ level: count, persons: count }).transform((row) => `${row.level}\t${row.persons}`),
};

export const BENCH_QUERIES: readonly BenchQuery[] = [
  eventsByUser,
  productUserEvents,
  userEventsWithoutFinal,
  dailyActivePersons,
  topEvents('top-events', 'top events by count, 30 days (top 20)', `track events per name over the window, the ${TOP_EVENTS} most frequent`, 'count()'),
  topEvents(
    'top-events-exact',
    'top events, exactly-once form (ClickHouse uniqExact(message_id))',
    "the same, with ClickHouse counting uniqExact(message_id) as the product's stats queries do (its dedup backstop); PostgreSQL runs count(*) again (its primary key already keeps duplicates out)",
    'uniqExact(message_id)',
  ),
  funnel,
];

export function benchQuery(id: string): BenchQuery {
  const query = BENCH_QUERIES.find((candidate) => candidate.id === id);
  if (!query) throw new Error(`unknown benchmark query ${id}`);
  return query;
}
