/**
 * Tallies of the events a tracking plan blocked at the edge (workers/collect/plan-blocked.ts),
 * which arrive on the `events` queue among the events: ONE insert into plan_blocked_counts for
 * all of a batch's tallies, then acks. What can go wrong:
 * - a body that is not a tally can never succeed: dead-lettered with its reason (D1), as the
 *   event pipeline's parse step does;
 * - ClickHouse down or refusing: every tally of the batch is retried with backoff, and after
 *   max_retries reaches the dead-letter queue like an event;
 * - a delivery twice (a redelivery, a dead-letter replay, a client sending the same batch
 *   again: the tally's id comes from the blocked messageIds): the counts are sums, so the id is
 *   marked in Redis once inserted (SET NX, the event seen marks' TTL) and a tally found marked
 *   is acked without an insert. Redis down, or a crash between insert and mark, lets a
 *   duplicate count twice: the price of reads that stay cheap (no FINAL over one row per tally).
 */
import { insertRetryingQuorum, type ClickHouseClient } from '../lib/clickhouse';
import { withRedisDeadline, type Redis } from '../lib/redis';
import { PLAN_BLOCKED_COUNTS_TABLE } from '../lib/schema-queries';
import { planBlockedTallySchema, type PlanBlockedTally } from '../schema/plan-blocked';
import { retryBaseSeconds, retryDelaySeconds } from './backoff';
import { EVENTS_QUEUE, storeDeadLetters } from './dead-letters';
import { SEEN_TTL_SECONDS } from './events/steps/dedup';
import type { RedisDegradation } from './redis-degradation';

export interface PlanBlockedDeps {
  env: Env;
  clickhouse: ClickHouseClient;
  redis: Redis | null;
  redisDegradation?: RedisDegradation;
}

export function tallySeenKey(workspaceId: string, messageId: string): string {
  return `monfri:seen-blocked:${workspaceId}:${messageId}`;
}

interface ParsedTally {
  message: Message<unknown>;
  tally: PlanBlockedTally;
}

/** One ClickHouse row per count; the table's key is that of plan_violation_counts. */
export function planBlockedRows(tallies: readonly PlanBlockedTally[]): object[] {
  return tallies.flatMap((tally) => tally.counts.map((count) => ({ workspace_id: tally.workspaceId, day: count.day, type: count.type, event: count.event, rule: count.rule, path: count.path, blocked: count.blocked })));
}

/** The tallies already counted, by seen key (empty when Redis is missing or failing: then all are inserted). */
async function alreadyCounted(deps: PlanBlockedDeps, keys: readonly string[]): Promise<Set<string>> {
  if (!deps.redis || keys.length === 0) return new Set();
  try {
    const values = await withRedisDeadline(deps.redis.mget<(string | null)[]>(...keys));
    return new Set(keys.filter((_, index) => typeof values[index] === 'string'));
  } catch (error) {
    deps.redisDegradation?.record('blocked_tallies');
    console.warn(JSON.stringify({ level: 'warn', msg: 'blocked_tally_dedup_unavailable', error: String(error).slice(0, 300) }));
    return new Set();
  }
}

async function markCounted(deps: PlanBlockedDeps, keys: readonly string[]): Promise<void> {
  if (!deps.redis || keys.length === 0) return;
  const pipeline = deps.redis.pipeline();
  for (const key of keys) pipeline.set(key, '1', { nx: true, ex: SEEN_TTL_SECONDS });
  try {
    await withRedisDeadline(pipeline.exec());
  } catch (error) {
    deps.redisDegradation?.record('blocked_tallies');
    console.warn(JSON.stringify({ level: 'warn', msg: 'blocked_tally_mark_failed', tallies: keys.length, error: String(error).slice(0, 300) }));
  }
}

async function deadLetterInvalid(env: Env, invalid: readonly { message: Message<unknown>; reason: string }[]): Promise<void> {
  if (invalid.length === 0) return;
  try {
    await storeDeadLetters(env.DB, invalid.map(({ message, reason }) => ({ queue: EVENTS_QUEUE, body: message.body, reason, attempts: message.attempts })));
    for (const { message } of invalid) message.ack();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', error: String(error).slice(0, 300) }));
    for (const { message } of invalid) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, retryBaseSeconds(env)) });
  }
}

/** Stores a batch's tally messages and settles each (ack, retry or dead letter). Returns how many tallies were inserted. */
export async function storePlanBlockedTallies(messages: readonly Message<unknown>[], deps: PlanBlockedDeps): Promise<number> {
  const tallies: ParsedTally[] = [];
  const invalid: { message: Message<unknown>; reason: string }[] = [];
  for (const message of messages) {
    const parsed = planBlockedTallySchema.safeParse(message.body);
    if (parsed.success) tallies.push({ message, tally: parsed.data });
    else invalid.push({ message, reason: `invalid_plan_blocked_tally: ${parsed.error.issues.slice(0, 5).map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}` });
  }
  await deadLetterInvalid(deps.env, invalid);

  const seen = await alreadyCounted(deps, [...new Set(tallies.map(({ tally }) => tallySeenKey(tally.workspaceId, tally.messageId)))]);
  const fresh = new Map<string, PlanBlockedTally>();
  for (const { tally } of tallies) {
    const key = tallySeenKey(tally.workspaceId, tally.messageId);
    if (!seen.has(key) && !fresh.has(key)) fresh.set(key, tally);
  }
  try {
    if (fresh.size > 0) await insertRetryingQuorum(deps.clickhouse, { table: PLAN_BLOCKED_COUNTS_TABLE, format: 'JSONEachRow', values: planBlockedRows([...fresh.values()]) });
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'blocked_tally_insert_failed', tallies: fresh.size, error: String(error).slice(0, 300) }));
    for (const { message } of tallies) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, retryBaseSeconds(deps.env)) });
    return 0;
  }
  await markCounted(deps, [...fresh.keys()]);
  for (const { message } of tallies) message.ack();
  return fresh.size;
}
