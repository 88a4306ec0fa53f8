/**
 * Usage threshold notices: when a workspace's counted usage reaches 80% and 100% of the month's
 * limit, ONE `usage.threshold` event each, per workspace and month, even when many consumers
 * cross the line at the same moment. Exactly once by construction:
 * 1. the crossing is decided on the exact month count (lib/usage.ts), never on an estimate;
 * 2. the notice is claimed in D1 (`usage_notices`, primary key workspace+month+threshold):
 *    of concurrent consumers, one inserts the claim, the others find it taken;
 * 3. the winner queues the event and marks the claim sent; the event's messageId is
 *    deterministic (`usage.threshold:<workspace>:<month>:<threshold>`), so a resend (a claim
 *    left unsent by a crash, resent by the housekeeping) is deduplicated like any retry.
 * The event goes through the events queue like any other: stored (never billable: source
 * `internal`), shown on the live feed, offered to webhooks.
 */
import type { ClickHouseClient } from '../lib/clickhouse';
import { internalEvent } from '../lib/internal-events';
import { usageForMonth, type MonthUsage } from '../lib/usage';
import type { CollectedEvent } from '../schema/event';
import { monthContaining, USAGE_THRESHOLDS, type PlanHistory, type UsageThreshold } from '../schema/plans';

export const USAGE_THRESHOLD_EVENT = 'usage.threshold';
/** A claim this old without being sent was left by a crash: the housekeeping sends it. */
export const UNSENT_CLAIM_GRACE_MS = 5 * 60_000;

export function usageNoticeMessageId(workspaceId: string, month: string, threshold: UsageThreshold): string {
  return `usage.threshold:${workspaceId}:${month}:${threshold}`;
}

export function usageNoticeEvent(workspaceId: string, month: string, threshold: UsageThreshold, usage: MonthUsage, nowMs: number): CollectedEvent {
  return internalEvent({
    workspaceId,
    messageId: usageNoticeMessageId(workspaceId, month, threshold),
    event: USAGE_THRESHOLD_EVENT,
    userId: null,
    anonymousId: `workspace:${workspaceId}`,
    properties: { threshold, month, limit: usage.plan.plan.includedEvents, counted: usage.counted, plan: usage.plan.plan.id, planSource: usage.plan.source },
    nowMs,
  });
}

export function dueThresholds(usage: MonthUsage): UsageThreshold[] {
  const limit = usage.plan.plan.includedEvents;
  return USAGE_THRESHOLDS.filter((threshold) => usage.counted * 100 >= limit * threshold);
}

interface NoticeEnv {
  DB: D1Database;
  EVENTS: Queue;
}

async function claim(db: D1Database, workspaceId: string, month: string, threshold: UsageThreshold, nowMs: number, resendUnsent: boolean): Promise<boolean> {
  const inserted = await db.prepare('INSERT OR IGNORE INTO usage_notices (workspace_id, month, threshold) VALUES (?, ?, ?)').bind(workspaceId, month, threshold).run();
  if (inserted.meta.changes === 1) return true;
  if (!resendUnsent) return false;
  const stale = new Date(nowMs - UNSENT_CLAIM_GRACE_MS).toISOString();
  const row = await db.prepare('SELECT 1 AS unsent FROM usage_notices WHERE workspace_id = ? AND month = ? AND threshold = ? AND sent_at IS NULL AND claimed_at < ?').bind(workspaceId, month, threshold, stale).first();
  return row !== null;
}

/**
 * Sends the notices the month's exact usage has made due and not yet sent; returns the ones
 * sent. `resendUnsent` (the housekeeping) also resends claims a crash left unsent.
 */
export async function sendDueUsageNotices(env: NoticeEnv, client: ClickHouseClient, workspaceId: string, history: PlanHistory, nowMs: number, resendUnsent = false): Promise<UsageThreshold[]> {
  const month = monthContaining(nowMs);
  const usage = await usageForMonth(client, workspaceId, history, month, nowMs);
  const sent: UsageThreshold[] = [];
  for (const threshold of dueThresholds(usage)) {
    if (!(await claim(env.DB, workspaceId, month.id, threshold, nowMs, resendUnsent))) continue;
    await env.EVENTS.send(JSON.stringify(usageNoticeEvent(workspaceId, month.id, threshold, usage, nowMs)), { contentType: 'text' });
    await env.DB.prepare("UPDATE usage_notices SET sent_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE workspace_id = ? AND month = ? AND threshold = ?").bind(workspaceId, month.id, threshold).run();
    sent.push(threshold);
  }
  return sent;
}
