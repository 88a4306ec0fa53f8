/**
 * Dashboard sign-in. A workspace secret key is exchanged once for an HttpOnly,
 * SameSite=Strict cookie holding an HMAC-signed {workspaceId, keyId, exp}; the key itself
 * never reaches browser storage. Each request re-reads the key row, so revoking the key
 * ends its sessions too; signing out records the session id, so a copied cookie dies with it.
 * CSRF: besides SameSite=Strict, a state-changing request authenticated by the cookie must
 * come from the dashboard's own origin (Origin header, or Sec-Fetch-Site: same-origin), and
 * a sign-in from another site is refused (login CSRF).
 */
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import type { ResolvedKey } from '../../schema/control-plane';
import { getKey, getWorkspace } from '../admin/control-plane';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { credentialFromHeader } from './credentials';
import { assertValidKey, keyCacheTtl } from './middleware';
import { base64UrlEncode, signToken, verifyToken } from './signed-token';

export const SESSION_COOKIE = 'monfri_session';
const SESSION_TTL_SECONDS = 8 * 60 * 60;

const sessionPayloadSchema = z.object({ workspaceId: z.string().min(1), keyId: z.string().min(1), sid: z.string().min(16).max(64), exp: z.number().int() });
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export type SessionPayload = z.infer<typeof sessionPayloadSchema>;

const signInSchema = z.object({ secretKey: z.string().min(1).max(200) });

function sessionSecret(env: Env): string {
  if (!env.SESSION_SECRET) throw new ApiError(503, 'session_not_configured', 'SESSION_SECRET is not set on this deployment.');
  return env.SESSION_SECRET;
}

/** True when the browser says the request comes from our own origin; requests without either header are not a browser's cross-site request. */
function fromOwnOrigin(request: Request, requireEvidence: boolean): boolean {
  const origin = request.headers.get('origin');
  if (origin !== null) return origin === new URL(request.url).origin;
  const site = request.headers.get('sec-fetch-site');
  if (site !== null) return site === 'same-origin' || site === 'none';
  return !requireEvidence;
}

function csrfRejected(): ApiError {
  return new ApiError(403, 'csrf_rejected', 'A state-changing dashboard request must come from the dashboard itself (Origin check).');
}

async function sessionRevoked(db: D1Database, sid: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 AS revoked FROM dashboard_session_revocations WHERE session_id = ?').bind(sid).first()) !== null;
}

/** Plain-http cookies are only allowed for local development on a loopback host. */
export function isLocalDevUrl(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

async function resolveSecretKey(c: { env: Env; var: AppEnv['Variables'] }, rawKey: string): Promise<ResolvedKey> {
  const lookup = await c.var.keyStore.lookup(c.env.DB, rawKey, keyCacheTtl(c.env));
  assertValidKey(lookup);
  if (lookup.key.kind !== 'secret') throw new ApiError(403, 'wrong_key_kind', `This route needs a secret key; a ${lookup.key.kind} key was sent.`);
  return lookup.key;
}

/** Turns a verified session back into the key it was made with; null if that key is gone or revoked. */
async function keyOfSession(db: D1Database, session: SessionPayload, now = Date.now()): Promise<ResolvedKey | null> {
  const key = await getKey(db, session.keyId);
  if (!key || key.workspaceId !== session.workspaceId || key.kind !== 'secret') return null;
  if (key.revokedAt && Date.parse(key.revokedAt) <= now) return null;
  const workspace = await getWorkspace(db, key.workspaceId);
  if (!workspace) return null;
  return { keyId: key.id, kind: key.kind, allowedOrigins: key.allowedOrigins, workspace };
}

async function keyFromSessionCookie(c: { env: Env; req: { raw: Request } }, cookie: string): Promise<ResolvedKey> {
  const check = await verifyToken(sessionSecret(c.env), 'dashboard-session', cookie, sessionPayloadSchema);
  if (!check.ok) throw new ApiError(401, check.reason === 'expired' ? 'session_expired' : 'invalid_session', 'Sign in to the dashboard again.');
  const [key, revoked] = await Promise.all([keyOfSession(c.env.DB, check.payload), sessionRevoked(c.env.DB, check.payload.sid)]);
  if (revoked) throw new ApiError(401, 'session_revoked', 'This session was signed out. Sign in again.');
  if (!key) throw new ApiError(401, 'session_revoked', 'The key this session was made with is no longer valid. Sign in again.');
  return key;
}

/**
 * A secret key in the Authorization header, or else a dashboard session cookie. Sets
 * `c.var.apiKey` either way, so routes behind it do not care which was used.
 */
export const requireSecretKeyOrSession = createMiddleware<AppEnv>(async (c, next) => {
  const credential = credentialFromHeader(c.req.header('authorization'));
  const cookie = getCookie(c, SESSION_COOKIE);
  if (credential) c.set('apiKey', await resolveSecretKey(c, credential));
  else if (cookie) {
    // The cookie is sent by the browser whoever made the page: only our own pages may change state with it.
    if (!SAFE_METHODS.has(c.req.method) && !fromOwnOrigin(c.req.raw, true)) throw csrfRejected();
    c.set('apiKey', await keyFromSessionCookie(c, cookie));
  }
  else throw new ApiError(401, 'missing_key', 'Send a secret key as Bearer token, or sign in to the dashboard.');
  await next();
});

function sessionView(key: ResolvedKey, exp: number | null): { workspace: { id: string; name: string; plan: string }; keyId: string; expiresAt: string | null } {
  return { workspace: { id: key.workspace.id, name: key.workspace.name, plan: key.workspace.plan }, keyId: key.keyId, expiresAt: exp === null ? null : new Date(exp * 1000).toISOString() };
}

async function readSignInKey(request: Request, authorization: string | undefined): Promise<string> {
  const fromHeader = credentialFromHeader(authorization);
  if (fromHeader) return fromHeader;
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new ApiError(400, 'invalid_json', 'Send {"secretKey": "sk_..."} as JSON.');
  }
  const parsed = signInSchema.safeParse(body);
  if (!parsed.success) throw new ApiError(400, 'invalid_request', 'Send {"secretKey": "sk_..."} as JSON.', parsed.error.issues);
  return parsed.data.secretKey;
}

/** Mounted at /dashboard: POST/GET/DELETE /dashboard/session. */
export const dashboardSessionRoutes = new Hono<AppEnv>()
  .post('/session', async (c) => {
    if (!fromOwnOrigin(c.req.raw, false)) throw csrfRejected();
    const key = await resolveSecretKey(c, await readSignInKey(c.req.raw, c.req.header('authorization')));
    const exp = Math.floor(Date.now() / 1000) + SESSION_TTL_SECONDS;
    const sid = base64UrlEncode(crypto.getRandomValues(new Uint8Array(16)));
    const token = await signToken(sessionSecret(c.env), 'dashboard-session', { workspaceId: key.workspace.id, keyId: key.keyId, sid, exp } satisfies SessionPayload);
    setCookie(c, SESSION_COOKIE, token, {
      httpOnly: true,
      secure: !isLocalDevUrl(new URL(c.req.url)),
      sameSite: 'Strict',
      path: '/',
      maxAge: SESSION_TTL_SECONDS,
    });
    c.header('cache-control', 'no-store');
    return c.json(sessionView(key, exp), 201);
  })
  .get('/session', requireSecretKeyOrSession, async (c) => {
    c.header('cache-control', 'no-store');
    return c.json(sessionView(c.var.apiKey, null));
  })
  .delete('/session', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie) {
      if (!fromOwnOrigin(c.req.raw, true)) throw csrfRejected();
      const check = await verifyToken(sessionSecret(c.env), 'dashboard-session', cookie, sessionPayloadSchema);
      if (check.ok) {
        await c.env.DB.prepare('INSERT INTO dashboard_session_revocations (session_id, expires_at) VALUES (?, ?) ON CONFLICT (session_id) DO NOTHING').bind(check.payload.sid, check.payload.exp).run();
      }
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: !isLocalDevUrl(new URL(c.req.url)), httpOnly: true, sameSite: 'Strict' });
    return c.body(null, 204);
  });
