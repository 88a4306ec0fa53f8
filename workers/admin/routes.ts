/** Admin HTTP API (`/admin/*`): workspaces, keys and a workspace's segments, tracking plan, schema and webhooks. Operator token, or a workspace's own secret key. */
import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { createKeySchema, createWorkspaceSchema, rotateKeySchema, updateKeySchema, updateWorkspaceSchema } from '../../schema/control-plane';
import { workspaceSettingsPatchSchema } from '../../schema/workspace-settings';
import { requireAdmin } from '../auth/middleware';
import type { AdminActor, AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseJsonBody } from '../validation';
import { segmentApi } from '../api/segments';
import { schemaApi } from '../api/schema';
import { trackingPlanApi } from '../api/tracking-plans';
import { webhookApi } from '../api/webhooks';
import { deadLetterRoutes } from './dead-letters';
import { createWorkspace, getKey, getWorkspace, issueKey, listKeys, listWorkspaces, revokeKey, rotateKey, setAllowedOrigins, updateWorkspace, updateWorkspaceSettings } from './control-plane';

function assertOperator(actor: AdminActor): void {
  if (actor.kind !== 'operator') throw new ApiError(403, 'operator_only', 'Only the operator token can do this.');
}

function assertCanManage(actor: AdminActor, workspaceId: string): void {
  if (actor.kind === 'workspace' && actor.workspaceId !== workspaceId) {
    // Same answer as a missing workspace: a secret key learns nothing about other workspaces.
    throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
  }
}

/** The segment routes of /v1, for the workspace in the path (the admin CLI's `segment ...`). */
const workspaceInPath = createMiddleware<AppEnv>(async (c, next) => {
  const workspaceId = c.req.param('id') ?? '';
  assertCanManage(c.var.adminActor, workspaceId);
  if (!(await getWorkspace(c.env.DB, workspaceId))) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
  await next();
});
const adminScope = (c: Context<AppEnv>) => ({ workspaceId: c.req.param('id') ?? '', actor: c.var.adminActor.kind === 'operator' ? 'operator' : 'admin:secret-key' });
const workspaceSegments = segmentApi(adminScope);
const workspaceTrackingPlan = trackingPlanApi(adminScope);
const workspaceSchema = schemaApi(adminScope);
const workspaceWebhooks = webhookApi(adminScope);

export const adminRoutes = new Hono<AppEnv>()
  .use('*', requireAdmin)
  .use('/workspaces/:id/segments', workspaceInPath)
  .use('/workspaces/:id/segments/*', workspaceInPath)
  .use('/workspaces/:id/computed-traits', workspaceInPath)
  .use('/workspaces/:id/computed-traits/*', workspaceInPath)
  .use('/workspaces/:id/tracking-plan', workspaceInPath)
  .use('/workspaces/:id/tracking-plan/*', workspaceInPath)
  .use('/workspaces/:id/schema', workspaceInPath)
  .use('/workspaces/:id/schema/*', workspaceInPath)
  .use('/workspaces/:id/webhooks', workspaceInPath)
  .use('/workspaces/:id/webhooks/*', workspaceInPath)
  .route('/workspaces/:id', workspaceSegments)
  .route('/workspaces/:id', workspaceTrackingPlan)
  .route('/workspaces/:id', workspaceSchema)
  .route('/workspaces/:id', workspaceWebhooks)
  .post('/workspaces', async (c) => {
    assertOperator(c.var.adminActor);
    const input = await parseJsonBody(c.req.raw, createWorkspaceSchema);
    const workspace = await createWorkspace(c.env.DB, input);
    const writeKey = await issueKey(c.env.DB, workspace.id, { kind: 'write', label: 'default write key', allowedOrigins: [] });
    const secretKey = await issueKey(c.env.DB, workspace.id, { kind: 'secret', label: 'default secret key', allowedOrigins: [] });
    return c.json({ workspace, writeKey: writeKey.secret, secretKey: secretKey.secret, keys: [writeKey.key, secretKey.key] }, 201);
  })
  .get('/workspaces', async (c) => {
    const actor = c.var.adminActor;
    if (actor.kind === 'operator') return c.json({ workspaces: await listWorkspaces(c.env.DB) });
    const own = await getWorkspace(c.env.DB, actor.workspaceId);
    return c.json({ workspaces: own ? [own] : [] });
  })
  .get('/workspaces/:id', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    const workspace = await getWorkspace(c.env.DB, c.req.param('id'));
    if (!workspace) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
    return c.json({ workspace, keys: await listKeys(c.env.DB, workspace.id) });
  })
  .patch('/workspaces/:id', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    const changes = await parseJsonBody(c.req.raw, updateWorkspaceSchema);
    if (changes.plan && c.var.adminActor.kind !== 'operator') throw new ApiError(403, 'operator_only', 'Plan changes go through billing.');
    const workspace = await updateWorkspace(c.env.DB, c.req.param('id'), changes);
    if (!workspace) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
    c.var.keyStore.forget();
    return c.json({ workspace });
  })
  .get('/workspaces/:id/settings', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    const workspace = await getWorkspace(c.env.DB, c.req.param('id'));
    if (!workspace) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
    return c.json({ settings: workspace.settings });
  })
  .patch('/workspaces/:id/settings', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    const patch = await parseJsonBody(c.req.raw, workspaceSettingsPatchSchema);
    const settings = await updateWorkspaceSettings(c.env.DB, c.req.param('id'), patch);
    if (!settings) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
    // Keys cache their workspace (settings included): drop them so the edge sees the change.
    c.var.keyStore.forget();
    return c.json({ settings });
  })
  .post('/workspaces/:id/keys', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    const workspace = await getWorkspace(c.env.DB, c.req.param('id'));
    if (!workspace) throw new ApiError(404, 'workspace_not_found', 'No such workspace.');
    const input = await parseJsonBody(c.req.raw, createKeySchema);
    const issued = await issueKey(c.env.DB, workspace.id, input);
    return c.json({ key: issued.key, secret: issued.secret }, 201);
  })
  .get('/workspaces/:id/keys', async (c) => {
    assertCanManage(c.var.adminActor, c.req.param('id'));
    return c.json({ keys: await listKeys(c.env.DB, c.req.param('id')) });
  })
  .post('/keys/:keyId/revoke', async (c) => {
    const key = await getKey(c.env.DB, c.req.param('keyId'));
    if (!key) throw new ApiError(404, 'key_not_found', 'No such key.');
    assertCanManage(c.var.adminActor, key.workspaceId);
    const revoked = await revokeKey(c.env.DB, key.id);
    c.var.keyStore.forget();
    // Live-feed sockets outlive their ticket's check: a revoked secret key must not keep streaming.
    if (key.kind === 'secret') await c.env.LIVE_FEED.getByName(key.workspaceId).closeKeySockets(key.id);
    return c.json({ key: revoked });
  })
  .post('/keys/:keyId/rotate', async (c) => {
    const key = await getKey(c.env.DB, c.req.param('keyId'));
    if (!key) throw new ApiError(404, 'key_not_found', 'No such key.');
    assertCanManage(c.var.adminActor, key.workspaceId);
    if (key.revokedAt && Date.parse(key.revokedAt) <= Date.now()) throw new ApiError(409, 'key_revoked', 'A revoked key cannot be rotated; issue a new one.');
    const { graceSeconds } = await parseJsonBody(c.req.raw, rotateKeySchema);
    const { issued, old } = await rotateKey(c.env.DB, key, graceSeconds);
    c.var.keyStore.forget();
    return c.json({ key: issued.key, secret: issued.secret, previous: old }, 201);
  })
  .patch('/keys/:keyId', async (c) => {
    const key = await getKey(c.env.DB, c.req.param('keyId'));
    if (!key) throw new ApiError(404, 'key_not_found', 'No such key.');
    assertCanManage(c.var.adminActor, key.workspaceId);
    const { allowedOrigins } = await parseJsonBody(c.req.raw, updateKeySchema);
    const updated = await setAllowedOrigins(c.env.DB, key.id, allowedOrigins);
    c.var.keyStore.forget();
    return c.json({ key: updated });
  })
  .route('/', deadLetterRoutes);
