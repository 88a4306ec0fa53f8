import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedis } from '../../lib/redis';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { bearer, call, createTestWorkspace, eventually, OPERATOR } from './support';
import { collected, deliver, env, storedCounts } from './pipeline-support';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('dead-letter replay (admin API)', () => {
  it('lists dead letters per workspace and replays them into the events queue exactly once', async () => {
    const ws = await createTestWorkspace('dlq-replay');
    const exhausted = [collected(ws.workspaceId), collected(ws.workspaceId)];
    await deliver(exhausted, { queue: 'monfri-events-dlq', attempts: 11 });
    const list = await call(`/admin/dead-letters?workspace=${ws.workspaceId}`, { headers: OPERATOR });
    const listed = await list.json<{ deadLetters: { messageId: string; reason: string }[] }>();
    expect(listed.deadLetters.map((letter) => letter.messageId).sort()).toEqual(exhausted.map((event) => event.messageId).sort());
    expect(listed.deadLetters.every((letter) => letter.reason === 'retries_exhausted')).toBe(true);

    const replay = await call('/admin/dead-letters/replay', { method: 'POST', headers: bearer(ws.secretKey), json: {} });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toEqual({ replayed: { 'monfri-events': 2 }, total: 2 });
    expect((await eventually(() => storedCounts(ws.workspaceId), (counts) => counts.events === 2)).events).toBe(2);
    const again = await call('/admin/dead-letters/replay', { method: 'POST', headers: bearer(ws.secretKey), json: {} });
    expect(await again.json()).toEqual({ replayed: {}, total: 0 });
    const stillListed = await call(`/admin/dead-letters?pending=false`, { headers: bearer(ws.secretKey) });
    expect((await stillListed.json<{ deadLetters: { replayCount: number }[] }>()).deadLetters.map((letter) => letter.replayCount)).toEqual([1, 1]);
  });

  it('a secret key cannot see or replay another workspace', async () => {
    const mine = await createTestWorkspace('mine');
    const other = await createTestWorkspace('other');
    const response = await call(`/admin/dead-letters?workspace=${other.workspaceId}`, { headers: bearer(mine.secretKey) });
    expect(response.status).toBe(404);
    const replay = await call('/admin/replay', { method: 'POST', headers: bearer(mine.secretKey), json: { workspaceId: other.workspaceId, from: new Date(0).toISOString(), to: new Date().toISOString() } });
    expect(replay.status).toBe(404);
  });

  it('replays a time range from the Redis Stream mirror; events already stored are not doubled', async () => {
    const ws = await createTestWorkspace('stream-replay');
    const redis = createRedis(env);
    const stored = collected(ws.workspaceId);
    await deliver([stored]);
    const missing = [collected(ws.workspaceId), collected(ws.workspaceId), collected(ws.workspaceId)];
    const from = new Date(Date.now() - 1000).toISOString();
    for (const event of [stored, ...missing]) await redis.xadd(eventStreamKey(ws.workspaceId), '*', { [STREAM_EVENT_FIELD]: JSON.stringify(event) });
    const to = new Date(Date.now() + 1000).toISOString();
    const response = await call('/admin/replay', { method: 'POST', headers: OPERATOR, json: { workspaceId: ws.workspaceId, from, to } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ replayed: 4, truncated: false });
    const counts = await eventually(() => storedCounts(ws.workspaceId), (value) => value.events === 4);
    expect(counts).toEqual({ events: 4, rows: 4 });
  });

  it('a queue that refuses part way through a replay is a 503 saying how far it got, and the same request then completes', async () => {
    const ws = await createTestWorkspace('stream-replay-refused');
    const redis = createRedis(env);
    const from = new Date(Date.now() - 1000).toISOString();
    const events = Array.from({ length: 150 }, () => collected(ws.workspaceId));
    for (const event of events) await redis.xadd(eventStreamKey(ws.workspaceId), '*', { [STREAM_EVENT_FIELD]: JSON.stringify(event) });
    const to = new Date(Date.now() + 1000).toISOString();
    const realSendBatch = env.EVENTS.sendBatch.bind(env.EVENTS);
    let calls = 0;
    // The first sendBatch (100 messages) goes through, the second fails as the local queue did under a soak (timeout quota).
    vi.spyOn(env.EVENTS, 'sendBatch').mockImplementation(async (messages, options) => {
      calls++;
      if (calls === 2) throw new Error('QuotaExceededError: too many active timeouts');
      return realSendBatch(messages, options);
    });
    const refused = await call('/admin/replay', { method: 'POST', headers: OPERATOR, json: { workspaceId: ws.workspaceId, from, to } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: { code: 'queue_unavailable', details: { sent: 100, total: 150 } } });
    vi.restoreAllMocks();
    const again = await call('/admin/replay', { method: 'POST', headers: OPERATOR, json: { workspaceId: ws.workspaceId, from, to } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ replayed: 150 });
    const counts = await eventually(() => storedCounts(ws.workspaceId), (value) => value.events === 150);
    expect(counts.events).toBe(150);
  });
});
