/** `monfri-events` consumer: builds the pipeline's services from env, runs it, settles messages, reports timings. */
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis, type Redis } from '../../lib/redis';
import { PIPELINE_STATS_KEEP, PIPELINE_STATS_KEY } from './stats-key';
import { runPipeline, settleMessages, type PipelineResult } from './pipeline';
import type { PipelineDeps, Step } from './types';

const CLICKHOUSE_TIMEOUT_MS = 10_000;

function redisOrNull(env: Env): Redis | null {
  try {
    return createRedis(env);
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'redis_unconfigured', error: String(error) }));
    return null;
  }
}

export function batchReport(result: PipelineResult, queue: string): Record<string, unknown> {
  const outcomes: Record<string, number> = {};
  for (const item of result.items) outcomes[item.outcome.kind] = (outcomes[item.outcome.kind] ?? 0) + 1;
  return {
    msg: 'pipeline_batch',
    queue,
    at: Date.now(),
    messages: result.items.length,
    workspaceIds: [...new Set(result.items.flatMap((item) => (item.event ? [item.event.workspaceId] : [])))],
    outcomes,
    eventsInsertMs: result.state.eventsInsertMs,
    steps: Object.fromEntries(result.timings.map((timing) => [timing.step, Math.round(timing.ms * 100) / 100])),
    errors: result.timings.filter((timing) => timing.error).map((timing) => `${timing.step}: ${timing.error}`),
  };
}

async function recordStats(redis: Redis | null, report: Record<string, unknown>): Promise<void> {
  if (!redis) return;
  try {
    const json = JSON.stringify(report);
    await redis.pipeline().lpush(PIPELINE_STATS_KEY, json).ltrim(PIPELINE_STATS_KEY, 0, PIPELINE_STATS_KEEP - 1).exec();
  } catch {
    // Stats are diagnostics only.
  }
}

export async function handleEventBatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext, steps?: readonly Step[]): Promise<PipelineResult> {
  const clickhouse = createClickHouse(env, { timeoutMs: CLICKHOUSE_TIMEOUT_MS });
  const deps: PipelineDeps = { env, now: () => Date.now(), redis: redisOrNull(env), clickhouse };
  try {
    const result = await runPipeline(batch.messages, deps, steps);
    await settleMessages(result.items, env);
    const report = batchReport(result, batch.queue);
    console.log(JSON.stringify({ level: result.timings.some((timing) => timing.error) ? 'warn' : 'info', ...report }));
    ctx.waitUntil(recordStats(deps.redis, report));
    return result;
  } finally {
    ctx.waitUntil(clickhouse.close());
  }
}
