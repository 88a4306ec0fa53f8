/**
 * Re-driving events that did not make it into ClickHouse (admin API, behind requireAdmin):
 * - GET  /admin/dead-letters            list the D1 dead-letter store
 * - POST /admin/dead-letters/replay     re-send pending dead letters to their queue
 * - POST /admin/replay                  re-send a time range from the Redis Stream mirror
 * Both replays are idempotent: the consumer dedups on (workspace, messageId), so an event
 * that was stored after all is dropped as a duplicate, never counted twice.
 * The operator sees every workspace; a workspace's secret key only its own.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { QueueSendError, sendInBatches } from '../../lib/queue-batches';
import { createRedis } from '../../lib/redis';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import type { AdminActor, AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseJsonBody } from '../validation';

const REPLAYABLE_QUEUES = ['monfri-events', 'monfri-webhooks', 'monfri-segments'] as const;
type ReplayableQueue = (typeof REPLAYABLE_QUEUES)[number];
const STREAM_PAGE = 500;
const MAX_STREAM_REPLAY = 200_000;

function workspaceScope(actor: AdminActor, requested: string | undefined): string | undefined {
  if (actor.kind === 'operator') return requested;
  if (requested && requested !== actor.workspaceId) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
  return actor.workspaceId;
}

function queueBinding(env: Env, queue: ReplayableQueue): Queue {
  if (queue === 'monfri-segments') return env.SEGMENT_RETRIES;
  return queue === 'monfri-events' ? env.EVENTS : env.WEBHOOKS;
}

const deadLetterRow = z.object({
  id: z.string(),
  queue: z.string(),
  workspace_id: z.string().nullable(),
  message_id: z.string().nullable(),
  body: z.string(),
  reason: z.string(),
  attempts: z.number(),
  created_at: z.string(),
  replayed_at: z.string().nullable(),
  replay_count: z.number(),
});

const listQuery = z.object({
  workspace: z.string().optional(),
  pending: z.enum(['true', 'false']).default('true'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const replayDeadLettersBody = z.object({ workspaceId: z.string().optional(), limit: z.number().int().min(1).max(5000).default(1000) });

const replayStreamBody = z.object({
  workspaceId: z.string().min(1),
  from: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO-8601 date'),
  to: z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO-8601 date'),
});

const streamEntries = z.array(z.tuple([z.string(), z.array(z.string())]));

export type DeadLetterRow = z.output<typeof deadLetterRow>;

export interface DeadLetterFilter {
  workspaceId?: string | undefined;
  limit: number;
  pendingOnly: boolean;
  /** Only letters from this queue with this reason (the scheduled re-drive). */
  queue?: string;
  reason?: string;
}

export async function findDeadLetters(db: D1Database, filter: DeadLetterFilter): Promise<DeadLetterRow[]> {
  const conditions = [
    filter.pendingOnly ? 'replayed_at IS NULL' : '1 = 1',
    filter.workspaceId ? 'workspace_id = ?1' : '?1 IS NULL',
    filter.queue ? 'queue = ?2' : '?2 IS NULL',
    filter.reason ? 'reason = ?3' : '?3 IS NULL',
  ];
  const result = await db
    .prepare(`SELECT id, queue, workspace_id, message_id, body, reason, attempts, created_at, replayed_at, replay_count FROM dead_letters WHERE ${conditions.join(' AND ')} ORDER BY created_at LIMIT ?4`)
    .bind(filter.workspaceId ?? null, filter.queue ?? null, filter.reason ?? null, filter.limit)
    .all();
  return z.array(deadLetterRow).parse(result.results);
}

/** Re-sends dead letters to the queue they came from and marks them replayed; returns counts per queue. */
export async function replayDeadLetters(env: Env, rows: readonly DeadLetterRow[]): Promise<Record<string, number>> {
  const replayable = rows.filter((row): row is DeadLetterRow & { queue: ReplayableQueue } => REPLAYABLE_QUEUES.some((queue) => queue === row.queue));
  const replayed: Record<string, number> = {};
  for (const queue of REPLAYABLE_QUEUES) {
    const forQueue = replayable.filter((row) => row.queue === queue);
    if (forQueue.length === 0) continue;
    replayed[queue] = await sendInBatches(queueBinding(env, queue), forQueue.map((row) => parsedBody(row.body)));
    // Marked after sending: a crash in between only means a second, harmless (deduplicated) replay.
    const mark = env.DB.prepare("UPDATE dead_letters SET replayed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), replay_count = replay_count + 1 WHERE id = ?");
    await env.DB.batch(forQueue.map((row) => mark.bind(row.id)));
  }
  return replayed;
}

/** Replays are idempotent (messageIds, dedup): a queue that refuses part way is a 503 to send again, never a 500. */
async function queueOr503<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof QueueSendError)) throw error;
    throw new ApiError(503, 'queue_unavailable', `The queue refused the replay after ${error.sent} of ${error.total} messages; send the same request again (replays are idempotent).`, { sent: error.sent, total: error.total }, { 'Retry-After': '5' });
  }
}

function parsedBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Reads the stream mirror page by page (exclusive start after the first page) and keeps this workspace's events. */
async function readStreamRange(env: Env, workspaceId: string, fromMs: number, toMs: number): Promise<{ bodies: unknown[]; truncated: boolean }> {
  const redis = createRedis(env);
  const bodies: unknown[] = [];
  let start = String(fromMs);
  for (;;) {
    const raw = await redis.exec<unknown>(['XRANGE', eventStreamKey(workspaceId), start, String(toMs), 'COUNT', String(STREAM_PAGE)]);
    const entries = streamEntries.parse(raw);
    for (const [, fields] of entries) {
      const index = fields.indexOf(STREAM_EVENT_FIELD);
      const value = index >= 0 ? fields[index + 1] : undefined;
      if (value === undefined) continue;
      const body = parsedBody(value);
      const owner = z.object({ workspaceId: z.string() }).safeParse(body);
      if (owner.success && owner.data.workspaceId === workspaceId) bodies.push(body);
    }
    const last = entries.at(-1);
    if (!last || entries.length < STREAM_PAGE) return { bodies, truncated: false };
    if (bodies.length >= MAX_STREAM_REPLAY) return { bodies, truncated: true };
    start = `(${last[0]}`;
  }
}

export const deadLetterRoutes = new Hono<AppEnv>()
  .get('/dead-letters', async (c) => {
    const query = listQuery.safeParse(Object.fromEntries(new URL(c.req.url).searchParams));
    if (!query.success) throw new ApiError(400, 'invalid_query', 'The query string is not valid.', query.error.issues);
    const workspaceId = workspaceScope(c.var.adminActor, query.data.workspace);
    const rows = await findDeadLetters(c.env.DB, { workspaceId, limit: query.data.limit, pendingOnly: query.data.pending === 'true' });
    return c.json({
      deadLetters: rows.map((row) => ({
        id: row.id,
        queue: row.queue,
        workspaceId: row.workspace_id,
        messageId: row.message_id,
        reason: row.reason,
        attempts: row.attempts,
        createdAt: row.created_at,
        replayedAt: row.replayed_at,
        replayCount: row.replay_count,
        body: parsedBody(row.body),
      })),
    });
  })
  .post('/dead-letters/replay', async (c) => {
    const input = await parseJsonBody(c.req.raw, replayDeadLettersBody);
    const workspaceId = workspaceScope(c.var.adminActor, input.workspaceId);
    const pending = await findDeadLetters(c.env.DB, { workspaceId, limit: input.limit, pendingOnly: true });
    const replayed = await queueOr503(() => replayDeadLetters(c.env, pending));
    return c.json({ replayed, total: Object.values(replayed).reduce((sum, count) => sum + count, 0) });
  })
  .post('/replay', async (c) => {
    const input = await parseJsonBody(c.req.raw, replayStreamBody);
    const workspaceId = workspaceScope(c.var.adminActor, input.workspaceId) ?? input.workspaceId;
    const fromMs = Date.parse(input.from);
    const toMs = Date.parse(input.to);
    if (toMs <= fromMs) throw new ApiError(400, 'invalid_range', '`to` must be after `from`.');
    const { bodies, truncated } = await readStreamRange(c.env, workspaceId, fromMs, toMs);
    const sent = await queueOr503(() => sendInBatches(c.env.EVENTS, bodies));
    return c.json({ workspaceId, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), replayed: sent, truncated });
  });
