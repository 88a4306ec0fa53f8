/**
 * The whole ingestion path on real services: HTTP POST to the real Worker (wrangler dev,
 * real local Queue + consumer) -> ClickHouse rows -> query API. Once per ClickHouse engine
 * the test stack runs: 18.16 and the current engine (26.x through chdb).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sql } from '../../lib/sql';
import { testClickHouseTargets, workerVarsFor } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, postBatch, selectRows, storedCounts } from './pipeline-support';

describe.each(testClickHouseTargets())('on ClickHouse $version ($engine)', (target) => {
  const clickhouseUrl = target.url;
  let worker: TestWorker;
  let ws: Awaited<ReturnType<TestWorker['createWorkspace']>>;
  beforeAll(async () => {
    worker = await startTestWorker(workerVarsFor(target));
    ws = await worker.createWorkspace('pipeline e2e');
  });
  afterAll(async () => {
    await worker?.stop();
  });

  const rowSchema = z.object({
    message_id: z.string(), type: z.string(), event: z.string(), user_id: z.string(), anonymous_id: z.string(), person_id: z.string(),
    timestamp_ms: z.coerce.number(), received_at_ms: z.coerce.number(), sent_at_ms: z.coerce.number(), original_timestamp_ms: z.coerce.number(),
    properties: z.string(), property_keys: z.array(z.string()), property_values: z.array(z.string()), traits: z.string(), context: z.string(), integrations: z.string(),
    page_url: z.string(), page_path: z.string(), page_referrer: z.string(), page_title: z.string(), user_agent: z.string(), ip: z.string(),
    library_name: z.string(), library_version: z.string(), is_bot: z.coerce.number(), plan_violation: z.coerce.number(), source: z.string(),
  });

  async function rowsOf(messageIds: string[]): Promise<z.output<typeof rowSchema>[]> {
    return selectRows(sql`SELECT * FROM events FINAL WHERE workspace_id = ${ws.workspaceId} AND has(${messageIds}, message_id) ORDER BY timestamp_ms`, rowSchema, clickhouseUrl);
  }

  async function waitForRows(messageIds: string[]): Promise<z.output<typeof rowSchema>[]> {
    return eventually(() => rowsOf(messageIds), (rows) => rows.length === messageIds.length, 30_000);
  }

  async function query<T>(path: string): Promise<T> {
    const response = await fetch(`${worker.url}${path}`, { headers: { authorization: `Bearer ${ws.secretKey}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }

  const anon = `anon-${Date.now()}`;
  const user = `user-${Date.now()}`;
  const deviceTime = (secondsAgo: number, ms: number): string => new Date(Math.floor(Date.now() / 1000) * 1000 - secondsAgo * 1000 + ms).toISOString();

  it('stores every field as sent, with millisecond timestamps, and resolves person_id across an anonymous -> identified journey', async () => {
    const context = {
      page: { url: 'https://shop.test/pricing?utm=1', path: '/pricing', referrer: 'https://search.test/?q=a%27b', title: 'Pricing — Shop' },
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
      ip: '198.51.100.23',
      library: { name: 'analytics-node', version: '3.1.0' },
      locale: 'de-DE',
    };
    const properties = { plan: 'pro', price: 49.99, seats: 3, tags: ['a', 'b'], nested: { deep: { ok: true } }, quote: "it's \"fine\" \\ \n", emoji: '🙂', none: null };
    const original = deviceTime(120, 89);
    const sentAt = new Date(Date.parse(original) + 5123).toISOString();
    const anonymous = [
      { type: 'page', messageId: `e2e-p-${anon}`, anonymousId: anon, name: 'Pricing', properties: { section: 'top' }, context, timestamp: original, sentAt },
      { type: 'track', messageId: `e2e-t-${anon}`, anonymousId: anon, event: 'Viewed Plan', properties, context, integrations: { All: true, Mixpanel: false }, timestamp: deviceTime(110, 7), sentAt: deviceTime(110, 7) },
    ];
    // Sent as a server library would (secret key): source=server, so context.ip / userAgent are kept as sent.
    const first = await postBatch(worker.url, ws.secretKey, anonymous);
    expect(first.status).toBe(200);
    const anonRows = await waitForRows(anonymous.map((event) => event.messageId));
    expect(anonRows.map((row) => row.person_id)).toEqual([`anonymous:${anon}`, `anonymous:${anon}`]);

    const [pageRow, trackRow] = anonRows;
    expect(pageRow).toMatchObject({ type: 'page', event: 'Pricing', anonymous_id: anon, user_id: '', page_url: context.page.url, page_path: '/pricing', page_referrer: context.page.referrer, page_title: context.page.title, user_agent: context.userAgent, ip: context.ip, library_name: 'analytics-node', library_version: '3.1.0', is_bot: 0, plan_violation: 0, source: 'server' });
    // Millisecond precision end to end: the device time and sentAt are kept to the ms, and the
    // skew-corrected timestamp sits exactly (sentAt - device time) before receivedAt.
    expect(pageRow?.original_timestamp_ms).toBe(Date.parse(original));
    expect(pageRow?.sent_at_ms).toBe(Date.parse(sentAt));
    expect((pageRow?.received_at_ms ?? 0) - (pageRow?.timestamp_ms ?? 0)).toBe(5123);
    expect(JSON.parse(trackRow?.properties ?? '')).toEqual(properties);
    expect(JSON.parse(trackRow?.integrations ?? '')).toEqual({ All: true, Mixpanel: false });
    expect(JSON.parse(trackRow?.context ?? '')).toMatchObject(context);
    expect(trackRow?.property_keys).toEqual(Object.keys(properties));
    expect(trackRow?.property_values).toEqual(['pro', '49.99', '3', '["a","b"]', '{"deep":{"ok":true}}', "it's \"fine\" \\ \n", '🙂', 'null']);

    const identify = { type: 'identify', messageId: `e2e-i-${anon}`, anonymousId: anon, userId: user, traits: { email: 'e2e@shop.test', plan: 'pro' }, timestamp: deviceTime(100, 1) };
    expect((await postBatch(worker.url, ws.secretKey, [identify])).status).toBe(200);
    await waitForRows([identify.messageId]);
    const after = { type: 'track', messageId: `e2e-a-${anon}`, anonymousId: anon, event: 'Checkout', properties: { total: 49.99 }, timestamp: deviceTime(90, 2) };
    expect((await postBatch(worker.url, ws.secretKey, [after])).status).toBe(200);
    const [afterRow] = await waitForRows([after.messageId]);
    // No userId on this event, but the identity map already links the anonymous id.
    expect(afterRow?.person_id).toBe(`user:${user}`);

    const person = await query<{ person: { id: string; traits: Record<string, unknown> }; events: { messageId: string }[] }>(`/v1/persons/${user}`);
    expect(person.person).toMatchObject({ id: `user:${user}`, traits: { email: 'e2e@shop.test', plan: 'pro' } });
    expect(person.events.map((event) => event.messageId).sort()).toEqual([...anonymous, identify, after].map((event) => event.messageId).sort());
  });

  it('a client retry of the same messageIds and a redelivery are counted once', async () => {
    const batch = Array.from({ length: 20 }, (_, index) => ({ type: 'track', messageId: `e2e-retry-${index}-${Date.now()}`, userId: 'retry-user', event: 'Retried', properties: { index } }));
    expect((await postBatch(worker.url, ws.secretKey, batch)).status).toBe(200);
    await waitForRows(batch.map((event) => event.messageId));
    // The client did not see the answer and sends the same batch twice more.
    expect((await postBatch(worker.url, ws.secretKey, batch)).status).toBe(200);
    expect((await postBatch(worker.url, ws.secretKey, batch)).status).toBe(200);
    const marker = { type: 'track', messageId: `e2e-retry-marker-${Date.now()}`, userId: 'retry-user', event: 'Marker' };
    expect((await postBatch(worker.url, ws.secretKey, [marker])).status).toBe(200);
    await waitForRows([marker.messageId]);
    const listed = await query<{ events: { messageId: string }[] }>('/v1/events?event=Retried&limit=1000');
    expect(listed.events).toHaveLength(20);
    const stats = await query<{ buckets: { event: string | null; count: number }[] }>(`/v1/stats?event=Retried&from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`);
    expect(stats.buckets.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(20);
    const rows = await selectRows(sql`SELECT count() AS rows FROM events WHERE workspace_id = ${ws.workspaceId} AND event = 'Retried'`, z.object({ rows: z.coerce.number() }), clickhouseUrl);
    expect(rows[0]?.rows).toBe(20);
    expect((await storedCounts(ws.workspaceId, clickhouseUrl)).events).toBeGreaterThanOrEqual(25);
  });

  it('the same batch sent three times at once (racing consumers) is still counted once by the query API', async () => {
    const batch = Array.from({ length: 30 }, (_, index) => ({ type: 'track', messageId: `e2e-race-${index}-${Date.now()}`, userId: 'race-user', event: 'Raced' }));
    const answers = await Promise.all([1, 2, 3].map(() => postBatch(worker.url, ws.secretKey, batch)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    await waitForRows(batch.map((event) => event.messageId));
    const marker = { type: 'track', messageId: `e2e-race-marker-${Date.now()}`, userId: 'race-user', event: 'Marker' };
    expect((await postBatch(worker.url, ws.secretKey, [marker])).status).toBe(200);
    await waitForRows([marker.messageId]);
    const listed = await query<{ events: { messageId: string }[] }>('/v1/events?event=Raced&limit=1000');
    expect(listed.events).toHaveLength(30);
    const stats = await query<{ buckets: { count: number }[] }>(`/v1/stats?event=Raced&from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`);
    expect(stats.buckets.reduce((sum, bucket) => sum + bucket.count, 0)).toBe(30);
  });
});
