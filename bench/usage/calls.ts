/**
 * The two ways the benchmark asks for a month's usage: GET /v1/usage through the Worker
 * (client-side time: request sent until the whole body is read), and lib/usage.ts's
 * usageForMonth called from Node against ClickHouse (the same counting code, no Worker, no
 * D1, one long-lived HTTP client). Every answer is checked against the expected totals.
 */
import { z } from 'zod';
import type { ClickHouseClient } from '../../lib/clickhouse';
import { usageForMonth } from '../../lib/usage';
import { PLANS } from '../../schema/control-plane';
import { monthContaining, monthOf, type PlanHistory } from '../../schema/plans';
import type { UsageTotals } from './synthetic';

export const OPERATOR_TOKEN = 'bench-operator-token';

export interface UsageAnswer extends UsageTotals {
  days: number;
  inTrial: number;
}

export interface TimedAnswer {
  ms: number;
  answer: UsageAnswer;
}

export interface UsageCaller {
  path: string;
  engine: string;
  call(): Promise<TimedAnswer>;
}

const usageResponseSchema = z.object({
  month: z.string(),
  plan: z.object({ id: z.enum(PLANS), source: z.string(), since: z.string().nullable() }),
  trial: z.object({ endsAt: z.string().nullable() }),
  usage: z.object({ billable: z.number(), inTrial: z.number(), counted: z.number(), bots: z.number(), notBillable: z.number() }),
  daily: z.array(z.object({ day: z.string(), billable: z.number(), bots: z.number(), other: z.number() })),
});
export type UsageResponse = z.output<typeof usageResponseSchema>;

const createdWorkspaceSchema = z.object({ workspace: z.object({ id: z.string(), trialEndsAt: z.string().nullable() }), secretKey: z.string() });
export type CreatedWorkspace = z.output<typeof createdWorkspaceSchema>;

export async function createScaleWorkspace(workerUrl: string, name: string): Promise<CreatedWorkspace> {
  const response = await fetch(`${workerUrl}/admin/workspaces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, plan: 'scale' }),
  });
  if (response.status !== 201) throw new Error(`POST /admin/workspaces answered ${response.status}: ${await response.text()}`);
  return createdWorkspaceSchema.parse(await response.json());
}

export class WorkerCallFailed extends Error {
  constructor(
    readonly status: number,
    readonly ms: number,
    body: string,
  ) {
    super(`GET /v1/usage answered ${status} after ${ms.toFixed(0)} ms: ${body.slice(0, 200)}`);
  }
}

/** GET /v1/usage (optionally for another month) with the workspace's secret key; the response body parsed after the clock stops. */
export async function workerUsage(workerUrl: string, secretKey: string, monthId?: string): Promise<{ ms: number; response: UsageResponse }> {
  const query = monthId ? `?month=${monthId}` : '';
  const started = performance.now();
  const response = await fetch(`${workerUrl}/v1/usage${query}`, { headers: { authorization: `Bearer ${secretKey}` }, signal: AbortSignal.timeout(120_000) });
  const body = await response.text();
  const ms = performance.now() - started;
  if (response.status !== 200) throw new WorkerCallFailed(response.status, ms, body);
  return { ms, response: usageResponseSchema.parse(JSON.parse(body)) };
}

export function answerOf(response: UsageResponse): UsageAnswer {
  return { billable: response.usage.billable, bots: response.usage.bots, other: response.usage.notBillable, days: response.daily.length, inTrial: response.usage.inTrial };
}

export function workerCaller(workerUrl: string, secretKey: string, engine: string, monthId?: string): UsageCaller {
  return {
    path: 'Worker GET /v1/usage',
    engine,
    async call() {
      const { ms, response } = await workerUsage(workerUrl, secretKey, monthId);
      return { ms, answer: answerOf(response) };
    },
  };
}

/** The plan history the Worker uses, read back from an answer for the current or a later month (the plan change's time and the trial's end). */
export function historyFromAnswer(response: UsageResponse): PlanHistory {
  const changes = response.plan.source === 'chosen' && response.plan.since !== null ? [{ plan: response.plan.id, changedAt: response.plan.since }] : [];
  return { trialEndsAt: response.trial.endsAt, changes };
}

/** Scale chosen and the trial over before the month began: no trial-day query at all. */
export function historyWithTrialBefore(monthStartMs: number): PlanHistory {
  const dayMs = 86_400_000;
  return { trialEndsAt: new Date(monthStartMs - 20 * dayMs).toISOString(), changes: [{ plan: 'scale', changedAt: new Date(monthStartMs - 34 * dayMs).toISOString() }] };
}

export function directCaller(client: ClickHouseClient, workspaceId: string, history: PlanHistory, path: string, engine: string, monthId?: string): UsageCaller {
  return {
    path,
    engine,
    async call() {
      const now = Date.now();
      const month = monthId ? monthOf(monthId) : monthContaining(now);
      if (!month) throw new Error(`bad month ${monthId ?? ''}`);
      const started = performance.now();
      const usage = await usageForMonth(client, workspaceId, history, month, now);
      const ms = performance.now() - started;
      return { ms, answer: { billable: usage.billable, bots: usage.bots, other: usage.other, days: usage.days.length, inTrial: usage.inTrial } };
    },
  };
}
