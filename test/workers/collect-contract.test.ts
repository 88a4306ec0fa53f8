/**
 * The queue contract between the edge and the events consumer. The edge no longer re-runs
 * `collectedEventSchema` on every event it builds (ingest.ts `contractViolation`), so these
 * tests carry that guarantee instead: the builder's output passes the consumer's full schema
 * for any event the edge validates and any request facts, and the JSON text messages the
 * edge sends are read, stored, dead-lettered and replayed by the real consumer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyKind, ResolvedKey } from '../../schema/control-plane';
import { collectedEventSchema, LIMITS, type CollectedEvent } from '../../schema/event';
import { DEFAULT_WORKSPACE_SETTINGS } from '../../schema/workspace-settings';
import type { Sender } from '../../workers/collect/authenticate';
import type { RequestFacts } from '../../workers/collect/enrich';
import { serializeEvent } from '../../workers/collect/handoff';
import { contractViolation, createEventBuilder } from '../../workers/collect/ingest';
import { createTimeCorrector } from '../../workers/collect/normalize';
import type { RequestTraffic } from '../../workers/collect/traffic';
import { validateEvent, type BatchDefaults } from '../../workers/collect/validate';
import { callCollect, trackEvent } from './collect-support';
import { deliver, env, storedCounts } from './pipeline-support';
import { basic, call, createTestWorkspace, eventually, OPERATOR } from './support';

const MIN_DATE = -8.64e15;
const MAX_DATE = 8.64e15;

const id = fc.oneof(fc.string({ minLength: 1, maxLength: 255 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
const anyJson = fc.jsonValue({ maxDepth: 3 });
/** Date strings Date.parse accepts, from the first to the last representable millisecond. */
const dateText = fc.oneof(
  fc.date({ min: new Date(MIN_DATE), max: new Date(MAX_DATE), noInvalidDate: true }).map((date) => date.toISOString()),
  fc.date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((date) => date.toUTCString()),
  fc.constantFrom('2024-02-30T00:00:00Z', '2020-01-01', '2030-06-01T24:00:00.000+14:00'),
);
/** Context fields enrichment reads, with any JSON in them. */
const context = fc.record(
  {
    ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string(), anyJson),
    userAgent: fc.oneof(fc.string({ maxLength: 2000 }), anyJson),
    library: fc.oneof(fc.record({ name: fc.oneof(fc.string(), anyJson), version: fc.oneof(fc.string(), anyJson) }), anyJson),
    sessionId: fc.oneof(fc.string({ maxLength: 400 }), fc.double(), fc.integer(), anyJson),
    automation: fc.oneof(fc.array(fc.oneof(fc.string(), anyJson), { maxLength: 12 }), anyJson),
    extra: anyJson,
  },
  { requiredKeys: [] },
);
const times = fc.record({ timestamp: dateText, originalTimestamp: dateText, sentAt: dateText }, { requiredKeys: [] });
const identity = fc.oneof(fc.record({ userId: id }), fc.record({ anonymousId: id }), fc.record({ userId: id, anonymousId: id }));
const typed = fc.oneof(
  fc.record({ type: fc.constant('track'), event: fc.string({ minLength: 1, maxLength: 200 }), properties: fc.dictionary(fc.string(), anyJson) }, { requiredKeys: ['type', 'event'] }),
  fc.record({ type: fc.constant('identify'), traits: fc.dictionary(fc.string(), anyJson) }, { requiredKeys: ['type'] }),
  fc.record(
    { type: fc.constantFrom('page', 'screen'), name: fc.option(fc.string({ maxLength: 200 })), category: fc.option(fc.string({ maxLength: 200 })), properties: fc.dictionary(fc.string(), anyJson) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.constant('group'), groupId: id, traits: fc.dictionary(fc.string(), anyJson) }, { requiredKeys: ['type', 'groupId'] }),
  fc.record({ type: fc.constant('alias'), previousId: id, userId: id }),
);
const incoming = fc
  .tuple(typed, identity, times, fc.option(context, { nil: undefined }), fc.option(fc.string({ minLength: 1, maxLength: 100 }), { nil: undefined }), fc.option(fc.dictionary(fc.string(), anyJson), { nil: undefined }))
  .map(([fields, who, when, ctx, messageId, integrations]) => ({ ...when, ...who, ...fields, ...(ctx ? { context: ctx } : {}), ...(messageId ? { messageId } : {}), ...(integrations ? { integrations } : {}) }));
const defaults = fc.record({ sentAt: dateText, context: fc.dictionary(fc.string(), anyJson), integrations: fc.dictionary(fc.string(), anyJson) }, { requiredKeys: [] });
const facts = fc.record({
  connectingIp: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string())),
  userAgent: fc.option(fc.oneof(fc.string({ maxLength: 2000 }), fc.constantFrom('Googlebot/2.1 (+http://www.google.com/bot.html)', 'Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0'))),
  cf: fc.oneof(fc.constant(null), anyJson, fc.record({ country: anyJson, region: anyJson, city: anyJson }, { requiredKeys: [] })),
});
const sender = fc.record({ kind: fc.constantFrom<KeyKind>('write', 'secret'), anonymizeIp: fc.boolean(), workspaceId: fc.string({ minLength: 1, maxLength: 40 }) }).map(
  ({ kind, anonymizeIp, workspaceId }): Sender => {
    const key: ResolvedKey = {
      keyId: 'key',
      kind,
      allowedOrigins: [],
      workspace: { id: workspaceId, name: 'w', plan: 'growth', anonymizeIp, createdAt: '2026-01-01T00:00:00.000Z', trialEndsAt: null, settings: DEFAULT_WORKSPACE_SETTINGS },
    };
    return { key };
  },
);
const traffic = fc.constantFrom<RequestTraffic>('browser', 'server', 'by_library');
const receivedAt = fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2100-01-01') });

/** What the edge has after JSON.parse: JSON by construction (fast-check's -0 and the like normalised). */
function parsedJson<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value));
}

describe('the event builder keeps the queue contract', () => {
  it('every event the edge validates builds into a CollectedEvent the consumer schema accepts, as sent', () => {
    let built = 0;
    fc.assert(
      fc.property(fc.array(incoming, { minLength: 1, maxLength: 8 }), defaults, facts, sender, traffic, receivedAt, (events, batch, request, who, kind, at) => {
        const batchDefaults = parsedJson(batch) as BatchDefaults;
        const build = createEventBuilder(who, kind, request as RequestFacts, at);
        for (const raw of events) {
          const validated = validateEvent(parsedJson(raw), batchDefaults, null);
          if (!validated.ok) continue;
          const event = build(validated.event);
          expect(contractViolation(event)).toBeNull();
          const item = serializeEvent(event);
          expect(collectedEventSchema.safeParse(event).success).toBe(true);
          const onTheQueue = collectedEventSchema.safeParse(JSON.parse(item.json));
          expect(onTheQueue.success ? [] : onTheQueue.error.issues).toEqual([]);
          expect(item.bytes).toBe(new TextEncoder().encode(item.json).byteLength);
          built++;
        }
      }),
      { numRuns: 400 },
    );
    // Not vacuous: most generated events are valid ones.
    expect(built).toBeGreaterThan(400);
  });

  it('validation with a batch-level sentAt gives the same verdict as merging it into each event', () => {
    fc.assert(
      fc.property(fc.oneof(incoming, fc.dictionary(fc.string(), anyJson)), fc.oneof(dateText, fc.string({ maxLength: 80 })), fc.constantFrom(undefined, null), (raw, sentAt, own) => {
        const event = parsedJson({ ...raw, sentAt: own }) as Record<string, unknown>;
        const fast = validateEvent(event, { sentAt }, null);
        const merged = validateEvent({ ...event, sentAt }, {}, null);
        expect(fast).toEqual(merged);
      }),
      { numRuns: 400 },
    );
  });

  it('one time corrector per request gives each event what a corrector of its own would', () => {
    const when = fc.record({ timestamp: fc.option(dateText), originalTimestamp: fc.option(dateText), sentAt: fc.option(dateText) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.array(when, { maxLength: 10 }), receivedAt, fc.option(dateText, { nil: undefined }), (events, at, shared) => {
        const perRequest = createTimeCorrector(at);
        for (const event of events) {
          const withShared = shared !== undefined && event.sentAt == null ? { ...event, sentAt: shared } : event;
          expect(perRequest.correct(withShared)).toEqual(createTimeCorrector(at).correct(withShared));
        }
        expect(perRequest.receivedAt).toBe(new Date(at).toISOString());
      }),
      { numRuns: 300 },
    );
  });

  it('sizes events exactly in UTF-8, also past the per-event limit', () => {
    const build = createEventBuilder(
      { key: { keyId: 'k', kind: 'secret', allowedOrigins: [], workspace: { id: 'w', name: 'w', plan: 'growth', anonymizeIp: false, createdAt: '2026-01-01T00:00:00.000Z', trialEndsAt: null, settings: DEFAULT_WORKSPACE_SETTINGS } } },
      'server',
      { connectingIp: null, userAgent: null, cf: null },
      Date.now(),
    );
    for (const text of ['plain', 'é ü ß', '漢字かな', '😀 \u2028 \ud83d', '漢'.repeat(LIMITS.maxEventBytes / 3), '😀'.repeat(LIMITS.maxEventBytes)]) {
      const validated = validateEvent({ type: 'track', event: 'e', userId: 'u', properties: { text } }, {}, null);
      if (!validated.ok) throw new Error('fixture must validate');
      const item = serializeEvent(build(validated.event));
      expect(item.bytes).toBe(new TextEncoder().encode(item.json).byteLength);
    }
  });
});

describe('text queue messages end to end', () => {
  it('the edge sends each event as its JSON text; the consumer stores text and object bodies alike', async () => {
    const ws = await createTestWorkspace('text messages');
    const batch = [trackEvent({ messageId: `t-${crypto.randomUUID()}` }), trackEvent({ messageId: `t-${crypto.randomUUID()}`, properties: { note: 'grüße 😀' } })];
    const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch } });
    expect(response.status).toBe(200);
    const messages = queue.calls.flat();
    expect(messages.map((message) => [message.contentType, typeof message.body])).toEqual([
      ['text', 'string'],
      ['text', 'string'],
    ]);
    const [text, other] = messages.map((message) => String(message.body));
    const result = await deliver([text, JSON.parse(other ?? 'null') as CollectedEvent]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
    expect(await storedCounts(ws.workspaceId)).toEqual({ events: 2, rows: 2 });
  });

  it('a text message that is not a valid event is dead-lettered verbatim with its reason', async () => {
    const workspaceId = `ws-text-poison-${crypto.randomUUID()}`;
    const messageId = `poison-${crypto.randomUUID()}`;
    const poison = JSON.stringify({ v: 1, workspaceId, messageId, type: 'explode' });
    const result = await deliver([poison, '{not json']);
    expect(result.explicitAcks).toHaveLength(2);
    const letter = await env.DB.prepare('SELECT reason, body FROM dead_letters WHERE message_id = ?').bind(messageId).first<{ reason: string; body: string }>();
    expect(letter?.reason).toMatch(/^invalid_event: /);
    expect(letter?.body).toBe(poison);
  });

  it('a text message that exhausted its retries is stored verbatim and replays into ClickHouse', async () => {
    const ws = await createTestWorkspace('text dlq');
    const { queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch: [trackEvent({ messageId: `x-${crypto.randomUUID()}` })] } });
    const [message] = queue.calls.flat();
    const text = String(message?.body);
    const result = await deliver([text], { queue: 'monfri-events-dlq', attempts: 11 });
    expect(result.ackAll).toBe(true);
    const letter = await env.DB.prepare('SELECT reason, body FROM dead_letters WHERE workspace_id = ?').bind(ws.workspaceId).first<{ reason: string; body: string }>();
    expect(letter).toEqual({ reason: 'retries_exhausted', body: text });
    const replay = await call('/admin/dead-letters/replay', { method: 'POST', headers: OPERATOR, json: { workspaceId: ws.workspaceId } });
    expect(await replay.json()).toEqual({ replayed: { 'monfri-events': 1 }, total: 1 });
    expect(await eventually(() => storedCounts(ws.workspaceId), (counts) => counts.events === 1)).toEqual({ events: 1, rows: 1 });
  });
});
