/**
 * Revocation reaches everything a key opened: requests on another isolate stop within the
 * key cache TTL (made short here), and live-feed sockets opened with tickets from a revoked
 * secret key are closed at once, while sockets from the workspace's other keys stay open.
 */
import { createExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { publishToLiveFeed } from '../../durable-objects/live-feed-publish';
import { KEY_REVOKED_CLOSE_CODE } from '../../durable-objects/live-feed';
import { createApp } from '../../workers/app';
import { basic, bearer, call, createTestWorkspace, env, OPERATOR } from './support';
import { feedItem, nextEvents, openFeed, ticketFor } from './live-support';

const TTL_SECONDS = 1;

async function revoke(keyId: string): Promise<void> {
  expect((await call(`/admin/keys/${keyId}/revoke`, { method: 'POST', headers: OPERATOR })).status).toBe(200);
}

describe('revoked keys', () => {
  it('stop working on another isolate within the key cache TTL', async () => {
    const ws = await createTestWorkspace('revoke ttl');
    // Another isolate: its own key cache, which the revoking request cannot clear.
    const isolate = createApp();
    const shortTtl = { ...env, KEY_CACHE_TTL_SECONDS: String(TTL_SECONDS) };
    const query = () => isolate.fetch(new Request('http://monfri.test/v1/events?limit=1', { headers: bearer(ws.secretKey) }), shortTtl, createExecutionContext());
    const track = () =>
      isolate.fetch(new Request('http://monfri.test/v1/track', { method: 'POST', headers: { ...basic(ws.writeKey), 'content-type': 'application/json' }, body: JSON.stringify({ event: 'Revoke', userId: 'u1' }) }), shortTtl, createExecutionContext());
    expect((await query()).status).toBe(200);
    expect((await track()).status).toBe(200);
    const revokedAt = Date.now();
    await revoke(ws.keyIds.secret);
    await revoke(ws.keyIds.write);
    let statuses: number[] = [];
    while (Date.now() - revokedAt < TTL_SECONDS * 1000 * 3) {
      statuses = [(await query()).status, (await track()).status];
      if (statuses.every((status) => status === 401)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(statuses).toEqual([401, 401]);
    expect(Date.now() - revokedAt).toBeLessThan(TTL_SECONDS * 1000 + 1000);
  });

  it('revoking a secret key closes the live-feed sockets opened with its tickets, and only those', async () => {
    const ws = await createTestWorkspace('revoke live');
    const issued = await call(`/admin/workspaces/${ws.workspaceId}/keys`, { method: 'POST', headers: OPERATOR, json: { kind: 'secret' } });
    const second = await issued.json<{ key: { id: string }; secret: string }>();
    const doomed = await openFeed(await ticketFor(ws.secretKey));
    const doomedAgain = await openFeed(await ticketFor(ws.secretKey));
    const survivor = await openFeed(await ticketFor(second.secret));
    const closes = [doomed, doomedAgain].map(
      ({ reader }) => new Promise<number>((resolve) => reader.socket.addEventListener('close', (event) => resolve(event.code))),
    );

    await revoke(ws.keyIds.secret);
    expect(await Promise.all(closes)).toEqual([KEY_REVOKED_CLOSE_CODE, KEY_REVOKED_CLOSE_CODE]);

    await publishToLiveFeed(env, ws.workspaceId, [feedItem(ws.workspaceId, { event: 'After Revoke' })]);
    expect((await nextEvents(survivor.reader)).map((item) => item.event)).toEqual(['After Revoke']);
    // The revoked key can get no new ticket either.
    expect((await call('/v1/live/ticket', { method: 'POST', headers: bearer(ws.secretKey) })).status).toBe(401);
    survivor.reader.socket.close();
  });
});
