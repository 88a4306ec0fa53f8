/**
 * Plans and what they cost: the one table of data behind limits, overage and the trial (the
 * product page's numbers), and the pure rules that turn a workspace's plan history and a
 * month's usage into an answer. Nothing else in the code holds these numbers.
 *
 * Rules (the usage API states them in its answer):
 * - Months are calendar months in UTC.
 * - The plan in effect at the END of a month (or now, for the current month) sets the limit
 *   for the WHOLE month: a change mid-month applies to the whole month.
 * - New workspaces start a 14-day trial of Growth. A plan chosen at any time ends the trial.
 *   When the trial ends without a chosen plan, the workspace is on Starter.
 * - The trial is free: events received while it runs never count towards overage, even if
 *   the month ends on another plan.
 * - Overage: EUR 12 per STARTED block of 50,000 billable events beyond the limit, ex. VAT.
 *   Ingestion never stops or slows because of usage (no hard cutoff).
 */
import { z } from 'zod';
import { PLANS, type Plan } from './control-plane';

export interface PlanTerms {
  id: Plan;
  name: string;
  includedEvents: number;
}

export const PLAN_CATALOG: Readonly<Record<Plan, PlanTerms>> = {
  starter: { id: 'starter', name: 'Starter', includedEvents: 50_000 },
  growth: { id: 'growth', name: 'Growth', includedEvents: 1_000_000 },
  scale: { id: 'scale', name: 'Scale', includedEvents: 10_000_000 },
};

export const OVERAGE = { blockEvents: 50_000, eurPerBlock: 12, vat: 'excluded' } as const;
export const TRIAL = { plan: 'growth', days: 14 } as const satisfies { plan: Plan; days: number };
export const DEFAULT_PLAN_AFTER_TRIAL: Plan = 'starter';

/** Thresholds (percent of the month's limit) that emit one `usage.threshold` event each per month. */
export const USAGE_THRESHOLDS = [80, 100] as const;
export type UsageThreshold = (typeof USAGE_THRESHOLDS)[number];

/** A plan a workspace chose, from `changedAt` on (D1 `plan_changes`). */
export const planChangeSchema = z.object({ plan: z.enum(PLANS), changedAt: z.string() });
export type PlanChange = z.output<typeof planChangeSchema>;

export interface PlanHistory {
  trialEndsAt: string | null;
  changes: readonly PlanChange[];
}

export type PlanSource = 'chosen' | 'trial' | 'default';

export interface PlanAt {
  plan: PlanTerms;
  source: PlanSource;
  /** When this plan took effect (a change's time, the trial's start is not known here: null). */
  since: string | null;
}

/** The plan in effect at `atMs`. */
export function planAt(history: PlanHistory, atMs: number): PlanAt {
  const chosen = [...history.changes].filter((change) => Date.parse(change.changedAt) <= atMs).sort((a, b) => Date.parse(a.changedAt) - Date.parse(b.changedAt)).at(-1);
  if (chosen) return { plan: PLAN_CATALOG[chosen.plan], source: 'chosen', since: chosen.changedAt };
  if (history.trialEndsAt !== null && atMs < Date.parse(history.trialEndsAt)) return { plan: PLAN_CATALOG[TRIAL.plan], source: 'trial', since: null };
  return { plan: PLAN_CATALOG[DEFAULT_PLAN_AFTER_TRIAL], source: 'default', since: history.trialEndsAt };
}

/** When the trial stops being free: its end, or the first plan choice before it. */
export function trialEndMs(history: PlanHistory): number | null {
  if (history.trialEndsAt === null) return null;
  const firstChoice = Math.min(...history.changes.map((change) => Date.parse(change.changedAt)));
  return Math.min(Date.parse(history.trialEndsAt), firstChoice);
}

export interface Month {
  /** `YYYY-MM`. */
  id: string;
  startMs: number;
  endMs: number;
  days: number;
}

const MONTH_ID = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function monthOf(id: string): Month | null {
  const match = MONTH_ID.exec(id);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  const startMs = Date.UTC(year, month, 1);
  const endMs = Date.UTC(year, month + 1, 1);
  return { id, startMs, endMs, days: Math.round((endMs - startMs) / 86_400_000) };
}

export function monthContaining(atMs: number): Month {
  const date = new Date(atMs);
  const id = `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
  const month = monthOf(id);
  if (!month) throw new Error(`no month for ${atMs}`);
  return month;
}

/** The plan that sets the month's limit: in effect at the month's end, or now for the current month. */
export function planForMonth(history: PlanHistory, month: Month, nowMs: number): PlanAt {
  return planAt(history, Math.min(month.endMs - 1, nowMs));
}

export interface Overage {
  events: number;
  blocks: number;
  eur: number;
}

/** Started blocks of 50,000 beyond the limit: exactly at the limit 0, one over 1, 50,000 over 1, 50,001 over 2. */
export function overageFor(countedEvents: number, includedEvents: number): Overage {
  const events = Math.max(0, countedEvents - includedEvents);
  const blocks = Math.ceil(events / OVERAGE.blockEvents);
  return { events, blocks, eur: blocks * OVERAGE.eurPerBlock };
}
