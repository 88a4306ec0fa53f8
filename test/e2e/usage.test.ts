/**
 * Usage is exact through the whole stack (wrangler dev: edge, local Queue, consumer, ClickHouse):
 * events sent with duplicates inside a batch, whole batches retried by the client, bots,
 * identify/group/alias calls and refused events; the billable count the API gives equals the
 * distinct human billable events this test computes itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';

const CRAWLER = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(async () => {
  await worker?.stop();
});

interface Sent {
  messageId: string;
  billable: boolean;
  bot: boolean;
  valid: boolean;
}

function batchOf(run: string): { events: Record<string, unknown>[]; sent: Sent[] } {
  const events: Record<string, unknown>[] = [];
  const sent: Sent[] = [];
  const add = (event: Record<string, unknown>, kind: Omit<Sent, 'messageId'>): void => {
    events.push(event);
    sent.push({ messageId: String(event.messageId), ...kind });
  };
  for (let i = 0; i < 120; i++) add({ type: 'track', messageId: `${run}-t-${i}`, userId: `u${i % 17}`, event: 'Order Completed', properties: { total: i } }, { billable: true, bot: false, valid: true });
  for (let i = 0; i < 20; i++) add({ type: 'page', messageId: `${run}-p-${i}`, anonymousId: `a${i}`, name: 'Pricing' }, { billable: true, bot: false, valid: true });
  for (let i = 0; i < 10; i++) add({ type: 'screen', messageId: `${run}-s-${i}`, userId: 'u1', name: 'Home' }, { billable: true, bot: false, valid: true });
  for (let i = 0; i < 15; i++) add({ type: 'identify', messageId: `${run}-i-${i}`, userId: `u${i}`, traits: { plan: 'pro' } }, { billable: false, bot: false, valid: true });
  for (let i = 0; i < 5; i++) add({ type: 'group', messageId: `${run}-g-${i}`, userId: `u${i}`, groupId: 'acme' }, { billable: false, bot: false, valid: true });
  add({ type: 'alias', messageId: `${run}-alias`, userId: 'u1', previousId: 'old-u1' }, { billable: false, bot: false, valid: true });
  for (let i = 0; i < 12; i++) add({ type: 'track', messageId: `${run}-b-${i}`, userId: `crawler-${i}`, event: 'Order Completed', context: { userAgent: CRAWLER } }, { billable: true, bot: true, valid: true });
  for (let i = 0; i < 6; i++) add({ type: 'track', messageId: `${run}-x-${i}`, event: 'No Identity' }, { billable: true, bot: false, valid: false });
  // The same messages again inside the batch (a client that double-queued them).
  for (let i = 0; i < 30; i++) add({ type: 'track', messageId: `${run}-t-${i}`, userId: `u${i % 17}`, event: 'Order Completed', properties: { total: i } }, { billable: true, bot: false, valid: true });
  return { events, sent };
}

async function post(secretKey: string, batch: Record<string, unknown>[]): Promise<number> {
  const response = await fetch(`${worker.url}/v1/batch`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  return response.status;
}

interface UsageAnswer {
  usage: { billable: number; counted: number; bots: number; notBillable: number };
}

it('the billable count equals the distinct human billable events, whatever was duplicated, retried, flagged or refused', async () => {
  const ws = await worker.createWorkspace('usage exactness', { plan: 'starter' });
  const { events, sent } = batchOf(`run-${Date.now()}`);
  // Sent in two requests, then the whole thing retried by the client (it did not see the answers).
  const halves = [events.slice(0, 100), events.slice(100)];
  for (let attempt = 0; attempt < 2; attempt++) for (const half of halves) expect(await post(ws.secretKey, half)).toBe(200);
  const marker = { type: 'identify', messageId: `marker-${Date.now()}`, userId: 'marker' };
  expect(await post(ws.secretKey, [marker])).toBe(200);

  const distinct = (keep: (entry: Sent) => boolean): number => new Set(sent.filter((entry) => entry.valid && keep(entry)).map((entry) => entry.messageId)).size;
  const expected = { billable: distinct((entry) => entry.billable && !entry.bot), bots: distinct((entry) => entry.bot), notBillable: distinct((entry) => !entry.billable && !entry.bot) + 1 };
  expect(expected).toEqual({ billable: 150, bots: 12, notBillable: 22 });

  const answer = await eventually(
    async () => (await (await fetch(`${worker.url}/v1/usage`, { headers: { authorization: `Bearer ${ws.secretKey}` } })).json()) as UsageAnswer,
    (value) => value.usage.notBillable === expected.notBillable,
    30_000,
  );
  expect(answer.usage).toMatchObject({ ...expected, counted: expected.billable });
});
