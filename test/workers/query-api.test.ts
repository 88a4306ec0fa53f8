import { describe, expect, it } from 'vitest';
import type { CollectedEvent } from '../../schema/event';
import { basic, bearer, call, createTestWorkspace } from './support';
import { collected, deliver } from './pipeline-support';

interface EventView {
  messageId: string;
  type: string;
  event: string | null;
  personId: string;
  userId: string | null;
  anonymousId: string | null;
  timestamp: string;
  properties: Record<string, unknown>;
  bot: { flagged: boolean };
}

async function getJson<T>(path: string, key: string): Promise<{ status: number; body: T }> {
  const response = await call(path, { headers: bearer(key) });
  return { status: response.status, body: await response.json<T>() };
}

const at = (minutesAgo: number, ms = 0): string => new Date(Math.floor(Date.now() / 60_000) * 60_000 - minutesAgo * 60_000 + ms).toISOString();

describe('query API auth', () => {
  it('needs a secret key: none is 401, a write key is 403', async () => {
    const ws = await createTestWorkspace('auth');
    expect((await call('/v1/events')).status).toBe(401);
    const wrongKind = await call('/v1/events', { headers: basic(ws.writeKey) });
    expect(wrongKind.status).toBe(403);
    expect((await wrongKind.json<{ error: { code: string } }>()).error.code).toBe('wrong_key_kind');
    expect((await call('/v1/stats', { headers: bearer(ws.secretKey) })).status).toBe(200);
  });

  it('answers bad query strings with 400 and a reason, never 500', async () => {
    const ws = await createTestWorkspace('bad-input');
    for (const [path, code] of [
      ['/v1/events?from=yesterday', 'invalid_query'],
      ['/v1/events?limit=0', 'invalid_query'],
      ['/v1/events?cursor=%27%3B%20DROP', 'invalid_cursor'],
      ['/v1/stats?interval=second', 'invalid_query'],
      ['/v1/stats?interval=minute&from=2026-01-01T00:00:00Z&to=2026-01-09T00:00:00Z', 'range_too_large'],
      ['/v1/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'invalid_range'],
      ['/v1/events?property.=x', 'invalid_query'],
    ] as const) {
      const { status, body } = await getJson<{ error: { code: string } }>(path, ws.secretKey);
      expect({ path, status, code: body.error.code }).toEqual({ path, status: 400, code });
    }
  });
});

describe('identity resolution through the query API', () => {
  it('an anonymous -> identified journey is one person, including the anonymous period', async () => {
    const ws = await createTestWorkspace('journey');
    const anon = `anon-${crypto.randomUUID()}`;
    const user = `user-${crypto.randomUUID()}`;
    const before = [collected(ws.workspaceId, { type: 'page', event: 'Home', anonymousId: anon, timestamp: at(30) }), collected(ws.workspaceId, { event: 'Viewed Pricing', anonymousId: anon, timestamp: at(29) })];
    await deliver(before);
    const identify = collected(ws.workspaceId, { type: 'identify', event: null, anonymousId: anon, userId: user, traits: { email: 'a@x.test', plan: 'free' }, timestamp: at(20) });
    await deliver([identify]);
    const later = [
      collected(ws.workspaceId, { event: 'Upgraded', anonymousId: anon, timestamp: at(10) }),
      collected(ws.workspaceId, { type: 'identify', event: null, userId: user, anonymousId: null, traits: { plan: 'pro' }, timestamp: at(9) }),
    ];
    await deliver(later);

    const { status, body } = await getJson<{ person: { id: string; identities: { key: string }[]; traits: Record<string, unknown> }; events: EventView[] }>(`/v1/persons/${user}`, ws.secretKey);
    expect(status).toBe(200);
    expect(body.person.id).toBe(`user:${user}`);
    expect(body.person.identities.map((identity) => identity.key).sort()).toEqual([`anonymous:${anon}`, `user:${user}`].sort());
    expect(body.person.traits).toEqual({ email: 'a@x.test', plan: 'pro' });
    expect(body.events.map((event) => event.messageId).sort()).toEqual([...before, identify, ...later].map((event) => event.messageId).sort());
    // Stored person_id is the best known at ingest: anonymous before the identify, the user after.
    const personOf = (event: CollectedEvent): string | undefined => body.events.find((view) => view.messageId === event.messageId)?.personId;
    expect(before.map(personOf)).toEqual([`anonymous:${anon}`, `anonymous:${anon}`]);
    expect(personOf(later[0] as CollectedEvent)).toBe(`user:${user}`);

    const byAnonymous = await getJson<{ person: { id: string } }>(`/v1/persons/anonymous:${anon}`, ws.secretKey);
    expect(byAnonymous.body.person.id).toBe(`user:${user}`);
    const filtered = await getJson<{ events: EventView[] }>(`/v1/events?userId=${user}&event=Viewed%20Pricing`, ws.secretKey);
    expect(filtered.body.events.map((event) => event.messageId)).toEqual([before[1]?.messageId]);
    const stats = await getJson<{ totals: { events: number; uniquePersons: number } }>(`/v1/stats?from=${encodeURIComponent(at(60))}`, ws.secretKey);
    expect(stats.body.totals).toEqual({ events: 5, uniquePersons: 1 });
  });

  it('never merges two identified users silently: the conflict is recorded and queryable', async () => {
    const ws = await createTestWorkspace('conflict');
    const anon = `anon-${crypto.randomUUID()}`;
    await deliver([collected(ws.workspaceId, { type: 'identify', event: null, anonymousId: anon, userId: 'alice', timestamp: at(20) })]);
    const bob = collected(ws.workspaceId, { event: 'Clicked', anonymousId: anon, userId: 'bob', timestamp: at(10) });
    await deliver([bob]);
    const alice = await getJson<{ person: { id: string }; conflicts: { identityKey: string; existingPersonId: string; claimedPersonId: string; messageId: string }[]; events: EventView[] }>('/v1/persons/alice', ws.secretKey);
    expect(alice.body.conflicts).toEqual([{ identityKey: `anonymous:${anon}`, existingPersonId: 'user:alice', claimedPersonId: 'user:bob', messageId: bob.messageId, detectedAt: expect.any(String) }]);
    expect(alice.body.events.map((event) => event.userId)).toEqual(['alice']);
    const bobView = await getJson<{ person: { id: string }; events: EventView[] }>('/v1/persons/bob', ws.secretKey);
    expect(bobView.body.person.id).toBe('user:bob');
    expect(bobView.body.events.map((event) => event.messageId)).toEqual([bob.messageId]);
  });

  it('alias merges the previous id into the user explicitly', async () => {
    const ws = await createTestWorkspace('alias');
    const old = collected(ws.workspaceId, { event: 'Old Login', userId: 'legacy-7', anonymousId: null, timestamp: at(30) });
    await deliver([old]);
    const alias = collected(ws.workspaceId, { type: 'alias', event: null, previousId: 'legacy-7', userId: 'new-7', anonymousId: null, timestamp: at(20) });
    await deliver([alias]);
    const person = await getJson<{ person: { id: string }; events: EventView[] }>('/v1/persons/new-7', ws.secretKey);
    expect(person.body.events.map((event) => event.messageId).sort()).toEqual([old.messageId, alias.messageId].sort());
    const legacy = await getJson<{ person: { id: string } }>('/v1/persons/legacy-7', ws.secretKey);
    expect(legacy.body.person.id).toBe('user:new-7');
    const stats = await getJson<{ totals: { events: number; uniquePersons: number } }>(`/v1/stats?from=${encodeURIComponent(at(60))}`, ws.secretKey);
    expect(stats.body.totals).toEqual({ events: 2, uniquePersons: 1 });
  });
});

describe('GET /v1/events and /v1/stats', () => {
  it('filters by event, property, time range; excludes bots unless asked; pages with a cursor', async () => {
    const ws = await createTestWorkspace('filters');
    const events = [
      collected(ws.workspaceId, { event: 'Signed Up', properties: { plan: 'pro', seats: 3 }, timestamp: at(50, 1) }),
      collected(ws.workspaceId, { event: 'Signed Up', properties: { plan: 'free' }, timestamp: at(40, 2) }),
      collected(ws.workspaceId, { event: 'Signed Up', properties: { plan: "pro' OR 1=1 --" }, timestamp: at(30, 3) }),
      collected(ws.workspaceId, { event: 'Logged In', properties: { plan: 'pro' }, timestamp: at(20, 4) }),
      collected(ws.workspaceId, { event: 'Signed Up', properties: { plan: 'pro' }, timestamp: at(10, 5), bot: { flagged: true, reason: 'ua:curl' } }),
    ];
    await deliver(events);
    const ids = (list: EventView[]): string[] => list.map((event) => event.messageId);
    const ofEvents = (...indexes: number[]): string[] => indexes.map((index) => events[index]?.messageId ?? '');

    const signups = await getJson<{ events: EventView[] }>('/v1/events?event=Signed%20Up', ws.secretKey);
    expect(ids(signups.body.events)).toEqual(ofEvents(2, 1, 0));
    const pro = await getJson<{ events: EventView[] }>('/v1/events?property.plan=pro', ws.secretKey);
    expect(ids(pro.body.events)).toEqual(ofEvents(3, 0));
    const seats = await getJson<{ events: EventView[] }>('/v1/events?property.seats=3', ws.secretKey);
    expect(ids(seats.body.events)).toEqual(ofEvents(0));
    const withBots = await getJson<{ events: EventView[] }>('/v1/events?property.plan=pro&includeBots=true', ws.secretKey);
    expect(ids(withBots.body.events)).toEqual(ofEvents(4, 3, 0));
    const range = await getJson<{ events: EventView[] }>(`/v1/events?from=${encodeURIComponent(at(45))}&to=${encodeURIComponent(at(15))}`, ws.secretKey);
    expect(ids(range.body.events)).toEqual(ofEvents(3, 2, 1));
    expect(range.body.events[0]?.timestamp).toBe(events[3]?.timestamp);

    const page1 = await getJson<{ events: EventView[]; nextCursor: string | null }>('/v1/events?limit=2', ws.secretKey);
    expect(ids(page1.body.events)).toEqual(ofEvents(3, 2));
    const page2 = await getJson<{ events: EventView[]; nextCursor: string | null }>(`/v1/events?limit=2&cursor=${page1.body.nextCursor}`, ws.secretKey);
    expect(ids(page2.body.events)).toEqual(ofEvents(1, 0));
  });

  it('counts events per hour and day exactly once, bots excluded by default', async () => {
    const ws = await createTestWorkspace('stats');
    const base = Date.UTC(2026, 0, 15, 10, 0, 0);
    const iso = (offsetMinutes: number): string => new Date(base + offsetMinutes * 60_000).toISOString();
    const events = [
      collected(ws.workspaceId, { event: 'A', timestamp: iso(5) }),
      collected(ws.workspaceId, { event: 'A', timestamp: iso(50) }),
      collected(ws.workspaceId, { event: 'B', timestamp: iso(70) }),
      collected(ws.workspaceId, { event: 'A', timestamp: iso(80), bot: { flagged: true, reason: 'ua' } }),
    ];
    await deliver(events);
    await deliver(events, { attempts: 2 });
    const range = `from=${iso(0)}&to=${iso(24 * 60)}`;
    const hourly = await getJson<{ buckets: { bucket: string; event: string; count: number }[]; totals: { events: number } }>(`/v1/stats?${range}`, ws.secretKey);
    expect(hourly.body.buckets.map(({ bucket, event, count }) => ({ bucket, event, count }))).toEqual([
      { bucket: '2026-01-15T10:00:00.000Z', event: 'A', count: 2 },
      { bucket: '2026-01-15T11:00:00.000Z', event: 'B', count: 1 },
    ]);
    expect(hourly.body.totals.events).toBe(3);
    const daily = await getJson<{ buckets: { bucket: string; event: string; count: number }[] }>(`/v1/stats?${range}&interval=day&includeBots=true`, ws.secretKey);
    expect(daily.body.buckets.map(({ bucket, event, count }) => ({ bucket, event, count }))).toEqual([
      { bucket: '2026-01-15T00:00:00.000Z', event: 'A', count: 3 },
      { bucket: '2026-01-15T00:00:00.000Z', event: 'B', count: 1 },
    ]);
  });
});
