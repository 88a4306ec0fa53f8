/**
 * Webhook subscriptions API (secret key or dashboard session), mounted at /v1:
 * - GET/POST /webhooks, GET/PATCH/DELETE /webhooks/:webhookId
 * - POST /webhooks/:webhookId/rotate-secret (new secret shown once; the old one signs too for 24 h)
 * - GET /webhooks/:webhookId/deliveries (the delivery log, newest first, `before` pages back)
 * - POST /webhooks/:webhookId/test (sends a `Webhook Test` event now and answers with the result)
 * Re-enable is `PATCH {enabled: true}`. The SSRF guard runs on every URL saved, and again
 * before every send (consumers/webhooks.ts).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { classifyDeliveryResult } from '../../lib/webhooks/retry';
import { allowLoopbackHttp, attemptWebhook } from '../../lib/webhooks/send';
import { checkWebhookUrl } from '../../lib/webhooks/ssrf';
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  recordDeliveriesStatements,
  rotateWebhookSecret,
  updateWebhook,
  webhookTargets,
  WebhookLimitError,
  type Webhook,
} from '../../lib/webhooks/store';
import { webhookInputSchema, webhookPatchSchema } from '../../schema/webhooks';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseJsonBody } from '../validation';
import { parseQuery } from './query-params';

export const TEST_EVENT_NAME = 'Webhook Test';

export type WebhookScope = (c: Context<AppEnv>) => { workspaceId: string };

function assertUrlAllowed(env: Env, url: string): void {
  const check = checkWebhookUrl(url, { allowLoopbackHttp: allowLoopbackHttp(env) });
  if (!check.ok) throw new ApiError(400, check.code, check.message);
}

function secretsKey(env: Env): string {
  if (!env.WEBHOOK_SECRETS_KEY || env.WEBHOOK_SECRETS_KEY.length < 16) {
    throw new ApiError(503, 'webhooks_not_configured', 'Webhooks need the WEBHOOK_SECRETS_KEY secret (16+ characters) set on the Worker.');
  }
  return env.WEBHOOK_SECRETS_KEY;
}

async function webhookOr404(db: D1Database, workspaceId: string, id: string): Promise<Webhook> {
  const webhook = await getWebhook(db, workspaceId, id);
  if (!webhook) throw new ApiError(404, 'webhook_not_found', 'No such webhook subscription in this workspace.');
  return webhook;
}

const deliveriesQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), before: z.coerce.number().int().min(1).optional() });

function testEventBody(webhook: Webhook, nowMs: number): string {
  const at = new Date(nowMs).toISOString();
  return JSON.stringify({
    messageId: `test-${crypto.randomUUID()}`,
    type: 'track',
    event: TEST_EVENT_NAME,
    userId: null,
    anonymousId: null,
    personId: '',
    timestamp: at,
    receivedAt: at,
    properties: { subscriptionId: webhook.id, note: 'Sent from "send test event"; not a stored event.' },
    source: 'internal',
    bot: { flagged: false, reason: null },
  });
}

export function webhookApi(scope: WebhookScope): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/webhooks', async (c) => c.json({ webhooks: await listWebhooks(c.env.DB, scope(c).workspaceId) }))
    .post('/webhooks', async (c) => {
      const input = await parseJsonBody(c.req.raw, webhookInputSchema);
      assertUrlAllowed(c.env, input.url);
      try {
        const { webhook, secret } = await createWebhook(c.env.DB, scope(c).workspaceId, input, secretsKey(c.env));
        return c.json({ webhook, secret }, 201);
      } catch (error) {
        if (error instanceof WebhookLimitError) throw new ApiError(409, 'limit_reached', error.message);
        throw error;
      }
    })
    .get('/webhooks/:webhookId', async (c) => c.json({ webhook: await webhookOr404(c.env.DB, scope(c).workspaceId, c.req.param('webhookId')) }))
    .patch('/webhooks/:webhookId', async (c) => {
      const patch = await parseJsonBody(c.req.raw, webhookPatchSchema);
      if (patch.url !== undefined) assertUrlAllowed(c.env, patch.url);
      const current = await webhookOr404(c.env.DB, scope(c).workspaceId, c.req.param('webhookId'));
      const matchesSomething = [patch.events ?? current.events, patch.types ?? current.types, patch.segments ?? current.segments].some((list) => list.length > 0) || (patch.usageThreshold ?? current.usageThreshold);
      if (!matchesSomething) throw new ApiError(400, 'invalid_body', 'The subscription would match nothing; keep at least one of events, types, segments or usageThreshold.');
      const webhook = await updateWebhook(c.env.DB, scope(c).workspaceId, current.id, patch);
      if (!webhook) throw new ApiError(404, 'webhook_not_found', 'No such webhook subscription in this workspace.');
      return c.json({ webhook });
    })
    .delete('/webhooks/:webhookId', async (c) => {
      if (!(await deleteWebhook(c.env.DB, scope(c).workspaceId, c.req.param('webhookId')))) throw new ApiError(404, 'webhook_not_found', 'No such webhook subscription in this workspace.');
      return c.json({ deleted: true });
    })
    .post('/webhooks/:webhookId/rotate-secret', async (c) => {
      const rotated = await rotateWebhookSecret(c.env.DB, scope(c).workspaceId, c.req.param('webhookId'), secretsKey(c.env));
      if (!rotated) throw new ApiError(404, 'webhook_not_found', 'No such webhook subscription in this workspace.');
      return c.json(rotated);
    })
    .get('/webhooks/:webhookId/deliveries', async (c) => {
      const query = parseQuery(c.req.url, deliveriesQuery);
      const webhook = await webhookOr404(c.env.DB, scope(c).workspaceId, c.req.param('webhookId'));
      const deliveries = await listDeliveries(c.env.DB, webhook.id, query.limit, query.before);
      return c.json({ deliveries, next: deliveries.length === query.limit ? (deliveries.at(-1)?.id ?? null) : null });
    })
    .post('/webhooks/:webhookId/test', async (c) => {
      const webhook = await webhookOr404(c.env.DB, scope(c).workspaceId, c.req.param('webhookId'));
      const nowMs = Date.now();
      const target = (await webhookTargets(c.env.DB, [webhook.id], secretsKey(c.env), nowMs)).get(webhook.id);
      if (!target) throw new ApiError(404, 'webhook_not_found', 'No such webhook subscription in this workspace.');
      const webhookId = `test_${crypto.randomUUID().replaceAll('-', '')}`;
      const sent = await attemptWebhook({ url: target.url, webhookId, body: testEventBody(webhook, nowMs), secrets: target.secrets, nowMs, allowLoopbackHttp: allowLoopbackHttp(c.env) });
      if (sent.kind === 'refused') throw new ApiError(400, sent.refusal.code, sent.refusal.message);
      const delivered = classifyDeliveryResult(sent.result, { attempt: 1, firstAttemptAtMs: nowMs, nowMs, random: Math.random }).action === 'delivered';
      const status = sent.result.kind === 'response' ? sent.result.status : null;
      const error = delivered ? null : sent.result.kind === 'error' ? sent.result.error : `HTTP ${status}`;
      await c.env.DB.batch(recordDeliveriesStatements(c.env.DB, [{ subscriptionId: webhook.id, webhookId, event: TEST_EVENT_NAME, attempt: 1, outcome: 'test', httpStatus: status, latencyMs: sent.latencyMs, error, responseSnippet: sent.snippet }]));
      return c.json({ delivered, webhookId, httpStatus: status, latencyMs: sent.latencyMs, error, responseSnippet: sent.snippet });
    });
}

export const webhookRoutes = new Hono<AppEnv>()
  .use('/webhooks', requireSecretKeyOrSession)
  .use('/webhooks/*', requireSecretKeyOrSession)
  .route('/', webhookApi((c) => ({ workspaceId: c.var.apiKey.workspace.id })));
