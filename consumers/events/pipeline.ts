/**
 * The event pipeline runner: runs the named steps in order over one queue batch, times
 * each, and is the ONE place that turns outcomes into queue actions:
 *   ok / drop   -> msg.ack()
 *   retry       -> msg.retry({ delaySeconds: base * 2^(attempts-1), capped }); after the
 *                  queue's max_retries, Cloudflare moves it to monfri-events-dlq
 *   dead_letter -> stored in D1 dead_letters with its reason, then ack (a poison message
 *                  is never retried forever); if D1 fails, retry instead (never lost)
 * A step that throws retries every message still in flight.
 * Steps queue their best-effort Redis writes (seen marks, identity cache); the runner sends
 * them in ONE pipeline after the steps and the caller's `finish` (settling, the batch report),
 * so nothing between the insert and the live feed waits for Redis. The batch only counts as
 * done (acks take effect) when the queue handler returns, after this flush.
 */
import { retryBaseSeconds, retryDelaySeconds } from '../backoff';
import { withRedisDeadline } from '../../lib/redis';
import { EVENTS_QUEUE, storeDeadLetters } from '../dead-letters';
import { afterInsertStep } from './steps/after-insert';
import { buildRowsStep } from './steps/build-rows';
import { dedupStep } from './steps/dedup';
import { insertBatchStep } from './steps/insert-batch';
import { parseStep } from './steps/parse';
import { resolveIdentityStep } from './steps/resolve-identity';
import { screenBotsStep } from './steps/screen-bots';
import { suppressStep } from './steps/suppress';
import { ok, retry, type BatchState, type PipelineDeps, type PipelineItem, type RedisWrite, type Step, type StepName } from './types';

export const EVENT_PIPELINE: readonly Step[] = [parseStep, suppressStep, dedupStep, screenBotsStep, resolveIdentityStep, buildRowsStep, insertBatchStep, afterInsertStep()];

export interface StepTiming {
  step: StepName;
  ms: number;
  /** Items that entered the step / left it with a non-ok outcome. */
  items: number;
  stopped: number;
  error?: string;
}

export interface PipelineResult {
  items: PipelineItem[];
  state: BatchState;
  timings: StepTiming[];
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs after the steps and before the closing Redis flush; may add writes to it (e.g. the batch report). */
export type FinishBatch = (result: PipelineResult) => Promise<RedisWrite[]>;

async function flushRedisWrites(deps: PipelineDeps, writes: readonly RedisWrite[]): Promise<void> {
  if (!deps.redis || writes.length === 0) return;
  const pipeline = deps.redis.pipeline();
  for (const write of writes) write(pipeline);
  try {
    await withRedisDeadline(pipeline.exec());
  } catch (error) {
    deps.redisDegradation?.record('closing_writes');
    // The seen marks are lost with these writes: a redelivery then inserts a duplicate row, which FINAL/uniqExact absorb.
    console.warn(JSON.stringify({ level: 'warn', msg: 'batch_redis_writes_failed', writes: writes.length, error: errorText(error).split(', command was:', 1)[0]?.slice(0, 300) }));
  }
}

export async function runPipeline(messages: readonly Message<unknown>[], deps: PipelineDeps, steps: readonly Step[] = EVENT_PIPELINE, finish?: FinishBatch): Promise<PipelineResult> {
  const result = await runSteps(messages, deps, steps);
  const extra = finish ? await finish(result) : [];
  await flushRedisWrites(deps, [...result.state.redisWrites, ...extra]);
  return result;
}

async function runSteps(messages: readonly Message<unknown>[], deps: PipelineDeps, steps: readonly Step[]): Promise<PipelineResult> {
  const items: PipelineItem[] = messages.map((message) => ({ message, outcome: ok }));
  const state: BatchState = { links: [], conflicts: [], stored: [], dropped: [], eventsInsertMs: null, livePublishes: [], redisReads: new Map(), redisWrites: [], botScreening: null, segments: null };
  const timings: StepTiming[] = [];
  for (const step of steps) {
    const live = items.filter((item) => item.outcome.kind === 'ok');
    const started = performance.now();
    const timing: StepTiming = { step: step.name, ms: 0, items: live.length, stopped: 0 };
    try {
      const outcomes = await step.run({ items: live, state, deps });
      for (const [item, outcome] of outcomes ?? []) {
        if (outcome.kind === 'ok') continue;
        item.outcome = outcome;
        timing.stopped++;
        if (outcome.kind === 'drop') state.dropped.push(item);
      }
    } catch (error) {
      timing.error = errorText(error);
      for (const item of live) item.outcome = retry(`${step.name}: ${timing.error}`);
      timing.stopped = live.length;
    }
    timing.ms = performance.now() - started;
    timings.push(timing);
  }
  return { items, state, timings };
}

/** Applies the outcomes to the queue messages (see the header for the rules). */
export async function settleMessages(items: readonly PipelineItem[], env: Env): Promise<void> {
  const base = retryBaseSeconds(env);
  const poison = items.filter((item) => item.outcome.kind === 'dead_letter');
  let poisonStored = true;
  try {
    await storeDeadLetters(
      env.DB,
      poison.map((item) => ({ queue: EVENTS_QUEUE, body: item.message.body, reason: item.outcome.kind === 'dead_letter' ? item.outcome.reason : 'dead_letter', attempts: item.message.attempts })),
    );
  } catch (error) {
    poisonStored = false;
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', error: errorText(error) }));
  }
  for (const item of items) {
    const kind = item.outcome.kind;
    if (kind === 'ok' || kind === 'drop' || (kind === 'dead_letter' && poisonStored)) item.message.ack();
    else item.message.retry({ delaySeconds: retryDelaySeconds(item.message.attempts, base) });
  }
}
