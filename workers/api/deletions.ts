/**
 * Person deletion and its status (secret keys only), mounted at /v1:
 * - DELETE /v1/persons/:id                 the person `:id` resolves to (as in GET /v1/persons/:id:
 *                                          a bare id is a userId, or `user:<id>` / `anonymous:<id>`)
 * - DELETE /v1/persons?userId=<id>         the person behind a userId (Segment's usual subject)
 * - DELETE /v1/persons?anonymousId=<id>    the person behind an anonymousId
 * - GET    /v1/deletions/:jobId            queued | running (with its step) | done (with counts) | failed (with reason)
 * A deletion is a job (consumers/deletions.ts): the answer is 202 with the job and a Location.
 * Its subject is suppressed before the answer is sent; a second request for the same subject
 * while a job is open answers with that job.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { LIMITS } from '../../schema/event';
import { createDeletionJob, getDeletionJob, openDeletionJob, type DeletionJob } from '../../lib/privacy/store';
import type { DeletionMessage } from '../../consumers/deletions';
import { requireKey } from '../auth/middleware';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { identityKeyOf } from '../../lib/persons';

const idSchema = z.string().min(1).max(LIMITS.maxIdLength);
const subjectQuery = z.object({ userId: idSchema.optional(), anonymousId: idSchema.optional() }).strict();

export function deletionView(job: DeletionJob): Record<string, unknown> {
  const [kind, ...rest] = job.subject.split(':');
  return {
    id: job.id,
    status: job.status,
    step: job.step,
    subject: { kind, id: rest.join(':') },
    identities: job.identities,
    counts: job.counts,
    error: job.error,
    attempts: job.attempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    finishedAt: job.finishedAt,
    statusUrl: `/v1/deletions/${job.id}`,
  };
}

function subjectFromQuery(url: string): string {
  const parsed = subjectQuery.safeParse(Object.fromEntries(new URL(url).searchParams));
  if (!parsed.success) throw new ApiError(400, 'invalid_query', 'Send exactly one of `userId` or `anonymousId` (1 to 255 characters).', parsed.error.issues);
  const { userId, anonymousId } = parsed.data;
  if ((userId === undefined) === (anonymousId === undefined)) throw new ApiError(400, 'missing_subject', 'Send exactly one of `userId` or `anonymousId`, or use DELETE /v1/persons/:id.');
  return userId !== undefined ? identityKeyOf(userId, 'user') : identityKeyOf(anonymousId ?? '', 'anonymous');
}

function subjectFromPath(id: string): string {
  const key = identityKeyOf(id);
  const value = key.slice(key.indexOf(':') + 1);
  if (!idSchema.safeParse(value).success) throw new ApiError(400, 'invalid_subject', 'The person id must be 1 to 255 characters after its `user:` / `anonymous:` prefix.');
  return key;
}

async function requestDeletion(c: Context<AppEnv>, subject: string): Promise<Response> {
  const workspaceId = c.var.apiKey.workspace.id;
  const open = await openDeletionJob(c.env.DB, workspaceId, subject);
  const job = open ?? (await createDeletionJob(c.env.DB, workspaceId, subject));
  // This isolate refuses the subject at once; the others within their key cache TTL.
  c.var.suppressionStore.forget(workspaceId);
  if (!open) {
    const message: DeletionMessage = { jobId: job.id };
    try {
      await c.env.DELETIONS.send(message, { contentType: 'json' });
    } catch (error) {
      // The job is stored and its subject suppressed: the housekeeping queues a job that has not started.
      console.error(JSON.stringify({ level: 'error', msg: 'deletion_enqueue_failed', jobId: job.id, error: String(error) }));
    }
  }
  c.header('location', `/v1/deletions/${job.id}`);
  return c.json({ deletion: deletionView(job) }, 202);
}

export const deletionRoutes = new Hono<AppEnv>()
  .on('DELETE', ['/persons', '/persons/:id'], requireKey(['secret']))
  .on('GET', ['/deletions/:jobId'], requireKey(['secret']))
  .delete('/persons', (c) => requestDeletion(c, subjectFromQuery(c.req.url)))
  .delete('/persons/:id', (c) => requestDeletion(c, subjectFromPath(c.req.param('id'))))
  .get('/deletions/:jobId', async (c) => {
    const job = await getDeletionJob(c.env.DB, c.var.apiKey.workspace.id, c.req.param('jobId'));
    if (!job) throw new ApiError(404, 'deletion_not_found', 'No deletion job with this id in this workspace.');
    return c.json({ deletion: deletionView(job) });
  });
