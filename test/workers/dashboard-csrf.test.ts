/**
 * The dashboard session cookie: every state-changing route that accepts it (enumerated from
 * the app's routes) refuses a request that is not from the dashboard's own origin (CSRF);
 * sign-in from another site is refused (login CSRF); a session expires, and signing out
 * ends it for every copy of the cookie.
 */
import { createExecutionContext } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../workers/app';
import { SESSION_COOKIE } from '../../workers/auth/session';
import { signToken } from '../../workers/auth/signed-token';
import { createTestWorkspace, env, type DemoWorkspace } from './support';

const OWN = 'http://monfri.test';
const app = createApp();

async function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  const init: RequestInit = { method, headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, body };
  return app.fetch(new Request(`${OWN}${path}`, init), env, createExecutionContext());
}

async function signIn(ws: DemoWorkspace): Promise<string> {
  const response = await send('POST', '/dashboard/session', { origin: OWN }, JSON.stringify({ secretKey: ws.secretKey }));
  expect(response.status).toBe(201);
  return (response.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** Ids in the paths: shaped like real ones, naming nothing (a 404 proves the request got past the CSRF check). */
const PATH_PARAMS: Record<string, string> = { ':segmentId': 'seg_missing', ':name': 'missing_trait', ':webhookId': 'wh_missing' };

/**
 * Routes that take the session cookie and change state: the secret-key-or-session API (the same
 * prefixes auth-matrix.test.ts gives the `secret` rule), minus sign-in/out (tested on their own).
 */
const STATE_CHANGING = app.routes
  .filter((route) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method))
  .filter((route) => /^\/v1\/(events|stats|persons\/:id|usage|live\/ticket|segments|computed-traits|webhooks|tracking-plan|schema)(\/|$)/.test(route.path))
  // Person deletion takes a secret key only, never the cookie (auth-matrix.test.ts checks that).
  .filter((route) => !(route.method === 'DELETE' && route.path.startsWith('/v1/persons')))
  .map((route) => ({ method: route.method, path: route.path.replace(/:[A-Za-z]+/g, (param) => PATH_PARAMS[param] ?? param) }));

let ws: DemoWorkspace;
let cookie: string;
beforeAll(async () => {
  ws = await createTestWorkspace('csrf');
  cookie = await signIn(ws);
});

describe('CSRF protection for the session cookie', () => {
  it('covers the state-changing routes there are', () => {
    expect(STATE_CHANGING.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining(['POST /v1/live/ticket', 'POST /v1/segments', 'POST /v1/webhooks', 'PATCH /v1/webhooks/wh_missing', 'DELETE /v1/webhooks/wh_missing', 'POST /v1/webhooks/wh_missing/rotate-secret', 'POST /v1/webhooks/wh_missing/test', 'PUT /v1/tracking-plan']),
    );
    // Every parameter was given a value: a route left with `:param` would be tested against a path no one calls.
    expect(STATE_CHANGING.filter((route) => route.path.includes(':'))).toEqual([]);
  });

  it('refuses requests without proof of our origin, or from another site, on every state-changing route', async () => {
    const answers: string[] = [];
    for (const { method, path } of STATE_CHANGING) {
      for (const [label, headers] of [
        ['no origin', {}],
        ['other origin', { origin: 'https://evil.example' }],
        ['null origin', { origin: 'null' }],
        ['cross-site fetch', { 'sec-fetch-site': 'cross-site' }],
        ['same-site subdomain', { 'sec-fetch-site': 'same-site' }],
      ] as const) {
        const response = await send(method, path, { cookie, ...headers }, '{}');
        const code = (await response.json<{ error?: { code: string } }>()).error?.code;
        answers.push(`${method} ${path} ${label}: ${response.status} ${code}`);
        expect(`${method} ${path} ${label}: ${response.status} ${code}`).toBe(`${method} ${path} ${label}: 403 csrf_rejected`);
      }
      const own = await send(method, path, { cookie, origin: OWN }, '{}');
      await own.body?.cancel();
      expect({ path, status: own.status }).not.toEqual({ path, status: 403 });
      expect(own.status).not.toBe(401);
      expect(own.status).toBeLessThan(500);
    }
    expect(answers.length).toBe(STATE_CHANGING.length * 5);
  });

  it('lets reads through from anywhere (their answers are not readable cross-origin) and keys in headers need no Origin', async () => {
    expect((await send('GET', '/v1/stats', { cookie, origin: 'https://evil.example' })).status).toBe(200);
    expect((await send('POST', '/v1/live/ticket', { authorization: `Bearer ${ws.secretKey}` })).status).toBe(201);
  });

  it('refuses a sign-in posted from another site (login CSRF)', async () => {
    const response = await send('POST', '/dashboard/session', { origin: 'https://evil.example' }, JSON.stringify({ secretKey: ws.secretKey }));
    expect([response.status, (await response.json<{ error: { code: string } }>()).error.code]).toEqual([403, 'csrf_rejected']);
    expect(response.headers.get('set-cookie')).toBeNull();
  });
});

describe('session lifetime', () => {
  it('an expired session is refused with session_expired', async () => {
    const expired = await signToken(env.SESSION_SECRET, 'dashboard-session', { workspaceId: ws.workspaceId, keyId: ws.keyIds.secret, sid: 'expired-session-id-0001', exp: Math.floor(Date.now() / 1000) - 1 });
    const response = await send('GET', '/dashboard/session', { cookie: `${SESSION_COOKIE}=${expired}` });
    expect([response.status, (await response.json<{ error: { code: string } }>()).error.code]).toEqual([401, 'session_expired']);
  });

  it('signing out revokes the session: a copy of the cookie no longer works', async () => {
    const copied = await signIn(ws);
    expect((await send('GET', '/v1/stats', { cookie: copied })).status).toBe(200);
    expect((await send('DELETE', '/dashboard/session', { cookie: copied, origin: 'https://evil.example' })).status).toBe(403);
    expect((await send('GET', '/v1/stats', { cookie: copied })).status).toBe(200);
    expect((await send('DELETE', '/dashboard/session', { cookie: copied, origin: OWN })).status).toBe(204);
    const after = await send('GET', '/v1/stats', { cookie: copied });
    expect([after.status, (await after.json<{ error: { code: string } }>()).error.code]).toEqual([401, 'session_revoked']);
    // Other sessions of the same key live on.
    expect((await send('GET', '/v1/stats', { cookie })).status).toBe(200);
  });
});
