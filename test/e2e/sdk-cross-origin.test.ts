/**
 * The browser SDK on a customer's site: the page is served from a second origin (another
 * port), loads the snippet and script from the Worker and posts to its `/v1/collect`, in real
 * headless Chromium. Shows the cross-origin path a same-origin demo cannot: CORS (including a
 * preflighted request to /v1/collect), a write key restricted to the site's origin accepted,
 * and one restricted to another origin refused with the reason visible in the console.
 * Headless Chromium is flagged as automation by the SDK; these tests are about delivery, not bots.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { collectedEventSchema, type CollectedEvent } from '../../schema/event';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

let worker: TestWorker;
let browser: Browser;
let redis: Redis;
let site: Server;
let siteOrigin: string;
/** Snippet HTML per write key, fetched from the Worker's snippet route (what a customer pastes). */
const snippets = new Map<string, string>();
const pageErrors: string[] = [];
const openPages: Page[] = [];

function sitePage(snippet: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>${snippet}</head>
<body><h1>Acme Shop (a customer site)</h1><button id="buy">Buy now</button>
<script>document.getElementById('buy').addEventListener('click', function () { monfri.track('Order Completed', { total: 42 }); monfri.flush(); });</script>
</body></html>`;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = new Redis(process.env.MONFRI_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
  [worker, browser] = await Promise.all([startTestWorker(), launchChromium()]);
  site = createServer((request, response) => {
    const writeKey = new URL(request.url ?? '/', 'http://site').searchParams.get('writeKey') ?? '';
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(sitePage(snippets.get(writeKey) ?? ''));
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  // localhost vs 127.0.0.1: a different origin from the Worker's, as a customer's site is.
  siteOrigin = `http://localhost:${(site.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await Promise.all(openPages.splice(0).map((page) => page.context().close()));
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise<void>((resolve) => (site ? site.close(() => resolve()) : resolve()));
  redis?.disconnect();
});

async function arrived(workspaceId: string): Promise<CollectedEvent[]> {
  const entries = await redis.xrange(eventStreamKey(workspaceId), '-', '+');
  return entries.map(([, fields]) => collectedEventSchema.parse(JSON.parse(fields[fields.indexOf(STREAM_EVENT_FIELD) + 1] ?? 'null')));
}

async function writeKeyFor(workspaceId: string, allowedOrigins: string[]): Promise<string> {
  const response = await fetch(`${worker.url}/admin/workspaces/${workspaceId}/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'write', allowedOrigins }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

/** Opens the customer page for `writeKey`; console lines are collected for the assertions. */
async function openSite(writeKey: string): Promise<{ page: Page; console: string[] }> {
  const snippet = await fetch(`${worker.url}/sdk/v1/snippet?writeKey=${encodeURIComponent(writeKey)}`);
  expect(snippet.status).toBe(200);
  snippets.set(writeKey, await snippet.text());
  const context = await browser.newContext();
  const page = await context.newPage();
  openPages.push(page);
  const lines: string[] = [];
  page.on('console', (message) => lines.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${siteOrigin}/?writeKey=${encodeURIComponent(writeKey)}`);
  await page.waitForFunction(() => (window as unknown as { monfri?: { loaded?: boolean } }).monfri?.loaded === true);
  return { page, console: lines };
}

describe('the SDK on a customer site (another origin)', () => {
  it('delivers from another origin with an unrestricted write key; the answers are readable (no CORS errors)', async () => {
    const ws = await worker.createWorkspace('cross-origin');
    const { page, console: lines } = await openSite(ws.writeKey);
    await page.click('#buy');
    const events = await eventually(() => arrived(ws.workspaceId), (found) => found.some((event) => event.event === 'Order Completed'), 15_000);
    await page.screenshot({ path: join(ARTIFACTS, 'sdk-cross-origin.png') });
    const order = events.find((event) => event.event === 'Order Completed');
    expect(order).toMatchObject({ source: 'browser', properties: { total: 42 }, context: { page: { url: expect.stringContaining(siteOrigin) } } });
    expect(events.some((event) => event.type === 'page')).toBe(true);
    expect(lines.filter((line) => /CORS|blocked|monfri/i.test(line))).toEqual([]);
  });

  it('answers the CORS preflight of a JSON request to /v1/collect from the site, and the response is readable', async () => {
    const ws = await worker.createWorkspace('preflight');
    const { page } = await openSite(ws.writeKey);
    const answer = await page.evaluate(
      async ({ url, writeKey }) => {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ writeKey, batch: [{ type: 'track', event: 'Preflighted', anonymousId: 'a-1' }] }) });
        return { status: response.status, body: (await response.json()) as unknown };
      },
      { url: `${worker.url}/v1/collect`, writeKey: ws.writeKey },
    );
    expect(answer).toEqual({ status: 200, body: { success: true, accepted: 1, rejected: [] } });
    await eventually(() => arrived(ws.workspaceId), (found) => found.some((event) => event.event === 'Preflighted'), 15_000);
  });

  it('a write key restricted to the site origin is accepted; one restricted to another origin is refused with the reason in the console', async () => {
    const ws = await worker.createWorkspace('restricted');
    const allowed = await writeKeyFor(ws.workspaceId, [siteOrigin]);
    const elsewhere = await writeKeyFor(ws.workspaceId, ['https://elsewhere.example']);

    const good = await openSite(allowed);
    await good.page.click('#buy');
    await eventually(() => arrived(ws.workspaceId), (found) => found.some((event) => event.event === 'Order Completed'), 15_000);

    const bad = await openSite(elsewhere);
    await bad.page.click('#buy');
    const warned = await eventually(async () => bad.console.filter((line) => line.includes('origin_not_allowed')), (found) => found.length > 0, 15_000);
    expect(warned[0]).toMatch(/^warning: \[monfri\] 403 origin_not_allowed: dropped \d+ event\(s\)/);
    // The refused page's events never arrived: only the allowed page's are there.
    const events = await arrived(ws.workspaceId);
    expect(events.filter((event) => event.event === 'Order Completed')).toHaveLength(1);
  });
});
