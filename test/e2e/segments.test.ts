/**
 * The segments acceptance through the whole stack (wrangler dev: edge, local Queue, consumer,
 * ClickHouse, Durable Objects with real alarms, the live feed over a WebSocket), driven by the
 * official Segment Node library: "3+ Order Completed with total > 50 in 30 days". Two
 * purchases as an anonymous visitor, identify, a third as the user -> `Segment Entered` on the
 * live feed, deciding messageId included; a crawler's purchases never count; the oldest
 * purchase leaves the window (its time chosen so that happens seconds later) -> `Segment
 * Exited` from the shard's alarm; the admin CLI's verify finds no difference.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, openLiveFeed } from './pipeline-support';

const run = promisify(execFile);
const DAY = 86_400_000;
const CRAWLER = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(async () => {
  await worker?.stop();
});

interface FeedItem {
  messageId: string;
  event: string | null;
  personId: string | null;
  status: string;
  properties: Record<string, unknown>;
}

const openFeed = (secretKey: string, seen: FeedItem[]): Promise<WebSocket> => openLiveFeed(worker.url, secretKey, seen);

async function api<T>(secretKey: string, path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(`${worker.url}${path}`, { ...init, headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json', ...init.headers } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

it('enters on the third big order (two as an anonymous visitor), shows it on the live feed, exits by alarm, and verifies', async () => {
  const ws = await worker.createWorkspace('segments acceptance');
  const { segment } = await api<{ segment: { id: string; status: string } }>(ws.secretKey, '/v1/segments', {
    method: 'POST',
    body: JSON.stringify({ name: '3+ big orders in 30 days', condition: { type: 'performed', event: 'Order Completed', where: [{ property: 'total', op: 'gt', value: 50 }], count: { op: 'at_least', value: 3 }, withinDays: 30 } }),
  });
  const activeNow = await eventually(() => api<{ segment: { status: string } }>(ws.secretKey, `/v1/segments/${segment.id}`), (value) => value.segment.status === 'active', 30_000);
  expect(activeNow.segment.status).toBe('active');

  const seen: FeedItem[] = [];
  const socket = await openFeed(ws.secretKey, seen);
  const analytics = new Analytics({ writeKey: ws.writeKey, host: worker.url, flushAt: 1 });
  const now = Date.now();
  // Old enough that the 30-day window drops it about 15 s from now (event time decides, not arrival).
  analytics.track({ anonymousId: 'visitor-7', event: 'Order Completed', properties: { total: 80 }, timestamp: new Date(now - 30 * DAY + 15_000), messageId: 'order-1' });
  analytics.track({ anonymousId: 'visitor-7', event: 'Order Completed', properties: { total: 60 }, timestamp: new Date(now - 3 * DAY), messageId: 'order-2' });
  analytics.track({ userId: 'crawler', event: 'Order Completed', properties: { total: 900 }, context: { userAgent: CRAWLER }, messageId: 'bot-1' });
  analytics.track({ userId: 'crawler', event: 'Order Completed', properties: { total: 900 }, context: { userAgent: CRAWLER }, messageId: 'bot-2' });
  analytics.track({ userId: 'crawler', event: 'Order Completed', properties: { total: 900 }, context: { userAgent: CRAWLER }, messageId: 'bot-3' });
  await analytics.closeAndFlush({ timeout: 20_000 });
  // Outcomes only: the edge's `received` row comes first and is replaced by the consumer's.
  const stored = await eventually(() => Promise.resolve(seen.filter((item) => item.status !== 'received' && ['order-1', 'order-2', 'bot-3'].includes(item.messageId))), (items) => items.length === 3);
  expect(stored.map((item) => item.status).sort()).toEqual(['flagged', 'stored', 'stored']);
  expect(seen.some((item) => item.event === 'Segment Entered')).toBe(false);

  const user = new Analytics({ writeKey: ws.writeKey, host: worker.url, flushAt: 1 });
  user.identify({ userId: 'buyer-7', anonymousId: 'visitor-7', traits: { plan: 'growth' }, messageId: 'identify-1' });
  await user.closeAndFlush({ timeout: 20_000 });
  await eventually(() => Promise.resolve(seen.some((item) => item.messageId === 'identify-1')), Boolean);
  expect(seen.some((item) => item.event === 'Segment Entered')).toBe(false);
  const third = new Analytics({ writeKey: ws.writeKey, host: worker.url, flushAt: 1 });
  third.track({ userId: 'buyer-7', event: 'Order Completed', properties: { total: 51 }, messageId: 'order-3' });
  await third.closeAndFlush({ timeout: 20_000 });

  // The shard announces the change at once (`received`), then the stored Segment Entered confirms it.
  const entered = await eventually(() => Promise.resolve(seen.find((item) => item.event === 'Segment Entered' && item.status !== 'received')), Boolean);
  expect(entered).toMatchObject({ personId: 'user:buyer-7', status: 'stored', properties: { segmentId: segment.id, decidingMessageId: 'order-3', cause: 'event', version: 1 } });
  if (!entered) throw new Error('no stored Segment Entered');
  const announced = seen.findIndex((item) => item.event === 'Segment Entered' && item.status === 'received');
  expect(announced, 'announced before it was stored').toBeGreaterThanOrEqual(0);
  expect(announced).toBeLessThan(seen.indexOf(entered));
  expect(seen[announced]).toMatchObject({ messageId: entered.messageId, properties: { decidingMessageId: 'order-3' } });
  const members = await api<{ members: { personId: string }[] }>(ws.secretKey, `/v1/segments/${segment.id}/members`);
  expect(members.members).toEqual([{ personId: 'user:buyer-7' }]);
  const person = await api<{ person: { segments: { id: string }[]; traits: Record<string, unknown>; computedTraits: Record<string, unknown> } }>(ws.secretKey, '/v1/persons/buyer-7');
  expect(person.person).toMatchObject({ segments: [{ id: segment.id }], traits: { plan: 'growth' }, computedTraits: { event_count: 4 } });

  // No event arrives, time passes: order-1 leaves the window and the shard's alarm takes the person out.
  const exited = await eventually(() => Promise.resolve(seen.find((item) => item.event === 'Segment Exited' && item.status !== 'received')), Boolean, 45_000);
  expect(exited).toMatchObject({ personId: 'user:buyer-7', properties: { segmentId: segment.id, cause: 'time', decidingMessageId: null } });
  socket.close();

  const verify = await run('npx', ['tsx', 'dev/admin.ts', 'segment', 'verify', segment.id, '--workspace', ws.workspaceId], { env: { ...process.env, MONFRI_URL: worker.url, OPERATOR_TOKEN: worker.operatorToken } });
  expect(JSON.parse(verify.stdout)).toMatchObject({ difference: 0, live: 0, recomputed: 0, status: 'active' });
}, 150_000);
