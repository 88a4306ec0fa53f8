/**
 * Nasty but legal input through the whole stack (wrangler dev: edge, real local Queue and
 * consumer, ClickHouse, query API). Every case is either stored with its data intact or refused
 * with a reason, and in every case the valid siblings of the same request are queryable within
 * 5 s (the acceptance bound, used as the wait's deadline). Then a poison row ClickHouse refuses
 * (a lone surrogate in an old entry of the Redis Stream mirror, replayed into one consumer batch
 * with fresh events): the fresh events are stored, the poison one dead-lettered with the reason.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, storedCounts } from './pipeline-support';

const ACCEPTANCE_MS = 5_000;

let worker: TestWorker;
let redis: Redis;
beforeAll(async () => {
  worker = await startTestWorker();
  redis = new Redis(process.env.MONFRI_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await worker?.stop();
  redis?.disconnect();
});

const listedSchema = z.object({ events: z.array(z.object({ messageId: z.string(), event: z.string().nullable(), userId: z.string().nullable(), properties: z.record(z.string(), z.unknown()), traits: z.record(z.string(), z.unknown()) }).loose()) });

async function listed(secretKey: string): Promise<z.output<typeof listedSchema>['events']> {
  const response = await fetch(`${worker.url}/v1/events?limit=1000&includeBots=true`, { headers: { authorization: `Bearer ${secretKey}` } });
  expect(response.status).toBe(200);
  return listedSchema.parse(await response.json()).events;
}

/** The raw JSON of each listed event, so own `__proto__` keys are seen as the API sent them. */
async function listedRaw(secretKey: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${worker.url}/v1/events?limit=1000&includeBots=true`, { headers: { authorization: `Bearer ${secretKey}` } });
  const body = JSON.parse(await response.text()) as { events: Record<string, unknown>[] };
  return body.events;
}

function post(key: string, body: string | Blob): Promise<Response> {
  return fetch(`${worker.url}/v1/batch`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`, 'content-type': 'application/json' }, body });
}

describe('hostile bytes, end to end', () => {
  it('stores each hostile-but-valid event intact, refuses the rest with reasons, and every valid sibling is queryable within 5 s', async () => {
    const ws = await worker.createWorkspace('hostile bytes');
    const stored: { messageId: string; event: string; userId: string; properties: unknown }[] = [
      { messageId: 'h-sql', event: "'; DROP TABLE events; --", userId: "o'brien\\", properties: { q: "1' OR '1'='1", backslashes: '\\\\\\', comment: '/* */ -- #' } },
      { messageId: 'h-unicode', event: 'Bestellung abgeschlossen 🛒', userId: 'ユーザー', properties: { rtl: '\u202Eevil.exe\u202C', arabic: 'مرحبا', zwj: '👩‍👩‍👧‍👦', combining: 'e\u0301', astral: '𝕳𝖊𝖑𝖑𝖔', '🔑': 'emoji key' } },
      { messageId: 'h-nul', event: 'Nul\u0000Event', userId: 'nul\u0000user', properties: { 'k\u0000ey': 'v\u0000al', controls: '\u0001\u0007\u001b[31m\u007f', lineSeparators: '\u2028\u2029' } },
      { messageId: 'h-lone', event: 'Lone \ud800 High', userId: 'lone\udfff', properties: { value: 'x\ud83dy', 'key\udc00': 1, pair: '\ud83d\ude00' } },
    ];
    const protoProperties = '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"polluted":1}},"toString":"not a function","hasOwnProperty":0}';
    const protoEvent = `{"type":"track","messageId":"h-proto","event":"Proto Keys","userId":"u-proto","properties":${protoProperties}}`;
    const refused = [
      '{"type":"track","messageId":"r-range","event":"Too Big","userId":"u","properties":{"n":1e400}}',
      `{"type":"track","messageId":"r-deep","event":"Deep","userId":"u","properties":${'{"a":'.repeat(20)}1${'}'.repeat(20)}}`,
      `{"type":"track","messageId":"r-large","event":"Large","userId":"u","properties":{"blob":"${'x'.repeat(40_000)}"}}`,
      '{"type":"track","messageId":"r-noid","event":"No Identity"}',
      '"not an object"',
    ];
    const body = `{"batch":[${[...stored.map((event) => JSON.stringify({ type: 'track', ...event })), protoEvent, ...refused].join(',')}]}`;
    const response = await post(ws.writeKey, body);
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { accepted: number; rejected: { index: number; code: string; path: string }[] };
    expect(answer.accepted).toBe(stored.length + 1);
    expect(answer.rejected.map((rejection) => [rejection.index, rejection.code])).toEqual([
      [5, 'invalid_field'],
      [6, 'too_deep'],
      [7, 'event_too_large'],
      [8, 'missing_identity'],
      [9, 'not_an_object'],
    ]);
    expect(answer.rejected[0]?.path).toBe('properties.n');

    const events = await eventually(() => listed(ws.secretKey), (found) => found.length >= stored.length + 1, ACCEPTANCE_MS);
    const byId = new Map(events.map((event) => [event.messageId, event]));
    for (const sent of stored) {
      // Lone surrogates are made well-formed (U+FFFD); everything else is exactly as sent.
      const expected = JSON.parse(JSON.stringify(sent), (_key, value: unknown) => (typeof value === 'string' ? value.toWellFormed() : value)) as typeof sent;
      const fixedKeys = Object.fromEntries(Object.entries(expected.properties as Record<string, unknown>).map(([key, value]) => [key.toWellFormed(), value]));
      expect(byId.get(sent.messageId), sent.messageId).toMatchObject({ event: expected.event, userId: expected.userId, properties: fixedKeys });
    }
    const proto = (await listedRaw(ws.secretKey)).find((event) => event.messageId === 'h-proto');
    const protoStored = proto?.properties as Record<string, unknown>;
    expect(Object.keys(protoStored)).toEqual(['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    expect(Object.getOwnPropertyDescriptor(protoStored, '__proto__')?.value).toEqual({ isAdmin: true });
    expect(Object.getPrototypeOf(protoStored)).toBe(Object.prototype);
    expect((await storedCounts(ws.workspaceId)).events).toBe(stored.length + 1);
  });

  it('invalid UTF-8 bytes become U+FFFD and the event is stored with its sibling', async () => {
    const ws = await worker.createWorkspace('invalid utf-8');
    const text = JSON.stringify({ batch: [{ type: 'track', messageId: 'u-bad', event: 'Bytes', userId: 'u', properties: { s: 'AB' } }, { type: 'track', messageId: 'u-ok', event: 'Fine', userId: 'u' }] });
    const bytes = new TextEncoder().encode(text);
    const at = bytes.indexOf('A'.charCodeAt(0), text.indexOf('"s"'));
    bytes.set([0xc3, 0x28], at); // an invalid two-byte sequence where "AB" was
    expect((await post(ws.writeKey, new Blob([bytes]))).status).toBe(200);
    const events = await eventually(() => listed(ws.secretKey), (found) => found.length === 2, ACCEPTANCE_MS);
    expect(events.find((event) => event.messageId === 'u-bad')?.properties).toEqual({ s: '\ufffd(' });
  });

  it('a poison row in one consumer batch (replayed from an old stream entry) is dead-lettered; its fresh siblings are stored within 5 s', async () => {
    const ws = await worker.createWorkspace('poison replay');
    const from = Date.now() - 1000;
    const template = (messageId: string, event: string) => ({
      v: 1, workspaceId: ws.workspaceId, messageId, type: 'track', event, userId: 'u1', anonymousId: null, groupId: null, previousId: null,
      properties: { index: messageId }, traits: {}, context: {}, integrations: {}, timestamp: new Date().toISOString(), originalTimestamp: null, sentAt: null,
      receivedAt: new Date().toISOString(), timestampAdjustment: null, source: 'server', ip: null, userAgent: null, geo: null, library: { name: 'old-edge', version: '0' }, sessionId: null, bot: { flagged: false, reason: null },
    });
    const key = eventStreamKey(ws.workspaceId);
    const entries = [template('fresh-1', 'Fresh'), template('poison', 'Poison \ud800'), template('fresh-2', 'Fresh'), template('fresh-3', 'Fresh')];
    for (const entry of entries) await redis.xadd(key, '*', STREAM_EVENT_FIELD, JSON.stringify(entry));
    const replay = await fetch(`${worker.url}/admin/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ workspaceId: ws.workspaceId, from: new Date(from).toISOString(), to: new Date(Date.now() + 1000).toISOString() }),
    });
    expect(await replay.json()).toMatchObject({ replayed: 4 });
    const counts = await eventually(() => storedCounts(ws.workspaceId), (found) => found.events === 3, ACCEPTANCE_MS);
    expect(counts).toEqual({ events: 3, rows: 3 });
    const letters = await eventually(
      async () => ((await (await fetch(`${worker.url}/admin/dead-letters?workspace=${ws.workspaceId}`, { headers: { authorization: `Bearer ${worker.operatorToken}` } })).json()) as { deadLetters: { messageId: string; reason: string }[] }).deadLetters,
      (found) => found.length === 1,
      ACCEPTANCE_MS,
    );
    expect(letters).toMatchObject([{ messageId: 'poison', reason: expect.stringMatching(/^clickhouse_refused: .*surrogate/) }]);
  });
});
