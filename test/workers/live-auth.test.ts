/** Tickets, Origin checks and dashboard sessions in front of the live feed. */
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { isAllowedOrigin } from '../../workers/live/routes';
import { issueTicket } from '../../workers/live/ticket';
import { signToken } from '../../workers/auth/signed-token';
import { base64UrlDecode, base64UrlEncode } from '../../workers/auth/signed-token';
import { publishToLiveFeed } from '../../durable-objects/live-feed-publish';
import { basic, bearer, call, createTestWorkspace, env, OPERATOR } from './support';
import { connectLive, feedItem, nextEvents, openFeed, ticketFor } from './live-support';

async function upgradeError(ticket: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string }> {
  const response = await call(`/v1/live?ticket=${encodeURIComponent(ticket)}`, { headers: { upgrade: 'websocket', ...headers } });
  expect(response.webSocket).toBeNull();
  return { status: response.status, code: (await response.json<{ error: { code: string } }>()).error.code };
}

function retarget(ticket: string, workspaceId: string): string {
  const [payload, mac] = ticket.split('.');
  const decoded = JSON.parse(new TextDecoder().decode(base64UrlDecode(payload ?? '') ?? new Uint8Array())) as Record<string, unknown>;
  return `${base64UrlEncode(new TextEncoder().encode(JSON.stringify({ ...decoded, w: workspaceId })))}.${mac}`;
}

describe('tickets', () => {
  it('needs a secret key: write keys, unknown keys and no key are refused', async () => {
    const ws = await createTestWorkspace('ticket keys');
    const post = (headers: Record<string, string>) => call('/v1/live/ticket', { method: 'POST', headers });
    expect((await post(bearer(ws.secretKey))).status).toBe(201);
    expect((await post(basic(ws.secretKey))).status).toBe(201);
    const write = await post(basic(ws.writeKey));
    expect([write.status, (await write.json<{ error: { code: string } }>()).error.code]).toEqual([403, 'wrong_key_kind']);
    expect((await post(bearer('sk_nope'))).status).toBe(401);
    expect((await post({})).status).toBe(401);
  });

  it('refuses missing, expired, tampered, retargeted and wrong-purpose tickets', async () => {
    const a = await createTestWorkspace('ticket A');
    const b = await createTestWorkspace('ticket B');
    const valid = await ticketFor(a.secretKey);
    expect((await call('/v1/live', { headers: { upgrade: 'websocket' } })).status).toBe(401);
    const expired = await issueTicket(env, a.workspaceId, a.keyIds.secret, Date.now() - 301_000);
    expect(await upgradeError(expired.ticket)).toEqual({ status: 401, code: 'ticket_expired' });
    expect(await upgradeError(`${valid.slice(0, -2)}xx`)).toEqual({ status: 401, code: 'invalid_ticket' });
    expect(await upgradeError(retarget(valid, b.workspaceId))).toEqual({ status: 401, code: 'invalid_ticket' });
    const otherSecret = await signToken('not-the-secret', 'live-ticket', { w: b.workspaceId, k: 'x', exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await upgradeError(otherSecret)).toEqual({ status: 401, code: 'invalid_ticket' });
    const sessionAsTicket = await signToken(env.SESSION_SECRET, 'dashboard-session', { workspaceId: a.workspaceId, keyId: a.keyIds.secret, exp: Math.floor(Date.now() / 1000) + 60 });
    expect(await upgradeError(sessionAsTicket)).toEqual({ status: 401, code: 'invalid_ticket' });
    expect(await upgradeError('garbage')).toEqual({ status: 401, code: 'invalid_ticket' });
  });

  it('a ticket opens one socket: a second upgrade with it is refused, a new ticket works', async () => {
    const ws = await createTestWorkspace('ticket once');
    const ticket = await ticketFor(ws.secretKey);
    const first = await connectLive(ticket);
    expect(first.response.status).toBe(101);
    expect(await upgradeError(ticket)).toEqual({ status: 401, code: 'ticket_used' });
    const second = await connectLive(await ticketFor(ws.secretKey));
    expect(second.response.status).toBe(101);
    for (const { reader } of [first, second]) reader.socket.close();
  });

  it('a plain GET without upgrade gets 426', async () => {
    const ws = await createTestWorkspace('ticket no upgrade');
    const response = await call(`/v1/live?ticket=${await ticketFor(ws.secretKey)}`);
    expect(response.status).toBe(426);
  });

  it("a ticket for workspace A connects to A's room only", async () => {
    const a = await createTestWorkspace('room A');
    const b = await createTestWorkspace('room B');
    await publishToLiveFeed(env, b.workspaceId, [feedItem(b.workspaceId, { event: 'secret of B' })]);
    const feedA = await openFeed(await ticketFor(a.secretKey));
    expect(feedA.backfill).toEqual([]);
    await publishToLiveFeed(env, b.workspaceId, [feedItem(b.workspaceId, { event: 'B live' })]);
    await publishToLiveFeed(env, a.workspaceId, [feedItem(a.workspaceId, { event: 'A live' })]);
    expect((await nextEvents(feedA.reader)).map((item) => item.event)).toEqual(['A live']);
    feedA.reader.socket.close();
  });
});

describe('Origin', () => {
  it('allows the Worker origin and no Origin, refuses others unless configured', async () => {
    const ws = await createTestWorkspace('origin');
    const ticket = await ticketFor(ws.secretKey);
    expect(await upgradeError(ticket, { origin: 'https://evil.example' })).toEqual({ status: 403, code: 'origin_not_allowed' });
    const same = await connectLive(ticket, '', { origin: 'http://monfri.test' });
    expect(same.response.status).toBe(101);
    expect((await same.reader.next()).type).toBe('hello');
    same.reader.socket.close();
    expect(isAllowedOrigin('https://app.example', 'https://monfri.example/v1/live', 'https://other.example, https://app.example')).toBe(true);
    expect(isAllowedOrigin('https://app.example.evil', 'https://monfri.example/v1/live', 'https://app.example')).toBe(false);
  });
});

/** State-changing requests made with the session cookie must come from the dashboard's own origin (CSRF). */
const OWN_ORIGIN = 'http://monfri.test';

describe('dashboard session', () => {
  const session = (url: string, init: RequestInit) => exports.default.fetch(url, init);

  it('signs in with a secret key: HttpOnly, Secure, SameSite=Strict cookie that works for tickets', async () => {
    const ws = await createTestWorkspace('session');
    const response = await call('/dashboard/session', { method: 'POST', json: { secretKey: ws.secretKey } });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ workspace: { id: ws.workspaceId }, keyId: ws.keyIds.secret });
    const setCookie = response.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^monfri_session=[\w-]+\.[\w-]+;/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('Secure');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    expect(setCookie).not.toContain(ws.secretKey);
    const cookie = setCookie.split(';')[0] ?? '';

    const me = await call('/dashboard/session', { headers: { cookie } });
    expect(await me.json()).toMatchObject({ workspace: { id: ws.workspaceId } });
    const ticket = await call('/v1/live/ticket', { method: 'POST', headers: { cookie, origin: OWN_ORIGIN } });
    expect(ticket.status).toBe(201);
    expect(await ticket.json()).toMatchObject({ workspaceId: ws.workspaceId });

    // The query API takes the same cookie (requireSecretKeyOrSession), scoped to the session's workspace.
    const stats = await call('/v1/stats', { headers: { cookie } });
    expect(stats.status).toBe(200);
    expect((await call('/v1/stats')).status).toBe(401);

    const signOut = await call('/dashboard/session', { method: 'DELETE', headers: { cookie, origin: OWN_ORIGIN } });
    expect(signOut.status).toBe(204);
    expect(signOut.headers.get('set-cookie')).toMatch(/monfri_session=;.*Max-Age=0/);
  });

  it('is not Secure on http://127.0.0.1 (local dev) and refuses write keys and bad bodies', async () => {
    const ws = await createTestWorkspace('session dev');
    const local = await session('http://127.0.0.1:8787/dashboard/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secretKey: ws.secretKey }) });
    expect(local.status).toBe(201);
    expect(local.headers.get('set-cookie')).not.toContain('Secure');
    const write = await call('/dashboard/session', { method: 'POST', json: { secretKey: ws.writeKey } });
    expect(write.status).toBe(403);
    const bad = await call('/dashboard/session', { method: 'POST', body: 'not json' });
    expect([bad.status, (await bad.json<{ error: { code: string } }>()).error.code]).toEqual([400, 'invalid_json']);
  });

  it('refuses a forged cookie and ends the session when the key is revoked', async () => {
    const ws = await createTestWorkspace('session revoke');
    const forged = await signToken('wrong-secret', 'dashboard-session', { workspaceId: ws.workspaceId, keyId: ws.keyIds.secret, exp: Math.floor(Date.now() / 1000) + 60 });
    const refused = await call('/v1/live/ticket', { method: 'POST', headers: { cookie: `monfri_session=${forged}`, origin: OWN_ORIGIN } });
    expect([refused.status, (await refused.json<{ error: { code: string } }>()).error.code]).toEqual([401, 'invalid_session']);

    const signIn = await call('/dashboard/session', { method: 'POST', json: { secretKey: ws.secretKey } });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect((await call('/v1/live/ticket', { method: 'POST', headers: { cookie, origin: OWN_ORIGIN } })).status).toBe(201);
    const revoke = await call(`/admin/keys/${ws.keyIds.secret}/revoke`, { method: 'POST', headers: OPERATOR });
    expect(revoke.status).toBeLessThan(300);
    const after = await call('/v1/live/ticket', { method: 'POST', headers: { cookie, origin: OWN_ORIGIN } });
    expect([after.status, (await after.json<{ error: { code: string } }>()).error.code]).toEqual([401, 'session_revoked']);
  });
});
