/**
 * SQL for usage metering (schema/clickhouse/003_usage.sql), built with lib/sql.ts only.
 * What counts (decided here, stated in the usage API's answer):
 * - billable: stored, deduplicated, human (not bot-flagged) track, page and screen events,
 *   plan violations included (they are stored and queryable like any event);
 * - not billable: identify, group and alias calls (profile operations, not tracked events:
 *   charging for them would punish good identity hygiene), Monfri's own events
 *   (`source = 'internal'`: Segment Entered/Exited, usage.threshold), bot-flagged events
 *   (`bots`), and anything refused or dropped (never stored, so never counted).
 * Each day is counted with uniqExact(message_id), so a duplicate row (redelivery, retry,
 * a crash between insert and ack) never counts twice.
 */
import { literal, raw, sql } from './sql';

export const BILLABLE_TYPES = ['track', 'page', 'screen'] as const;

/** The condition that makes a stored, human event billable. */
const BILLABLE = raw(sql`is_bot = 0 AND source != 'internal' AND type IN (${raw(BILLABLE_TYPES.map((type) => literal(type)).join(', '))})`);

const dayLiteral = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Rows inserted per day (the materialized view's tally): tells which counted days changed since. */
export function usageInsertsQuery(workspaceId: string, fromMs: number, toMs: number): string {
  return sql`SELECT day, sum(rows) AS rows FROM usage_inserts
WHERE workspace_id = ${workspaceId} AND day >= toDate(${dayLiteral(fromMs)}) AND day < toDate(${dayLiteral(toMs)})
GROUP BY day
ORDER BY day`;
}

/** The last count of each day. */
export function usageDaysQuery(workspaceId: string, fromMs: number, toMs: number): string {
  return sql`SELECT day, billable, bots, other, rows_counted FROM usage_days FINAL
WHERE workspace_id = ${workspaceId} AND day >= toDate(${dayLiteral(fromMs)}) AND day < toDate(${dayLiteral(toMs)})
ORDER BY day`;
}

/** Counts the given days (`YYYY-MM-DD`) from the events themselves (exact, duplicates once). */
export function countUsageDaysQuery(workspaceId: string, days: readonly string[]): string {
  const list = raw((days.length > 0 ? days : ['1970-01-01']).map((day) => `toDate(${literal(day)})`).join(', '));
  return sql`SELECT toDate(timestamp) AS day,
  uniqExactIf(message_id, ${BILLABLE}) AS billable,
  uniqExactIf(message_id, is_bot = 1) AS bots,
  uniqExactIf(message_id, is_bot = 0 AND NOT (${BILLABLE})) AS other
FROM events
WHERE workspace_id = ${workspaceId} AND toDate(timestamp) IN (${list})
GROUP BY day
ORDER BY day`;
}

/** Billable events of a workspace between two instants (the trial's free part of a month). */
export function billableBetweenQuery(workspaceId: string, fromMs: number, toMs: number): string {
  return sql`SELECT uniqExact(message_id) AS billable FROM events
WHERE workspace_id = ${workspaceId} AND timestamp >= toDateTime(${Math.floor(fromMs / 1000)}) AND timestamp_ms >= ${fromMs}
  AND timestamp < toDateTime(${Math.ceil(toMs / 1000)}) AND timestamp_ms < ${toMs}
  AND ${BILLABLE}`;
}

/** Workspaces with events inserted on or after `fromMs`'s day (the housekeeping recounts theirs). */
export function activeUsageWorkspacesQuery(fromMs: number): string {
  return sql`SELECT DISTINCT workspace_id FROM usage_inserts WHERE day >= toDate(${dayLiteral(fromMs)}) ORDER BY workspace_id`;
}
