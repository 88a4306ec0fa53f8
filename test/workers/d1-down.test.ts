/**
 * D1 (the control plane) down or slow for a moment: keys this isolate already knew keep
 * working (stale-if-error, also past their cache TTL), keys it never saw get 503 with
 * Retry-After, never a 500, and never a hang. D1 is replaced by a wrapper that fails or
 * stalls every statement; everything else is the real app.
 */
import { createExecutionContext } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../workers/app';
import { D1_LOOKUP_TIMEOUT_MS, D1_REFRESH_TIMEOUT_MS } from '../../workers/auth/key-store';
import { basic, bearer, createTestWorkspace, env } from './support';

vi.setConfig({ testTimeout: 30_000 });

type Fault = 'error' | 'stall';

/** A D1 binding whose statements all fail (`error`) or never answer (`stall`). */
function brokenD1(fault: Fault): D1Database {
  const answer = (): Promise<never> => (fault === 'error' ? Promise.reject(new Error('D1_ERROR: Network connection lost.')) : new Promise<never>(() => {}));
  const statement: D1PreparedStatement = new Proxy({} as D1PreparedStatement, {
    get: (_, property) => (property === 'bind' ? () => statement : answer),
  });
  return new Proxy(env.DB, {
    get: (target, property) => (property === 'prepare' ? () => statement : property === 'batch' || property === 'exec' ? answer : Reflect.get(target, property)),
  });
}

async function send(app: ReturnType<typeof createApp>, db: D1Database, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  const request = new Request(`http://monfri.test${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return app.fetch(request, { ...env, DB: db }, createExecutionContext());
}

const track = { event: 'D1 Down', userId: 'u1' };

describe.each<Fault>(['error', 'stall'])('D1 %s', (fault) => {
  it('a key already cached keeps working; an unseen key gets 503 with Retry-After; nothing is a 500 or hangs', async () => {
    const ws = await createTestWorkspace(`d1 ${fault}`);
    const other = await createTestWorkspace(`d1 ${fault} other`);
    const app = createApp();
    expect((await send(app, env.DB, '/v1/track', basic(ws.writeKey), track)).status).toBe(200);
    expect((await send(app, env.DB, '/v1/events?limit=1', bearer(ws.secretKey))).status).toBe(200);

    const broken = brokenD1(fault);
    // KEY_CACHE_TTL_SECONDS is 0 in this project: the entries have expired, and are served because D1 fails.
    const started = Date.now();
    expect((await send(app, broken, '/v1/track', basic(ws.writeKey), track)).status).toBe(200);
    expect((await send(app, broken, '/v1/events?limit=1', bearer(ws.secretKey))).status).toBe(200);

    for (const [path, headers, body] of [
      ['/v1/track', basic(other.writeKey), track],
      ['/v1/batch', basic(other.writeKey), { batch: [{ type: 'track', ...track }] }],
      ['/v1/events?limit=1', bearer(other.secretKey), undefined],
      ['/v1/stats', bearer(other.secretKey), undefined],
      [`/admin/workspaces/${other.workspaceId}/keys`, bearer(other.secretKey), undefined],
    ] as const) {
      const response = await send(app, broken, path, headers, body);
      expect({ path, status: response.status, retryAfter: response.headers.get('retry-after') }).toEqual({ path, status: 503, retryAfter: '5' });
      expect((await response.json<{ error: { code: string } }>()).error.code).toBe('control_plane_unavailable');
    }
    // Seven requests: the two known keys wait at most the short refresh deadline, the five refused ones the lookup deadline.
    expect(Date.now() - started).toBeLessThan(2 * D1_REFRESH_TIMEOUT_MS + 5 * D1_LOOKUP_TIMEOUT_MS + 3000);

    // D1 back: the unseen key works.
    expect((await send(app, env.DB, '/v1/track', basic(other.writeKey), track)).status).toBe(200);
  });
});
