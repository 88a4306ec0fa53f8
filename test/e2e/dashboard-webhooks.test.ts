/**
 * The Webhooks page in real headless Chromium against the real Worker (wrangler dev, queues, the
 * events and webhooks consumers, ClickHouse, D1), with a receiver on 127.0.0.1 (the dev flag):
 * refused URLs are shown at the URL field with the guard's reason and nothing is created; a
 * subscription is created through the form and its secret shown once (copied, then gone from
 * the page); "send test" is delivered, signed with that secret (verified with `standardwebhooks`),
 * and logged; a real event answered 500 then 200 shows both attempts in the log, coloured;
 * disable / re-enable, a 410 that disables with its reason, edit (refused, then saved with a
 * segment chosen by name), rotate
 * (the new secret shown once, both sign), delete. Every test fails on an uncaught page error or
 * a CSP violation. Screenshots go to test/artifacts/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../../dev/chromium';
import { REPO_ROOT } from '../../dev/process';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';
import { ok, startWebhookReceiver, status, type Received, type WebhookReceiver } from './webhook-receiver';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

let worker: TestWorker;
let receiver: WebhookReceiver;
let browser: Browser;
let page: Page;
let workspace: Awaited<ReturnType<TestWorker['createWorkspace']>>;
/** The secret the page showed after create, for the signature checks of later tests. */
let createdSecret = '';
const pageErrors: string[] = [];
const cspViolations: string[] = [];

interface WebhookView {
  id: string;
  url: string;
  events: string[];
  segments: string[];
  enabled: boolean;
  disabledReason: string | null;
}

async function webhooksOf(): Promise<WebhookView[]> {
  const response = await fetch(`${worker.url}/v1/webhooks`, { headers: { authorization: `Bearer ${workspace.secretKey}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { webhooks: WebhookView[] }).webhooks;
}

async function track(event: string, messageId: string): Promise<void> {
  const response = await fetch(`${worker.url}/v1/track`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json', 'user-agent': 'analytics-node-next/latest' },
    body: JSON.stringify({ type: 'track', userId: 'webhooks-page-buyer', event, properties: { total: 42 }, messageId }),
  });
  expect(response.status).toBe(200);
}

function verified(request: Received | undefined, secret: string): Record<string, unknown> {
  if (!request) throw new Error('nothing received');
  return new Webhook(secret).verify(request.body, request.headers) as Record<string, unknown>;
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

const text = async (selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';
const row = (id: string) => page.locator(`tr.webhook-row[data-webhook-id="${id}"]`);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [worker, receiver, browser] = await Promise.all([startTestWorker(), startWebhookReceiver(), launchChromium()]);
  workspace = await worker.createWorkspace(`Webhooks dashboard e2e ${Date.now().toString(36)}`);
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
  page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) cspViolations.push(message.text());
  });
  page.on('dialog', (dialog) => void dialog.accept());
  await page.goto(`${worker.url}/dashboard/`);
  await page.fill('#secret-key', workspace.secretKey);
  await page.press('#secret-key', 'Enter');
  await page.locator('a.nav-link[href="#/webhooks"]').waitFor({ timeout: 15_000 });
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
  expect(cspViolations.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await receiver?.close();
});

it('shows refused URLs at the URL field with the reason, then creates the subscription and shows its secret once', async () => {
  await page.keyboard.press('6');
  await page.locator('#webhooks-empty').waitFor({ state: 'visible', timeout: 15_000 });
  expect(await page.locator('a.nav-link[href="#/webhooks"]').getAttribute('aria-current')).toBe('page');

  await page.fill('#webhook-events', 'Order Completed');
  for (const [url, code, says] of [
    ['http://169.254.169.254/latest/meta-data', 'scheme_not_allowed', 'https://'],
    ['https://169.254.169.254/latest/meta-data', 'metadata_address', '169.254.169.254'],
    ['https://10.1.2.3/hook', 'private_address', '10.1.2.3'],
  ] as const) {
    await page.fill('#webhook-url', url);
    await page.click('#webhook-save');
    const refusal = page.locator(`#webhook-url-error [data-code="${code}"]`);
    await refusal.waitFor({ timeout: 15_000 });
    expect(await refusal.textContent()).toContain(says);
    expect(await page.getAttribute('#webhook-url', 'aria-invalid')).toBe('true');
    expect(await text('#webhook-save-status')).toBe('Not saved.');
  }
  await screenshot('webhooks-refused');

  // A subscription that would receive nothing is refused too, at the "receives" part of the form.
  await page.fill('#webhook-url', `${receiver.url}/orders`);
  await page.fill('#webhook-events', '');
  await page.click('#webhook-save');
  await page.locator('#webhook-filter-error [data-code="invalid_body"]').waitFor({ timeout: 15_000 });
  expect(await text('#webhook-filter-error')).toContain('at least one of events');
  expect(await page.locator('#webhook-url-error *').count()).toBe(0);
  expect(await webhooksOf()).toEqual([]);

  await page.fill('#webhook-events', 'Order Completed');
  await page.fill('#webhook-description', 'orders to the test receiver');
  await page.click('#webhook-save');
  await page.locator('#webhook-secret-panel').waitFor({ state: 'visible', timeout: 15_000 });
  createdSecret = await page.inputValue('#webhook-secret');
  expect(createdSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{20,}$/);
  expect(await text('#webhook-secret-warning')).toContain('You will not see this secret again.');
  await page.click('#webhook-secret-copy');
  await page.locator('#webhook-secret-copied', { hasText: 'Copied.' }).waitFor({ timeout: 5_000 });
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(createdSecret);

  const [created] = await webhooksOf();
  expect(created).toMatchObject({ url: `${receiver.url}/orders`, events: ['Order Completed'], enabled: true });
  const createdRow = row(created?.id ?? '');
  await createdRow.waitFor({ timeout: 10_000 });
  expect(await createdRow.locator('.webhook-url').textContent()).toBe(`${receiver.url}/orders`);
  expect(await createdRow.locator('.webhook-chips').textContent()).toBe('Order Completed');
  expect(await createdRow.locator('.webhook-bots').textContent()).toBe('left out');
  expect(await createdRow.locator('[data-webhook-status]').textContent()).toBe('enabled');
  await screenshot('webhooks-secret');

  await page.click('#webhook-secret-dismiss');
  expect(await page.locator('#webhook-secret-panel').isVisible()).toBe(false);
  // Gone from the page, not hidden; and the API never gives it again.
  expect(await page.inputValue('#webhook-secret')).toBe('');
  expect(await page.content()).not.toContain(createdSecret);
  expect(JSON.stringify(await webhooksOf())).not.toContain(createdSecret);
}, 90_000);

it('sends a test event (delivered, signed with the secret shown) and logs it; a real event answered 500 then 200 shows both attempts', async () => {
  const [webhook] = await webhooksOf();
  if (!webhook) throw new Error('no subscription from the previous test');
  // The test event, then the real event's two attempts.
  receiver.script('/orders', [ok, status(500), ok]);
  await row(webhook.id).locator('button.webhook-test').click();
  await page.locator('#webhooks-action-status', { hasText: 'Test event delivered' }).waitFor({ timeout: 20_000 });
  expect(await text('#webhooks-action-status')).toMatch(/HTTP 200 in \d+ ms\.$/);
  const [testRequest] = await receiver.arrived('/orders', 1);
  expect(verified(testRequest, createdSecret)).toMatchObject({ event: 'Webhook Test', properties: { subscriptionId: webhook.id } });

  await page.locator('#webhook-log').waitFor({ state: 'visible' });
  expect(await text('#webhook-log-title')).toBe(`Deliveries to ${receiver.url}/orders`);
  const testRow = page.locator('#webhook-deliveries tr.delivery-row[data-outcome="test"]');
  await testRow.waitFor({ timeout: 10_000 });
  expect(await testRow.getAttribute('data-state')).toBe('ok');
  expect(await testRow.locator('.delivery-http').textContent()).toBe('200');
  expect(await testRow.locator('.delivery-response').textContent()).toBe('ok');

  await track('Order Completed', `dashboard-order-${Date.now()}`);
  // The log refreshes itself while open: no click needed for the retry and the delivery to show.
  const delivered = page.locator('#webhook-deliveries tr.delivery-row[data-outcome="delivered"]');
  await delivered.waitFor({ timeout: 60_000 });
  const retrying = page.locator('#webhook-deliveries tr.delivery-row[data-outcome="retrying"]');
  expect(await retrying.getAttribute('data-state')).toBe('warn');
  expect(await retrying.locator('.delivery-http').getAttribute('data-http')).toBe('bad');
  expect(await retrying.locator('.delivery-http').textContent()).toBe('500');
  expect(await retrying.locator('.delivery-error').textContent()).toBe('HTTP 500');
  expect(await retrying.locator('.delivery-response').textContent()).toBe('answered 500');
  expect(await delivered.locator('td.num').first().textContent()).toBe('2');
  expect(await delivered.getAttribute('data-state')).toBe('ok');
  // Newest first: delivered (attempt 2), the 500 (attempt 1), the test.
  expect(await page.locator('#webhook-deliveries tr.delivery-row').evaluateAll((rows) => rows.map((element) => element.getAttribute('data-outcome')))).toEqual(['delivered', 'retrying', 'test']);
  const [, first, second] = receiver.at('/orders');
  expect(first?.headers['webhook-id']).toBe(second?.headers['webhook-id']);
  expect(verified(second, createdSecret)).toMatchObject({ event: 'Order Completed', userId: 'webhooks-page-buyer' });
  await screenshot('webhooks-deliveries');
}, 120_000);

it('disables and re-enables a subscription, and shows why one was disabled by its endpoint (410)', async () => {
  const [webhook] = await webhooksOf();
  if (!webhook) throw new Error('no subscription');
  await row(webhook.id).locator('button.webhook-toggle', { hasText: 'Disable' }).click();
  await row(webhook.id).locator('[data-webhook-status="disabled"]').waitFor({ timeout: 15_000 });
  expect(await row(webhook.id).locator('.webhook-disabled-reason').textContent()).toBe('disabled by the workspace');
  expect((await webhooksOf())[0]).toMatchObject({ enabled: false, disabledReason: 'disabled by the workspace' });
  await row(webhook.id).locator('button.webhook-toggle', { hasText: 'Re-enable' }).click();
  await row(webhook.id).locator('[data-webhook-status="enabled"]').waitFor({ timeout: 15_000 });
  expect(await row(webhook.id).locator('.webhook-disabled-reason').count()).toBe(0);
  expect((await webhooksOf())[0]).toMatchObject({ enabled: true, disabledReason: null });

  // Another subscription, disabled by its endpoint's 410 Gone.
  receiver.script('/gone', [status(410)]);
  const response = await fetch(`${worker.url}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `${receiver.url}/gone`, types: ['track'], description: 'an endpoint that is gone' }),
  });
  expect(response.status).toBe(201);
  const { webhook: gone } = (await response.json()) as { webhook: WebhookView };
  await track('Anything', `dashboard-gone-${Date.now()}`);
  await eventually(webhooksOf, (list) => list.some((item) => item.id === gone.id && !item.enabled), 60_000, 500);
  await page.click('#webhooks-refresh');
  const goneReason = row(gone.id).locator('.webhook-disabled-reason');
  await goneReason.waitFor({ timeout: 10_000 });
  expect(await goneReason.textContent()).toMatch(/^HTTP 410 Gone/);
  expect(await row(gone.id).locator('.webhook-chips').textContent()).toBe('type: track');
  await screenshot('webhooks-disabled');
  await row(gone.id).locator('button.webhook-toggle', { hasText: 'Re-enable' }).click();
  await row(gone.id).locator('[data-webhook-status="enabled"]').waitFor({ timeout: 15_000 });
  expect((await webhooksOf()).find((item) => item.id === gone.id)).toMatchObject({ enabled: true, disabledReason: null });
}, 120_000);

it('edits a subscription (a refused URL is shown, then a valid change saved), rotates its secret (shown once, both sign) and deletes', async () => {
  const [webhook, gone] = await webhooksOf();
  if (!webhook || !gone) throw new Error('subscriptions missing');
  const created = await fetch(`${worker.url}/v1/segments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Big spenders', condition: { type: 'performed', event: 'Order Completed', count: { op: 'at_least', value: 3 }, withinDays: 30 } }),
  });
  expect(created.status).toBe(201);
  const { segment } = (await created.json()) as { segment: { id: string } };
  // Refresh reads the segments too: the new one is offered by name.
  await page.click('#webhooks-refresh');
  await page.locator(`label[for="webhook-segment-${segment.id}"]`, { hasText: 'Big spenders' }).waitFor({ timeout: 10_000 });
  await row(webhook.id).locator('button.webhook-edit').click();
  expect(await text('#webhook-editor-title')).toBe(`Edit ${webhook.url}`);
  expect(await page.inputValue('#webhook-events')).toBe('Order Completed');
  await page.fill('#webhook-url', 'https://[fd00:ec2::254]/latest');
  await page.click('#webhook-save');
  await page.locator('#webhook-url-error [data-code="metadata_address"]').waitFor({ timeout: 15_000 });
  expect((await webhooksOf())[0]?.url).toBe(webhook.url);
  await page.fill('#webhook-url', webhook.url);
  await page.fill('#webhook-events', 'Order Completed\nSigned Up');
  await page.check('#webhook-type-identify');
  await page.check(`#webhook-segment-${segment.id}`);
  await page.click('#webhook-save');
  await page.locator('#webhook-save-status', { hasText: `Saved ${webhook.url}.` }).waitFor({ timeout: 15_000 });
  expect((await webhooksOf())[0]).toMatchObject({ events: ['Order Completed', 'Signed Up'], types: ['identify'], segments: [segment.id] });
  await row(webhook.id).locator('.webhook-chips', { hasText: 'type: identify' }).waitFor({ timeout: 10_000 });
  expect(await row(webhook.id).locator('.webhook-chips .badge').allTextContents()).toEqual(['Order Completed', 'Signed Up', 'type: identify', 'segment: Big spenders']);
  // Editing showed no secret: only create and rotate do.
  expect(await page.locator('#webhook-secret-panel').isVisible()).toBe(false);

  await row(webhook.id).locator('button.webhook-rotate').click();
  await page.locator('#webhook-secret-panel').waitFor({ state: 'visible', timeout: 15_000 });
  const rotatedSecret = await page.inputValue('#webhook-secret');
  expect(rotatedSecret).toMatch(/^whsec_/);
  expect(rotatedSecret).not.toBe(createdSecret);
  expect(await text('#webhook-secret-for')).toBe(`New secret for ${webhook.url}`);
  expect(await text('#webhook-secret-grace')).toContain('The previous secret keeps signing too');
  await row(webhook.id).locator('.hint', { hasText: 'old secret signs until' }).waitFor({ timeout: 10_000 });
  await screenshot('webhooks-rotated');
  await page.click('#webhook-secret-dismiss');
  expect(await page.inputValue('#webhook-secret')).toBe('');
  expect(await page.content()).not.toContain(rotatedSecret);

  const before = receiver.at('/orders').length;
  await row(webhook.id).locator('button.webhook-test').click();
  await page.locator('#webhooks-action-status', { hasText: 'Test event delivered' }).waitFor({ timeout: 20_000 });
  const requests = await receiver.arrived('/orders', before + 1);
  const request = requests[before];
  expect(request?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
  expect(verified(request, rotatedSecret).event).toBe('Webhook Test');
  expect(verified(request, createdSecret).event).toBe('Webhook Test');

  for (const id of [webhook.id, gone.id]) {
    await row(id).locator('button.webhook-delete').click();
    await row(id).waitFor({ state: 'detached', timeout: 15_000 });
  }
  await page.locator('#webhooks-empty').waitFor({ state: 'visible', timeout: 10_000 });
  expect(await page.locator('#webhook-log').isVisible()).toBe(false);
  expect(await webhooksOf()).toEqual([]);
}, 90_000);
