/** The Hono root: every HTTP route of the Worker, and the one place errors become responses. */
import { Hono } from 'hono';
import { ZodError } from 'zod';
import { adminRoutes } from './admin/routes';
import { KeyStore } from './auth/key-store';
import { PlanStore } from './collect/plan-screen';
import { SuppressionStore } from './collect/suppression-screen';
import { collectRoutes } from './collect/routes';
import { dashboardSessionRoutes } from './auth/session';
import { dashboardSecurityHeaders } from './dashboard/security-headers';
import type { AppEnv } from './context';
import { queryApiRoutes } from './api/routes';
import { segmentRoutes } from './api/segments';
import { schemaRoutes } from './api/schema';
import { trackingPlanRoutes } from './api/tracking-plans';
import { usageRoutes } from './api/usage';
import { webhookRoutes } from './api/webhooks';
import { deletionRoutes } from './api/deletions';
import { ApiError, errorBody } from './errors';
import { healthRoutes } from './health/routes';
import { liveRoutes } from './live/routes';
import { sdkRoutes } from './sdk/routes';

export function createApp(keyStore = new KeyStore(), planStore = new PlanStore(), suppressionStore = new SuppressionStore()): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    c.set('requestId', c.req.header('cf-ray') ?? crypto.randomUUID());
    c.set('keyStore', keyStore);
    c.set('planStore', planStore);
    c.set('suppressionStore', suppressionStore);
    await next();
    c.header('x-request-id', c.var.requestId);
  });

  app.route('/v1', collectRoutes);
  app.route('/health', healthRoutes);
  app.route('/admin', adminRoutes);
  app.route('/v1/live', liveRoutes);
  app.route('/v1', deletionRoutes);
  app.route('/v1', queryApiRoutes);
  app.route('/v1', usageRoutes);
  app.route('/v1', segmentRoutes);
  app.route('/v1', trackingPlanRoutes);
  app.route('/v1', schemaRoutes);
  app.route('/v1', webhookRoutes);
  app.use('/dashboard', dashboardSecurityHeaders);
  app.use('/dashboard/*', dashboardSecurityHeaders);
  app.route('/dashboard', dashboardSessionRoutes);
  app.route('/sdk', sdkRoutes);

  app.notFound(async (c) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      const asset = await c.env.ASSETS.fetch(c.req.raw);
      if (asset.status !== 404) return asset;
    }
    return c.json(errorBody('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`), 404);
  });

  app.onError((error, c) => {
    if (error instanceof ApiError) {
      for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
      return c.json(errorBody(error.code, error.message, error.details), error.status);
    }
    if (error instanceof ZodError) {
      return c.json(errorBody('invalid_request', 'The request does not match the expected shape.', error.issues), 400);
    }
    // Unknown errors: log with the request id, answer without internals.
    console.error(JSON.stringify({ level: 'error', requestId: c.var.requestId, path: new URL(c.req.url).pathname, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
    return c.json(errorBody('internal_error', `Something went wrong on our side. Request id: ${c.var.requestId}.`), 500);
  });

  return app;
}
