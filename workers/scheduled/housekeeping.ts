/**
 * The cron trigger (wrangler.toml `[triggers]`): recovery and tidying that needs no operator.
 * 1. Events that used up their retries (ClickHouse down longer than the backoff covers) are
 *    re-driven as soon as ClickHouse answers again. Safe to repeat: the consumer dedups on
 *    (workspace, messageId). Poison messages, refused for what they contain, are left for a
 *    person (`npm run admin -- dlq list`): re-sending them would only fail again.
 * 2. Dead letters replayed more than REPLAYED_RETENTION_DAYS ago are deleted.
 * 3. What is still pending is logged per queue, for alerting.
 * 4. Usage: the days of workspaces with recent events are counted (so reading a month stays
 *    cheap), and due threshold notices are sent: the safety net for notices the consumers did
 *    not send (no Redis for their estimate, or a crash between claim and send).
 * 5. Retention: each workspace's `privacy.retentionMonths` applied to its events, by month
 *    (retention.ts).
 * 6. Person deletions that have not moved for STALE_JOB_MS (a lost queue message, a consumer
 *    that died mid-job) are queued again; the job resumes where its idempotent steps allow.
 */
import { z } from 'zod';
import { createClickHouse, type ClickHouseClient } from '../../lib/clickhouse';
import { queryRows } from '../../lib/event-queries';
import { activeUsageWorkspacesQuery } from '../../lib/usage-queries';
import { EVENTS_QUEUE, RETRIES_EXHAUSTED } from '../../consumers/dead-letters';
import { sendDueUsageNotices } from '../../consumers/usage-notices';
import { findDeadLetters, replayDeadLetters } from '../admin/dead-letters';
import { getWorkspace, planHistory } from '../admin/control-plane';
import { clusterName } from '../../lib/clickhouse';
import { staleDeletionJobs, touchDeletionJob } from '../../lib/privacy/store';
import { STALE_JOB_MS, type DeletionMessage } from '../../consumers/deletions';
import { applyEventRetention, workspaceRetentions, type RetentionReport } from './retention';

export const REPLAYED_RETENTION_DAYS = 30;
/** Per run; the rest waits for the next trigger, so one run stays well inside its time limit. */
export const MAX_REDRIVE_PER_RUN = 5000;
const CLICKHOUSE_PROBE_TIMEOUT_MS = 3000;

export interface HousekeepingReport {
  clickhouseUp: boolean;
  redriven: number;
  purged: number;
  pending: Record<string, number>;
  usage: { workspaces: number; notices: number; failed: number };
  retention: RetentionReport | { failed: string } | null;
  requeuedDeletions: number;
}

/** Deletion jobs re-queued per run. */
const MAX_REQUEUED_DELETIONS = 100;

async function requeueStaleDeletions(env: Env, now: number): Promise<number> {
  const stale = await staleDeletionJobs(env.DB, STALE_JOB_MS, now, MAX_REQUEUED_DELETIONS);
  for (const job of stale) {
    const message: DeletionMessage = { jobId: job.id };
    await env.DELETIONS.send(message, { contentType: 'json' });
    // Touched so the next run does not queue it again while this message waits.
    await touchDeletionJob(env.DB, job.id);
  }
  return stale.length;
}

async function applyRetentionIfUp(env: Env, clickhouseUp: boolean, now: number): Promise<HousekeepingReport['retention']> {
  if (!clickhouseUp) return null;
  const client = createClickHouse(env, { timeoutMs: 60_000 });
  try {
    return await applyEventRetention(client, { database: env.CLICKHOUSE_DATABASE, cluster: clusterName(env) }, await workspaceRetentions(env.DB), now);
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'housekeeping_retention_failed', error: String(error) }));
    return { failed: String(error).slice(0, 300) };
  } finally {
    await client.close();
  }
}

/** Workspaces per run whose usage is checked; the rest waits for the next trigger. */
export const MAX_USAGE_WORKSPACES_PER_RUN = 500;
const DAY_MS = 86_400_000;

async function checkUsage(env: Env, client: ClickHouseClient, now: number): Promise<HousekeepingReport['usage']> {
  const active = await queryRows(client, activeUsageWorkspacesQuery(now - DAY_MS), z.object({ workspace_id: z.string() }));
  const report = { workspaces: 0, notices: 0, failed: 0 };
  for (const { workspace_id: workspaceId } of active.slice(0, MAX_USAGE_WORKSPACES_PER_RUN)) {
    try {
      const workspace = await getWorkspace(env.DB, workspaceId);
      if (!workspace) continue;
      report.workspaces++;
      report.notices += (await sendDueUsageNotices(env, client, workspaceId, await planHistory(env.DB, workspace), now, true)).length;
    } catch (error) {
      report.failed++;
      console.warn(JSON.stringify({ level: 'warn', msg: 'housekeeping_usage_failed', workspaceId, error: String(error) }));
    }
  }
  return report;
}

async function clickHouseAnswers(env: Env): Promise<boolean> {
  const client = createClickHouse(env, { timeoutMs: CLICKHOUSE_PROBE_TIMEOUT_MS });
  try {
    // A query, not /ping: it also proves the credentials and database the consumer uses.
    await client.command({ query: 'SELECT 1' });
    return true;
  } catch {
    return false;
  } finally {
    await client.close();
  }
}

async function redriveExhaustedEvents(env: Env): Promise<number> {
  const letters = await findDeadLetters(env.DB, { limit: MAX_REDRIVE_PER_RUN, pendingOnly: true, queue: EVENTS_QUEUE, reason: RETRIES_EXHAUSTED });
  const replayed = await replayDeadLetters(env, letters);
  return replayed[EVENTS_QUEUE] ?? 0;
}

async function purgeReplayedDeadLetters(db: D1Database, now: number): Promise<number> {
  const cutoff = new Date(now - REPLAYED_RETENTION_DAYS * 86_400_000).toISOString();
  const result = await db.prepare('DELETE FROM dead_letters WHERE replayed_at IS NOT NULL AND replayed_at < ?').bind(cutoff).run();
  return result.meta.changes;
}

const pendingCounts = z.array(z.object({ queue: z.string(), pending: z.number() }));

async function pendingDeadLetterCounts(db: D1Database): Promise<Record<string, number>> {
  const result = await db.prepare('SELECT queue, COUNT(*) AS pending FROM dead_letters WHERE replayed_at IS NULL GROUP BY queue').all();
  return Object.fromEntries(pendingCounts.parse(result.results).map((row) => [row.queue, row.pending]));
}

async function checkUsageIfUp(env: Env, clickhouseUp: boolean, now: number): Promise<HousekeepingReport['usage']> {
  if (!clickhouseUp) return { workspaces: 0, notices: 0, failed: 0 };
  const client = createClickHouse(env, { timeoutMs: 30_000 });
  try {
    return await checkUsage(env, client, now);
  } finally {
    await client.close();
  }
}

export async function runHousekeeping(env: Env, now = Date.now()): Promise<HousekeepingReport> {
  const clickhouseUp = await clickHouseAnswers(env);
  const redriven = clickhouseUp ? await redriveExhaustedEvents(env) : 0;
  const purged = await purgeReplayedDeadLetters(env.DB, now);
  const usage = await checkUsageIfUp(env, clickhouseUp, now);
  const retention = await applyRetentionIfUp(env, clickhouseUp, now);
  const requeuedDeletions = await requeueStaleDeletions(env, now);
  const report: HousekeepingReport = { clickhouseUp, redriven, purged, pending: await pendingDeadLetterCounts(env.DB), usage, retention, requeuedDeletions };
  const attention = !clickhouseUp || Object.values(report.pending).some((count) => count > 0) || (retention !== null && 'failed' in retention) || requeuedDeletions > 0;
  console.log(JSON.stringify({ level: attention ? 'warn' : 'info', msg: 'housekeeping', ...report }));
  return report;
}
