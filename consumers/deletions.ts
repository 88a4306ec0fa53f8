/**
 * The person deletion job (`monfri-deletions` queue; requested by DELETE /v1/persons..., see
 * workers/api/deletions.ts). The job's state lives in D1 (lib/privacy/store.ts) and every step is
 * idempotent, so a crash or a retry runs it again from the top and changes nothing twice. The
 * scheduled housekeeping re-queues a job that has not moved for STALE_JOB_MS (a lost message).
 *
 * Steps, in this order and why:
 * 1. suppress: resolve every identity of the person through the identity map and put each on
 *    the suppression list (the subject is on it since the request). From here on the edge and
 *    the consumers refuse them.
 * 2. settle: consumers hold the list for WORKSPACE_PROFILE_TTL_SECONDS; wait that long plus the
 *    longest batch, so every event that passed an older copy is in ClickHouse before step 4
 *    deletes (a mutation only rewrites the parts that exist when it starts). Identities linked
 *    meanwhile are picked up by resolving again.
 * 3. count: raw rows per ClickHouse table (no FINAL, so every physical copy), kept on the job.
 * 4. clickhouse: one `ALTER TABLE ... DELETE WHERE` mutation per person-keyed table
 *    (lib/privacy-sql.ts), then wait until system.mutations says each is done.
 * 5. segments / live_feed / stream_mirror / dead_letters: the person's state in every segment
 *    shard, the live-feed ring, entries of the Redis Stream mirror (a bounded scan + XDEL), and
 *    dead letters in D1 holding their events.
 * 6. verify: count again; anything left fails the attempt (retried), so `done` means gone.
 */
import { z } from 'zod';
import { createClickHouse, clusterName, clusterNodesSql, clusterNodeSchema, type ClickHouseClient } from '../lib/clickhouse';
import { queryRows, uint64 } from '../lib/event-queries';
import { mutationProgressSql, personDeleteMutations, personRowCountsSql, targetOf, type PersonTarget } from '../lib/privacy-sql';
import {
  failDeletion,
  finishDeletion,
  getDeletionJobById,
  markDeletionRunning,
  markDeletionStep,
  noteDeletionError,
  suppressIdentities,
  type DeletionCounts,
  type DeletionJob,
} from '../lib/privacy/store';
import { createRedis, withRedisDeadline } from '../lib/redis';
import { segmentObjectName } from '../lib/segments/shards';
import { listSegments } from '../lib/segments/store';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../lib/stream';
import { resolvePerson } from '../lib/persons';
import { streamMaxLen } from '../lib/stream';
import { retryBaseSeconds, retryDelaySeconds } from './backoff';
import { profileTtlMs } from './workspace-profiles';

export const DELETIONS_QUEUE = 'monfri-deletions';
/** Attempts before a job is marked failed (with the last reason); each attempt is a full, idempotent run. */
export const MAX_DELETION_ATTEMPTS = 8;
/** Beyond the consumers' profile TTL: the longest an event batch takes from reading the list to its insert. */
export const SETTLE_MARGIN_MS = 15_000;
/** A job whose row has not changed for this long is re-queued by the housekeeping. */
export const STALE_JOB_MS = 20 * 60_000;
/** How long one attempt waits for its mutations before giving up (the next attempt waits again). */
const MUTATION_WAIT_MS = 10 * 60_000;
const MUTATION_POLL_MS = 500;
/** A mutation just started is listed at once; one still missing after this long was lost (e.g. the server was replaced). */
const MUTATION_MISSING_MS = 30_000;
const STREAM_PAGE = 500;
/** How many times identities are resolved again after settling (new links found each time). */
const MAX_RESOLVE_ROUNDS = 3;

export const deletionMessageSchema = z.object({ jobId: z.string().min(1).max(100) });
export type DeletionMessage = z.output<typeof deletionMessageSchema>;

export interface DeletionDeps {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realDeps: DeletionDeps = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

const countRow = z.object({ table_name: z.string(), rows: uint64 });

export async function personRowCounts(client: ClickHouseClient, target: PersonTarget): Promise<Record<string, number>> {
  const rows = await queryRows(client, personRowCountsSql(target), countRow);
  return Object.fromEntries(rows.map((row) => [row.table_name, row.rows]));
}

const progressRow = z.object({ table: z.string(), mutation_id: z.string(), is_done: uint64, parts_to_do: uint64 });

/** Every node's address (cluster mode), for reading mutation progress everywhere. */
export async function clusterAddresses(client: ClickHouseClient, cluster: string | null): Promise<{ host_name: string; port: number }[] | null> {
  if (cluster === null) return null;
  return queryRows(client, clusterNodesSql(cluster), clusterNodeSchema);
}

/** Starts one mutation per person-keyed table; returns the tables (the wait below looks for each). */
export async function startPersonDelete(client: ClickHouseClient, cluster: string | null, target: PersonTarget, jobId: string): Promise<Set<string>> {
  const mutations = personDeleteMutations(target, jobId, cluster);
  for (const mutation of mutations) await client.command({ query: mutation.sql });
  return new Set(mutations.map((mutation) => mutation.table));
}

/**
 * Starts the person's mutations and waits until every one is done on every node. Mutations
 * from an earlier attempt of the same job carry the same marker and are waited for too.
 * Cluster mode on 18.16: a replica does not mutate the part it last received by a quorum insert
 * until the next quorum insert into that table (measured: `parts_to_do` stays 1, and drops to 0
 * right after any later insert), so with no traffic at all the wait lasts until traffic comes;
 * the attempt gives up after `waitMs` with the parts still to do, and the job is retried.
 */
export async function deletePersonRows(client: ClickHouseClient, config: { database: string; cluster: string | null }, target: PersonTarget, jobId: string, deps: DeletionDeps = realDeps, waitMs = MUTATION_WAIT_MS): Promise<void> {
  const tables = await startPersonDelete(client, config.cluster, target, jobId);
  const nodes = await clusterAddresses(client, config.cluster);
  await waitForMutations(client, config.database, jobId, nodes, tables, deps, waitMs);
}

export async function waitForMutations(client: ClickHouseClient, database: string, marker: string, nodes: { host_name: string; port: number }[] | null, tables: ReadonlySet<string>, deps: DeletionDeps = realDeps, waitMs = MUTATION_WAIT_MS): Promise<void> {
  const started = deps.now();
  const deadline = started + waitMs;
  for (;;) {
    const rows = await queryRows(client, mutationProgressSql(database, marker, nodes), progressRow);
    // A cluster names its local tables; every table must show a mutation, and every mutation must be done.
    const seen = new Set(rows.map((row) => row.table.replace(/_local$/, '')));
    const pending = rows.filter((row) => row.is_done !== 1);
    const missing = [...tables].filter((table) => !seen.has(table));
    if (pending.length === 0 && missing.length === 0) return;
    if (missing.length > 0 && deps.now() > started + MUTATION_MISSING_MS) throw new Error(`ClickHouse lists no mutation of this job for ${missing.join(', ')}`);
    if (deps.now() > deadline) {
      const waiting = pending.map((row) => `${row.table} ${row.mutation_id} (${row.parts_to_do} parts to do)`).join(', ');
      throw new Error(`ClickHouse mutations not done after ${Math.round(waitMs / 1000)} s: ${waiting}`);
    }
    await deps.sleep(MUTATION_POLL_MS);
  }
}

/** The person's states in every shard of the workspace's segments; returns how many were held. */
async function forgetInSegments(env: Env, workspaceId: string, personIds: string[]): Promise<number> {
  const segments = await listSegments(env.DB, workspaceId);
  const counts = await Promise.all(
    segments.flatMap((segment) => Array.from({ length: segment.shards }, (_, shard) => env.SEGMENTS.getByName(segmentObjectName(workspaceId, segment.id, shard)).forgetPersons(personIds))),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

const streamEntries = z.array(z.tuple([z.string(), z.array(z.string())]));
const eventIds = z.object({ userId: z.string().nullish(), anonymousId: z.string().nullish(), previousId: z.string().nullish() }).loose();

/**
 * Deletes the person's entries from the workspace's stream mirror: the whole stream is read page
 * by page (it is capped at about STREAM_MAXLEN, so the scan is bounded: twice that at most) and
 * matching entries are XDELed. Returns how many it deleted and whether the bound was reached.
 */
export async function forgetInStreamMirror(env: Env, workspaceId: string, target: PersonTarget): Promise<{ deleted: number; truncated: boolean }> {
  const redis = createRedis(env);
  const key = eventStreamKey(workspaceId);
  const users = new Set(target.userIds);
  const anonymous = new Set(target.anonymousIds);
  const bound = streamMaxLen(env) * 2;
  let start = '-';
  let scanned = 0;
  let deleted = 0;
  for (;;) {
    const entries = streamEntries.parse(await withRedisDeadline(redis.exec<unknown>(['XRANGE', key, start, '+', 'COUNT', String(STREAM_PAGE)])));
    const matching: string[] = [];
    for (const [id, fields] of entries) {
      const index = fields.indexOf(STREAM_EVENT_FIELD);
      const value = index >= 0 ? fields[index + 1] : undefined;
      let parsed: unknown = null;
      try {
        parsed = value === undefined ? null : JSON.parse(value);
      } catch {
        parsed = null;
      }
      const ids = eventIds.safeParse(parsed);
      if (!ids.success) continue;
      const { userId, anonymousId, previousId } = ids.data;
      if ((userId && users.has(userId)) || (anonymousId && anonymous.has(anonymousId)) || (previousId && (users.has(previousId) || anonymous.has(previousId)))) matching.push(id);
    }
    if (matching.length > 0) deleted += Number(await withRedisDeadline(redis.exec<unknown>(['XDEL', key, ...matching])));
    scanned += entries.length;
    const last = entries.at(-1);
    if (!last || entries.length < STREAM_PAGE) return { deleted, truncated: false };
    if (scanned >= bound) return { deleted, truncated: true };
    start = `(${last[0]}`;
  }
}

/** Dead letters in D1 holding the person's events (pending or replayed): their bodies are the person's data. */
async function forgetDeadLetters(db: D1Database, target: PersonTarget): Promise<number> {
  const ids = [...target.userIds.map((id) => ['userId', id] as const), ...target.anonymousIds.map((id) => ['anonymousId', id] as const), ...[...target.userIds, ...target.anonymousIds].map((id) => ['previousId', id] as const)];
  let removed = 0;
  const statement = db.prepare("DELETE FROM dead_letters WHERE workspace_id = ? AND json_valid(body) AND json_extract(body, '$.' || ?) = ?");
  // One statement per id keeps far below D1's bound-parameter limit whatever the number of identities.
  const results = await db.batch(ids.map(([field, value]) => statement.bind(target.workspaceId, field, value)));
  for (const result of results) removed += result.meta.changes;
  return removed;
}

function clickHouseConfig(env: Env): { database: string; cluster: string | null } {
  return { database: env.CLICKHOUSE_DATABASE, cluster: clusterName(env) };
}

/**
 * Identities of the person: resolved, the new ones suppressed, then a wait for the consumers'
 * lists to take them in; resolved again after the wait (a link may have landed meanwhile) until
 * nothing new appears.
 */
async function suppressAndSettle(env: Env, client: ClickHouseClient, job: DeletionJob, deps: DeletionDeps): Promise<string[]> {
  let keys = [...new Set([job.subject, ...job.identities])];
  let settleFrom = job.suppressedAt ? Date.parse(job.suppressedAt) : deps.now();
  for (let round = 0; round < MAX_RESOLVE_ROUNDS; round++) {
    const found = new Set<string>();
    for (const key of keys) for (const id of (await resolvePerson(client, job.workspaceId, key)).match.personIds) found.add(id);
    const added = [...found].filter((key) => !keys.includes(key));
    if (added.length > 0) {
      keys = [...keys, ...added];
      await suppressIdentities(env.DB, job, keys);
      settleFrom = deps.now();
    }
    await markDeletionStep(env.DB, job.id, 'settle');
    const wait = settleFrom + profileTtlMs(env) + SETTLE_MARGIN_MS - deps.now();
    if (wait > 0) await deps.sleep(wait);
    if (added.length === 0) break;
  }
  return keys;
}

/** Runs (or resumes) one job to done; throws when this attempt could not finish (the caller retries or fails it). */
export async function runDeletionJob(env: Env, jobId: string, deps: DeletionDeps = realDeps): Promise<DeletionJob | null> {
  const job = await getDeletionJobById(env.DB, jobId);
  if (!job || job.status === 'done' || job.status === 'failed') return job;
  await markDeletionRunning(env.DB, job.id);
  const client = createClickHouse(env, { timeoutMs: 120_000 });
  try {
    const keys = await suppressAndSettle(env, client, job, deps);
    const target = targetOf(job.workspaceId, keys);
    const before = job.counts ?? (await personRowCounts(client, target));
    await markDeletionStep(env.DB, job.id, 'clickhouse', before);
    await deletePersonRows(client, clickHouseConfig(env), target, job.id, deps);
    await markDeletionStep(env.DB, job.id, 'segments');
    const segmentStates = await forgetInSegments(env, job.workspaceId, [...target.identityKeys]);
    await markDeletionStep(env.DB, job.id, 'live_feed');
    const liveFeedItems = await env.LIVE_FEED.getByName(job.workspaceId).forgetPersons([...target.identityKeys, ...target.userIds, ...target.anonymousIds]);
    await markDeletionStep(env.DB, job.id, 'stream_mirror');
    const stream = await forgetInStreamMirror(env, job.workspaceId, target);
    await markDeletionStep(env.DB, job.id, 'dead_letters');
    const deadLetters = await forgetDeadLetters(env.DB, target);
    await markDeletionStep(env.DB, job.id, 'verify');
    const after = await personRowCounts(client, target);
    const left = Object.entries(after).filter(([, rows]) => rows > 0);
    if (left.length > 0) throw new Error(`rows remain after the delete: ${left.map(([table, rows]) => `${table} ${rows}`).join(', ')}`);
    const counts: DeletionCounts = { ...before, segmentStates, liveFeedItems, streamEntries: stream.deleted, streamScanTruncated: stream.truncated ? 1 : 0, deadLetters };
    await finishDeletion(env.DB, job.id, counts);
    return getDeletionJobById(env.DB, job.id);
  } finally {
    await client.close();
  }
}

/** The `monfri-deletions` consumer: one job per message; a failed attempt is retried with backoff, the last one marks the job failed. */
export async function handleDeletionBatch(batch: MessageBatch<unknown>, env: Env, deps: DeletionDeps = realDeps): Promise<void> {
  for (const message of batch.messages) {
    const parsed = deletionMessageSchema.safeParse(message.body);
    if (!parsed.success) {
      console.error(JSON.stringify({ level: 'error', msg: 'deletion_message_invalid' }));
      message.ack();
      continue;
    }
    const { jobId } = parsed.data;
    try {
      const job = await runDeletionJob(env, jobId, deps);
      console.log(JSON.stringify({ level: 'info', msg: 'deletion_job', jobId, status: job?.status ?? 'missing', counts: job?.counts ?? null }));
      message.ack();
    } catch (error) {
      const reason = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
      const job = await getDeletionJobById(env.DB, jobId).catch(() => null);
      console.warn(JSON.stringify({ level: 'warn', msg: 'deletion_attempt_failed', jobId, attempts: job?.attempts ?? null, error: reason }));
      try {
        if (job && job.attempts >= MAX_DELETION_ATTEMPTS) {
          await failDeletion(env.DB, jobId, reason);
          message.ack();
          continue;
        }
        await noteDeletionError(env.DB, jobId, reason);
      } catch (stateError) {
        console.error(JSON.stringify({ level: 'error', msg: 'deletion_state_unavailable', jobId, error: String(stateError) }));
      }
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, retryBaseSeconds(env)) });
    }
  }
}
