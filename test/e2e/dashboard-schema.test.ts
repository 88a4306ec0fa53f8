/**
 * The Schema page in real headless Chromium against the real Worker (wrangler dev, queue,
 * consumer, ClickHouse views, D1): a Segment plan imported, events sent (planned, violating in
 * flag mode, unplanned, a key whose type changes, a dynamic key, then one violating event in
 * block mode), and the page shows what GET /v1/schema and /v1/schema/events/:name answer the
 * test with the secret key: plan status per event, volumes, violations, blocked events,
 * warnings, and one event's keys with their types and counts.
 * Screenshots go to test/artifacts/ (git-ignored).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');
const PLAN = JSON.parse(readFileSync(join(REPO_ROOT, 'lib', 'tracking-plans', 'fixtures', 'public-api.json'), 'utf8')) as unknown;

interface SchemaAnswer {
  plan: { name: string; version: number } | null;
  events: { type: string; event: string; status: string; volume: number; violations: number; blocked: number; warnings: unknown[] }[];
  warnings: { code: string; event: string; path: string | null }[];
}

let worker: TestWorker;
let browser: Browser;
let workspace: Awaited<ReturnType<TestWorker['createWorkspace']>>;
const pageErrors: string[] = [];

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${worker.url}${path}`, { ...init, headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json', ...init.headers } });
}

const track = (event: string, messageId: string, properties: Record<string, unknown>) => ({ type: 'track', event, userId: 'schema-user', messageId, properties });

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [worker, browser] = await Promise.all([startTestWorker({ KEY_CACHE_TTL_SECONDS: '0' }), launchChromium()]);
  workspace = await worker.createWorkspace('Schema page e2e');
  expect((await call('/v1/tracking-plan', { method: 'PUT', body: JSON.stringify(PLAN) })).status).toBe(201);
  const violationsMode = (mode: string) => fetch(`${worker.url}/admin/workspaces/${workspace.workspaceId}/settings`, { method: 'PATCH', headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ trackingPlan: { violations: mode } }) });
  expect((await violationsMode('flag')).status).toBe(200);
  const products = [{ product_id: 'p-1', price: 20, quantity: 1 }];
  const batch = [
    track('Order Completed', 'o-1', { order_id: 'ord_a1b2c3d4', currency: 'EUR', products }),
    track('Order Completed', 'o-2', { order_id: 'ord_e5f6g7h8', currency: 'GBP', products }),
    track('Order Completed', 'o-bad', { order_id: 'ORDER-9', currency: 'JPY', products }),
    track('Signed Up', 's-1', { method: 'google' }),
    track('Level Up', 'l-1', { score: 5 }),
    track('Level Up', 'l-2', { score: 'five' }),
    track('Prefs Saved', 'p-1', { prefs: { user_123: true } }),
    { type: 'identify', userId: 'schema-user', messageId: 'i-1', traits: { plan: 'pro', email: 'schema@example.com' } },
  ];
  const sent = await call('/v1/batch', { method: 'POST', body: JSON.stringify({ batch }) });
  expect(await sent.json()).toMatchObject({ accepted: batch.length, rejected: [] });
  await eventually(() => schemaOf(), (answer) => answer.events.some((event) => event.event === 'Prefs Saved') && answer.events.find((event) => event.event === 'Order Completed')?.violations === 2, 90_000, 500);
  // Then block mode: a violating order is refused, and counted as blocked (the consumer stores the edge's tally).
  expect((await violationsMode('block')).status).toBe(200);
  const blocked = await call('/v1/batch', { method: 'POST', body: JSON.stringify({ batch: [track('Order Completed', 'o-blocked', { order_id: 'BLOCKED-1', currency: 'EUR', products })] }) });
  expect(await blocked.json()).toMatchObject({ accepted: 0, rejected: [{ messageId: 'o-blocked', code: 'plan_violation' }] });
  await eventually(() => schemaOf(), (answer) => answer.events.find((event) => event.event === 'Order Completed')?.blocked === 1, 90_000, 500);
}, 180_000);

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

async function schemaOf(): Promise<SchemaAnswer> {
  return (await (await call('/v1/schema')).json()) as SchemaAnswer;
}

async function openSchema(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${worker.url}/dashboard/`);
  await page.fill('#secret-key', workspace.secretKey);
  await page.press('#secret-key', 'Enter');
  await page.locator('a.nav-link[href="#/schema"]').click({ timeout: 15_000 });
  await page.locator('#schema-events').waitFor({ timeout: 15_000 });
  return page;
}

it('lists every event with the plan status, volume, violations and warnings GET /v1/schema gives', async () => {
  const answer = await schemaOf();
  const page = await openSchema();
  expect(await page.locator('#schema-plan').textContent()).toContain(`${answer.plan?.name ?? ''} · version 1`);
  const count = (status: string) => String(answer.events.filter((event) => event.status === status).length);
  expect(await page.locator('#schema-planned strong').textContent()).toBe(count('planned'));
  expect(await page.locator('#schema-unplanned strong').textContent()).toBe(count('unplanned'));
  expect(await page.locator('#schema-never-seen strong').textContent()).toBe(count('never_seen'));
  expect(await page.locator('#schema-warning-count strong').textContent()).toBe(String(answer.warnings.length));
  expect(await page.locator('#schema-warning-list li').count()).toBe(answer.warnings.length);
  expect(answer.warnings.map((warning) => warning.code).sort()).toEqual(['dynamic_key', 'type_changed']);

  const rows = page.locator('#schema-events tbody tr');
  expect(await rows.count()).toBe(answer.events.length);
  for (const event of answer.events) {
    const row = page.locator(`#schema-events tr[data-event="${event.event}"][data-type="${event.type}"]`);
    const cells = await row.locator('td').allTextContents();
    expect(cells[2]).toBe({ planned: 'planned', unplanned: 'unplanned', never_seen: 'planned, never seen', not_covered: 'no rule', no_plan: 'no plan' }[event.status]);
    expect(cells[3]?.replace(/\D/g, '')).toBe(String(event.volume));
    expect(cells[5]?.replace(/\D/g, '')).toBe(String(event.violations));
    expect(cells[6]?.replace(/\D/g, '')).toBe(String(event.blocked));
    expect(cells[7]?.replace(/\D/g, '')).toBe(String(event.warnings.length));
  }
  expect(await page.locator('#schema-events tr[data-event="Order Completed"] .badge-plan-planned').count()).toBe(1);
  expect(await page.locator('#schema-events tr[data-event="Order Completed"] td.blocked .badge-blocked').textContent()).toBe('1');
  expect(await page.locator('#schema-events tr[data-event="Products Searched"] .badge-plan-never_seen').count()).toBe(1);
  expect(await page.locator('#schema-events tr[data-event="Level Up"] .badge-plan-unplanned').count()).toBe(1);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-schema.png'), fullPage: true });
  await page.context().close();
});

it('shows one event’s keys with types and counts, plan descriptions and violations, as /v1/schema/events/:name does', async () => {
  const page = await openSchema();
  await page.locator('#schema-events tr[data-event="Order Completed"] a').click();
  await page.locator('#schema-keys').waitFor({ timeout: 15_000 });
  const detail = (await (await call('/v1/schema/events/Order%20Completed')).json()) as { keys: { path: string; types: { type: string; count: number }[]; violations: { rule: string; events: number }[]; description: string | null }[] };
  expect(await page.locator('#schema-keys tbody tr').count()).toBe(detail.keys.length);
  const currency = page.locator('#schema-keys tr[data-path="currency"] td');
  const cells = await currency.allTextContents();
  expect(cells[1]).toBe('string 3');
  expect(cells[4]).toBe('yes');
  expect(cells[5]).toBe(detail.keys.find((key) => key.path === 'currency')?.description);
  expect(cells[6]).toBe('enum 1');
  // The flagged order and the blocked one both broke the order_id pattern: one stored, one refused.
  expect(await page.locator('#schema-keys tr[data-path="order_id"] td:last-child .badge').allTextContents()).toEqual(['pattern 1', 'pattern 1 blocked']);
  expect(await page.locator('#schema-event-counts').textContent()).toContain('· 1 blocked');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-schema-event.png'), fullPage: true });

  await page.goto(`${worker.url}/dashboard/#/schema/track/Level%20Up`);
  await page.locator('#schema-keys tr[data-path="score"]').waitFor({ timeout: 15_000 });
  expect(await page.locator('#schema-keys tr[data-path="score"] .badge-type').allTextContents()).toEqual(['integer 1', 'string 1']);
  expect(await page.locator('#schema-event-warnings li[data-code="type_changed"]').count()).toBe(1);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-schema-type-change.png'), fullPage: true });
  await page.context().close();
});
