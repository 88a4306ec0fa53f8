/**
 * The browser SDK in real headless Chromium against the real Worker (wrangler dev, real
 * queue hand-off and Redis Stream mirror): the demo page loads the snippet, and what arrives
 * is read back from the workspace's Redis Stream (the edge mirrors every accepted event).
 * Headless Chromium shows automation (navigator.webdriver, HeadlessChrome UA); one test
 * asserts it IS flagged, another removes both signals in a test-only browser context to
 * check the human path.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { collectedEventSchema, type CollectedEvent } from '../../schema/event';
import { startTestWorker, type TestWorker } from '../support/worker';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');
const HUMAN_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36';

let worker: TestWorker;
let browser: Browser;
let redis: Redis;
const contexts: BrowserContext[] = [];
/** Uncaught errors on any demo page: a test fails on any of them (checked after each test). */
const pageErrors: string[] = [];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  redis = new Redis(process.env.MONFRI_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
  [worker, browser] = await Promise.all([startTestWorker(), launchChromium()]);
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  redis?.disconnect();
});

/** Everything the edge accepted for this workspace, validated against the event model. */
async function arrived(workspaceId: string): Promise<CollectedEvent[]> {
  const entries = await redis.xrange(eventStreamKey(workspaceId), '-', '+');
  return entries.map(([, fields]) => {
    const index = fields.indexOf(STREAM_EVENT_FIELD);
    return collectedEventSchema.parse(JSON.parse(fields[index + 1] ?? 'null'));
  });
}

async function waitForArrivals(workspaceId: string, done: (events: CollectedEvent[]) => boolean, timeoutMs = 15_000): Promise<CollectedEvent[]> {
  const deadline = Date.now() + timeoutMs;
  let events = await arrived(workspaceId);
  while (!done(events)) {
    if (Date.now() > deadline) throw new Error(`timed out; arrived: ${JSON.stringify(events.map(label))}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    events = await arrived(workspaceId);
  }
  return events;
}

const label = (event: CollectedEvent): string => `${event.type}:${event.event ?? ''}`;
const named = (events: CollectedEvent[], name: string): CollectedEvent[] => events.filter((event) => event.event === name);
const pages = (events: CollectedEvent[]): CollectedEvent[] => events.filter((event) => event.type === 'page');
const collectUrl = (url: string): boolean => new URL(url).pathname === '/v1/collect';

async function openDemo(query: Record<string, string>, options: BrowserContextOptions = {}, prepare?: (context: BrowserContext) => Promise<unknown>): Promise<{ context: BrowserContext; page: Page; workspace: Awaited<ReturnType<TestWorker['createWorkspace']>> }> {
  const workspace = await worker.createWorkspace(`sdk e2e ${Date.now()}`);
  const context = await browser.newContext(options);
  contexts.push(context);
  await prepare?.(context);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  const search = new URLSearchParams({ writeKey: workspace.writeKey, ...query });
  await page.goto(`${worker.url}/demo/?${search}`);
  await page.waitForFunction(() => (window as unknown as { monfri?: { loaded?: boolean } }).monfri?.loaded === true);
  return { context, page, workspace };
}

describe('browser SDK', () => {
  it('delivers the pre-load call, page views, clicks, form, SPA navigation, identify and track with the right fields', async () => {
    const { page, workspace } = await openDemo({ flushInterval: '300' });
    await page.click('#buy');
    await page.click('#signup-cta');
    await page.fill('input[name=email]', 'ada@example.com');
    await page.fill('input[name=password]', 'hunter2-secret-value');
    await page.click('#signup-submit');
    await page.click('#login');
    await page.click('#custom-track');
    await page.click('#nav-pricing');
    await page.click('#nav-back');
    await page.waitForFunction(() => location.pathname === '/demo/');
    await page.click('#nav-hash');
    await page.screenshot({ path: join(ARTIFACTS, 'sdk-demo.png') });

    const events = await waitForArrivals(workspace.workspaceId, (all) => pages(all).length >= 4 && named(all, 'Custom Event').length === 1 && all.some((e) => e.type === 'identify'));
    const demoUrl = page.url().replace(/#.*$/, '');

    const [opened] = named(events, 'Demo Opened');
    expect(opened?.properties).toEqual({ sdkLoaded: false });

    const [load, pricing, back, hash] = pages(events);
    expect(load?.properties).toMatchObject({ path: '/demo/', title: 'Monfri demo' });
    expect(pricing?.properties).toMatchObject({ path: '/demo/pricing', referrer: demoUrl });
    expect(pricing?.context.page).toMatchObject({ path: '/demo/pricing' });
    expect(back?.properties).toMatchObject({ path: '/demo/', referrer: expect.stringContaining('/demo/pricing') });
    expect(hash?.properties).toMatchObject({ url: `${demoUrl}#faq`, path: '/demo/' });

    const buy = named(events, 'Element Clicked').find((e) => e.properties.id === 'buy');
    expect(buy?.properties).toEqual({ tag: 'button', text: 'Buy now', id: 'buy', classes: 'btn primary' });
    expect(named(events, 'Signup CTA Clicked')[0]?.properties).toMatchObject({ tag: 'button', id: 'signup-cta', text: 'Start free trial' });

    const [form] = named(events, 'Form Submitted');
    expect(form?.properties).toEqual({ fields: ['email', 'plan'], id: 'signup', name: 'signup', action: '/demo/signup', method: 'post' });

    const [identify] = events.filter((e) => e.type === 'identify');
    expect(identify).toMatchObject({ userId: 'user-42', traits: { plan: 'growth', name: 'Ada' } });
    const [custom] = named(events, 'Custom Event');
    expect(custom).toMatchObject({ userId: 'user-42', properties: { source: 'demo', n: 1 } });

    // One visitor, one session, one library; every event distinct; the first one opened the session.
    expect(new Set(events.map((e) => e.anonymousId)).size).toBe(1);
    expect(new Set(events.map((e) => e.sessionId)).size).toBe(1);
    expect(events[0]?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.filter((e) => e.context.sessionStart === true)).toHaveLength(1);
    expect(new Set(events.map((e) => e.messageId)).size).toBe(events.length);
    for (const event of events) {
      expect(event.source).toBe('browser');
      expect(event.library).toEqual({ name: 'monfri.js', version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
      expect(event.context).toMatchObject({ locale: expect.any(String), timezone: expect.any(String), screen: { width: expect.any(Number), height: expect.any(Number) } });
    }
    // Typed values never leave the page.
    const raw = JSON.stringify(events);
    expect(raw).not.toContain('hunter2-secret-value');
    expect(raw).not.toContain('ada@example.com');

    // Headless automation is reported by the SDK and flagged by the edge; the events are still stored.
    for (const event of events) {
      expect(event.context.automation).toEqual(expect.arrayContaining(['webdriver', 'headless_ua']));
      expect(event.bot.flagged).toBe(true);
      expect(event.bot.reason).toMatch(/^sdk_automation:/);
    }
  });

  it('flags nothing on the human path (test-only context without webdriver or a headless UA)', async () => {
    const { page, workspace } = await openDemo({ flushInterval: '200' }, { userAgent: HUMAN_UA }, (context) =>
      context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false })),
    );
    await page.click('#buy');
    const events = await waitForArrivals(workspace.workspaceId, (all) => named(all, 'Element Clicked').length === 1);
    for (const event of events) {
      expect(event.context).not.toHaveProperty('automation');
      expect(event.bot).toEqual({ flagged: false, reason: null });
      expect(event.userAgent).toBe(HUMAN_UA);
    }
  });

  it('delivers a click on a page closed right after it (sendBeacon)', async () => {
    // A one-minute flush interval: only the page-hide beacon can deliver these in time.
    const { page, workspace } = await openDemo({ flushInterval: '60000' });
    const requests: string[] = [];
    page.on('request', (request) => {
      if (collectUrl(request.url())) requests.push(request.resourceType());
    });
    await page.click('#buy');
    await page.waitForTimeout(200);
    // Nothing was sent while the page was open...
    expect(requests).toEqual([]);
    await page.close({ runBeforeUnload: true });
    // ...so these can only have come from the pagehide beacon.
    const events = await waitForArrivals(workspace.workspaceId, (all) => named(all, 'Element Clicked').length === 1);
    expect(events.map(label).sort()).toEqual(['page:', 'track:Demo Opened', 'track:Element Clicked']);
  });

  it('keeps events while the collect endpoint is down, across a reload, and sends each exactly once when it is back', async () => {
    const collectRoute = (url: URL): boolean => collectUrl(url.href);
    const { context, page, workspace } = await openDemo({ flushInterval: '200' }, {}, (ctx) => ctx.route(collectRoute, (route) => route.abort('connectionrefused')));
    let attempts = 0;
    page.on('requestfailed', (request) => {
      if (collectUrl(request.url())) attempts += 1;
    });
    await page.click('#buy');
    await page.click('#signup-cta');
    await page.waitForTimeout(1500);
    expect(attempts).toBeGreaterThanOrEqual(1);
    const persisted = await page.evaluate(() => Object.keys(localStorage).filter((key) => key.startsWith('monfri_q.')).length);
    expect(persisted).toBe(1);

    // Reload while still down: the next page adopts the persisted queue.
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { monfri?: { loaded?: boolean } }).monfri?.loaded === true);
    await page.click('#custom-track');
    await page.waitForTimeout(500);
    expect(await arrived(workspace.workspaceId)).toEqual([]);

    await context.unroute(collectRoute);
    // Two page loads: 2 x (Demo Opened + page view) + 2 clicks + the custom event + its button click.
    const events = await waitForArrivals(workspace.workspaceId, (all) => all.length >= 8, 30_000);
    await page.waitForTimeout(1000);
    const final = await arrived(workspace.workspaceId);
    expect(final.map(label).sort()).toEqual(
      ['page:', 'page:', 'track:Custom Event', 'track:Demo Opened', 'track:Demo Opened', 'track:Element Clicked', 'track:Element Clicked', 'track:Signup CTA Clicked'].sort(),
    );
    expect(new Set(final.map((e) => e.messageId)).size).toBe(final.length);
    expect(final.length).toBe(events.length);
  });

  it('sends nothing after opt-out, and the opt-out survives a reload', async () => {
    const { page, workspace } = await openDemo({ flushInterval: '200' });
    await waitForArrivals(workspace.workspaceId, (all) => all.length === 2);
    const after: string[] = [];
    page.on('request', (request) => {
      if (collectUrl(request.url())) after.push(request.url());
    });
    await page.click('#opt-out');
    await page.click('#buy');
    await page.evaluate(() => (window as unknown as { monfri: { track(name: string): void } }).monfri.track('After Opt Out'));
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { monfri?: { loaded?: boolean } }).monfri?.loaded === true);
    await page.click('#buy');
    await page.evaluate(() => (window as unknown as { monfri: { flush(): Promise<void> } }).monfri.flush());
    await page.waitForTimeout(800);
    expect(after).toEqual([]);
    expect((await arrived(workspace.workspaceId)).map(label).sort()).toEqual(['page:', 'track:Demo Opened']);
    const stored = await page.evaluate(() => ({ anonymousId: localStorage.getItem('monfri_aid'), cookie: document.cookie }));
    expect(stored).toEqual({ anonymousId: null, cookie: '' });
  });
  it('cookieless mode sends events with no cookie and nothing in localStorage', async () => {
    const { page, workspace } = await openDemo({ flushInterval: '200', cookieless: '1' });
    await page.click('#buy');
    const events = await waitForArrivals(workspace.workspaceId, (all) => named(all, 'Element Clicked').length === 1);
    const stored = await page.evaluate(() => ({
      cookie: document.cookie,
      local: Object.keys(localStorage).filter((key) => key.startsWith('monfri')),
      session: sessionStorage.getItem('monfri_aid'),
    }));
    expect(stored).toEqual({ cookie: '', local: [], session: events[0]?.anonymousId });
  });

  it('with respectDnt, Global Privacy Control means nothing is sent', async () => {
    const { page, workspace } = await openDemo({ flushInterval: '200', respectDnt: '1' }, {}, (context) =>
      context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true })),
    );
    await page.click('#buy');
    await page.evaluate(() => (window as unknown as { monfri: { flush(): Promise<void> } }).monfri.flush());
    await page.waitForTimeout(600);
    expect(await arrived(workspace.workspaceId)).toEqual([]);
  });
});

describe('SDK script route', () => {
  it('serves the hashed script as immutable and the latest v1 with a short cache', async () => {
    const manifest = (await (await fetch(`${worker.url}/sdk/v1/manifest.json`)).json()) as { file: string; hash: string };
    const hashed = await fetch(`${worker.url}/sdk/v1/${manifest.file}`);
    expect(hashed.status).toBe(200);
    expect(hashed.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(hashed.headers.get('content-type')).toMatch(/^application\/javascript/);
    const latest = await fetch(`${worker.url}/sdk/v1/monfri.min.js`);
    expect(latest.headers.get('cache-control')).toBe('public, max-age=300');
    expect(await latest.text()).toBe(await hashed.text());
    const unknown = await fetch(`${worker.url}/sdk/v1/monfri.000000000000.min.js`);
    expect(unknown.status).toBe(404);
  });

  it('gives the snippet for a write key, and refuses a malformed key', async () => {
    const snippet = await fetch(`${worker.url}/sdk/v1/snippet?writeKey=wk_abc123`);
    const text = await snippet.text();
    expect(text).toContain(`"${worker.url}/sdk/v1/monfri.min.js"`);
    expect(text).toContain('monfri.init("wk_abc123");');
    const refused = await fetch(`${worker.url}/sdk/v1/snippet?writeKey=${encodeURIComponent('wk_"><script>')}`);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invalid_write_key');
  });
});
