/**
 * A data error is not an outage (consumers/events/steps/insert-batch.ts): rows ClickHouse
 * refuses are isolated and dead-lettered with its reason, their siblings stored in the same
 * delivery; an unreachable ClickHouse still means a retry of the whole batch. Real consumer,
 * real ClickHouse, real D1. The poison rows carry a lone UTF-16 surrogate, which the edge now
 * repairs, so they arrive here as an old message replayed from the stream mirror or the
 * dead-letter store would.
 */
import { describe, expect, it } from 'vitest';
import { classifyInsertError, clickHouseErrorCode } from '../../lib/clickhouse-errors';
import { collected, deliver, env, storedCounts } from './pipeline-support';

async function deadLetters(workspaceId: string): Promise<{ message_id: string; reason: string }[]> {
  const { results } = await env.DB.prepare('SELECT message_id, reason FROM dead_letters WHERE workspace_id = ? ORDER BY message_id').bind(workspaceId).all<{ message_id: string; reason: string }>();
  return results;
}

describe('isolating rows ClickHouse refuses', () => {
  it('a batch of 100 with one refused row: 99 stored in the same delivery, 1 dead-lettered with the reason, no retries', async () => {
    const workspaceId = `ws-isolate-${crypto.randomUUID()}`;
    const events = Array.from({ length: 100 }, (_, index) => collected(workspaceId, { messageId: `m-${String(index).padStart(3, '0')}`, properties: { index } }));
    const poisonIndex = 37;
    events[poisonIndex] = collected(workspaceId, { messageId: 'm-037', event: 'Broken \ud800 name', properties: { index: poisonIndex } });
    const result = await deliver(events);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(100);
    expect(await storedCounts(workspaceId)).toEqual({ events: 99, rows: 99 });
    const letters = await deadLetters(workspaceId);
    expect(letters.map((letter) => letter.message_id)).toEqual(['m-037']);
    expect(letters[0]?.reason).toMatch(/^clickhouse_refused: .*Code: 25\b.*surrogate/);
  });

  it('several refused rows in one batch are each isolated; the rest is stored', async () => {
    const workspaceId = `ws-isolate-many-${crypto.randomUUID()}`;
    const bad = new Set([0, 41, 99]);
    const events = Array.from({ length: 100 }, (_, index) => collected(workspaceId, { messageId: `m-${String(index).padStart(3, '0')}`, userId: bad.has(index) ? `user-\ud83d-${index}` : `user-${index}` }));
    const result = await deliver(events);
    expect(result.retryMessages).toEqual([]);
    expect(await storedCounts(workspaceId)).toEqual({ events: 97, rows: 97 });
    expect((await deadLetters(workspaceId)).map((letter) => letter.message_id)).toEqual(['m-000', 'm-041', 'm-099']);
  });

  it('a refused identify keeps its sibling: the identity link row is refused with it, the batch is not retried', async () => {
    const workspaceId = `ws-isolate-identity-${crypto.randomUUID()}`;
    const poison = collected(workspaceId, { type: 'identify', event: null, userId: 'u-\udbff', anonymousId: 'a-1', messageId: 'poison' });
    const fine = collected(workspaceId, { messageId: 'fine', anonymousId: 'a-2' });
    const result = await deliver([poison, fine]);
    expect(result.retryMessages).toEqual([]);
    expect(await storedCounts(workspaceId)).toEqual({ events: 1, rows: 1 });
    expect((await deadLetters(workspaceId)).map((letter) => letter.message_id)).toEqual(['poison']);
  });

  it('a batch whose every row is refused is retried, not dead-lettered (the cause is not in the rows)', async () => {
    const workspaceId = `ws-isolate-all-${crypto.randomUUID()}`;
    const events = Array.from({ length: 4 }, (_, index) => collected(workspaceId, { event: `Bad \ud800 ${index}` }));
    const result = await deliver(events);
    expect(result.retryMessages).toHaveLength(4);
    expect(await storedCounts(workspaceId)).toEqual({ events: 0, rows: 0 });
    expect(await deadLetters(workspaceId)).toEqual([]);
  });
});

describe('classifying ClickHouse errors', () => {
  it('reads the code from both server formats and tells data errors from outages', () => {
    const oldServer = new Error('Code: 25, e.displayText() = DB::Exception: Cannot parse escape sequence: missing second part of surrogate pair: (while read the value of key event), e.what() = DB::Exception');
    const current = Object.assign(new Error('Cannot parse escape sequence: missing second part of surrogate pair.'), { code: '25', type: 'CANNOT_PARSE_ESCAPE_SEQUENCE' });
    const cases: [unknown, number | null, string][] = [
      [oldServer, 25, 'data'],
      [current, 25, 'data'],
      [new Error('Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: abc'), 27, 'data'],
      [new Error('Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing JSONEachRow format: plan_name: (at row 1)'), 117, 'unavailable'],
      [new Error('Code: 60. DB::Exception: Table monfri.events does not exist. (UNKNOWN_TABLE)'), 60, 'unavailable'],
      [new Error('Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)'), 252, 'unavailable'],
      [new Error('Timeout error.'), null, 'unavailable'],
      [new TypeError('fetch failed'), null, 'unavailable'],
      ['Network connection lost.', null, 'unavailable'],
    ];
    expect(cases.map(([error]) => [clickHouseErrorCode(error), classifyInsertError(error)])).toEqual(cases.map(([, code, kind]) => [code, kind]));
  });
});
