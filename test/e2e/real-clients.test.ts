/**
 * The official server libraries teams migrating from Segment already run, driven as their
 * users drive them: DEFAULT options, only the host changed, a write key (Segment's model: one
 * write key per source, servers included). Against the real Worker (wrangler dev, real local
 * Queue and consumer), real ClickHouse and Redis. RudderStack's client gzips every request and
 * labels the Buffer body application/x-www-form-urlencoded; Segment's sends its own user agent
 * (`analytics-node-next/latest`), which must not make its events bots.
 */
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sql } from '../../lib/sql';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, selectRows } from './pipeline-support';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(async () => {
  await worker?.stop();
});

const rowSchema = z.object({
  message_id: z.string(),
  type: z.string(),
  event: z.string(),
  user_id: z.string(),
  properties: z.string(),
  traits: z.string(),
  source: z.string(),
  ip: z.string(),
  user_agent: z.string(),
  country: z.string(),
  city: z.string(),
  is_bot: z.coerce.number(),
  bot_reason: z.string(),
  library_name: z.string(),
});
type Row = z.output<typeof rowSchema>;

async function rowsOf(workspaceId: string): Promise<Row[]> {
  return selectRows(sql`SELECT message_id, type, event, user_id, properties, traits, source, ip, user_agent, country, city, is_bot, bot_reason, library_name FROM events WHERE workspace_id = ${workspaceId} ORDER BY timestamp_ms`, rowSchema);
}

async function waitForRows(workspaceId: string, count: number): Promise<Row[]> {
  return eventually(() => rowsOf(workspaceId), (rows) => rows.length >= count, 30_000);
}

const MARKER = 'Test Marker';

/**
 * Everything stored for the workspace once a marker sent after the client flushed has
 * arrived (the local queue delivers in order, so a late duplicate would already be there).
 */
async function settledRows(workspaceId: string, secretKey: string): Promise<Row[]> {
  const response = await fetch(`${worker.url}/v1/track`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: MARKER, userId: 'marker' }),
  });
  expect(response.status).toBe(200);
  const rows = await eventually(() => rowsOf(workspaceId), (found) => found.some((row) => row.event === MARKER), 30_000);
  expect(rows.some((row) => row.event === MARKER)).toBe(true);
  return rows.filter((row) => row.event !== MARKER);
}

/** Properties with what breaks naive pipelines: unicode, nesting, floats, nulls, arrays of objects, quotes. */
const PROPERTIES = { total: 99.5, currency: 'EUR', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-2', qty: 1 }], note: 'grüße 😀 "quoted" \\ \n', nested: { deep: { ok: true, none: null } }, big: 1.2345678901234567e300 };
const CRAWLER = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

describe('@segment/analytics-node with default options and a write key', () => {
  it('stores every call once as server traffic, unflagged, properties exactly as sent; a forwarded crawler UA is flagged', async () => {
    const ws = await worker.createWorkspace('segment analytics-node');
    const analytics = new SegmentAnalytics({ writeKey: ws.writeKey, host: worker.url });
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    analytics.identify({ userId: 'seg-1', traits: { plan: 'pro', email: 'seg@shop.test' } });
    analytics.track({ userId: 'seg-1', event: 'Order Completed', properties: PROPERTIES });
    analytics.page({ userId: 'seg-1', name: 'Pricing', properties: { path: '/pricing' } });
    analytics.screen({ userId: 'seg-1', name: 'Home' });
    analytics.group({ userId: 'seg-1', groupId: 'acme', traits: { seats: 3 } });
    analytics.alias({ userId: 'seg-1', previousId: 'seg-anon-1' });
    analytics.track({ userId: 'seg-1', event: 'Forwarded', context: { ip: '192.0.2.44', location: { country: 'DE', city: 'Berlin' } } });
    analytics.track({ userId: 'seg-1', event: 'From A Crawler', context: { userAgent: CRAWLER } });
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);

    const rows = await settledRows(ws.workspaceId, ws.secretKey);
    expect(new Set(rows.map((row) => row.message_id)).size).toBe(rows.length);
    expect(rows.map((row) => row.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track', 'track', 'track']);
    expect(rows.every((row) => row.source === 'server' && row.library_name === '@segment/analytics-node')).toBe(true);
    const byEvent = new Map(rows.map((row) => [row.event, row]));
    const order = byEvent.get('Order Completed');
    expect(order?.properties).toBe(JSON.stringify(PROPERTIES));
    // The library's own HTTP user agent and the server's IP are not the end user's.
    for (const row of rows.filter((candidate) => candidate.event !== 'From A Crawler')) {
      expect(row).toMatchObject({ is_bot: 0, bot_reason: '', user_agent: '' });
      if (row.event !== 'Forwarded') expect([row.ip, row.country]).toEqual(['', '']);
    }
    expect(byEvent.get('Forwarded')).toMatchObject({ ip: '192.0.2.44', country: 'DE', city: 'Berlin' });
    expect(byEvent.get('From A Crawler')).toMatchObject({ is_bot: 1, bot_reason: 'user_agent:googlebot', user_agent: CRAWLER });
  });
});

describe('@rudderstack/rudder-sdk-node with default options (gzip on) and a write key', () => {
  it('stores every call once as server traffic, unflagged, properties exactly as sent; a forwarded crawler UA is flagged', async () => {
    const ws = await worker.createWorkspace('rudderstack node');
    const errors: unknown[] = [];
    const client = new RudderAnalytics(ws.writeKey, { dataPlaneUrl: worker.url, errorHandler: (error: unknown) => errors.push(error) });
    client.identify({ userId: 'rs-1', traits: { plan: 'pro' } });
    client.track({ userId: 'rs-1', event: 'Order Completed', properties: PROPERTIES });
    client.page({ userId: 'rs-1', name: 'Pricing', properties: { path: '/pricing' } });
    client.screen({ userId: 'rs-1', name: 'Home' });
    client.group({ userId: 'rs-1', groupId: 'acme', traits: { seats: 3 } });
    client.alias({ userId: 'rs-1', previousId: 'rs-anon-1' });
    client.track({ userId: 'rs-1', event: 'Forwarded', context: { ip: '192.0.2.45' } });
    client.track({ userId: 'rs-1', event: 'From A Crawler', context: { userAgent: CRAWLER } });
    await client.flush();
    expect(errors).toEqual([]);

    const rows = await settledRows(ws.workspaceId, ws.secretKey);
    expect(new Set(rows.map((row) => row.message_id)).size).toBe(rows.length);
    expect(rows.map((row) => row.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track', 'track', 'track']);
    expect(rows.every((row) => row.source === 'server' && row.library_name === 'analytics-node')).toBe(true);
    const byEvent = new Map(rows.map((row) => [row.event, row]));
    expect(byEvent.get('Order Completed')?.properties).toBe(JSON.stringify(PROPERTIES));
    for (const row of rows.filter((candidate) => candidate.event !== 'From A Crawler')) {
      expect(row).toMatchObject({ is_bot: 0, bot_reason: '', user_agent: '' });
      if (row.event !== 'Forwarded') expect(row.ip).toBe('');
    }
    expect(byEvent.get('Forwarded')?.ip).toBe('192.0.2.45');
    expect(byEvent.get('From A Crawler')).toMatchObject({ is_bot: 1, bot_reason: 'user_agent:googlebot' });
  });
});

describe('a curl-style request with a write key', () => {
  it('is server traffic too: no IP or user agent taken from the connection, not a bot', async () => {
    const ws = await worker.createWorkspace('curl');
    const response = await fetch(`${worker.url}/v1/track`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${ws.writeKey}:`).toString('base64')}`, 'content-type': 'application/json', 'user-agent': 'curl/8.5.0' },
      body: JSON.stringify({ event: 'Signed Up', userId: 'u1', properties: { plan: 'growth' } }),
    });
    expect(response.status).toBe(200);
    const [row] = await waitForRows(ws.workspaceId, 1);
    expect(row).toMatchObject({ source: 'server', ip: '', user_agent: '', is_bot: 0, properties: '{"plan":"growth"}' });
  });
});
