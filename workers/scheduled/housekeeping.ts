/**
 * The cron trigger (wrangler.toml `[triggers]`): recovery and tidying that needs no operator.
 * 1. Events that used up their retries (ClickHouse down longer than the backoff covers) are
 *    re-driven as soon as ClickHouse answers again. Safe to repeat: the consumer dedups on
 *    (workspace, messageId). Poison messages, refused for what they contain, are left for a
 *    person (`npm run admin -- dlq list`): re-sending them would only fail again.
 * 2. Dead letters replayed more than REPLAYED_RETENTION_DAYS ago are deleted.
 * 3. What is still pending is logged per queue, for alerting.
 */
import { z } from 'zod';
import { createClickHouse } from '../../lib/clickhouse';
import { EVENTS_QUEUE, RETRIES_EXHAUSTED } from '../../consumers/dead-letters';
import { findDeadLetters, replayDeadLetters } from '../admin/dead-letters';

export const REPLAYED_RETENTION_DAYS = 30;
/** Per run; the rest waits for the next trigger, so one run stays well inside its time limit. */
export const MAX_REDRIVE_PER_RUN = 5000;
const CLICKHOUSE_PROBE_TIMEOUT_MS = 3000;

export interface HousekeepingReport {
  clickhouseUp: boolean;
  redriven: number;
  purged: number;
  pending: Record<string, number>;
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

export async function runHousekeeping(env: Env, now = Date.now()): Promise<HousekeepingReport> {
  const clickhouseUp = await clickHouseAnswers(env);
  const redriven = clickhouseUp ? await redriveExhaustedEvents(env) : 0;
  const purged = await purgeReplayedDeadLetters(env.DB, now);
  const report: HousekeepingReport = { clickhouseUp, redriven, purged, pending: await pendingDeadLetterCounts(env.DB) };
  const attention = !clickhouseUp || Object.values(report.pending).some((count) => count > 0);
  console.log(JSON.stringify({ level: attention ? 'warn' : 'info', msg: 'housekeeping', ...report }));
  return report;
}
