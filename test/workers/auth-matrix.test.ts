/**
 * Every route of the Hono app (enumerated from `createApp().routes`, so a new route is
 * covered, or fails this test for lack of a rule) driven with every kind of credential:
 * none, malformed, unknown, revoked (write and secret), another workspace's (write and
 * secret), this workspace's write and secret keys, and the operator token. Each answer must
 * be the rule's: 401 or 403 where the credential may not pass, never a 500, and a 2xx only
 * where it may. Requests go straight to `app.fetch` (the pool's SELF.fetch slows down per
 * call; see ENVIRONMENT.md).
 */
import { createExecutionContext } from 'cloudflare:test';
import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../workers/app';
import { OPERATOR, basic, bearer, call, createTestWorkspace, env, type DemoWorkspace } from './support';

vi.setConfig({ testTimeout: 120_000 });

type Credential = 'none' | 'malformed' | 'unknown' | 'revoked_write' | 'revoked_secret' | 'other_write' | 'other_secret' | 'own_write' | 'own_secret' | 'operator';
const CREDENTIALS: readonly Credential[] = ['none', 'malformed', 'unknown', 'revoked_write', 'revoked_secret', 'other_write', 'other_secret', 'own_write', 'own_secret', 'operator'];

/** The kinds of credential check a route has; `ruleOf` gives null for a route it does not know. */
type Rule = 'public' | 'ticket' | 'collect' | 'browser_collect' | 'secret' | 'sign_in' | 'admin_workspace' | 'admin_self' | 'admin_operator';

function ruleOf(method: string, path: string): Rule | null {
  // CORS preflights carry no credentials by design.
  if (method === 'OPTIONS') return 'public';
  if (path === '/health' || path.startsWith('/sdk/')) return 'public';
  if (path === '/dashboard/session') return method === 'POST' ? 'sign_in' : method === 'DELETE' ? 'public' : 'secret';
  if (path === '/v1/live') return 'ticket';
  if (path === '/v1/collect') return 'browser_collect';
  if (/^\/v1\/(track|identify|page|screen|group|alias|batch|[tipsgab])$/.test(path)) return 'collect';
  if (/^\/v1\/(events|stats|persons|persons\/:id|deletions\/:jobId|usage|live\/ticket|segments|computed-traits|webhooks|tracking-plan|schema)(\/|$)/.test(path)) return 'secret';
  if (path === '/admin/workspaces') return method === 'POST' ? 'admin_operator' : 'admin_self';
  if (path.startsWith('/admin/')) return 'admin_workspace';
  return null;
}

const DENIED = [401, 403];

/** The statuses a credential may get on a route of this rule; 'allowed' = anything but 401/403/5xx. */
function expectation(rule: Rule, credential: Credential): number[] | 'allowed' {
  const bad: Credential[] = ['none', 'malformed', 'unknown', 'revoked_write', 'revoked_secret'];
  switch (rule) {
    case 'public':
      return 'allowed';
    case 'ticket':
      // No ticket in these requests: nobody gets through, whatever the header says.
      return [401, 426];
    case 'collect':
      return bad.includes(credential) || credential === 'operator' ? [401] : 'allowed';
    case 'browser_collect':
      if (credential === 'own_secret' || credential === 'other_secret') return [403];
      return bad.includes(credential) || credential === 'operator' ? [401] : 'allowed';
    case 'secret':
      if (credential === 'own_write' || credential === 'other_write') return [403];
      return bad.includes(credential) || credential === 'operator' ? [401] : 'allowed';
    case 'sign_in':
      // Without a usable Authorization header the key is read from the (empty) body.
      if (credential === 'none' || credential === 'malformed') return [400];
      if (credential === 'own_write' || credential === 'other_write') return [403];
      return bad.includes(credential) || credential === 'operator' ? [401] : 'allowed';
    case 'admin_workspace':
      if (credential === 'own_write' || credential === 'other_write') return [403];
      // Another workspace's secret key learns nothing: the same 404 as a missing workspace or key.
      if (credential === 'other_secret') return [404];
      return bad.includes(credential) ? [401] : 'allowed';
    case 'admin_self':
      // Lists what the credential may see: its own workspace, or all for the operator.
      if (credential === 'own_write' || credential === 'other_write') return [403];
      return bad.includes(credential) ? [401] : 'allowed';
    case 'admin_operator':
      if (credential === 'own_secret' || credential === 'other_secret' || credential === 'own_write' || credential === 'other_write') return [403];
      return bad.includes(credential) ? [401] : 'allowed';
  }
}

let own: DemoWorkspace;
let other: DemoWorkspace;
let revoked: { write: string; secret: string };
let spareKeyId: string;

async function issueKey(workspaceId: string, kind: 'write' | 'secret'): Promise<{ id: string; key: string }> {
  const response = await call(`/admin/workspaces/${workspaceId}/keys`, { method: 'POST', headers: OPERATOR, json: { kind } });
  expect(response.status).toBe(201);
  const body = await response.json<{ key: { id: string }; secret: string }>();
  return { id: body.key.id, key: body.secret };
}

async function revoke(keyId: string): Promise<void> {
  expect((await call(`/admin/keys/${keyId}/revoke`, { method: 'POST', headers: OPERATOR })).status).toBe(200);
}

beforeAll(async () => {
  own = await createTestWorkspace('auth matrix');
  other = await createTestWorkspace('auth matrix other');
  const write = await issueKey(own.workspaceId, 'write');
  const secret = await issueKey(own.workspaceId, 'secret');
  await revoke(write.id);
  await revoke(secret.id);
  revoked = { write: write.key, secret: secret.key };
  spareKeyId = (await issueKey(own.workspaceId, 'write')).id;
});

function headersFor(credential: Credential): Record<string, string> {
  switch (credential) {
    case 'none':
      return {};
    case 'malformed':
      return { authorization: 'Basic %%%not-base64%%%' };
    case 'unknown':
      return bearer(`sk_${'x'.repeat(32)}`);
    case 'revoked_write':
      return basic(revoked.write);
    case 'revoked_secret':
      return bearer(revoked.secret);
    case 'other_write':
      return basic(other.writeKey);
    case 'other_secret':
      return bearer(other.secretKey);
    case 'own_write':
      return basic(own.writeKey);
    case 'own_secret':
      return bearer(own.secretKey);
    case 'operator':
      return OPERATOR;
  }
}

function concretePath(path: string): string {
  if (path === '/admin/dead-letters') return `${path}?workspace=${own.workspaceId}`;
  return path
    .replace(':keyId', spareKeyId)
    .replace(/:id(?=\/|$)/, path.startsWith('/admin/') ? own.workspaceId : 'person-1')
    .replace(':segmentId', 'seg_missing')
    .replace(':name', 'missing_trait')
    .replace(/:file\{[^}]*\}/, 'monfri.000000000000.min.js');
}

function bodyFor(rule: Rule, path: string): string | undefined {
  if (rule === 'collect' || rule === 'browser_collect') return JSON.stringify(path.endsWith('/batch') || path.endsWith('/b') || path.endsWith('/collect') ? { batch: [{ type: 'track', event: 'Auth Matrix', userId: 'u1' }] } : { type: 'track', event: 'Auth Matrix', userId: 'u1' });
  // Routes scoped by a workspace in the body name this workspace, so another's key must be refused.
  if (path === '/admin/dead-letters/replay') return JSON.stringify({ workspaceId: own.workspaceId });
  if (path === '/admin/replay') return JSON.stringify({ workspaceId: own.workspaceId, from: new Date(Date.now() - 60_000).toISOString(), to: new Date().toISOString() });
  return '{}';
}

const app = createApp();

async function request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Response> {
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit = { method, headers: { ...headers, ...(hasBody ? { 'content-type': 'application/json' } : {}) }, body: hasBody ? body : undefined };
  return app.fetch(new Request(`http://127.0.0.1${path}`, init), env, createExecutionContext());
}

describe('every route x every credential', () => {
  it('enumerates the routes and answers each credential by its rule', async () => {
    const routes = [...new Map(app.routes.filter((route) => route.method !== 'ALL').map((route) => [`${route.method} ${route.path}`, route])).values()];
    const unruled = routes.filter((route) => ruleOf(route.method, route.path) === null).map((route) => `${route.method} ${route.path}`);
    expect(unruled, 'routes without an auth rule in this test').toEqual([]);
    expect(routes.length).toBeGreaterThan(40);

    const mismatches: string[] = [];
    // Destructive admin routes last, so revoking the spare key does not change earlier answers.
    const ordered = [...routes].sort((a, b) => Number(/revoke|rotate/.test(a.path)) - Number(/revoke|rotate/.test(b.path)));
    for (const route of ordered) {
      const rule = ruleOf(route.method, route.path) as Rule;
      const path = concretePath(route.path);
      for (const credential of CREDENTIALS) {
        const response = await request(route.method, path, headersFor(credential), bodyFor(rule, route.path));
        await response.body?.cancel();
        const expected = expectation(rule, credential);
        const ok = expected === 'allowed' ? !DENIED.includes(response.status) && response.status < 500 : expected.includes(response.status);
        if (!ok) mismatches.push(`${route.method} ${route.path} as ${credential}: ${response.status}, expected ${expected === 'allowed' ? 'allowed' : expected.join('|')}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('any string as a Bearer or Basic credential on a secret route is refused with 401, never more', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), fc.constantFrom('Bearer ', 'Basic ', ''), async (text, scheme) => {
        const header = scheme === 'Basic ' ? `Basic ${btoa(unescape(encodeURIComponent(`${text}:`)))}` : `${scheme}${text}`;
        const response = await request('GET', '/v1/events', { authorization: header });
        await response.body?.cancel();
        expect(response.status).toBe(401);
      }),
      { numRuns: 150 },
    );
  });
});
