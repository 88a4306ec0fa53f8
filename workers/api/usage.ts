/**
 * `GET /v1/usage?month=YYYY-MM` (secret key or dashboard session): a workspace's usage for a
 * calendar month (UTC; default: the current one) against its plan, with the rules that
 * produced the numbers stated in the answer, so a customer can check every one of them.
 * Counting is lib/usage.ts; plans and prices are schema/plans.ts.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { createClickHouse } from '../../lib/clickhouse';
import { usageForMonth } from '../../lib/usage';
import { BILLABLE_TYPES } from '../../lib/usage-queries';
import { monthContaining, monthOf, OVERAGE, PLAN_CATALOG, trialEndMs } from '../../schema/plans';
import { planHistory } from '../admin/control-plane';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';

const querySchema = z.object({ month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM').optional() });

export const USAGE_RULES = [
  'Months are calendar months in UTC.',
  'The plan in effect at the end of the month (now, for the current month) sets the limit for the whole month, also when it changed mid-month.',
  `Billable: stored, deduplicated, human (not bot-flagged) ${BILLABLE_TYPES.join(', ')} events, plan violations included. Not billable: identify, group and alias calls, Monfri's own events (segment and usage notices), bot-flagged events (shown as bots), and anything refused or dropped.`,
  'Each event counts once, however often it was sent or delivered (per workspace and messageId).',
  `Overage: EUR ${OVERAGE.eurPerBlock} per started block of ${OVERAGE.blockEvents.toLocaleString('en-US')} counted events beyond the limit, VAT ${OVERAGE.vat}. Ingestion never stops or slows because of usage.`,
  'The trial is free: billable events received while it ran are not counted towards overage.',
];

export const usageRoutes = new Hono<AppEnv>().get('/usage', requireSecretKeyOrSession, async (c) => {
  const parsed = querySchema.safeParse(Object.fromEntries(new URL(c.req.url).searchParams));
  if (!parsed.success) throw new ApiError(400, 'invalid_query', 'The query string is not valid.', parsed.error.issues.map((issue) => ({ param: issue.path.join('.'), message: issue.message })));
  const now = Date.now();
  const month = parsed.data.month ? monthOf(parsed.data.month) : monthContaining(now);
  if (!month) throw new ApiError(400, 'invalid_query', 'month must be YYYY-MM.');
  const workspace = c.var.apiKey.workspace;
  const history = await planHistory(c.env.DB, workspace);
  const client = createClickHouse(c.env, { timeoutMs: 15_000 });
  try {
    const usage = await usageForMonth(client, workspace.id, history, month, now).catch((error: unknown) => {
      console.error(JSON.stringify({ level: 'error', msg: 'usage_query_failed', error: String(error) }));
      throw new ApiError(503, 'analytics_unavailable', 'The analytics store did not answer; try again shortly.', undefined, { 'retry-after': '5' });
    });
    const trialEnd = trialEndMs(history);
    return c.json({
      month: month.id,
      plan: { ...usage.plan.plan, source: usage.plan.source, since: usage.plan.since, appliesToWholeMonth: true },
      plans: Object.values(PLAN_CATALOG),
      trial: { endsAt: workspace.trialEndsAt, active: trialEnd !== null && now < trialEnd, endedAt: trialEnd !== null && now >= trialEnd ? new Date(trialEnd).toISOString() : null },
      usage: { billable: usage.billable, inTrial: usage.inTrial, counted: usage.counted, limit: usage.plan.plan.includedEvents, bots: usage.bots, notBillable: usage.other },
      daily: usage.days,
      overage: { ...usage.overage, eurPerBlock: OVERAGE.eurPerBlock, blockEvents: OVERAGE.blockEvents, currency: 'EUR', vat: OVERAGE.vat },
      projection: usage.projection,
      rules: USAGE_RULES,
    });
  } finally {
    await client.close();
  }
});
