/**
 * SQL for schema discovery and plan violation counts (schema/clickhouse/005_schema_discovery.sql,
 * 006_plan_blocked_counts.sql),
 * built with lib/sql.ts only. Every read is of the aggregate tables the materialized views keep,
 * never of `events`: the cost of a read grows with the number of distinct (event, key, type)
 * combinations, not with the event volume. Counts are of rows as inserted: a duplicate the
 * consumer's dedup did not catch counts twice here (ReplacingMergeTree collapses it in `events`
 * only), which discovery and violation counts tolerate.
 */
import { raw, sql } from './sql';

/** An event as discovery keys it: its call type and name ('' for identify, group and alias). */
export interface SchemaEventKey {
  type: string;
  event: string;
}

/** At most this many (event, key, type) rows per read; a workspace beyond it is told so. */
export const MAX_SCHEMA_KEY_ROWS = 20_000;

/** Each event of a workspace with its volume and first/last seen (epoch ms). */
export function schemaEventsQuery(workspaceId: string): string {
  return sql`SELECT type, event, countMerge(events) AS events, minMerge(first_seen_ms) AS first_seen_ms, maxMerge(last_seen_ms) AS last_seen_ms
FROM schema_events
WHERE workspace_id = ${workspaceId}
GROUP BY type, event
ORDER BY type, event`;
}

/** Keys per event, path and value type: values seen, approximate distinct values, first/last seen, an example. */
export function schemaKeysQuery(workspaceId: string, only: SchemaEventKey | null = null): string {
  const filter = only === null ? sql`` : sql` AND type = ${only.type} AND event = ${only.event}`;
  return sql`SELECT type, event, path, value_type, countMerge(occurrences) AS occurrences, uniqCombinedMerge(distinct_values) AS distinct_values,
  minMerge(first_seen_ms) AS first_seen_ms, maxMerge(last_seen_ms) AS last_seen_ms, anyLastIfMerge(example) AS example
FROM schema_keys
WHERE workspace_id = ${workspaceId}${raw(filter)}
GROUP BY type, event, path, value_type
ORDER BY type, event, path, value_type
LIMIT ${MAX_SCHEMA_KEY_ROWS + 1}`;
}

/** Where the consumer inserts the tallies of events the plan blocked at the edge (schema/clickhouse/006_plan_blocked_counts.sql). */
export const PLAN_BLOCKED_COUNTS_TABLE = 'plan_blocked_counts';

/**
 * Plan violations per event, rule and key path since a day (`YYYY-MM-DD`): events stored with
 * the violation, how many of them were flagged, and how many more were blocked (refused, never
 * stored; counted apart in plan_blocked_counts, whose rows have the same key).
 */
export function planViolationCountsQuery(workspaceId: string, fromDay: string, only: SchemaEventKey | null = null): string {
  const filter = only === null ? sql`` : sql` AND type = ${only.type} AND event = ${only.event}`;
  const where = sql`workspace_id = ${workspaceId} AND day >= toDate(${fromDay})${raw(filter)}`;
  return sql`SELECT type, event, rule, path, sum(events) AS events, sum(flagged) AS flagged, sum(blocked) AS blocked
FROM
(
  SELECT type, event, rule, path, events, flagged, toUInt64(0) AS blocked FROM plan_violation_counts WHERE ${raw(where)}
  UNION ALL
  SELECT type, event, rule, path, toUInt64(0) AS events, toUInt64(0) AS flagged, blocked FROM plan_blocked_counts WHERE ${raw(where)}
)
GROUP BY type, event, rule, path
ORDER BY type, event, rule, path`;
}
