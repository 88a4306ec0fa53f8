/**
 * The after-insert usage hook: notices thresholds soon after they are crossed without counting
 * the month exactly on every batch. A per-workspace monthly Redis counter of billable events
 * stored (an estimate: it can only run ahead of the exact count, through duplicates) says
 * when a threshold may have been reached. It costs no round trip of its own: the dedup step's
 * MGET read it, and the batch's closing pipeline adds this batch's count. Only when it says a
 * threshold may be reached does the hook, at most once per CHECK_INTERVAL_MS per workspace (a
 * shared Redis slot, so concurrent consumers do not all check), let the exact count decide
 * and send the notice exactly once (consumers/usage-notices.ts). Without Redis there is no
 * estimate, and the housekeeping's exact check (every 15 minutes) sends the notice.
 */
import { BILLABLE_TYPES } from '../../lib/usage-queries';
import { monthContaining, planForMonth, USAGE_THRESHOLDS } from '../../schema/plans';
import { sendDueUsageNotices } from '../usage-notices';
import type { AfterInsertHook } from './steps/after-insert';

export const CHECK_INTERVAL_MS = 30_000;
const COUNTER_TTL_SECONDS = 40 * 24 * 60 * 60;
const LOWEST_THRESHOLD = Math.min(...USAGE_THRESHOLDS);

export function usageEstimateKey(workspaceId: string, month: string): string {
  return `monfri:usage:estimate:${workspaceId}:${month}`;
}
export function usageCheckSlotKey(workspaceId: string, month: string): string {
  return `monfri:usage:check-slot:${workspaceId}:${month}`;
}

const billableTypes: ReadonlySet<string> = new Set(BILLABLE_TYPES);

export const usageHook: AfterInsertHook = {
  name: 'usage',
  async run(deps, state) {
    const billable = new Map<string, number>();
    for (const item of state.stored) {
      const event = item.event;
      if (!event || event.bot.flagged || event.source === 'internal' || !billableTypes.has(event.type)) continue;
      billable.set(event.workspaceId, (billable.get(event.workspaceId) ?? 0) + 1);
    }
    if (billable.size === 0 || !deps.redis) return;
    const nowMs = deps.now();
    const month = monthContaining(nowMs);
    state.redisWrites.push((pipeline) => {
      for (const [workspaceId, count] of billable) pipeline.incrby(usageEstimateKey(workspaceId, month.id), count).expire(usageEstimateKey(workspaceId, month.id), COUNTER_TTL_SECONDS);
    });
    const profiles = await deps.workspaces([...billable.keys()]);
    const candidates = [...billable].flatMap(([workspaceId, count]) => {
      const key = usageEstimateKey(workspaceId, month.id);
      const history = profiles.get(workspaceId)?.planHistory;
      // Not read before the insert (Redis failed then): no estimate, the housekeeping decides.
      if (!history || !state.redisReads.has(key)) return [];
      const estimate = Number(state.redisReads.get(key) ?? 0) + count;
      return estimate * 100 >= planForMonth(history, month, nowMs).plan.includedEvents * LOWEST_THRESHOLD ? [workspaceId] : [];
    });
    if (candidates.length === 0) return;
    const slots = deps.redis.pipeline();
    for (const workspaceId of candidates) slots.set(usageCheckSlotKey(workspaceId, month.id), '1', { nx: true, px: CHECK_INTERVAL_MS });
    const granted = await slots.exec();
    await Promise.all(
      candidates.map(async (workspaceId, index) => {
        const history = profiles.get(workspaceId)?.planHistory;
        if (granted[index] !== 'OK' || !history) return;
        await sendDueUsageNotices(deps.env, deps.clickhouse, workspaceId, history, nowMs);
      }),
    );
  },
};
