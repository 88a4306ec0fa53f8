/**
 * Segments and computed traits API (secret key or dashboard session), mounted at /v1:
 * - GET/POST /segments, POST /segments/validate, GET/PATCH/DELETE /segments/:segmentId,
 *   GET /segments/:segmentId/members (paginated), GET /segments/:segmentId/verify
 * - GET/POST /computed-traits, PUT/DELETE /computed-traits/:name
 * Definitions live in D1 (lib/segments/store.ts); state and members in the segment's Durable
 * Objects (durable-objects/segment-calls.ts); `verify` recomputes membership from ClickHouse
 * (lib/segment-queries.ts) and reports any difference with the live state.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { allSegmentMembers, configureSegment, destroySegment, segmentCounts, segmentMembersPage, type SegmentCounts } from '../../durable-objects/segment-calls';
import { createClickHouse } from '../../lib/clickhouse';
import { queryRows } from '../../lib/event-queries';
import { segmentMembersQuery } from '../../lib/segment-queries';
import {
  activeSegmentOf,
  checkSegmentDefinition,
  createSegment,
  deleteComputedTrait,
  deleteSegment,
  getSegment,
  listComputedTraits,
  listSegments,
  saveComputedTrait,
  SegmentDefinitionError,
  segmentVersions,
  updateSegment,
} from '../../lib/segments/store';
import { computedTraitSchema, conditionSchema, segmentInputSchema, segmentPatchSchema, type Segment } from '../../schema/segments';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseJsonBody } from '../validation';
import { parseQuery } from './query-params';

const VERIFY_LISTED = 100;

function definitionError(error: unknown): never {
  if (error instanceof SegmentDefinitionError) {
    const status = error.code === 'limit_reached' || error.code === 'trait_in_use' || error.code === 'trait_exists' ? 409 : 400;
    throw new ApiError(status, error.code, error.message, error.problems.length > 0 ? error.problems : undefined);
  }
  throw error;
}

function segmentView(segment: Segment, counts: SegmentCounts | null): Record<string, unknown> {
  return {
    id: segment.id,
    name: segment.name,
    description: segment.description,
    version: segment.version,
    condition: segment.condition,
    computedTraits: segment.computedTraits,
    shards: segment.shards,
    createdAt: segment.createdAt,
    updatedAt: segment.updatedAt,
    // Counts come from the Durable Objects; null when they did not answer (the definition is still shown).
    status: counts?.status ?? 'unknown',
    memberCount: counts?.members ?? null,
    personCount: counts?.persons ?? null,
    pendingEvents: counts?.pendingEvents ?? null,
  };
}

async function countsOrNull(env: Env, segment: Segment): Promise<SegmentCounts | null> {
  try {
    return await segmentCounts(env, segment.workspaceId, activeSegmentOf(segment));
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'segment_counts_unavailable', segmentId: segment.id, error: String(error) }));
    return null;
  }
}

async function segmentOr404(db: D1Database, workspaceId: string, id: string): Promise<Segment> {
  const segment = await getSegment(db, workspaceId, id);
  if (!segment) throw new ApiError(404, 'segment_not_found', 'No such segment in this workspace.');
  return segment;
}

const membersQuery = z.object({ after: z.string().max(600).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) });
const validateBody = z.object({ condition: z.unknown() });

/** Whose segments a request reads and writes, and who is named in the version history. */
export type SegmentScope = (c: Context<AppEnv>) => { workspaceId: string; actor: string };

/** The routes, for one scope: a workspace's own key or session (/v1), or the admin API for a chosen workspace. */
export function segmentApi(scope: SegmentScope): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/segments', async (c) => {
      const segments = await listSegments(c.env.DB, scope(c).workspaceId);
      const counts = await Promise.all(segments.map((segment) => countsOrNull(c.env, segment)));
      return c.json({ segments: segments.map((segment, index) => segmentView(segment, counts[index] ?? null)) });
    })
    .post('/segments', async (c) => {
      const input = await parseJsonBody(c.req.raw, segmentInputSchema);
      const workspaceId = scope(c).workspaceId;
      const segment = await createSegment(c.env.DB, workspaceId, input, scope(c).actor).catch(definitionError);
      // The definition is saved; if the objects do not answer now, the first event for the segment configures them.
      await configureSegment(c.env, workspaceId, activeSegmentOf(segment)).catch((error: unknown) => console.warn(JSON.stringify({ level: 'warn', msg: 'segment_configure_deferred', segmentId: segment.id, error: String(error) })));
      return c.json({ segment: segmentView(segment, await countsOrNull(c.env, segment)) }, 201);
    })
    .post('/segments/validate', async (c) => {
      const body = await parseJsonBody(c.req.raw, validateBody);
      const parsed = conditionSchema.safeParse(body.condition);
      if (!parsed.success) return c.json({ valid: false, issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })), problems: [] });
      const problems = await checkSegmentDefinition(c.env.DB, scope(c).workspaceId, parsed.data);
      return c.json({ valid: problems.length === 0, issues: [], problems });
    })
    .get('/segments/:segmentId', async (c) => {
      const segment = await segmentOr404(c.env.DB, scope(c).workspaceId, c.req.param('segmentId'));
      const [counts, versions] = await Promise.all([countsOrNull(c.env, segment), segmentVersions(c.env.DB, segment.id)]);
      return c.json({ segment: { ...segmentView(segment, counts), versions } });
    })
    .patch('/segments/:segmentId', async (c) => {
      const patch = await parseJsonBody(c.req.raw, segmentPatchSchema);
      const workspaceId = scope(c).workspaceId;
      const updated = await updateSegment(c.env.DB, workspaceId, c.req.param('segmentId'), patch, scope(c).actor).catch(definitionError);
      if (!updated) throw new ApiError(404, 'segment_not_found', 'No such segment in this workspace.');
      await configureSegment(c.env, workspaceId, activeSegmentOf(updated.segment)).catch((error: unknown) => console.warn(JSON.stringify({ level: 'warn', msg: 'segment_configure_deferred', segmentId: updated.segment.id, error: String(error) })));
      return c.json({ segment: segmentView(updated.segment, await countsOrNull(c.env, updated.segment)), newVersion: updated.newVersion });
    })
    .delete('/segments/:segmentId', async (c) => {
      const workspaceId = scope(c).workspaceId;
      const segment = await deleteSegment(c.env.DB, workspaceId, c.req.param('segmentId'));
      if (!segment) throw new ApiError(404, 'segment_not_found', 'No such segment in this workspace.');
      // The row is marked deleted first: consumers stop offering events within their profile TTL, and a shard reached late has its tombstone.
      await destroySegment(c.env, workspaceId, activeSegmentOf(segment));
      return c.json({ deleted: segment.id });
    })
    .get('/segments/:segmentId/members', async (c) => {
      const query = parseQuery(c.req.url, membersQuery);
      const segment = await segmentOr404(c.env.DB, scope(c).workspaceId, c.req.param('segmentId'));
      const page = await segmentMembersPage(c.env, segment.workspaceId, activeSegmentOf(segment), query.after ?? null, query.limit);
      return c.json({ segmentId: segment.id, version: segment.version, members: page.members.map((personId) => ({ personId })), next: page.next });
    })
    .get('/segments/:segmentId/verify', async (c) => {
      const segment = await segmentOr404(c.env.DB, scope(c).workspaceId, c.req.param('segmentId'));
      return c.json(await verifySegment(c.env, segment));
    })
    .get('/computed-traits', async (c) => c.json({ computedTraits: await listComputedTraits(c.env.DB, scope(c).workspaceId) }))
    .post('/computed-traits', async (c) => {
      const trait = await parseJsonBody(c.req.raw, computedTraitSchema);
      return c.json({ computedTrait: await saveComputedTrait(c.env.DB, scope(c).workspaceId, trait, { replace: false }).catch(definitionError) }, 201);
    })
    .put('/computed-traits/:name', async (c) => {
      const trait = await parseJsonBody(c.req.raw, computedTraitSchema);
      if (trait.name !== c.req.param('name')) throw new ApiError(400, 'name_mismatch', 'The body names another trait than the path.');
      return c.json({ computedTrait: await saveComputedTrait(c.env.DB, scope(c).workspaceId, trait, { replace: true }).catch(definitionError) });
    })
    .delete('/computed-traits/:name', async (c) => {
      const deleted = await deleteComputedTrait(c.env.DB, scope(c).workspaceId, c.req.param('name')).catch(definitionError);
      if (!deleted) throw new ApiError(404, 'computed_trait_not_found', 'No computed trait of that name.');
      return c.json({ deleted: c.req.param('name') });
    });
}

export const segmentRoutes = new Hono<AppEnv>()
  .use('/segments', requireSecretKeyOrSession)
  .use('/segments/*', requireSecretKeyOrSession)
  .use('/computed-traits', requireSecretKeyOrSession)
  .use('/computed-traits/*', requireSecretKeyOrSession)
  .route('/', segmentApi((c) => ({ workspaceId: c.var.apiKey.workspace.id, actor: `key:${c.var.apiKey.keyId}` })));

export interface SegmentVerification {
  segmentId: string;
  version: number;
  status: string;
  checkedAt: string;
  live: number;
  recomputed: number;
  /** Persons ClickHouse's history makes members that the live state does not (first VERIFY_LISTED). */
  missingLive: string[];
  /** Persons the live state holds as members that the history does not. */
  extraLive: string[];
  difference: number;
}

/** Membership recomputed from every stored event now, against the live state (also the admin CLI's `segment verify`). */
export async function verifySegment(env: Env, segment: Segment): Promise<SegmentVerification> {
  const atMs = Date.now();
  const active = activeSegmentOf(segment);
  const client = createClickHouse(env, { timeoutMs: 60_000 });
  let recomputed: string[];
  try {
    recomputed = (await queryRows(client, segmentMembersQuery(segment.workspaceId, active, atMs), z.object({ person: z.string() }))).map((row) => row.person);
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'segment_verify_query_failed', segmentId: segment.id, error: String(error) }));
    throw new ApiError(503, 'analytics_unavailable', 'The analytics store did not answer; try again shortly.', undefined, { 'retry-after': '5' });
  } finally {
    await client.close();
  }
  const [live, counts] = await Promise.all([allSegmentMembers(env, segment.workspaceId, active), countsOrNull(env, segment)]);
  const liveSet = new Set(live);
  const recomputedSet = new Set(recomputed);
  const missingLive = recomputed.filter((person) => !liveSet.has(person));
  const extraLive = live.filter((person) => !recomputedSet.has(person));
  return {
    segmentId: segment.id,
    version: segment.version,
    status: counts?.status ?? 'unknown',
    checkedAt: new Date(atMs).toISOString(),
    live: live.length,
    recomputed: recomputed.length,
    missingLive: missingLive.slice(0, VERIFY_LISTED),
    extraLive: extraLive.slice(0, VERIFY_LISTED),
    difference: missingLive.length + extraLive.length,
  };
}
