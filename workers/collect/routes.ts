/**
 * The collect API (Segment HTTP Tracking API compatible), mounted under /v1:
 * POST /track|identify|page|screen|group|alias (one event), /batch (server or browser),
 * /collect (the browser SDK: text/plain or sendBeacon, write keys only), and the short
 * paths Segment's own browser library (analytics-next) posts to: /t /i /p /s /g /a and /b.
 */
import { Hono, type Context } from 'hono';
import { EVENT_TYPES, LIMITS, parsedJsonObjectSchema, type EventType } from '../../schema/event';
import { REQUEST_REJECTIONS, type BatchResult, type SingleResult } from '../../schema/rejections';
import { credentialFromHeader } from '../auth/credentials';
import { keyCacheTtl } from '../auth/middleware';
import type { AppEnv } from '../context';
import { ApiError, errorBody } from '../errors';
import { assertOriginAllowed, authenticate, credentialFrom, type Sender } from './authenticate';
import { corsHeaders, preflight } from './cors';
import { requestFacts } from './enrich';
import { streamMaxLen } from '../../lib/stream';
import { mirrorToStream, sendToQueue } from './handoff';
import { ingest, type IngestResult } from './ingest';
import { announceAccepted } from './live-announce';
import { reportBlocked } from './plan-blocked';
import { planScreenFor, type PlanScreen } from './plan-screen';
import { suppressionScreenFor, type SuppressionScreen } from './suppression-screen';
import { readJsonBody } from './parse-body';
import { assertWithinQuota } from './quota';
import { requestTraffic, type RequestTraffic } from './traffic';
import { clientMessageId, isPlainObject, type BatchDefaults } from './validate';

/** analytics-next sends `${host}/v1/${type.charAt(0)}` per event and `/v1/b` in batching mode. */
const SHORT_PATHS: Record<EventType, string> = { track: '/t', identify: '/i', page: '/p', screen: '/s', group: '/g', alias: '/a' };
const COLLECT_PATHS = [...EVENT_TYPES.flatMap((type) => [`/${type}`, SHORT_PATHS[type]]), '/batch', '/b', '/collect'];

async function identifySender(c: Context<AppEnv>, body: unknown, allowSecret: boolean): Promise<Sender> {
  const origin = c.req.header('origin') ?? null;
  const sender = await authenticate({
    credential: credentialFrom(c.req.header('authorization'), body),
    db: c.env.DB,
    keyStore: c.var.keyStore,
    ttlSeconds: keyCacheTtl(c.env),
    allowSecret,
  });
  c.set('apiKey', sender.key);
  if (sender.key.kind === 'write') assertOriginAllowed(sender.key, origin);
  await assertWithinQuota(c.env.INGEST_RATE_LIMIT, sender.key);
  return sender;
}

/**
 * Queue first (a 2xx means handed off); the live room and the stream mirror run after the
 * response, and so does the report of the events the plan blocked (only once the accepted ones
 * were handed off: a request answered 503 is sent again, and reported then).
 */
async function handOff(c: Context<AppEnv>, sender: Sender, result: IngestResult): Promise<void> {
  const { accepted } = result;
  if (accepted.length > 0) {
    await sendToQueue(c.env.EVENTS, accepted);
    c.executionCtx.waitUntil(announceAccepted(c.env, sender.key.workspace.id, accepted));
    c.executionCtx.waitUntil(mirrorToStream(c.env, sender.key.workspace.id, accepted, streamMaxLen(c.env)));
  }
  if (result.blocked.length > 0) c.executionCtx.waitUntil(reportBlocked(c.env, sender.key.workspace.id, result.blocked));
}

/** Batch-level defaults; their nesting is bounded per event once merged (validate.ts). */
function batchDefaults(body: Record<string, unknown>): BatchDefaults {
  const { context, integrations, sentAt } = body;
  if (context !== undefined && !isPlainObject(context)) throw new ApiError(400, 'invalid_batch', 'The batch-level `context` must be an object.');
  if (integrations !== undefined && !isPlainObject(integrations)) throw new ApiError(400, 'invalid_batch', 'The batch-level `integrations` must be an object.');
  if (sentAt !== undefined && sentAt !== null && typeof sentAt !== 'string') throw new ApiError(400, 'invalid_batch', 'The batch-level `sentAt` must be an ISO-8601 string.');
  return {
    // Parsed from JSON, so JSON by construction (see parsedJsonObjectSchema).
    context: context === undefined ? undefined : parsedJsonObjectSchema.parse(context),
    integrations: integrations === undefined ? undefined : parsedJsonObjectSchema.parse(integrations),
    sentAt: typeof sentAt === 'string' ? sentAt : undefined,
  };
}

function batchEvents(body: unknown): { events: unknown[]; defaults: BatchDefaults } {
  if (!isPlainObject(body) || !Array.isArray(body.batch)) throw new ApiError(400, 'invalid_batch', REQUEST_REJECTIONS.invalid_batch);
  if (body.batch.length === 0) throw new ApiError(400, 'empty_batch', REQUEST_REJECTIONS.empty_batch);
  if (body.batch.length > LIMITS.maxBatchEvents) {
    throw new ApiError(413, 'too_many_events', `${REQUEST_REJECTIONS.too_many_events} (${body.batch.length} > ${LIMITS.maxBatchEvents})`);
  }
  return { events: body.batch, defaults: batchDefaults(body) };
}

function batchResult(result: IngestResult): BatchResult {
  // Dropped suppressed events count as accepted: the client must not retry them, nor learn the person was deleted.
  const accepted = result.accepted.length + result.suppressed;
  const answer: BatchResult = { success: accepted > 0, accepted, rejected: result.rejected };
  if (accepted === 0) answer.error = { code: 'no_events_accepted', message: REQUEST_REJECTIONS.no_events_accepted };
  return answer;
}

/**
 * A key in the Authorization header is checked before the body is parsed (cheap refusal of
 * bad keys); a `writeKey` in the body can only be checked after.
 */
async function readAndIdentify(c: Context<AppEnv>, allowSecret: boolean): Promise<{ body: unknown; sender: Sender }> {
  if (credentialFromHeader(c.req.header('authorization'))) {
    const sender = await identifySender(c, null, allowSecret);
    return { body: await readJsonBody(c.req.raw), sender };
  }
  const body = await readJsonBody(c.req.raw);
  return { body, sender: await identifySender(c, body, allowSecret) };
}

function planScreenOf(c: Context<AppEnv>, sender: Sender): Promise<PlanScreen | null> {
  const workspace = sender.key.workspace;
  return planScreenFor(c.var.planStore, c.env.DB, workspace.id, workspace.settings.trackingPlan, keyCacheTtl(c.env));
}

function suppressionOf(c: Context<AppEnv>, sender: Sender): Promise<SuppressionScreen | null> {
  const workspace = sender.key.workspace;
  return suppressionScreenFor(c.var.suppressionStore, c.env.DB, workspace.id, workspace.settings.privacy.suppressedEvents, keyCacheTtl(c.env));
}

/** Browser or server traffic, as far as the request tells (traffic.ts has the rule). */
function trafficOf(c: Context<AppEnv>, sender: Sender, browserRoute: boolean): RequestTraffic {
  return requestTraffic({ browserRoute, origin: c.req.header('origin') ?? null, keyKind: sender.key.kind });
}

/** `/v1/collect` is the SDK's browser route: it refuses secret keys and is browser traffic by definition. */
function batchRoute(browserRoute: boolean) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const receivedAt = Date.now();
    const { body, sender } = await readAndIdentify(c, !browserRoute);
    const { events, defaults } = batchEvents(body);
    const [planScreen, suppression] = await Promise.all([planScreenOf(c, sender), suppressionOf(c, sender)]);
    const result = ingest({ events, defaults, routeType: null, sender, traffic: trafficOf(c, sender, browserRoute), facts: requestFacts(c.req.raw), receivedAt, planScreen, suppression });
    await handOff(c, sender, result);
    const answer = batchResult(result);
    return c.json(answer, answer.accepted > 0 ? 200 : 400);
  };
}

function singleRoute(type: EventType) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const receivedAt = Date.now();
    const { body, sender } = await readAndIdentify(c, true);
    const [planScreen, suppression] = await Promise.all([planScreenOf(c, sender), suppressionOf(c, sender)]);
    const result = ingest({ events: [body], defaults: {}, routeType: type, sender, traffic: trafficOf(c, sender, false), facts: requestFacts(c.req.raw), receivedAt, planScreen, suppression });
    await handOff(c, sender, result);
    const refusal = result.rejected[0];
    if (refusal) {
      const status = refusal.code === 'event_too_large' ? 413 : refusal.code === 'suppressed_identity' ? 403 : 400;
      const violations = refusal.violations ? { violations: refusal.violations } : {};
      return c.json(errorBody(refusal.code, refusal.message, { path: refusal.path, messageId: refusal.messageId, ...violations }), status);
    }
    const answer: SingleResult = { success: true, messageId: result.accepted[0]?.event.messageId ?? clientMessageId(body) ?? '' };
    return c.json(answer, 200);
  };
}

function methodNotAllowed(c: Context<AppEnv>): Response {
  c.header('allow', 'POST, OPTIONS');
  return c.json(errorBody('method_not_allowed', REQUEST_REJECTIONS.method_not_allowed), 405);
}

export const collectRoutes = new Hono<AppEnv>();
// Middleware per path, not '*': a sub-app's '*' would also wrap the rest of /v1 (query API).
for (const path of COLLECT_PATHS) collectRoutes.use(path, corsHeaders);
for (const type of EVENT_TYPES) {
  collectRoutes.post(`/${type}`, singleRoute(type));
  collectRoutes.post(SHORT_PATHS[type], singleRoute(type));
}
collectRoutes.post('/batch', batchRoute(false));
collectRoutes.post('/b', batchRoute(false));
collectRoutes.post('/collect', batchRoute(true));
for (const path of COLLECT_PATHS) {
  collectRoutes.options(path, preflight);
  collectRoutes.all(path, methodNotAllowed);
}
