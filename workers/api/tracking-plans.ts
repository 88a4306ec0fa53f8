/**
 * Tracking plan API (secret key or dashboard session), mounted at /v1 (and for a chosen
 * workspace under /admin/workspaces/:id):
 * - PUT /tracking-plan: a Segment plan in any of its shapes (Config API / Typewriter v7
 *   plan.json, Public API plan with rules, Typewriter v8 plan.json) or a plan in Monfri's model
 *   (schema/tracking-plan.ts); answers the stored revision and the import report (what is kept
 *   but not enforced, what was converted or skipped). The same plan again keeps its version.
 * - GET /tracking-plan, DELETE /tracking-plan
 * - GET /tracking-plan/export?format=config-api|public-api: back to Segment's shapes (round trip)
 * - GET /tracking-plan/versions, GET /tracking-plan/versions/:version
 * Plans live in D1 (lib/tracking-plans/store.ts); the edge applies the current one
 * (workers/collect/plan-screen.ts) within its cache TTL.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { exportSegmentPlan, type SegmentExportFormat } from '../../lib/tracking-plans/segment-export';
import { importSegmentPlan, SegmentPlanImportError, type ImportWarning } from '../../lib/tracking-plans/segment-import';
import { deleteTrackingPlan, getTrackingPlan, planAtVersion, planVersions, saveTrackingPlan, type PlanSourceFormat, type StoredPlan } from '../../lib/tracking-plans/store';
import { trackingPlanSchema, type TrackingPlan } from '../../schema/tracking-plan';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseQuery } from './query-params';

/** D1 keeps a row up to 2 MB; a plan of a few thousand events fits in well under this. */
export const MAX_PLAN_BYTES = 1_000_000;
export const MAX_PLAN_EVENTS = 2_000;

const EXPORT_FORMATS: Record<string, SegmentExportFormat> = { 'config-api': 'config_api_v7', 'public-api': 'public_api' };
const exportQuery = z.object({ format: z.enum(['config-api', 'public-api']).default('public-api') });

export type PlanScope = (c: Context<AppEnv>) => { workspaceId: string; actor: string };

async function readPlanBody(request: Request): Promise<unknown> {
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_PLAN_BYTES) throw new ApiError(413, 'plan_too_large', `A tracking plan may be at most ${MAX_PLAN_BYTES} bytes of JSON.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(400, 'invalid_json', 'The request body is not valid JSON.');
  }
}

/** A document with `rules` is one of Segment's shapes; one with `events` is Monfri's own model. */
export function planFromDocument(document: unknown): { plan: TrackingPlan; sourceFormat: PlanSourceFormat; warnings: ImportWarning[] } {
  const isObject = typeof document === 'object' && document !== null && !Array.isArray(document);
  if (isObject && !('rules' in document) && 'events' in document) {
    const parsed = trackingPlanSchema.safeParse(document);
    if (!parsed.success) throw new ApiError(400, 'invalid_plan', 'The plan does not match Monfri\'s plan model.', parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
    return { plan: parsed.data, sourceFormat: 'monfri', warnings: [] };
  }
  try {
    const imported = importSegmentPlan(document);
    return { plan: imported.plan, sourceFormat: imported.format, warnings: imported.warnings };
  } catch (error) {
    if (error instanceof SegmentPlanImportError) throw new ApiError(400, 'invalid_plan', error.message, error.issues);
    throw error;
  }
}

export function planView(stored: StoredPlan): Record<string, unknown> {
  return {
    id: stored.id,
    name: stored.plan.name,
    version: stored.version,
    sourceFormat: stored.sourceFormat,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
    events: stored.plan.events.length,
    plan: stored.plan,
  };
}

async function planOr404(db: D1Database, workspaceId: string): Promise<StoredPlan> {
  const stored = await getTrackingPlan(db, workspaceId);
  if (!stored) throw new ApiError(404, 'tracking_plan_not_found', 'This workspace has no tracking plan; PUT /v1/tracking-plan imports one.');
  return stored;
}

export function trackingPlanApi(scope: PlanScope): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .put('/tracking-plan', async (c) => {
      const { workspaceId, actor } = scope(c);
      const input = planFromDocument(await readPlanBody(c.req.raw));
      if (input.plan.events.length > MAX_PLAN_EVENTS) throw new ApiError(400, 'plan_too_large', `A tracking plan may list at most ${MAX_PLAN_EVENTS} event versions (this one has ${input.plan.events.length}).`);
      const saved = await saveTrackingPlan(c.env.DB, workspaceId, input, actor);
      return c.json({ trackingPlan: planView(saved.stored), changed: saved.changed, import: { format: input.sourceFormat, warnings: input.warnings } }, saved.changed && saved.stored.version === 1 ? 201 : 200);
    })
    .get('/tracking-plan', async (c) => {
      const stored = await planOr404(c.env.DB, scope(c).workspaceId);
      return c.json({ trackingPlan: planView(stored), import: { format: stored.sourceFormat, warnings: stored.warnings } });
    })
    .delete('/tracking-plan', async (c) => {
      const deleted = await deleteTrackingPlan(c.env.DB, scope(c).workspaceId);
      if (!deleted) throw new ApiError(404, 'tracking_plan_not_found', 'This workspace has no tracking plan.');
      return c.json({ deleted });
    })
    .get('/tracking-plan/export', async (c) => {
      const query = parseQuery(c.req.url, exportQuery);
      const stored = await planOr404(c.env.DB, scope(c).workspaceId);
      return c.json(exportSegmentPlan(stored.plan, EXPORT_FORMATS[query.format] ?? 'public_api'));
    })
    .get('/tracking-plan/versions', async (c) => {
      const { workspaceId } = scope(c);
      const stored = await planOr404(c.env.DB, workspaceId);
      return c.json({ id: stored.id, current: stored.version, versions: await planVersions(c.env.DB, workspaceId, stored.id) });
    })
    .get('/tracking-plan/versions/:version', async (c) => {
      const { workspaceId } = scope(c);
      const version = Number(c.req.param('version'));
      if (!Number.isInteger(version) || version < 1) throw new ApiError(400, 'invalid_version', 'A version is a whole number from 1.');
      const stored = await planOr404(c.env.DB, workspaceId);
      const plan = await planAtVersion(c.env.DB, workspaceId, stored.id, version);
      if (!plan) throw new ApiError(404, 'tracking_plan_version_not_found', `This plan has no version ${version}.`);
      return c.json({ id: stored.id, version, plan });
    });
}

export const trackingPlanRoutes = new Hono<AppEnv>()
  .use('/tracking-plan', requireSecretKeyOrSession)
  .use('/tracking-plan/*', requireSecretKeyOrSession)
  .route('/', trackingPlanApi((c) => ({ workspaceId: c.var.apiKey.workspace.id, actor: `key:${c.var.apiKey.keyId}` })));
