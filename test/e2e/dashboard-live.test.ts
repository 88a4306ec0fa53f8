/**
 * The dashboard in real headless Chromium against the real Worker (wrangler dev, local
 * queues and Durable Objects, real ClickHouse and Redis): sign in, watch events from the
 * server API and from the SDK demo page arrive in Live events, then Overview and Person.
 * Headless Chromium is flagged by the bot check (navigator.webdriver): this test asserts
 * that automation IS flagged, and shows its badge, rather than the human path.
 * Screenshots of each page go to test/artifacts/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { startTestWorker, type TestWorker } from '../support/worker';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

let worker: TestWorker;
let browser: Browser;
let page: Page;
let workspace: Awaited<ReturnType<TestWorker['createWorkspace']>>;
const runId = Date.now().toString(36);
const foreignRequests: string[] = [];
const cspViolations: string[] = [];
/** Uncaught errors on the dashboard page: every test fails on any of them (checked after each). */
const pageErrors: string[] = [];
const userId = `e2e-user-${runId}`;

async function sendFromServer(type: 'track' | 'identify', body: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${worker.url}/v1/${type}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type, userId, ...body }),
  });
  expect(response.status).toBe(200);
}

async function trackFromServer(event: string, messageId: string, properties: Record<string, unknown> = {}): Promise<void> {
  await sendFromServer('track', { event, messageId, properties });
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: false });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startTestWorker();
  workspace = await worker.createWorkspace(`Dashboard e2e ${runId}`);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 820 } });
  page = await context.newPage();
  page.on('request', (request) => {
    if (!request.url().startsWith(worker.url) && !request.url().startsWith(worker.url.replace(/^http/, 'ws'))) foreignRequests.push(request.url());
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    console.error(`dashboard console: ${message.text()}`);
    if (message.text().includes('Content Security Policy')) cspViolations.push(message.text());
  });
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

it('serves the dashboard as static assets with no external resources', async () => {
  const response = await fetch(`${worker.url}/dashboard`);
  expect(response.status).toBe(200);
  expect(new URL(response.url).pathname).toBe('/dashboard/');
  const html = await response.text();
  expect(html).toContain('./app.js');
  expect(html).not.toMatch(/https?:\/\//);
  const csp = response.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  const css = await (await fetch(`${worker.url}/dashboard/app.css`)).text();
  expect(css).toContain('.uplot');
  expect(css).not.toMatch(/url\(\s*['"]?https?:/);
});

it('refuses a wrong key, then signs in with the secret key (HttpOnly cookie, no key in storage)', async () => {
  await page.goto(`${worker.url}/dashboard/`);
  await page.locator('#secret-key').waitFor();
  await screenshot('signin');
  await page.fill('#secret-key', 'sk_not_a_real_key');
  await page.press('#secret-key', 'Enter');
  await expect.poll(() => page.locator('.form-error').textContent()).toContain('invalid_key');

  await page.fill('#secret-key', workspace.secretKey);
  await page.press('#secret-key', 'Enter');
  await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 15_000 });
  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === 'monfri_session');
  expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
  expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + document.cookie)).not.toContain(workspace.secretKey);
});

it('shows events sent with the server API in Live events, newest first, with expandable JSON; each row goes from received to stored in place', async () => {
  const ids = [1, 2, 3].map((n) => `e2e-server-${runId}-${n}`);
  const started = Date.now();
  for (const [index, id] of ids.entries()) await trackFromServer(`Server Event ${index + 1}`, id, { plan: 'growth', n: index + 1 });
  for (const id of ids) await page.locator(`tr[data-message-id="${id}"]`).waitFor({ timeout: 15_000 });
  const elapsed = Date.now() - started;
  // The consumer's outcome replaces the edge's received row: one row per event, no badge once stored.
  for (const id of ids) await page.locator(`tr.row[data-message-id="${id}"][data-status="stored"]`).waitFor({ timeout: 15_000 });
  for (const id of ids) expect(await page.locator(`tr.row[data-message-id="${id}"]`).count()).toBe(1);
  expect(await page.locator(`tr.row[data-message-id="${ids[0]}"] .status`).textContent()).toBe('');
  // Newest on top.
  const order = await page.locator('#live-rows tr.row').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-message-id')));
  expect(order.slice(0, 3)).toEqual([...ids].reverse());
  const row = page.locator(`tr[data-message-id="${ids[0]}"]`);
  await expect.poll(() => row.locator('.event').textContent()).toBe('Server Event 1');
  expect(await row.locator('.source').textContent()).toBe('server');
  expect(await row.locator('.person').textContent()).toBe(userId);
  console.log(`server API -> dashboard row for 3 events: ${elapsed} ms`);

  await row.focus();
  await page.keyboard.press('Enter');
  const detail = page.locator(`tr[data-message-id="${ids[0]}"] + tr.detail`);
  await expect.poll(() => detail.isVisible()).toBe(true);
  expect(await detail.textContent()).toContain('"plan": "growth"');

  const identifyId = `e2e-identify-${runId}`;
  await sendFromServer('identify', { messageId: identifyId, traits: { name: 'Ada Lovelace', plan: 'growth' } });
  await page.locator(`tr[data-message-id="${identifyId}"]`).waitFor({ timeout: 15_000 });
});

it('shows events from the SDK demo page with their bot badge (headless Chromium is flagged)', async () => {
  const demo = await page.context().newPage();
  await demo.goto(`${worker.url}/demo/?writeKey=${workspace.writeKey}&flushInterval=100`);
  await demo.click('#custom-track');
  const customRow = page.locator('#live-rows tr.row', { has: page.locator('.event', { hasText: 'Custom Event' }) }).first();
  await customRow.waitFor({ timeout: 20_000 });
  expect(await customRow.locator('.source').textContent()).toBe('browser');
  // Flagged from the first frame on (the edge's verdict rides on the received item), and still once stored.
  expect(await customRow.locator('.badge-bot').count()).toBe(1);
  const customId = await customRow.getAttribute('data-message-id');
  const flaggedRow = page.locator(`tr.row[data-message-id="${customId}"][data-status="flagged"]`);
  await flaggedRow.waitFor({ timeout: 15_000 });
  expect(await flaggedRow.locator('.badge-bot').count()).toBe(1);
  expect(await page.locator(`tr.row[data-message-id="${customId}"]`).count()).toBe(1);
  await demo.close();
  await page.bringToFront();
  await screenshot('live');
});

it('pauses and resumes the stream, and filters rows', async () => {
  await page.locator('#live-pause').click();
  const pausedId = `e2e-paused-${runId}`;
  await trackFromServer('While Paused', pausedId);
  await expect.poll(() => page.locator('#live-pause').textContent(), { timeout: 15_000 }).toContain('(1 new)');
  expect(await page.locator(`tr[data-message-id="${pausedId}"]`).count()).toBe(0);
  await page.locator('#live-pause').click();
  await page.locator(`tr[data-message-id="${pausedId}"]`).waitFor();
  // Its outcome (during the pause or after) updates the one row; a later event's stored row marks that it has arrived.
  const marker = `e2e-paused-marker-${runId}`;
  await trackFromServer('Paused Marker', marker);
  await page.locator(`tr.row[data-message-id="${marker}"][data-status="stored"]`).waitFor({ timeout: 15_000 });
  expect(await page.locator(`tr.row[data-message-id="${pausedId}"]`).evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')))).toEqual(['stored']);

  await page.fill('#live-filter', 'Server Event 2');
  await expect.poll(() => page.locator('#live-rows tr.row').count()).toBe(1);
  await page.fill('#live-filter', '');
  expect(await page.locator('#live-rows tr.row').count()).toBeGreaterThan(3);
  await page.press('#live-filter', 'Escape');
});

it('renders the overview chart with data from /v1/stats through the session cookie', async () => {
  await page.keyboard.press('2');
  await page.locator('#overview-chart canvas').waitFor({ timeout: 15_000 });
  await expect.poll(async () => Number(await page.locator('#overview-chart').getAttribute('data-points')), { timeout: 15_000 }).toBeGreaterThan(0);
  await expect.poll(async () => Number((await page.locator('#total-events').textContent())?.replace(/\D/g, '')), { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
  expect(await page.locator('#unique-persons').textContent()).toMatch(/^[1-9]/);
  expect(await page.locator('#top-events li').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('Server Event 1')]));
  // The SDK demo's events came from headless Chromium: shown apart, by reason.
  await expect.poll(async () => Number((await page.locator('#bot-events').textContent())?.replace(/\D/g, '')), { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
  expect(await page.locator('#bot-reasons li').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('sdk_automation:')]));
  await screenshot('overview');

  await page.selectOption('#overview-range', '24h');
  await expect.poll(async () => Number(await page.locator('#overview-chart').getAttribute('data-points')), { timeout: 15_000 }).toBeGreaterThan(0);
});

it('opens the person view with identities and a timeline', async () => {
  await page.goto(`${worker.url}/dashboard/#/person/${encodeURIComponent(userId)}`);
  await page.locator('#person-timeline').waitFor({ timeout: 15_000 });
  const items = await page.locator('#person-timeline li').allTextContents();
  expect(items.some((text) => text.includes('Server Event 3'))).toBe(true);
  expect(await page.locator('#resolved-person').textContent()).toContain(userId);
  expect(await page.locator('#person-traits').textContent()).toContain('Ada Lovelace');
  expect(await page.locator('#person-identities').textContent()).toContain(userId);
  await screenshot('person');
});

it('shows an event the tracking plan blocked once, as blocked with its reason, and every broken rule in its JSON', async () => {
  const plan = { name: 'Live e2e', events: [{ name: 'Plan Checked', version: 1, rules: { type: 'object', required: ['order_id'], properties: { order_id: { type: 'string' } } }, metadata: {} }] };
  const put = await fetch(`${worker.url}/v1/tracking-plan`, { method: 'PUT', headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json' }, body: JSON.stringify(plan) });
  expect(put.status).toBe(201);
  const settings = await fetch(`${worker.url}/admin/workspaces/${workspace.workspaceId}/settings`, { method: 'PATCH', headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ trackingPlan: { violations: 'block' } }) });
  expect(settings.status).toBe(200);
  await page.goto(`${worker.url}/dashboard/#/live`);
  await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 15_000 });
  // The key cache may hold the old settings for its TTL: send (a new messageId each time) until the plan applies.
  let attempt = 0;
  let blockedId = '';
  await expect
    .poll(
      async () => {
        blockedId = `e2e-blocked-${runId}-${++attempt}`;
        const response = await fetch(`${worker.url}/v1/track`, { method: 'POST', headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'track', userId, event: 'Plan Checked', messageId: blockedId, properties: { order_id: 42 } }) });
        return response.status;
      },
      { timeout: 60_000, interval: 500 },
    )
    .toBe(400);
  const row = page.locator(`tr.row[data-message-id="${blockedId}"][data-status="blocked"]`);
  await row.waitFor({ timeout: 15_000 });
  expect(await page.locator(`tr.row[data-message-id="${blockedId}"]`).count()).toBe(1);
  expect(await row.locator('.badge-blocked').textContent()).toBe('blocked · plan_violation');
  await row.click();
  expect(await page.locator(`tr[data-message-id="${blockedId}"] + tr.detail`).textContent()).toContain('"path": "properties.order_id"');
  await screenshot('live-blocked');
});

it('signs out: the cookie is gone and the API refuses the page', async () => {
  await page.click('.signout');
  await page.locator('#secret-key').waitFor();
  const status = await page.evaluate(async () => (await fetch('/v1/stats')).status);
  expect(status).toBe(401);
  // Nothing the dashboard loaded came from another host (no CDN, no fonts).
  expect(foreignRequests).toEqual([]);
  // Every page ran under the dashboard's Content-Security-Policy without a violation.
  expect(cspViolations).toEqual([]);
});
