import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, LIMITS } from '../../schema/event';
import { callCollect, type BatchAnswer, type ErrorAnswer } from './collect-support';
import { basic, createTestWorkspace, type DemoWorkspace } from './support';

const id = fc.string({ minLength: 1, maxLength: 40 });
const smallJson = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
const isoDate = fc.date({ min: new Date('2015-01-01'), max: new Date('2035-01-01'), noInvalidDate: true }).map((date) => date.toISOString());
const identity = fc.oneof(fc.record({ userId: id }), fc.record({ anonymousId: id }), fc.record({ userId: id, anonymousId: id }));
const common = fc.record({ properties: smallJson, context: smallJson, timestamp: isoDate, sentAt: isoDate }, { requiredKeys: [] });

/** Events the spec says must be accepted (the messageId is made unique by the test). */
const validEvent = fc
  .tuple(
    fc.oneof(
      fc.record({ type: fc.constant('track'), event: fc.string({ minLength: 1, maxLength: 200 }) }),
      fc.record({ type: fc.constant('identify'), traits: smallJson }, { requiredKeys: ['type'] }),
      fc.record({ type: fc.constantFrom('page', 'screen'), name: fc.string({ maxLength: 200 }) }, { requiredKeys: ['type'] }),
      fc.record({ type: fc.constant('group'), groupId: id }),
    ),
    identity,
    common,
  )
  .map(([typed, who, rest]) => ({ ...rest, ...who, ...typed }));

function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

/** Events the spec says must be refused, each for a known reason. */
const invalidEvent = fc.oneof(
  fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.boolean()),
  fc.record({ type: fc.string().filter((type) => !(EVENT_TYPES as readonly string[]).includes(type)), userId: id }),
  fc.record({ type: fc.constantFrom(...EVENT_TYPES), event: fc.constant('x'), groupId: fc.constant('g'), previousId: fc.constant('p') }),
  fc.record({ type: fc.constant('track'), userId: id }),
  fc.record({ type: fc.constant('track'), userId: id, event: fc.string({ minLength: 201, maxLength: 260 }) }),
  fc.record({ type: fc.constant('track'), userId: id, event: fc.constant('e'), properties: fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer())) }),
  fc.record({ type: fc.constant('track'), userId: id, event: fc.constant('e'), timestamp: fc.constantFrom('not a date', '31/31/2020', '') }),
  fc.record({ type: fc.constant('identify'), userId: id, traits: fc.constant({ deep: nested(LIMITS.maxJsonDepth + 2) }) }),
  fc.record({ type: fc.constant('track'), userId: id, event: fc.constant('e'), properties: fc.constant({ blob: 'x'.repeat(LIMITS.maxEventBytes) }) }),
);

const labelled = fc.array(fc.oneof(validEvent.map((event) => ({ valid: true as const, event })), invalidEvent.map((event) => ({ valid: false as const, event }))), { minLength: 1, maxLength: 25 });

let ws: DemoWorkspace;
beforeAll(async () => {
  ws = await createTestWorkspace('property workspace');
});

describe('POST /v1/batch under random input', () => {
  it('accepts every valid event, reports every invalid one by index, queues exactly the valid ones', async () => {
    await fc.assert(
      fc.asyncProperty(labelled, async (items) => {
        const batch = items.map(({ valid, event }, index) => (valid ? { ...event, messageId: `p-${index}-${crypto.randomUUID()}` } : event));
        const { response, queue } = await callCollect('/v1/batch', { headers: basic(ws.secretKey), json: { batch } });
        const body = await response.json<BatchAnswer>();
        const validIndexes = items.flatMap(({ valid }, index) => (valid ? [index] : []));
        const invalidIndexes = items.flatMap(({ valid }, index) => (valid ? [] : [index]));
        expect(response.status).toBe(validIndexes.length > 0 ? 200 : 400);
        expect(body.accepted).toBe(validIndexes.length);
        expect(body.rejected.map((rejection) => rejection.index)).toEqual(invalidIndexes);
        for (const rejection of body.rejected) expect(rejection.code).toMatch(/^[a-z_]+$/);
        const expectedIds = validIndexes.map((index) => (batch[index] as { messageId: string }).messageId);
        expect(queue.events().map((event) => event.messageId)).toEqual(expectedIds);
      }),
      { numRuns: 80 },
    );
  });

  it('never answers 500 to arbitrary bodies, and always answers JSON with a reason', async () => {
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      fc.record({ batch: fc.array(fc.jsonValue({ maxDepth: 25 }), { maxLength: 10 }) }).map((value) => JSON.stringify(value)),
      fc.record({ batch: fc.array(fc.object(), { maxLength: 10 }), context: fc.jsonValue(), sentAt: fc.jsonValue() }).map((value) => JSON.stringify(value)),
      fc.jsonValue().map((value) => JSON.stringify({ batch: [value] }).slice(0, -2)),
      fc.array(fc.constantFrom('{', '[', '"', ':', ',', '}', ']', 'null', '\\', '\u0000'), { maxLength: 40 }).map((parts) => parts.join('')),
    );
    const contentType = fc.constantFrom('application/json', 'text/plain', 'text/plain;charset=UTF-8', 'application/xml');
    await fc.assert(
      fc.asyncProperty(body, contentType, async (text, type) => {
        const { response } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': type }, body: text });
        expect([200, 400, 413, 415]).toContain(response.status);
        const answer = await response.json<BatchAnswer & Partial<ErrorAnswer>>();
        if (response.status !== 200) expect(answer.error?.code).toMatch(/^[a-z_]+$/);
      }),
      { numRuns: 150 },
    );
  });
});
