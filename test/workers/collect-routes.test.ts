import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRedis } from '../../lib/redis';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { z } from 'zod';
import { collectedEventSchema, EVENT_TYPES, type CollectedEvent, type EventType } from '../../schema/event';
import { callCollect, messageBytes, messageEvent, RecordingQueue, trackEvent, type BatchAnswer, type ErrorAnswer } from './collect-support';
import { basic, bearer, call, createTestWorkspace, env, OPERATOR } from './support';

afterEach(() => {
  vi.restoreAllMocks();
});

const minimalEvents: Record<EventType, Record<string, unknown>> = {
  track: { event: 'Signed Up', userId: 'u1', properties: { plan: 'pro' } },
  identify: { userId: 'u1', traits: { email: 'a@example.com' } },
  page: { anonymousId: 'a1', name: 'Pricing', category: 'Docs', properties: { path: '/pricing' } },
  screen: { userId: 'u1', name: 'Home' },
  group: { userId: 'u1', groupId: 'g1', traits: { name: 'Acme' } },
  alias: { userId: 'u2', previousId: 'a1' },
};

describe('single-event routes', () => {
  it.each(EVENT_TYPES)('POST /v1/%s answers {success, messageId} and queues exactly that event', async (type) => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect(`/v1/${type}`, { headers: basic(ws.secretKey), json: minimalEvents[type] });
    const body = await response.json<{ success: boolean; messageId: string }>();
    expect(response.status).toBe(200);
    expect(body.success).toBe(true);
    const events = queue.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type, workspaceId: ws.workspaceId, messageId: body.messageId, source: 'server' });
    expect(body.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('maps the Segment fields onto the CollectedEvent columns', async () => {
    const ws = await createTestWorkspace();
    const page = await callCollect('/v1/page', { headers: basic(ws.secretKey), json: minimalEvents.page });
    expect(page.queue.events()[0]).toMatchObject({ event: 'Pricing', anonymousId: 'a1', userId: null, properties: { path: '/pricing', category: 'Docs' } });
    const group = await callCollect('/v1/group', { headers: basic(ws.secretKey), json: minimalEvents.group });
    expect(group.queue.events()[0]).toMatchObject({ groupId: 'g1', traits: { name: 'Acme' }, event: null });
    const alias = await callCollect('/v1/alias', { headers: basic(ws.secretKey), json: minimalEvents.alias });
    expect(alias.queue.events()[0]).toMatchObject({ previousId: 'a1', userId: 'u2' });
  });

  it('keeps a client messageId and numeric ids become strings', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent({ messageId: 'client-id-1', userId: 12345 }) });
    expect(await response.json()).toEqual({ success: true, messageId: 'client-id-1' });
    expect(queue.events()[0]).toMatchObject({ messageId: 'client-id-1', userId: '12345' });
  });

  it('refuses a body whose type contradicts the route (type_mismatch) and queues nothing', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: { type: 'identify', userId: 'u1' } });
    expect(response.status).toBe(400);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('type_mismatch');
    expect(queue.calls).toHaveLength(0);
  });
});

describe('per-event reason codes', () => {
  const cases: [string, unknown, string, string][] = [
    ['a non-object', 'hello', 'not_an_object', ''],
    ['an unknown type', { type: 'purchase', userId: 'u1' }, 'unknown_type', 'type'],
    ['a missing type', { userId: 'u1' }, 'unknown_type', 'type'],
    ['a track without event', { type: 'track', userId: 'u1' }, 'missing_field', 'event'],
    ['an alias without previousId', { type: 'alias', userId: 'u1' }, 'missing_field', 'previousId'],
    ['an event name over 200 characters', trackEvent({ event: 'x'.repeat(201) }), 'invalid_field', 'event'],
    ['properties that are not an object', trackEvent({ properties: [1, 2] }), 'invalid_field', 'properties'],
    ['a messageId over 100 characters', trackEvent({ messageId: 'm'.repeat(101) }), 'invalid_field', 'messageId'],
    ['a userId over 255 characters', trackEvent({ userId: 'u'.repeat(256) }), 'invalid_field', 'userId'],
    ['a timestamp that is not a date', trackEvent({ timestamp: 'yesterday-ish' }), 'invalid_field', 'timestamp'],
    ['no userId and no anonymousId', { type: 'track', event: 'x' }, 'missing_identity', 'userId'],
    ['nesting deeper than the limit', trackEvent({ properties: nested(20) }), 'too_deep', ''],
    ['an event over 32 KB', trackEvent({ properties: { blob: 'x'.repeat(33 * 1024) } }), 'event_too_large', ''],
  ];

  it.each(cases)('%s is refused by index with its reason, and its valid sibling is accepted', async (_name, bad, code, path) => {
    const ws = await createTestWorkspace();
    const good = trackEvent({ messageId: `good-${crypto.randomUUID()}` });
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [good, bad] } });
    const body = await response.json<BatchAnswer>();
    expect(response.status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toHaveLength(1);
    expect(body.rejected[0]).toMatchObject({ index: 1, code, path });
    expect(queue.events().map((event) => event.messageId)).toEqual([good.messageId]);
  });

  it('reports the client messageId of a refused event', async () => {
    const ws = await createTestWorkspace();
    const { response } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [trackEvent(), { type: 'track', messageId: 'bad-1', userId: 'u' }] } });
    expect((await response.json<BatchAnswer>()).rejected[0]).toMatchObject({ index: 1, messageId: 'bad-1', code: 'missing_field' });
  });

  it('single routes answer 413 for an oversized event and 400 for too deep nesting', async () => {
    const ws = await createTestWorkspace();
    const large = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent({ properties: { blob: 'x'.repeat(33 * 1024) } }) });
    expect(large.response.status).toBe(413);
    expect((await large.response.json<ErrorAnswer>()).error.code).toBe('event_too_large');
    const deep = await callCollect('/v1/identify', { headers: basic(ws.secretKey), json: { userId: 'u', traits: nested(20) } });
    expect(deep.response.status).toBe(400);
    expect((await deep.response.json<ErrorAnswer>()).error.code).toBe('too_deep');
    expect(large.queue.calls.length + deep.queue.calls.length).toBe(0);
  });

  it('counts the 32 KB per event in UTF-8 bytes, not characters', async () => {
    const ws = await createTestWorkspace();
    // 12,000 three-byte characters: 12k characters but 36k bytes.
    const { response } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [trackEvent(), trackEvent({ properties: { text: '€'.repeat(12_000) } })] } });
    expect((await response.json<BatchAnswer>()).rejected).toMatchObject([{ index: 1, code: 'event_too_large' }]);
  });
});

function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
}

describe('batch routes', () => {
  it('queues exactly the accepted events, in order, with batch context and integrations merged in', async () => {
    const ws = await createTestWorkspace();
    const batch = [
      trackEvent({ messageId: 'b-1', context: { locale: 'de-DE' } }),
      { type: 'identify', messageId: 'b-2' },
      { type: 'identify', userId: 'u9', messageId: 'b-3', traits: { plan: 'pro' }, integrations: { Amplitude: false } },
      42,
      { type: 'page', anonymousId: 'anon-1', messageId: 'b-5', name: 'Home' },
    ];
    const { response, queue } = await callCollect('/v1/batch', {
      headers: basic(ws.secretKey),
      json: { batch, context: { app: { name: 'shop' }, locale: 'en-US' }, integrations: { All: true } },
    });
    const body = await response.json<BatchAnswer>();
    expect(response.status).toBe(200);
    expect(body).toMatchObject({ success: true, accepted: 3 });
    expect(body.rejected.map(({ index, code, messageId }) => ({ index, code, messageId }))).toEqual([
      { index: 1, code: 'missing_identity', messageId: 'b-2' },
      { index: 3, code: 'not_an_object', messageId: null },
    ]);
    const events = queue.events();
    expect(events.map((event) => event.messageId)).toEqual(['b-1', 'b-3', 'b-5']);
    expect(events[0]?.context).toEqual({ app: { name: 'shop' }, locale: 'de-DE' });
    expect(events[1]?.integrations).toEqual({ All: true, Amplitude: false });
  });

  it('answers 400 with the batch shape plus error when no event was accepted', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [{ type: 'track' }, null] } });
    const body = await response.json<BatchAnswer>();
    expect(response.status).toBe(400);
    expect(body).toMatchObject({ success: false, accepted: 0, error: { code: 'no_events_accepted' } });
    expect(body.rejected.map((rejection) => rejection.index)).toEqual([0, 1]);
    expect(queue.calls).toHaveLength(0);
  });

  it('splits a large batch into sendBatch calls within 100 messages and 256 KB each', async () => {
    const ws = await createTestWorkspace();
    const padding = 'p'.repeat(4 * 1024);
    const batch = Array.from({ length: 250 }, (_, i) => trackEvent({ messageId: `big-${i}`, properties: { i, padding: i < 100 ? padding : '' } }));
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch } });
    expect((await response.json<BatchAnswer>()).accepted).toBe(250);
    for (const call of queue.calls) {
      expect(call.length).toBeLessThanOrEqual(100);
      expect(call.every((message) => message.contentType === 'text' && messageBytes(message) <= 128 * 1024)).toBe(true);
      expect(call.reduce((sum, message) => sum + messageBytes(message), 0)).toBeLessThan(256 * 1024);
    }
    expect(queue.calls.length).toBeGreaterThan(3);
    expect(queue.events().map((event) => event.messageId)).toEqual(batch.map((event) => event.messageId));
  });

  it('refuses bodies that are not a batch', async () => {
    const ws = await createTestWorkspace();
    for (const [json, code] of [[[trackEvent()], 'invalid_batch'], [{ batch: 'no' }, 'invalid_batch'], [{ batch: [] }, 'empty_batch'], [{ batch: [trackEvent()], context: 'x' }, 'invalid_batch']] as const) {
      const { response } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json });
      expect(response.status).toBe(400);
      expect((await response.json<ErrorAnswer>()).error.code).toBe(code);
    }
  });

  it('refuses more than 2,500 events with 413 too_many_events', async () => {
    const ws = await createTestWorkspace();
    const batch = Array.from({ length: 2501 }, () => ({ type: 'track', event: 'e', userId: 'u' }));
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch } });
    expect(response.status).toBe(413);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('too_many_events');
    expect(queue.calls).toHaveLength(0);
  });

  it('accepts exactly 2,500 small events', async () => {
    const ws = await createTestWorkspace();
    const batch = Array.from({ length: 2500 }, (_, i) => ({ type: 'track', event: 'e', userId: `u${i}` }));
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch } });
    expect((await response.json<BatchAnswer>()).accepted).toBe(2500);
    expect(queue.events()).toHaveLength(2500);
  });
});

describe('request-level limits and input errors', () => {
  it('answers 413 request_too_large for a body over 500 KB, declared or streamed', async () => {
    const ws = await createTestWorkspace();
    const big = JSON.stringify({ batch: Array.from({ length: 30 }, () => trackEvent({ properties: { blob: 'x'.repeat(20 * 1024) } })) });
    const declared = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body: big });
    expect(declared.response.status).toBe(413);
    expect((await declared.response.json<ErrorAnswer>()).error.code).toBe('request_too_large');
    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.byteLength; offset += 64 * 1024) controller.enqueue(bytes.slice(offset, offset + 64 * 1024));
        controller.close();
      },
    });
    const streamed = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body: stream });
    expect(streamed.response.status).toBe(413);
    expect((await streamed.response.json<ErrorAnswer>()).error.code).toBe('request_too_large');
    expect(declared.queue.calls.length + streamed.queue.calls.length).toBe(0);
  });

  it('survives hostile nesting: a 400 KB body of brackets, and a deep batch-level context', async () => {
    const ws = await createTestWorkspace();
    const brackets = `{"batch":[${'['.repeat(200_000)}${']'.repeat(200_000)}]}`;
    const deepBody = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body: brackets });
    expect(deepBody.response.status).toBe(400);
    expect((await deepBody.response.json<BatchAnswer>()).rejected).toMatchObject([{ index: 0, code: 'not_an_object' }]);
    const deepContext = JSON.stringify({ batch: [trackEvent()], context: nested(50_000) });
    const merged = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body: deepContext });
    expect(merged.response.status).toBe(400);
    expect((await merged.response.json<BatchAnswer>()).rejected).toMatchObject([{ index: 0, code: 'too_deep' }]);
  });

  it('gives clear 4xx answers for malformed JSON, empty bodies, wrong content type and wrong method', async () => {
    const ws = await createTestWorkspace();
    const auth = basic(ws.secretKey);
    const cases: [RequestInit, number, string][] = [
      [{ headers: { ...auth, 'content-type': 'application/json' }, body: '{"batch": [' }, 400, 'invalid_json'],
      [{ headers: { ...auth, 'content-type': 'application/json' }, body: '' }, 400, 'empty_body'],
      [{ headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }, 415, 'unsupported_media_type'],
      [{ headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' }, 400, 'invalid_json'],
      [{ method: 'GET', headers: auth }, 405, 'method_not_allowed'],
      [{ method: 'PUT', headers: auth, body: '{}' }, 405, 'method_not_allowed'],
    ];
    for (const path of ['/v1/batch', '/v1/track', '/v1/collect']) {
      for (const [init, status, code] of cases) {
        // The browser route takes write keys only; the others get the secret key.
        const headers = { ...(init.headers as Record<string, string>), ...(path === '/v1/collect' ? basic(ws.writeKey) : {}) };
        const { response } = await callCollect(path, { ...init, headers });
        expect(response.status, `${path} ${init.method ?? 'POST'} ${code}`).toBe(status);
        expect((await response.json<ErrorAnswer>()).error.code).toBe(code);
      }
    }
  });
});

describe('authentication', () => {
  it('takes the write key as Basic username or in the body, and the secret key as Basic or Bearer', async () => {
    const ws = await createTestWorkspace();
    const writeBasic = await callCollect('/v1/track', { headers: basic(ws.writeKey), json: trackEvent() });
    const writeBody = await callCollect('/v1/track', { json: trackEvent({ writeKey: ws.writeKey }) });
    const secretBasic = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent() });
    const secretBearer = await callCollect('/v1/batch', { headers: bearer(ws.secretKey), json: { batch: [trackEvent()] } });
    const answers = [writeBasic, writeBody, secretBasic, secretBearer].map(({ response, queue }) => [response.status, queue.events()[0]?.workspaceId]);
    expect(answers).toEqual([
      [200, ws.workspaceId],
      [200, ws.workspaceId],
      [200, ws.workspaceId],
      [200, ws.workspaceId],
    ]);
  });

  it('answers 401 for a missing, unknown or revoked key', async () => {
    const ws = await createTestWorkspace();
    const missing = await callCollect('/v1/track', { json: trackEvent() });
    const unknown = await callCollect('/v1/track', { headers: basic('wk_doesnotexist'), json: trackEvent() });
    const revoke = await call(`/admin/keys/${ws.keyIds.write}/revoke`, { method: 'POST', headers: OPERATOR });
    expect(revoke.status).toBeLessThan(300);
    const revoked = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ batch: [trackEvent()], writeKey: ws.writeKey }) });
    const codes = await Promise.all([missing, unknown, revoked].map(async ({ response }) => [response.status, (await response.json<ErrorAnswer>()).error.code]));
    expect(codes).toEqual([
      [401, 'missing_key'],
      [401, 'invalid_key'],
      [401, 'revoked_key'],
    ]);
    expect(missing.queue.calls.length + unknown.queue.calls.length + revoked.queue.calls.length).toBe(0);
  });

  it('refuses a secret key on the browser route', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/collect', { headers: basic(ws.secretKey), json: { batch: [trackEvent()] } });
    expect(response.status).toBe(403);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('wrong_key_kind');
    expect(queue.calls).toHaveLength(0);
  });
});

describe("Segment analytics.js (analytics-next) short paths", () => {
  it('accepts /v1/t|i|p|s|g|a per event and /v1/b batches, text/plain with writeKey in the body', async () => {
    const ws = await createTestWorkspace();
    const text = { 'content-type': 'text/plain', origin: 'https://shop.example.com' };
    const shortPaths: [string, Record<string, unknown>][] = [
      ['/v1/t', { type: 'track', ...minimalEvents.track }],
      ['/v1/i', { type: 'identify', ...minimalEvents.identify }],
      ['/v1/p', { type: 'page', ...minimalEvents.page }],
      ['/v1/s', { type: 'screen', ...minimalEvents.screen }],
      ['/v1/g', { type: 'group', ...minimalEvents.group }],
      ['/v1/a', { type: 'alias', ...minimalEvents.alias }],
    ];
    for (const [path, event] of shortPaths) {
      const { response, queue } = await callCollect(path, { headers: text, body: JSON.stringify({ ...event, writeKey: ws.writeKey, sentAt: new Date().toISOString() }) });
      expect(response.status, path).toBe(200);
      expect(queue.events()[0]).toMatchObject({ type: event.type, source: 'browser' });
    }
    const mismatch = await callCollect('/v1/t', { headers: text, body: JSON.stringify({ ...minimalEvents.identify, type: 'identify', writeKey: ws.writeKey }) });
    expect(mismatch.response.status).toBe(400);
    const batched = await callCollect('/v1/b', { headers: text, body: JSON.stringify({ writeKey: ws.writeKey, batch: [{ type: 'track', ...minimalEvents.track }], sentAt: new Date().toISOString() }) });
    expect(await batched.response.json()).toEqual({ success: true, accepted: 1, rejected: [] });
  });
});

async function restrictedWriteKey(workspaceId: string, origins: string[]): Promise<string> {
  const response = await call(`/admin/workspaces/${workspaceId}/keys`, { method: 'POST', headers: OPERATOR, json: { kind: 'write', allowedOrigins: origins } });
  expect(response.status).toBe(201);
  return (await response.json<{ secret: string }>()).secret;
}

describe('browser route and CORS', () => {
  it('accepts a text/plain Segment batch with writeKey in the body (fetch keepalive) and a typeless beacon', async () => {
    const ws = await createTestWorkspace();
    const origin = 'https://shop.example.com';
    const payload = JSON.stringify({ batch: [trackEvent({ messageId: 'kp-1' })], sentAt: new Date().toISOString(), writeKey: ws.writeKey });
    const keepalive = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain;charset=UTF-8', origin }, body: payload });
    expect(keepalive.response.status).toBe(200);
    expect(await keepalive.response.json()).toEqual({ success: true, accepted: 1, rejected: [] });
    expect(keepalive.response.headers.get('access-control-allow-origin')).toBe(origin);
    expect(keepalive.queue.events()[0]).toMatchObject({ messageId: 'kp-1', source: 'browser' });
    const beacon = await callCollect('/v1/collect', { body: new Blob([payload]) });
    expect(beacon.response.status).toBe(200);
    expect(beacon.response.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('answers CORS preflights for every collect route', async () => {
    for (const path of ['/v1/collect', '/v1/batch', '/v1/track']) {
      const { response } = await callCollect(path, { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://a.example');
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
      expect(response.headers.get('access-control-allow-headers')).toBe('content-type');
    }
  });

  it('a write key restricted to origins accepts them, refuses others with 403 origin_not_allowed, and allows no-Origin callers', async () => {
    const ws = await createTestWorkspace();
    const key = await restrictedWriteKey(ws.workspaceId, ['https://shop.example.com']);
    const body = (): string => JSON.stringify({ batch: [trackEvent()], writeKey: key });
    const allowed = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain', origin: 'https://shop.example.com' }, body: body() });
    expect(allowed.response.status).toBe(200);
    expect(allowed.response.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    const refused = await callCollect('/v1/collect', { headers: { 'content-type': 'text/plain', origin: 'https://evil.example' }, body: body() });
    expect(refused.response.status).toBe(403);
    expect((await refused.response.json<ErrorAnswer>()).error.code).toBe('origin_not_allowed');
    // Readable by the refused page, so the SDK can log why (the restriction is the 403, not CORS).
    expect(refused.response.headers.get('access-control-allow-origin')).toBe('https://evil.example');
    expect(refused.queue.calls).toHaveLength(0);
    const viaBasic = await callCollect('/v1/track', { headers: { ...basic(key), origin: 'null' }, json: trackEvent() });
    expect(viaBasic.response.status).toBe(403);
    const noOrigin = await callCollect('/v1/track', { headers: basic(key), json: trackEvent() });
    expect(noOrigin.response.status).toBe(200);
  });
});

/** XRANGE without the client's deserialisation (it is off in lib/redis): [[id, [field, value, ...]], ...]. */
const streamEntries = z.array(z.tuple([z.string(), z.array(z.string())]));

async function readStream(workspaceId: string): Promise<CollectedEvent[]> {
  const raw: unknown = await createRedis(env).xrange(eventStreamKey(workspaceId), '-', '+');
  return streamEntries.parse(raw).map(([, fields]) => {
    const valueIndex = fields.indexOf(STREAM_EVENT_FIELD) + 1;
    return collectedEventSchema.parse(JSON.parse(fields[valueIndex] ?? 'null'));
  });
}

describe('hand-off', () => {
  it('the real EVENTS binding receives exactly the accepted events (spied through the Worker entry)', async () => {
    const ws = await createTestWorkspace();
    const sendBatch = vi.spyOn(env.EVENTS, 'sendBatch');
    const response = await call('/v1/batch', { method: 'POST', headers: basic(ws.secretKey), json: { batch: [trackEvent({ messageId: 'real-1' }), { type: 'nope' }, trackEvent({ messageId: 'real-3' })] } });
    expect(response.status).toBe(200);
    const sent = sendBatch.mock.calls.flatMap(([messages]) => [...messages].map(messageEvent));
    expect(sent.map((event) => event.messageId)).toEqual(['real-1', 'real-3']);
  });

  it('mirrors the accepted events to the workspace Redis Stream (read back through the Upstash stand-in)', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [trackEvent({ messageId: 's-1' }), { bad: true }, trackEvent({ messageId: 's-2' })] } });
    expect(response.status).toBe(200);
    const mirrored = await readStream(ws.workspaceId);
    expect(mirrored).toEqual(queue.events());
    expect(mirrored.map((event) => event.messageId)).toEqual(['s-1', 's-2']);
  });

  it('answers 503 with Retry-After when the queue send fails, and mirrors nothing', async () => {
    const ws = await createTestWorkspace();
    const queue = new RecordingQueue();
    queue.failWith = new Error('Queue send failed: internal error');
    const { response } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [trackEvent()] } }, { queue });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('queue_unavailable');
    const single = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent() }, { queue });
    expect(single.response.status).toBe(503);
    expect(await createRedis(env).xlen(eventStreamKey(ws.workspaceId))).toBe(0);
  });

  it('a Redis outage does not change the answer', async () => {
    const ws = await createTestWorkspace();
    const { response, queue } = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent() }, { envOverrides: { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1' } });
    expect(response.status).toBe(200);
    expect(queue.events()).toHaveLength(1);
  });

  it('a mirror refused by Upstash (bad token) is logged, and the answer is unchanged', async () => {
    const ws = await createTestWorkspace();
    const errors = vi.spyOn(console, 'error');
    const { response, queue } = await callCollect('/v1/track', { headers: basic(ws.secretKey), json: trackEvent() }, { envOverrides: { UPSTASH_REDIS_REST_TOKEN: 'not-the-token' } });
    expect(response.status).toBe(200);
    expect(queue.events()).toHaveLength(1);
    expect(errors.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"step":"stream_mirror"'))).toEqual([expect.stringContaining('Unauthorized')]);
    // The log names the failure, not the events (no event JSON, no property values).
    expect(errors.mock.calls.map(([line]) => String(line)).join('\n')).not.toContain('Order Completed');
    expect(await createRedis(env).xlen(eventStreamKey(ws.workspaceId))).toBe(0);
  });
});
