/**
 * Person deletion through the real stack (wrangler dev: edge, queues, consumers, D1, Durable
 * Objects; the real ClickHouse and Redis). The Worker reaches ClickHouse through a TCP proxy the
 * test cuts once, to put a real event of the person into the dead-letter store.
 * A person (anonymous, then identified, aliased, with traits, in a segment) is deleted with
 * DELETE /v1/persons?userId=; the job reaches `done`, and then: no raw ClickHouse row of any of
 * their identities, GET /v1/persons says 404, the segment's members exclude them, the stream
 * mirror and the live-feed ring hold nothing of them; new events for them are dropped (default)
 * or refused (setting); a dead-letter re-drive (of a letter held at deletion time) and a
 * stream-mirror replay (of an entry written after the job's scan, which the consumer's own
 * suppression check drops) do not bring them back.
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { freePort } from '../../dev/process';
import { uint64 } from '../../lib/event-queries';
import { personRowCountsSql, targetOf } from '../../lib/privacy-sql';
import { sql } from '../../lib/sql';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { testStackEnv } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { CuttableProxy, eventually, postBatch, selectRows } from './pipeline-support';

vi.setConfig({ testTimeout: 240_000 });

const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const USER = `del-user-${run}`;
const OLD_USER = `del-old-${run}`;
const ANON = `del-anon-${run}`;
const KEEPER = `keep-user-${run}`;

let worker: TestWorker;
let proxy: CuttableProxy;
let redis: Redis;
let ws: { workspaceId: string; writeKey: string; secretKey: string };
let segmentId = '';

const jsonHeaders = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
const operator = () => jsonHeaders(worker.operatorToken);

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${worker.url}${path}`, { ...init, headers: { ...jsonHeaders(ws.secretKey), ...(init.headers ?? {}) } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

/** Raw rows (no FINAL) of messageIds / of the person, in the Worker's ClickHouse. */
async function storedMessages(messageIds: string[]): Promise<number> {
  const [row] = await selectRows(sql`SELECT count() AS rows FROM events WHERE workspace_id = ${ws.workspaceId} AND has(${messageIds}, message_id)`, z.object({ rows: uint64 }));
  return row?.rows ?? 0;
}

async function personRows(identityKeys: string[]): Promise<Record<string, number>> {
  const rows = await selectRows(personRowCountsSql(targetOf(ws.workspaceId, identityKeys)), z.object({ table_name: z.string(), rows: uint64 }));
  return Object.fromEntries(rows.map((row) => [row.table_name, row.rows]));
}

// An alias links its previousId both as a user id and as an anonymous id (consumers/events/steps/resolve-identity.ts).
const PERSON_KEYS = [`user:${USER}`, `user:${OLD_USER}`, `anonymous:${OLD_USER}`, `anonymous:${ANON}`];
const mentionsPerson = (text: string): boolean => [USER, OLD_USER, ANON].some((id) => text.includes(id));

async function mirrorEntries(): Promise<{ id: string; json: string }[]> {
  const entries = await redis.xrange(eventStreamKey(ws.workspaceId), '-', '+');
  return entries.map(([id, fields]) => ({ id, json: fields[fields.indexOf(STREAM_EVENT_FIELD) + 1] ?? '' }));
}

async function members(): Promise<string[]> {
  const { body } = await api(`/v1/segments/${segmentId}/members?limit=1000`);
  return z.object({ members: z.array(z.object({ personId: z.string() })) }).parse(body).members.map((member) => member.personId);
}

/** The live feed's back-fill (the ring) for the whole workspace. */
async function liveBackfill(): Promise<string> {
  const { body } = await api('/v1/live/ticket', { method: 'POST' });
  const { ticket } = z.object({ ticket: z.string() }).parse(body);
  const socket = new WebSocket(`${worker.url.replace(/^http/, 'ws')}/v1/live?ticket=${encodeURIComponent(ticket)}&backfill=500`);
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.on('message', (data) => {
        const frame = z.object({ type: z.string(), items: z.array(z.unknown()).optional() }).parse(JSON.parse(String(data)));
        if (frame.type === 'backfill') resolve(JSON.stringify(frame.items ?? []));
      });
      socket.once('error', reject);
    });
  } finally {
    socket.close();
  }
}

const deadLetterList = z.object({ deadLetters: z.array(z.object({ messageId: z.string().nullable(), reason: z.string(), body: z.unknown() })) });

async function deadLetters(): Promise<z.output<typeof deadLetterList>['deadLetters']> {
  const response = await fetch(`${worker.url}/admin/dead-letters?workspace=${ws.workspaceId}&pending=true&limit=1000`, { headers: operator() });
  return deadLetterList.parse(await response.json()).deadLetters;
}

const deletionSchema = z.object({
  deletion: z.object({ id: z.string(), status: z.string(), step: z.string(), identities: z.array(z.string()), counts: z.record(z.string(), z.number()).nullable(), error: z.string().nullable() }),
});

function track(userId: string | null, anonymousId: string | null, messageId: string, event = 'Order Completed'): Record<string, unknown> {
  return { type: 'track', event, messageId, properties: { total: 80 }, ...(userId ? { userId } : {}), ...(anonymousId ? { anonymousId } : {}) };
}

beforeAll(async () => {
  redis = new Redis(process.env.MONFRI_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
  const target = Number(new URL(testStackEnv().CLICKHOUSE_URL).port || 8123);
  proxy = new CuttableProxy(target, await freePort());
  await proxy.open();
  // Retries at once, so events reach the dead-letter store within seconds while ClickHouse is cut.
  worker = await startTestWorker({ CLICKHOUSE_URL: proxy.url, RETRY_BASE_SECONDS: '0' });
  ws = await worker.createWorkspace('persons deletion');
  const created = await api('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'buyers', condition: { type: 'performed', event: 'Order Completed', count: { op: 'at_least', value: 1 }, withinDays: 30 } }) });
  expect(created.status).toBe(201);
  segmentId = z.object({ segment: z.object({ id: z.string() }) }).parse(created.body).segment.id;
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await proxy?.cut();
  redis?.disconnect();
});

describe('DELETE /v1/persons', () => {
  it('deletes a person everywhere, suppresses them, and neither a re-drive nor a replay brings them back', async () => {
    // 1. The person: anonymous page, identify with traits, an alias from an older user id, orders; another person beside them.
    const personEvents = [
      { type: 'page', name: 'Home', anonymousId: ANON, messageId: `${run}-page` },
      { type: 'identify', userId: USER, anonymousId: ANON, traits: { email: `${run}@example.com`, plan: 'pro' }, messageId: `${run}-identify` },
      { type: 'alias', userId: USER, previousId: OLD_USER, messageId: `${run}-alias` },
      track(USER, null, `${run}-order-1`),
      track(OLD_USER, null, `${run}-order-old`),
    ];
    const keeperEvents = [{ type: 'identify', userId: KEEPER, traits: { plan: 'free' }, messageId: `${run}-keep-identify` }, track(KEEPER, null, `${run}-keep-order`)];
    expect((await postBatch(worker.url, ws.writeKey, [...personEvents, ...keeperEvents])).status).toBe(200);
    const allIds = [...personEvents, ...keeperEvents].map((event) => String(event.messageId));
    expect(await eventually(() => storedMessages(allIds), (rows) => rows >= allIds.length, 60_000, 300)).toBe(allIds.length);
    await eventually(members, (list) => list.includes(`user:${USER}`) && list.includes(`user:${KEEPER}`), 60_000, 500);
    expect((await api(`/v1/persons/${USER}`)).status).toBe(200);
    expect(mentionsPerson(JSON.stringify(await mirrorEntries()))).toBe(true);
    expect(mentionsPerson(await eventually(liveBackfill, mentionsPerson, 20_000, 500))).toBe(true);

    // 2. One more order of the person and one of the keeper while ClickHouse is unreachable: both end in the dead-letter store.
    await proxy.cut();
    expect((await postBatch(worker.url, ws.writeKey, [track(USER, null, `${run}-dlq-person`), track(KEEPER, null, `${run}-dlq-keeper`)])).status).toBe(200);
    const letters = await eventually(deadLetters, (list) => list.length >= 2, 90_000, 1000);
    expect(letters.map((letter) => letter.messageId).sort()).toEqual([`${run}-dlq-keeper`, `${run}-dlq-person`]);
    const personLetter = letters.find((letter) => letter.messageId === `${run}-dlq-person`)?.body;
    await proxy.open();

    // 3. Delete by userId: 202 with the job; a second request answers with the same job.
    const asked = await api(`/v1/persons?userId=${encodeURIComponent(USER)}`, { method: 'DELETE' });
    expect(asked.status).toBe(202);
    const job = deletionSchema.parse(asked.body).deletion;
    expect(job.status).toBe('queued');
    const again = await api(`/v1/persons/${encodeURIComponent(USER)}`, { method: 'DELETE' });
    expect(deletionSchema.parse(again.body).deletion.id).toBe(job.id);
    const done = await eventually(
      async () => deletionSchema.parse((await api(`/v1/deletions/${job.id}`)).body).deletion,
      (deletion) => deletion.status === 'done' || deletion.status === 'failed',
      180_000,
      1000,
    );
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'done', step: 'done', error: null });
    expect(new Set(done.identities)).toEqual(new Set(PERSON_KEYS));
    // Five events sent, plus Monfri's own `Segment Entered` for the person.
    expect(done.counts?.events).toBeGreaterThanOrEqual(6);
    expect(done.counts?.identities).toBeGreaterThanOrEqual(3);
    expect(done.counts).toMatchObject({ person_traits: 2, deadLetters: 1 });
    expect(done.counts?.streamEntries).toBeGreaterThanOrEqual(6);
    expect(done.counts?.segmentStates).toBeGreaterThanOrEqual(1);

    // 4. Gone everywhere; the keeper untouched.
    expect(Object.values(await personRows(PERSON_KEYS))).toEqual([0, 0, 0, 0, 0]);
    expect(await storedMessages([`${run}-keep-identify`, `${run}-keep-order`])).toBe(2);
    for (const id of [USER, `anonymous:${ANON}`, `user:${OLD_USER}`]) expect((await api(`/v1/persons/${encodeURIComponent(id)}`)).status, id).toBe(404);
    expect((await api(`/v1/persons/${KEEPER}`)).status).toBe(200);
    const segmentMembers = await members();
    expect(segmentMembers).toContain(`user:${KEEPER}`);
    expect(segmentMembers.filter((person) => PERSON_KEYS.includes(person))).toEqual([]);
    const mirror = await mirrorEntries();
    expect(mirror.filter((entry) => mentionsPerson(entry.json))).toEqual([]);
    expect(mirror.some((entry) => entry.json.includes(KEEPER))).toBe(true);
    const ring = await liveBackfill();
    expect(mentionsPerson(ring)).toBe(false);
    expect(ring).toContain(KEEPER);
    // The person's dead letter went with them; the keeper's is still there.
    expect((await deadLetters()).map((letter) => letter.messageId)).toEqual([`${run}-dlq-keeper`]);

    // 5. A dead-letter re-drive: the keeper's event is stored, nothing of the person comes back.
    expect((await fetch(`${worker.url}/admin/dead-letters/replay`, { method: 'POST', headers: operator(), body: JSON.stringify({ workspaceId: ws.workspaceId }) })).status).toBe(200);
    await eventually(() => storedMessages([`${run}-dlq-keeper`]), (rows) => rows === 1, 60_000, 300);
    expect(await storedMessages([`${run}-dlq-person`])).toBe(0);
    expect(Object.values(await personRows(PERSON_KEYS))).toEqual([0, 0, 0, 0, 0]);

    // 6. A stream-mirror replay over an entry of the person that was written after the job's scan (an edge still mirroring).
    const from = new Date(Date.now() - 600_000).toISOString();
    const lateEntry = { ...z.record(z.string(), z.unknown()).parse(personLetter), messageId: `${run}-mirror-person` };
    await redis.xadd(eventStreamKey(ws.workspaceId), '*', STREAM_EVENT_FIELD, JSON.stringify(lateEntry));
    await redis.xadd(eventStreamKey(ws.workspaceId), '*', STREAM_EVENT_FIELD, JSON.stringify({ ...lateEntry, messageId: `${run}-mirror-keeper`, userId: KEEPER }));
    const replay = await fetch(`${worker.url}/admin/replay`, { method: 'POST', headers: operator(), body: JSON.stringify({ workspaceId: ws.workspaceId, from, to: new Date(Date.now() + 60_000).toISOString() }) });
    expect(replay.status).toBe(200);
    await eventually(() => storedMessages([`${run}-mirror-keeper`]), (rows) => rows === 1, 60_000, 300);
    expect(await storedMessages([`${run}-mirror-person`])).toBe(0);
    expect(Object.values(await personRows(PERSON_KEYS))).toEqual([0, 0, 0, 0, 0]);

    // 7. New events at the edge. Default: dropped, answered as accepted, stored and mirrored nowhere.
    const dropped = await postBatch(worker.url, ws.writeKey, [track(USER, null, `${run}-new-person`), track(null, ANON, `${run}-new-anon`), track(KEEPER, null, `${run}-new-keeper`)]);
    expect(dropped).toMatchObject({ status: 200, body: { accepted: 3, rejected: [] } });
    await eventually(() => storedMessages([`${run}-new-keeper`]), (rows) => rows === 1, 60_000, 300);
    expect(await storedMessages([`${run}-new-person`, `${run}-new-anon`])).toBe(0);
    expect((await mirrorEntries()).filter((entry) => entry.json.includes(`${run}-new-person`) || entry.json.includes(`${run}-new-anon`))).toEqual([]);
    // With `privacy.suppressedEvents: refuse`: refused with the reason, the siblings accepted.
    const setting = await fetch(`${worker.url}/admin/workspaces/${ws.workspaceId}/settings`, { method: 'PATCH', headers: operator(), body: JSON.stringify({ privacy: { suppressedEvents: 'refuse' } }) });
    expect(setting.status).toBe(200);
    const refused = await postBatch(worker.url, ws.writeKey, [track(USER, null, `${run}-refused`), track(KEEPER, null, `${run}-accepted`)]);
    expect(refused).toMatchObject({ status: 200, body: { accepted: 1, rejected: [{ index: 0, code: 'suppressed_identity', messageId: `${run}-refused` }] } });
    const single = await fetch(`${worker.url}/v1/track`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${ws.writeKey}:`).toString('base64')}`, 'content-type': 'application/json' }, body: JSON.stringify(track(null, ANON, `${run}-refused-single`)) });
    expect(single.status).toBe(403);
    expect(await single.json()).toMatchObject({ error: { code: 'suppressed_identity' } });
  });

  it('answers 400 for a request without exactly one subject, 404 for a job of another workspace', async () => {
    expect((await api('/v1/persons', { method: 'DELETE' })).status).toBe(400);
    expect((await api('/v1/persons?userId=a&anonymousId=b', { method: 'DELETE' })).status).toBe(400);
    expect((await api(`/v1/persons?userId=${'x'.repeat(256)}`, { method: 'DELETE' })).status).toBe(400);
    const other = await worker.createWorkspace('persons deletion other');
    const asked = await api('/v1/persons?anonymousId=nobody-here', { method: 'DELETE' });
    expect(asked.status).toBe(202);
    const { id } = deletionSchema.parse(asked.body).deletion;
    const foreign = await fetch(`${worker.url}/v1/deletions/${id}`, { headers: jsonHeaders(other.secretKey) });
    expect(foreign.status).toBe(404);
    // A person with nothing stored is still suppressed and the job completes with zero counts.
    const done = await eventually(async () => deletionSchema.parse((await api(`/v1/deletions/${id}`)).body).deletion, (deletion) => deletion.status === 'done' || deletion.status === 'failed', 120_000, 1000);
    expect(done).toMatchObject({ status: 'done', counts: { events: 0, identities: 0 } });
  });
});
