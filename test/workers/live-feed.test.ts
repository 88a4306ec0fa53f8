/** The live-feed room: back-fill, broadcast order, received then outcome, the edge's announce, filters, isolation, slow clients, hibernation. */
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { publishToLiveFeed } from '../../durable-objects/live-feed-publish';
import { MAX_UNACKED_BYTES, RING_SIZE, type LiveFeed } from '../../durable-objects/live-feed';
import { createRedis } from '../../lib/redis';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import type { CollectedEvent } from '../../schema/event';
import { basic, createTestWorkspace, env } from './support';
import { callCollect, RecordingQueue, trackEvent } from './collect-support';
import { deliver } from './pipeline-support';
import { connectLive, feedItem, nextEvents, openFeed, ticketFor } from './live-support';

function room(workspaceId: string): DurableObjectStub<LiveFeed> {
  return env.LIVE_FEED.getByName(workspaceId);
}

describe('back-fill', () => {
  it('a new socket first gets hello, then the last N published items in order', async () => {
    const ws = await createTestWorkspace('live backfill');
    const items = Array.from({ length: 8 }, (_, i) => feedItem(ws.workspaceId, { event: `E${i}` }));
    await publishToLiveFeed(env, ws.workspaceId, items.slice(0, 5));
    await publishToLiveFeed(env, ws.workspaceId, items.slice(5));

    const { reader } = await connectLive(await ticketFor(ws.secretKey), '&backfill=6');
    const hello = await reader.next();
    expect(hello).toMatchObject({ type: 'hello', workspaceId: ws.workspaceId, filter: { event: null, person: null } });
    const backfill = await reader.next();
    if (backfill.type !== 'backfill') throw new Error('expected backfill');
    expect(backfill.items.map((item) => item.event)).toEqual(['E2', 'E3', 'E4', 'E5', 'E6', 'E7']);
    expect(backfill.items.map((item) => item.seq)).toEqual([...backfill.items.map((item) => item.seq)].sort((a, b) => a - b));
    reader.socket.close();
  });

  it('keeps a bounded ring in the room SQLite', async () => {
    const ws = await createTestWorkspace('live ring');
    const batch = Array.from({ length: RING_SIZE + 25 }, () => feedItem(ws.workspaceId));
    await publishToLiveFeed(env, ws.workspaceId, batch);
    const rows = await runInDurableObject(room(ws.workspaceId), (_instance, state) =>
      state.storage.sql.exec<{ n: number; lowest: string }>('SELECT COUNT(*) AS n, MIN(item) AS lowest FROM feed_ring').one(),
    );
    expect(rows.n).toBe(RING_SIZE);
    const { backfill, reader } = await openFeed(await ticketFor(ws.secretKey), '&backfill=200');
    expect(backfill).toHaveLength(200);
    expect(backfill[199]?.messageId).toBe(batch[batch.length - 1]?.messageId);
    reader.socket.close();
  });

  it('an empty room back-fills from the Redis Stream mirror (real Redis via the Upstash stand-in)', async () => {
    const ws = await createTestWorkspace('live mirror');
    const redis = createRedis(env);
    const collected: CollectedEvent = {
      v: 1,
      workspaceId: ws.workspaceId,
      messageId: `mirror-${crypto.randomUUID()}`,
      type: 'track',
      event: 'Mirrored Event',
      userId: 'mirror-user',
      anonymousId: null,
      groupId: null,
      previousId: null,
      properties: { plan: 'pro' },
      traits: {},
      context: {},
      integrations: {},
      timestamp: new Date().toISOString(),
      originalTimestamp: null,
      sentAt: null,
      receivedAt: new Date().toISOString(),
      timestampAdjustment: null,
      source: 'browser',
      ip: null,
      userAgent: null,
      geo: null,
      library: { name: 'test', version: '0' },
      sessionId: null,
      bot: { flagged: true, reason: 'webdriver' },
    };
    await redis.xadd(eventStreamKey(ws.workspaceId), '*', { [STREAM_EVENT_FIELD]: JSON.stringify(collected) });
    const { backfill, reader } = await openFeed(await ticketFor(ws.secretKey));
    expect(backfill).toHaveLength(1);
    // Accepted, maybe not stored yet: shown as received, with the edge's bot verdict.
    expect(backfill[0]).toMatchObject({ messageId: collected.messageId, event: 'Mirrored Event', status: 'received', reason: 'webdriver', personId: null, userId: 'mirror-user' });
    reader.socket.close();
  });
});

describe('broadcast', () => {
  it('delivers every item once, in publish order, across batches and sockets', async () => {
    const ws = await createTestWorkspace('live order');
    const first = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const second = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 3 }, (_, i) => feedItem(ws.workspaceId, { event: `B${b}-${i}` })));
    // Published concurrently: the room's input gate must still keep seq order on each socket.
    await Promise.all(batches.map((batch) => publishToLiveFeed(env, ws.workspaceId, batch)));
    for (const { reader } of [first, second]) {
      const received: { seq: number; messageId: string }[] = [];
      while (received.length < 30) received.push(...(await nextEvents(reader)));
      const seqs = received.map((item) => item.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(received.map((item) => item.messageId)).size).toBe(30);
      expect(new Set(received.map((item) => item.messageId))).toEqual(new Set(batches.flat().map((item) => item.messageId)));
      reader.socket.close();
    }
  });

  it('filtered sub-feeds get only their event name or person', async () => {
    const ws = await createTestWorkspace('live filters');
    const byEvent = await openFeed(await ticketFor(ws.secretKey), '&event=Signed%20Up');
    const byPerson = await openFeed(await ticketFor(ws.secretKey), '&person=anon-42');
    const everything = await openFeed(await ticketFor(ws.secretKey));
    const items = [
      feedItem(ws.workspaceId, { event: 'Signed Up', userId: 'u1', personId: 'u1' }),
      feedItem(ws.workspaceId, { event: 'Page Viewed', userId: null, anonymousId: 'anon-42', personId: 'p-9' }),
      feedItem(ws.workspaceId, { event: 'Order Completed', userId: 'u2', personId: 'u2' }),
    ];
    await publishToLiveFeed(env, ws.workspaceId, items);
    expect((await nextEvents(byEvent.reader)).map((item) => item.event)).toEqual(['Signed Up']);
    expect((await nextEvents(byPerson.reader)).map((item) => item.event)).toEqual(['Page Viewed']);
    expect((await nextEvents(everything.reader)).map((item) => item.event)).toEqual(['Signed Up', 'Page Viewed', 'Order Completed']);
    expect(await byEvent.reader.nothingWithin(100)).toBe(true);
    // Back-fill honours the same filter (read from the ring by event name / person id).
    const lateByPerson = await openFeed(await ticketFor(ws.secretKey), '&person=u2');
    expect(lateByPerson.backfill.map((item) => item.event)).toEqual(['Order Completed']);
    for (const feed of [byEvent, byPerson, everything, lateByPerson]) feed.reader.socket.close();
  });

  it('a socket of workspace A never sees workspace B, even if B items are published to A', async () => {
    const a = await createTestWorkspace('live A');
    const b = await createTestWorkspace('live B');
    const feedA = await openFeed(await ticketFor(a.secretKey), '&backfill=0');
    await publishToLiveFeed(env, b.workspaceId, [feedItem(b.workspaceId, { event: 'B only' })]);
    await publishToLiveFeed(env, a.workspaceId, [feedItem(b.workspaceId, { event: 'B smuggled' }), feedItem(a.workspaceId, { event: 'A marker' })]);
    const received = await nextEvents(feedA.reader);
    expect(received.map((item) => [item.workspaceId, item.event])).toEqual([[a.workspaceId, 'A marker']]);
    expect(await feedA.reader.nothingWithin(100)).toBe(true);
    feedA.reader.socket.close();
  });

  it('publishing never throws into the pipeline, even with a broken room call', async () => {
    const broken = { ...env, LIVE_FEED: { getByName: () => { throw new Error('namespace down'); } } } as unknown as Env;
    await expect(publishToLiveFeed(broken, 'w', [feedItem('w')])).resolves.toMatchObject({ workspaceId: 'w', items: 1, seqFrom: null, error: 'namespace down' });
  });
});

describe('received, then the outcome', () => {
  it("an outcome replaces its received item in place (same seq), and back-fill shows the outcome", async () => {
    const ws = await createTestWorkspace('live outcome');
    const { reader } = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const received = [feedItem(ws.workspaceId, { status: 'received', personId: null, event: 'R1' }), feedItem(ws.workspaceId, { status: 'received', personId: null, event: 'R2' })];
    await publishToLiveFeed(env, ws.workspaceId, received);
    const first = await nextEvents(reader);
    expect(first.map((item) => [item.event, item.status])).toEqual([['R1', 'received'], ['R2', 'received']]);
    await publishToLiveFeed(env, ws.workspaceId, [
      { ...received[1]!, status: 'flagged', reason: 'ip_rate', personId: 'person-r2' },
      { ...received[0]!, status: 'stored', personId: 'person-r1' },
    ]);
    const outcomes = await nextEvents(reader);
    expect(outcomes.map((item) => [item.event, item.status, item.personId, item.seq])).toEqual([
      ['R2', 'flagged', 'person-r2', first[1]?.seq],
      ['R1', 'stored', 'person-r1', first[0]?.seq],
    ]);
    const late = await openFeed(await ticketFor(ws.secretKey));
    expect(late.backfill.map((item) => [item.event, item.status, item.seq])).toEqual([
      ['R1', 'stored', first[0]?.seq],
      ['R2', 'flagged', first[1]?.seq],
    ]);
    // A resolved person id the received item did not have still finds the row through the ring.
    const byPerson = await openFeed(await ticketFor(ws.secretKey), '&person=person-r1');
    expect(byPerson.backfill.map((item) => item.event)).toEqual(['R1']);
    for (const feed of [reader, late.reader, byPerson.reader]) feed.socket.close();
  });

  it('a received item after its outcome is skipped; a duplicate dropped after a stored event is a row of its own', async () => {
    const ws = await createTestWorkspace('live races');
    const { reader } = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const stored = feedItem(ws.workspaceId, { event: 'Fast consumer' });
    await publishToLiveFeed(env, ws.workspaceId, [stored]);
    const [shown] = await nextEvents(reader);
    await publishToLiveFeed(env, ws.workspaceId, [{ ...stored, status: 'received', personId: null }]);
    // A client retry of the same messageId: announced again (skipped), then dropped as a duplicate.
    await publishToLiveFeed(env, ws.workspaceId, [{ ...stored, status: 'dropped', reason: 'duplicate' }]);
    const [duplicate] = await nextEvents(reader);
    expect(duplicate).toMatchObject({ messageId: stored.messageId, status: 'dropped', reason: 'duplicate' });
    expect(duplicate?.seq).toBeGreaterThan(shown?.seq ?? Infinity);
    expect(reader.pending()).toBe(0);
    reader.socket.close();
  });

  it('the edge announces accepted events at once, before any consumer ran: IP anonymised, bot verdict kept; the consumer then confirms them', async () => {
    const ws = await createTestWorkspace('live edge', { anonymizeIp: true });
    const { reader } = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const human = trackEvent({ event: 'Edge Human', context: { ip: '192.0.2.44' } });
    const browserHeaders = { ...basic(ws.writeKey), origin: 'https://shop.example.com', 'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36' };
    const { queue } = await callCollect('/v1/track', { headers: { ...browserHeaders, 'cf-connecting-ip': '203.0.113.77' }, json: human });
    const crawlerHeaders = { ...browserHeaders, 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' };
    const crawler = await callCollect('/v1/track', { headers: crawlerHeaders, json: trackEvent({ event: 'Edge Crawler' }) }, { queue });
    expect(crawler.response.status).toBe(200);
    // The recording queue has no consumer: these frames come from the edge alone.
    const announced = [...(await nextEvents(reader)), ...(await nextEvents(reader))];
    expect(announced.map((item) => [item.event, item.status, item.personId])).toEqual([['Edge Human', 'received', null], ['Edge Crawler', 'received', null]]);
    expect(announced[0]?.context).toMatchObject({ ip: '192.0.2.0' });
    expect(announced[0]?.reason).toBeNull();
    expect(announced[1]?.reason).toEqual(expect.stringMatching(/\S/));

    await deliver(queue.events());
    const confirmed = await nextEvents(reader);
    expect(confirmed.map((item) => [item.event, item.status, item.seq])).toEqual([
      ['Edge Human', 'stored', announced[0]?.seq],
      ['Edge Crawler', 'flagged', announced[1]?.seq],
    ]);
    expect(confirmed[0]?.personId).toEqual(expect.any(String));
    reader.socket.close();
  });

  it('a refused request announces nothing; a queue outage (503) announces nothing', async () => {
    const ws = await createTestWorkspace('live edge refused');
    const { reader } = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const refused = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: { type: 'track', userId: 'u' } });
    expect(refused.response.status).toBe(400);
    const down = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent({ event: 'Never Queued' }) }, { queue: Object.assign(new RecordingQueue(), { failWith: new Error('queue down') }) });
    expect(down.response.status).toBe(503);
    await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent({ event: 'Marker' }) });
    expect((await nextEvents(reader)).map((item) => item.event)).toEqual(['Marker']);
    reader.socket.close();
  });
});

describe('slow clients', () => {
  it('a client that stops acking gets one drop notice at the byte budget, others keep receiving, and it resumes after acking', async () => {
    const ws = await createTestWorkspace('live slow');
    const fast = await openFeed(await ticketFor(ws.secretKey), '&backfill=0');
    const { reader: slow } = await connectLive(await ticketFor(ws.secretKey), '&backfill=0', {}, false);
    const socket = slow.socket;
    // ~100 KB per frame: the 1 MiB budget is reached after about ten un-acked frames.
    const blob = 'x'.repeat(100_000);
    const total = Math.ceil(MAX_UNACKED_BYTES / blob.length) + 5;
    for (let i = 0; i < total; i++) {
      await publishToLiveFeed(env, ws.workspaceId, [feedItem(ws.workspaceId, { event: `N${i}`, properties: { blob } })]);
      expect((await nextEvents(fast.reader))[0]?.event).toBe(`N${i}`);
    }
    const frames = [await slow.next(), await slow.next()];
    while (frames.at(-1)?.type !== 'dropped') frames.push(await slow.next());
    expect(await slow.nothingWithin(100)).toBe(true);
    const delivered = frames.filter((frame) => frame.type === 'events');
    expect(frames.slice(0, 2).map((frame) => frame.type)).toEqual(['hello', 'backfill']);
    expect(delivered.length).toBeGreaterThan(1);
    expect(delivered.length).toBeLessThanOrEqual(MAX_UNACKED_BYTES / blob.length);
    expect(frames.filter((frame) => frame.type === 'dropped')).toHaveLength(1);

    socket.send(JSON.stringify({ type: 'ack', frames: delivered.length }));
    expect(await slow.next()).toEqual({ type: 'resumed', dropped: total - delivered.length });
    await publishToLiveFeed(env, ws.workspaceId, [feedItem(ws.workspaceId, { event: 'after resume' })]);
    expect((await nextEvents(slow))[0]?.event).toBe('after resume');
    socket.close();
    fast.reader.socket.close();
  });
});

describe('hibernation', () => {
  it('a socket survives eviction of the room and still receives its filtered broadcasts', async () => {
    const ws = await createTestWorkspace('live hibernate');
    const { reader } = await openFeed(await ticketFor(ws.secretKey), '&event=Wake%20Up&backfill=0');
    const stub = room(ws.workspaceId);
    const instanceMark = await runInDurableObject(stub, (instance: LiveFeed) => {
      (instance as unknown as { mark?: string }).mark = 'before-eviction';
      return instance.connectionCount();
    });
    expect(instanceMark).toBe(1);

    await evictDurableObject(stub);

    const after = await runInDurableObject(stub, (instance: LiveFeed) => ({
      mark: (instance as unknown as { mark?: string }).mark ?? null,
      sockets: instance.connectionCount(),
    }));
    expect(after).toEqual({ mark: null, sockets: 1 });
    await publishToLiveFeed(env, ws.workspaceId, [feedItem(ws.workspaceId, { event: 'Other' }), feedItem(ws.workspaceId, { event: 'Wake Up' })]);
    const items = await nextEvents(reader);
    // The filter came back from the socket attachment, not from memory.
    expect(items.map((item) => item.event)).toEqual(['Wake Up']);
    reader.socket.close();
  });
});
