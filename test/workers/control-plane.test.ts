import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/crypto';
import { OPERATOR, basic, bearer, call, createTestWorkspace, env } from './support';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('control plane: workspaces and keys', () => {
  it('creates a workspace with a write key and a secret key, stored only as hashes', async () => {
    const ws = await createTestWorkspace('Acme');
    expect(ws.writeKey).toMatch(/^wk_[0-9A-Za-z]{32}$/);
    expect(ws.secretKey).toMatch(/^sk_[0-9A-Za-z]{32}$/);
    const rows = await env.DB.prepare('SELECT * FROM api_keys WHERE workspace_id = ?').bind(ws.workspaceId).all<Record<string, unknown>>();
    expect(rows.results).toHaveLength(2);
    const stored = JSON.stringify(rows.results);
    expect(stored).not.toContain(ws.writeKey);
    expect(stored).not.toContain(ws.secretKey);
    const hashes = rows.results.map((row) => row.key_hash);
    expect(hashes).toContain(await sha256Hex(ws.writeKey));
    expect(hashes).toContain(await sha256Hex(ws.secretKey));
    expect(rows.results.map((row) => row.prefix)).toContain(ws.writeKey.slice(0, 10));
  });

  it('refuses unknown and missing keys with 401 and a JSON reason', async () => {
    const unknown = await call('/admin/workspaces', { headers: bearer('sk_doesnotexist') });
    expect(unknown.status).toBe(401);
    expect((await unknown.json<ErrorBody>()).error.code).toBe('invalid_key');
    const missing = await call('/admin/workspaces');
    expect(missing.status).toBe(401);
    expect((await missing.json<ErrorBody>()).error.code).toBe('missing_key');
  });

  it('lets a secret key manage only its own workspace; write keys cannot use admin routes', async () => {
    const a = await createTestWorkspace('A');
    const b = await createTestWorkspace('B');
    const own = await call(`/admin/workspaces/${a.workspaceId}`, { headers: bearer(a.secretKey) });
    expect(own.status).toBe(200);
    const other = await call(`/admin/workspaces/${b.workspaceId}`, { headers: bearer(a.secretKey) });
    expect(other.status).toBe(404);
    const viaWriteKey = await call(`/admin/workspaces/${a.workspaceId}`, { headers: basic(a.writeKey) });
    expect(viaWriteKey.status).toBe(403);
    expect((await viaWriteKey.json<ErrorBody>()).error.code).toBe('wrong_key_kind');
    const create = await call('/admin/workspaces', { method: 'POST', headers: bearer(a.secretKey), json: { name: 'sneaky' } });
    expect(create.status).toBe(403);
  });

  it('revokes a key: it is refused with 401 revoked_key afterwards', async () => {
    const ws = await createTestWorkspace();
    expect((await call('/admin/workspaces', { headers: bearer(ws.secretKey) })).status).toBe(200);
    const revoke = await call(`/admin/keys/${ws.keyIds.secret}/revoke`, { method: 'POST', headers: OPERATOR });
    expect(revoke.status).toBe(200);
    const after = await call('/admin/workspaces', { headers: bearer(ws.secretKey) });
    expect(after.status).toBe(401);
    expect((await after.json<ErrorBody>()).error.code).toBe('revoked_key');
  });

  it('rotates a key: the new key works, the old one stops (immediately or after a grace period)', async () => {
    const ws = await createTestWorkspace();
    const rotated = await call(`/admin/keys/${ws.keyIds.secret}/rotate`, { method: 'POST', headers: OPERATOR, json: {} });
    expect(rotated.status).toBe(201);
    const { secret, key } = await rotated.json<{ secret: string; key: { id: string; kind: string } }>();
    expect(key.kind).toBe('secret');
    expect(secret).not.toBe(ws.secretKey);
    expect((await call('/admin/workspaces', { headers: bearer(secret) })).status).toBe(200);
    expect((await call('/admin/workspaces', { headers: bearer(ws.secretKey) })).status).toBe(401);

    const graceful = await call(`/admin/keys/${key.id}/rotate`, { method: 'POST', headers: bearer(secret), json: { graceSeconds: 3600 } });
    expect(graceful.status).toBe(201);
    const next = await graceful.json<{ secret: string; previous: { revokedAt: string } }>();
    expect(Date.parse(next.previous.revokedAt)).toBeGreaterThan(Date.now() + 3500_000);
    expect((await call('/admin/workspaces', { headers: bearer(secret) })).status).toBe(200);
    expect((await call('/admin/workspaces', { headers: bearer(next.secret) })).status).toBe(200);
  });

  it('validates admin input with a 400 and the failing fields', async () => {
    const badPlan = await call('/admin/workspaces', { method: 'POST', headers: OPERATOR, json: { name: 'x', plan: 'platinum' } });
    expect(badPlan.status).toBe(400);
    const body = await badPlan.json<{ error: { code: string; details: { path: string }[] } }>();
    expect(body.error.code).toBe('invalid_body');
    expect(body.error.details.map((d) => d.path)).toContain('plan');
    const badJson = await call('/admin/workspaces', { method: 'POST', headers: { ...OPERATOR, 'content-type': 'application/json' }, body: '{nope' });
    expect(badJson.status).toBe(400);
    expect((await badJson.json<ErrorBody>()).error.code).toBe('invalid_json');
    const ws = await createTestWorkspace();
    const badOrigin = await call(`/admin/keys/${ws.keyIds.write}`, { method: 'PATCH', headers: OPERATOR, json: { allowedOrigins: ['not a url'] } });
    expect(badOrigin.status).toBe(400);
  });

  it('changes the plan only as operator', async () => {
    const ws = await createTestWorkspace();
    const asOwner = await call(`/admin/workspaces/${ws.workspaceId}`, { method: 'PATCH', headers: bearer(ws.secretKey), json: { plan: 'scale' } });
    expect(asOwner.status).toBe(403);
    const asOperator = await call(`/admin/workspaces/${ws.workspaceId}`, { method: 'PATCH', headers: OPERATOR, json: { plan: 'scale' } });
    expect(asOperator.status).toBe(200);
    expect((await asOperator.json<{ workspace: { plan: string } }>()).workspace.plan).toBe('scale');
  });
});
