/**
 * Control-plane storage for privacy (D1, schema/d1/0009_privacy.sql): deletion jobs and the
 * suppression list. The job runner (consumers/deletions.ts), the API (workers/api/deletions.ts),
 * the edge and the consumers read and write through here.
 */
import { z } from 'zod';

export const DELETION_STATUSES = ['queued', 'running', 'done', 'failed'] as const;
export type DeletionStatus = (typeof DELETION_STATUSES)[number];

/** The steps of a job, in order; `step` says which one it is on (or reached). */
export const DELETION_STEPS = ['queued', 'suppress', 'settle', 'count', 'clickhouse', 'segments', 'live_feed', 'stream_mirror', 'dead_letters', 'verify', 'done'] as const;
export type DeletionStep = (typeof DELETION_STEPS)[number];

const countsSchema = z.record(z.string(), z.number());
export type DeletionCounts = z.output<typeof countsSchema>;

const jobRow = z.object({
  id: z.string(),
  workspace_id: z.string(),
  subject: z.string(),
  status: z.enum(DELETION_STATUSES),
  step: z.string(),
  identities: z.string(),
  counts: z.string().nullable(),
  error: z.string().nullable(),
  attempts: z.number(),
  suppressed_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  finished_at: z.string().nullable(),
});

export interface DeletionJob {
  id: string;
  workspaceId: string;
  /** The identity key the deletion was asked for ('user:42', 'anonymous:abc'). */
  subject: string;
  status: DeletionStatus;
  step: string;
  /** Every identity key of the person (resolved by the job; the subject alone until then). */
  identities: string[];
  /** Raw ClickHouse rows per table found before the delete, plus what other stores held. */
  counts: DeletionCounts | null;
  error: string | null;
  attempts: number;
  suppressedAt: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function jobFromRow(row: z.output<typeof jobRow>): DeletionJob {
  const identities = z.array(z.string()).safeParse(parseJson(row.identities));
  const counts = countsSchema.safeParse(parseJson(row.counts));
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    subject: row.subject,
    status: row.status,
    step: row.step,
    identities: identities.success ? identities.data : [row.subject],
    counts: counts.success ? counts.data : null,
    error: row.error,
    attempts: row.attempts,
    suppressedAt: row.suppressed_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/** A job id: also the marker its ClickHouse mutations carry (lib/privacy-sql.ts). */
export function newDeletionJobId(): string {
  return `del_${crypto.randomUUID().replace(/-/g, '')}`;
}

export async function getDeletionJob(db: D1Database, workspaceId: string, jobId: string): Promise<DeletionJob | null> {
  const row = await db.prepare('SELECT * FROM deletion_jobs WHERE id = ? AND workspace_id = ?').bind(jobId, workspaceId).first();
  return row === null ? null : jobFromRow(jobRow.parse(row));
}

export async function getDeletionJobById(db: D1Database, jobId: string): Promise<DeletionJob | null> {
  const row = await db.prepare('SELECT * FROM deletion_jobs WHERE id = ?').bind(jobId).first();
  return row === null ? null : jobFromRow(jobRow.parse(row));
}

/** An unfinished job for the same subject, so a repeated request answers with it instead of a second job. */
export async function openDeletionJob(db: D1Database, workspaceId: string, subject: string): Promise<DeletionJob | null> {
  const row = await db.prepare("SELECT * FROM deletion_jobs WHERE workspace_id = ? AND subject = ? AND status IN ('queued', 'running') ORDER BY created_at LIMIT 1").bind(workspaceId, subject).first();
  return row === null ? null : jobFromRow(jobRow.parse(row));
}

/**
 * Creates the job and suppresses its subject in one D1 batch: from the moment the request is
 * answered, the edge (within its cache TTL) and the consumers (within theirs) refuse the subject.
 */
export async function createDeletionJob(db: D1Database, workspaceId: string, subject: string): Promise<DeletionJob> {
  const id = newDeletionJobId();
  await db.batch([
    db.prepare(`INSERT INTO deletion_jobs (id, workspace_id, subject, status, step, identities, suppressed_at) VALUES (?, ?, ?, 'queued', 'queued', ?, ${NOW})`).bind(id, workspaceId, subject, JSON.stringify([subject])),
    suppressStatement(db, workspaceId, subject, id),
  ]);
  const job = await getDeletionJobById(db, id);
  if (!job) throw new Error('deletion job vanished after insert');
  return job;
}

function suppressStatement(db: D1Database, workspaceId: string, identityKey: string, jobId: string): D1PreparedStatement {
  return db.prepare('INSERT INTO suppressions (workspace_id, identity_key, job_id) VALUES (?, ?, ?) ON CONFLICT (workspace_id, identity_key) DO NOTHING').bind(workspaceId, identityKey, jobId);
}

/** Suppresses every identity of the person and records them on the job (idempotent). */
export async function suppressIdentities(db: D1Database, job: DeletionJob, identityKeys: readonly string[]): Promise<void> {
  const keys = [...new Set([job.subject, ...job.identities, ...identityKeys])];
  await db.batch([
    ...keys.map((key) => suppressStatement(db, job.workspaceId, key, job.id)),
    db.prepare(`UPDATE deletion_jobs SET identities = ?, step = 'suppress', suppressed_at = ${NOW}, updated_at = ${NOW} WHERE id = ?`).bind(JSON.stringify(keys), job.id),
  ]);
}

export async function markDeletionRunning(db: D1Database, jobId: string): Promise<void> {
  await db.prepare(`UPDATE deletion_jobs SET status = 'running', attempts = attempts + 1, updated_at = ${NOW} WHERE id = ? AND status IN ('queued', 'running')`).bind(jobId).run();
}

export async function markDeletionStep(db: D1Database, jobId: string, step: DeletionStep, counts?: DeletionCounts): Promise<void> {
  if (counts) await db.prepare(`UPDATE deletion_jobs SET step = ?, counts = ?, updated_at = ${NOW} WHERE id = ?`).bind(step, JSON.stringify(counts), jobId).run();
  else await db.prepare(`UPDATE deletion_jobs SET step = ?, updated_at = ${NOW} WHERE id = ?`).bind(step, jobId).run();
}

export async function finishDeletion(db: D1Database, jobId: string, counts: DeletionCounts): Promise<void> {
  await db.prepare(`UPDATE deletion_jobs SET status = 'done', step = 'done', counts = ?, error = NULL, updated_at = ${NOW}, finished_at = ${NOW} WHERE id = ?`).bind(JSON.stringify(counts), jobId).run();
}

export async function failDeletion(db: D1Database, jobId: string, reason: string): Promise<void> {
  await db.prepare(`UPDATE deletion_jobs SET status = 'failed', error = ?, updated_at = ${NOW}, finished_at = ${NOW} WHERE id = ?`).bind(reason.slice(0, 2000), jobId).run();
}

/** Records why an attempt failed while the job will be tried again. */
export async function noteDeletionError(db: D1Database, jobId: string, reason: string): Promise<void> {
  await db.prepare(`UPDATE deletion_jobs SET error = ?, updated_at = ${NOW} WHERE id = ?`).bind(reason.slice(0, 2000), jobId).run();
}

/** Jobs that have not moved for `staleMs` (their message lost, or the consumer crashed): the housekeeping re-queues them. */
export async function staleDeletionJobs(db: D1Database, staleMs: number, now: number, limit: number): Promise<{ id: string; workspaceId: string }[]> {
  const cutoff = new Date(now - staleMs).toISOString();
  const result = await db.prepare("SELECT id, workspace_id FROM deletion_jobs WHERE status IN ('queued', 'running') AND updated_at < ? ORDER BY updated_at LIMIT ?").bind(cutoff, limit).all();
  return z.array(z.object({ id: z.string(), workspace_id: z.string() })).parse(result.results).map((row) => ({ id: row.id, workspaceId: row.workspace_id }));
}

export async function touchDeletionJob(db: D1Database, jobId: string): Promise<void> {
  await db.prepare(`UPDATE deletion_jobs SET updated_at = ${NOW} WHERE id = ?`).bind(jobId).run();
}

/** The suppression list statement for a set of workspaces (one of the consumer's profile reads). */
export function suppressionsStatement(db: D1Database, workspaceIds: readonly string[]): D1PreparedStatement {
  return db.prepare(`SELECT workspace_id, identity_key FROM suppressions WHERE workspace_id IN (${workspaceIds.map(() => '?').join(', ')})`).bind(...workspaceIds);
}

export function suppressionsFromRows(workspaceIds: readonly string[], rows: readonly Record<string, unknown>[]): Map<string, Set<string>> {
  const byWorkspace = new Map(workspaceIds.map((id) => [id, new Set<string>()]));
  for (const row of rows) {
    if (typeof row.workspace_id === 'string' && typeof row.identity_key === 'string') byWorkspace.get(row.workspace_id)?.add(row.identity_key);
  }
  return byWorkspace;
}

export async function workspaceSuppressions(db: D1Database, workspaceId: string): Promise<Set<string>> {
  const result = await suppressionsStatement(db, [workspaceId]).all();
  return suppressionsFromRows([workspaceId], result.results).get(workspaceId) ?? new Set();
}

/** The identity keys an event is known by: its userId, its anonymousId and, for alias, the previous id (either kind). */
export function identityKeysOfEvent(event: { userId?: string | null; anonymousId?: string | null; previousId?: string | null }): string[] {
  const keys: string[] = [];
  if (event.userId) keys.push(`user:${event.userId}`);
  if (event.anonymousId) keys.push(`anonymous:${event.anonymousId}`);
  if (event.previousId) keys.push(`user:${event.previousId}`, `anonymous:${event.previousId}`);
  return keys;
}

/** The first identity of the event that is suppressed, or null. */
export function suppressedIdentity(event: { userId?: string | null; anonymousId?: string | null; previousId?: string | null }, suppressed: ReadonlySet<string>): string | null {
  if (suppressed.size === 0) return null;
  return identityKeysOfEvent(event).find((key) => suppressed.has(key)) ?? null;
}
