/**
 * Reading usage: a workspace's days, exact and cheap. A day's counts come from `usage_days`
 * when nothing was inserted for it since it was counted (the insert tally in `usage_inserts`
 * says so); otherwise the day is counted again from `events` (uniqExact: duplicates once) and
 * the new count is written back, so the next read of it is cheap again. Late events, replays
 * and redeliveries just make their day count again: nothing is added twice, nothing missed.
 * A month is ~30 rows of each table plus the days that changed (usually only today).
 */
import { z } from 'zod';
import { insertRetryingQuorum, type ClickHouseClient } from './clickhouse';
import { queryRows, uint64 } from './event-queries';
import { billableBetweenQuery, countUsageDaysQuery, usageDaysQuery, usageInsertsQuery } from './usage-queries';
import { overageFor, planForMonth, trialEndMs, type Month, type Overage, type PlanAt, type PlanHistory } from '../schema/plans';

export const USAGE_DAYS_TABLE = 'usage_days';
const DAY_MS = 86_400_000;
/** Complete days the projection averages over. */
export const PROJECTION_DAYS = 7;

export interface DailyUsage {
  day: string;
  billable: number;
  bots: number;
  other: number;
}

const insertRow = z.object({ day: z.string(), rows: uint64 });
const countedRow = z.object({ day: z.string(), billable: uint64, bots: uint64, other: uint64, rows_counted: uint64 });
const recountRow = z.object({ day: z.string(), billable: uint64, bots: uint64, other: uint64 });

/** Every day between `fromMs` and `toMs` with events, recounting the ones that changed since their last count. */
export async function readUsageDays(client: ClickHouseClient, workspaceId: string, fromMs: number, toMs: number, nowMs: number): Promise<{ days: DailyUsage[]; recounted: string[]; rowsByDay: Map<string, number> }> {
  const [inserted, counted] = await Promise.all([
    queryRows(client, usageInsertsQuery(workspaceId, fromMs, toMs), insertRow),
    queryRows(client, usageDaysQuery(workspaceId, fromMs, toMs), countedRow),
  ]);
  const countedByDay = new Map(counted.map((row) => [row.day, row]));
  const stale = inserted.filter((row) => countedByDay.get(row.day)?.rows_counted !== row.rows);
  const recounted = stale.length === 0 ? [] : await queryRows(client, countUsageDaysQuery(workspaceId, stale.map((row) => row.day)), recountRow);
  if (recounted.length > 0) {
    const rowsByDay = new Map(stale.map((row) => [row.day, row.rows]));
    await insertRetryingQuorum(client, {
      table: USAGE_DAYS_TABLE,
      format: 'JSONEachRow',
      values: recounted.map((row) => ({ workspace_id: workspaceId, day: row.day, billable: row.billable, bots: row.bots, other: row.other, rows_counted: rowsByDay.get(row.day) ?? 0, counted_at_ms: nowMs })),
    });
  }
  const recountedByDay = new Map(recounted.map((row) => [row.day, row]));
  const days = inserted.map((row) => {
    const fresh = recountedByDay.get(row.day) ?? countedByDay.get(row.day);
    return { day: row.day, billable: fresh?.billable ?? 0, bots: fresh?.bots ?? 0, other: fresh?.other ?? 0 };
  });
  return { days, recounted: recounted.map((row) => row.day), rowsByDay: new Map(inserted.map((row) => [row.day, row.rows])) };
}

export interface MonthUsage {
  plan: PlanAt;
  days: DailyUsage[];
  billable: number;
  bots: number;
  other: number;
  /** Billable events received while the trial ran: free, never counted towards overage. */
  inTrial: number;
  /** What overage is computed on: billable minus the trial's. */
  counted: number;
  overage: Overage;
  /** Only for the current month. */
  projection: { method: string; dailyAverage: number; billable: number; counted: number; overage: Overage } | null;
}

const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
const dayId = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The billable count of the day a trial ended, up to its end, per isolate: it changes only when
 * rows for that day are inserted, so it is keyed by the day's inserted-row count (what
 * readUsageDays already read). Without it every call of the month recounted that part of the day
 * from events (2.7 s at 10M events). Bounded; the oldest entry goes first.
 */
const partialTrialDays = new Map<string, number>();
const MAX_PARTIAL_TRIAL_DAYS = 1000;

/** The trial's free part of the month: whole days from the daily counts, the day it ended from the events. */
async function billableInTrial(client: ClickHouseClient, workspaceId: string, days: readonly DailyUsage[], rowsByDay: ReadonlyMap<string, number>, month: Month, history: PlanHistory): Promise<number> {
  const trialEnd = trialEndMs(history);
  if (trialEnd === null || trialEnd <= month.startMs) return 0;
  if (trialEnd >= month.endMs) return days.reduce((sum, day) => sum + day.billable, 0);
  const boundary = startOfDay(trialEnd);
  const wholeDays = days.filter((day) => day.day < dayId(boundary)).reduce((sum, day) => sum + day.billable, 0);
  if (trialEnd === boundary) return wholeDays;
  const key = `${workspaceId}\n${trialEnd}\n${rowsByDay.get(dayId(boundary)) ?? 0}`;
  const cached = partialTrialDays.get(key);
  if (cached !== undefined) return wholeDays + cached;
  const [partial] = await queryRows(client, billableBetweenQuery(workspaceId, boundary, trialEnd), z.object({ billable: uint64 }));
  const billable = partial?.billable ?? 0;
  partialTrialDays.set(key, billable);
  if (partialTrialDays.size > MAX_PARTIAL_TRIAL_DAYS) {
    const oldest = partialTrialDays.keys().next();
    if (!oldest.done) partialTrialDays.delete(oldest.value);
  }
  return wholeDays + billable;
}

export const PROJECTION_METHOD = `average billable events per day over the complete days of the last ${PROJECTION_DAYS} (within the month; on its first day, today's rate so far), times the days left in the month, added to the usage so far`;

/** Projected month end, for the current month only. */
function projectionFor(days: readonly DailyUsage[], counted: number, billable: number, month: Month, plan: PlanAt, nowMs: number): MonthUsage['projection'] {
  if (nowMs < month.startMs || nowMs >= month.endMs) return null;
  const today = startOfDay(nowMs);
  const windowStart = Math.max(month.startMs, today - PROJECTION_DAYS * DAY_MS);
  const completeDays = Math.round((today - windowStart) / DAY_MS);
  const inWindow = days.filter((day) => day.day >= dayId(windowStart) && day.day < dayId(today)).reduce((sum, day) => sum + day.billable, 0);
  const todaySoFar = days.find((day) => day.day === dayId(today))?.billable ?? 0;
  const dailyAverage = completeDays > 0 ? inWindow / completeDays : (todaySoFar * DAY_MS) / Math.max(60_000, nowMs - today);
  const added = Math.round(dailyAverage * ((month.endMs - nowMs) / DAY_MS));
  return { method: PROJECTION_METHOD, dailyAverage: Math.round(dailyAverage), billable: billable + added, counted: counted + added, overage: overageFor(counted + added, plan.plan.includedEvents) };
}

export async function usageForMonth(client: ClickHouseClient, workspaceId: string, history: PlanHistory, month: Month, nowMs: number): Promise<MonthUsage> {
  const { days, rowsByDay } = await readUsageDays(client, workspaceId, month.startMs, month.endMs, nowMs);
  const plan = planForMonth(history, month, nowMs);
  const sum = (key: 'billable' | 'bots' | 'other'): number => days.reduce((total, day) => total + day[key], 0);
  const billable = sum('billable');
  const inTrial = await billableInTrial(client, workspaceId, days, rowsByDay, month, history);
  const counted = Math.max(0, billable - inTrial);
  return {
    plan,
    days,
    billable,
    bots: sum('bots'),
    other: sum('other'),
    inTrial,
    counted,
    overage: overageFor(counted, plan.plan.includedEvents),
    projection: projectionFor(days, counted, billable, month, plan, nowMs),
  };
}

