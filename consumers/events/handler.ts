/** `monfri-events` consumer: builds the pipeline's services from env, runs it, settles messages, reports timings. */
import type { ConsumerServices } from '../index';
import { profileTtlMs } from '../workspace-profiles';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis, type Redis } from '../../lib/redis';
import { PIPELINE_STATS_KEEP, PIPELINE_STATS_KEY } from './stats-key';
import { isPlanBlockedMessage } from '../../schema/plan-blocked';
import { storePlanBlockedTallies } from '../plan-blocked';
import { runPipeline, settleMessages, type FinishBatch, type PipelineResult } from './pipeline';
import type { PipelineDeps, RedisWrite, Step } from './types';

const CLICKHOUSE_TIMEOUT_MS = 10_000;

function redisOrNull(env: Env): Redis | null {
  try {
    return createRedis(env);
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'redis_unconfigured', error: String(error) }));
    return null;
  }
}

/** Epoch-ms marks of one delivery, so a report can be lined up with the edge's receivedAt and a client's receive time. */
export interface BatchClock {
  startedAt: number;
  settledAt: number;
}

function receivedRange(result: PipelineResult): { oldest: number; newest: number } | null {
  let oldest = Infinity;
  let newest = -Infinity;
  for (const item of result.items) {
    const at = item.event ? Date.parse(item.event.receivedAt) : Number.NaN;
    if (!Number.isFinite(at)) continue;
    oldest = Math.min(oldest, at);
    newest = Math.max(newest, at);
  }
  return Number.isFinite(oldest) ? { oldest, newest } : null;
}

export function batchReport(result: PipelineResult, queue: string, clock?: BatchClock, redisFailures?: Record<string, number>): Record<string, unknown> {
  const outcomes: Record<string, number> = {};
  for (const item of result.items) outcomes[item.outcome.kind] = (outcomes[item.outcome.kind] ?? 0) + 1;
  const received = receivedRange(result);
  return {
    msg: 'pipeline_batch',
    queue,
    at: Date.now(),
    startedAt: clock?.startedAt,
    settledAt: clock?.settledAt,
    receivedAt: received,
    live: result.state.livePublishes,
    messages: result.items.length,
    workspaceIds: [...new Set(result.items.flatMap((item) => (item.event ? [item.event.workspaceId] : [])))],
    outcomes,
    eventsInsertMs: result.state.eventsInsertMs,
    botScreening: result.state.botScreening,
    segments: result.state.segments,
    // Per isolate since it started: a closing-pipeline failure shows in the next batch's report.
    redisFailures,
    steps: Object.fromEntries(result.timings.map((timing) => [timing.step, Math.round(timing.ms * 100) / 100])),
    errors: result.timings.filter((timing) => timing.error).map((timing) => `${timing.step}: ${timing.error}`),
  };
}

/** The report rides in the batch's closing Redis pipeline: a separate write would add a round trip before the next batch (waitUntil work counts too). */
function recordStats(report: Record<string, unknown>): RedisWrite {
  const json = JSON.stringify(report);
  return (pipeline) => pipeline.lpush(PIPELINE_STATS_KEY, json).ltrim(PIPELINE_STATS_KEY, 0, PIPELINE_STATS_KEEP - 1);
}

/**
 * The queue carries events and, from the edge, tallies of the events a tracking plan blocked
 * (consumers/plan-blocked.ts): those are split off and stored alongside the pipeline. Returns
 * the pipeline's result, or null for a batch of tallies only.
 */
export async function handleEventBatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext, services: ConsumerServices, steps?: readonly Step[]): Promise<PipelineResult | null> {
  const clickhouse = createClickHouse(env, { timeoutMs: CLICKHOUSE_TIMEOUT_MS });
  const deps: PipelineDeps = { env, now: () => Date.now(), redis: redisOrNull(env), clickhouse, workspaces: services.workspaceProfiles.loader(env.DB, profileTtlMs(env)), redisDegradation: services.redisDegradation };
  const startedAt = Date.now();
  const failuresBefore = services.redisDegradation.count();
  const finish: FinishBatch = async (result) => {
    await settleMessages(result.items, env);
    const report = batchReport(result, batch.queue, { startedAt, settledAt: Date.now() }, services.redisDegradation.totals());
    const degraded = result.timings.some((timing) => timing.error) || services.redisDegradation.count() > failuresBefore;
    (degraded ? console.warn : console.log)(JSON.stringify({ level: degraded ? 'warn' : 'info', ...report }));
    return [recordStats(report)];
  };
  const tallies = batch.messages.filter((message) => isPlanBlockedMessage(message.body));
  const events = tallies.length === 0 ? batch.messages : batch.messages.filter((message) => !isPlanBlockedMessage(message.body));
  try {
    const [result] = await Promise.all([events.length > 0 ? runPipeline(events, deps, steps, finish) : null, tallies.length > 0 ? storePlanBlockedTallies(tallies, deps) : null]);
    return result;
  } finally {
    ctx.waitUntil(clickhouse.close());
  }
}
