/**
 * Webhooks inside workerd: the /v1/webhooks API (secrets sealed, shown once, rotation), which
 * events the after-insert hook enqueues for which subscription (through the real events
 * consumer and ClickHouse), and the webhooks consumer's paths that need no receiver: refused
 * before sending, disabled, past the retry window, failing for 5 days, poison, the DLQ. Paths
 * with a receiver (2xx, 5xx, 429, 410, timeout, redirect) are in test/e2e/webhooks.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { secretBytes } from '../../lib/webhooks/signing';
import { webhookIdOf, webhookMatches, type WebhookEventView } from '../../consumers/events/webhooks-hook';
import type { ActiveWebhook, WebhookDelivery } from '../../schema/webhooks';
import { bearer, call, createTestWorkspace, eventually } from './support';
import { collected, deliver, env } from './pipeline-support';

/** Nothing listens on port 9 (discard): every attempt fails fast with a connection error. */
const DEAD_URL = 'http://127.0.0.1:9/hook';

interface WebhookView {
  id: string;
  url: string;
  enabled: boolean;
  disabledReason: string | null;
  events: string[];
}

async function createWebhook(secretKey: string, body: Record<string, unknown>): Promise<{ status: number; webhook: WebhookView; secret: string; error?: { code: string } }> {
  const response = await call('/v1/webhooks', { method: 'POST', headers: bearer(secretKey), json: body });
  const json = await response.json<{ webhook: WebhookView; secret: string; error?: { code: string } }>();
  return { status: response.status, ...json };
}

function delivery(workspaceId: string, subscriptionId: string, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return { kind: 'webhook_delivery', workspaceId, subscriptionId, webhookId: `msg_${crypto.randomUUID().replaceAll('-', '')}`, messageId: `m-${crypto.randomUUID()}`, event: 'Order Completed', body: '{"event":"Order Completed"}', attempts: 0, firstAttemptAtMs: null, ...overrides };
}

async function log(subscriptionId: string): Promise<{ attempt: number; outcome: string; error: string | null; webhook_id: string }[]> {
  const { results } = await env.DB.prepare('SELECT attempt, outcome, error, webhook_id FROM webhook_deliveries WHERE subscription_id = ? ORDER BY id').bind(subscriptionId).all<{ attempt: number; outcome: string; error: string | null; webhook_id: string }>();
  return results;
}

describe('/v1/webhooks', () => {
  it('creates a subscription with a whsec_ secret shown once and stored sealed, lists, updates and deletes it', async () => {
    const ws = await createTestWorkspace('webhooks-crud');
    const created = await createWebhook(ws.secretKey, { url: 'https://hooks.example.com/monfri', events: ['Order Completed'], description: 'orders' });
    expect(created.status).toBe(201);
    expect(secretBytes(created.secret)).toHaveLength(32);
    expect(created.webhook).toMatchObject({ url: 'https://hooks.example.com/monfri', enabled: true, disabledReason: null, events: ['Order Completed'], types: [], segments: [], usageThreshold: false, includeBots: false });
    const stored = await env.DB.prepare('SELECT secret_sealed FROM webhook_subscriptions WHERE id = ?').bind(created.webhook.id).first<{ secret_sealed: string }>();
    expect(stored?.secret_sealed).toMatch(/^v1\./);
    expect(stored?.secret_sealed).not.toContain(created.secret.slice(6));

    const listed = await (await call('/v1/webhooks', { headers: bearer(ws.secretKey) })).text();
    expect(listed).toContain(created.webhook.id);
    expect(listed).not.toContain(created.secret.slice(6));

    const patched = await call(`/v1/webhooks/${created.webhook.id}`, { method: 'PATCH', headers: bearer(ws.secretKey), json: { enabled: false, types: ['identify'] } });
    expect(await patched.json()).toMatchObject({ webhook: { enabled: false, disabledReason: 'disabled by the workspace', types: ['identify'], events: ['Order Completed'] } });
    const reEnabled = await call(`/v1/webhooks/${created.webhook.id}`, { method: 'PATCH', headers: bearer(ws.secretKey), json: { enabled: true } });
    expect(await reEnabled.json()).toMatchObject({ webhook: { enabled: true, disabledReason: null } });

    const other = await createTestWorkspace('webhooks-other');
    expect((await call(`/v1/webhooks/${created.webhook.id}`, { headers: bearer(other.secretKey) })).status).toBe(404);
    expect((await call(`/v1/webhooks/${created.webhook.id}`, { method: 'DELETE', headers: bearer(ws.secretKey) })).status).toBe(200);
    expect((await call(`/v1/webhooks/${created.webhook.id}`, { headers: bearer(ws.secretKey) })).status).toBe(404);
  });

  it('answers bad input with a 400 and a reason', async () => {
    const ws = await createTestWorkspace('webhooks-invalid');
    expect(await createWebhook(ws.secretKey, { url: 'https://hooks.example.com/x' })).toMatchObject({ status: 400, error: { code: 'invalid_body' } });
    expect(await createWebhook(ws.secretKey, { url: 'https://hooks.example.com/x', events: ['A'], surprise: 1 })).toMatchObject({ status: 400, error: { code: 'invalid_body' } });
    expect(await createWebhook(ws.secretKey, { url: 'https://10.1.2.3/x', events: ['A'] })).toMatchObject({ status: 400, error: { code: 'private_address' } });
    // A write key (the browser's) never manages webhooks.
    expect((await call('/v1/webhooks', { headers: bearer(ws.writeKey) })).status).toBe(403);
  });

  it('rotation keeps the old secret signing for 24 h', async () => {
    const ws = await createTestWorkspace('webhooks-rotate');
    const created = await createWebhook(ws.secretKey, { url: 'https://hooks.example.com/r', events: ['A'] });
    const rotated = await (await call(`/v1/webhooks/${created.webhook.id}/rotate-secret`, { method: 'POST', headers: bearer(ws.secretKey) })).json<{ secret: string; webhook: { previousSecretValidUntil: string } }>();
    expect(rotated.secret).not.toBe(created.secret);
    expect(Date.parse(rotated.webhook.previousSecretValidUntil) - Date.now()).toBeGreaterThan(23.9 * 3_600_000);
  });

  it('the admin API serves the same routes for a chosen workspace', async () => {
    const ws = await createTestWorkspace('webhooks-admin');
    const response = await call(`/admin/workspaces/${ws.workspaceId}/webhooks`, { method: 'POST', headers: { authorization: 'Bearer test-operator-token' }, json: { url: 'https://hooks.example.com/a', usageThreshold: true } });
    expect(response.status).toBe(201);
    const listed = await (await call('/v1/webhooks', { headers: bearer(ws.secretKey) })).json<{ webhooks: WebhookView[] }>();
    expect(listed.webhooks).toHaveLength(1);
  });
});

describe('matching', () => {
  const view = (overrides: Partial<WebhookEventView>): WebhookEventView => ({ type: 'track', event: 'Order Completed', source: 'server', bot: { flagged: false, reason: null }, properties: {}, ...overrides }) as WebhookEventView;
  const hook = (filter: Partial<ActiveWebhook['filter']>, includeBots = false): ActiveWebhook => ({ id: 'wh', includeBots, filter: { events: [], types: [], segments: [], usageThreshold: false, ...filter } });

  it('matches names, types, chosen segments and usage thresholds; bots only when asked; internal events only through their own filters', () => {
    expect(webhookMatches(hook({ events: ['Order Completed'] }), view({}))).toBe(true);
    expect(webhookMatches(hook({ events: ['Signed Up'] }), view({}))).toBe(false);
    expect(webhookMatches(hook({ types: ['identify'] }), view({ type: 'identify', event: null }))).toBe(true);
    expect(webhookMatches(hook({ events: ['Order Completed'] }), view({ bot: { flagged: true, reason: 'ua' } }))).toBe(false);
    expect(webhookMatches(hook({ events: ['Order Completed'] }, true), view({ bot: { flagged: true, reason: 'ua' } }))).toBe(true);
    const entered = view({ event: 'Segment Entered', source: 'internal', properties: { segmentId: 'seg_1' } });
    expect(webhookMatches(hook({ segments: ['seg_1'] }), entered)).toBe(true);
    expect(webhookMatches(hook({ segments: ['seg_2'] }), entered)).toBe(false);
    expect(webhookMatches(hook({ types: ['track'] }), entered)).toBe(false);
    expect(webhookMatches(hook({ segments: ['seg_1'] }), view({ event: 'Segment Exited', source: 'internal', properties: { segmentId: 'seg_1' } }))).toBe(true);
    const threshold = view({ event: 'usage.threshold', source: 'internal' });
    expect(webhookMatches(hook({ usageThreshold: true }), threshold)).toBe(true);
    expect(webhookMatches(hook({ events: ['usage.threshold'] }), threshold)).toBe(false);
  });

  it('the events consumer enqueues one delivery per matching (subscription, event) after the insert', async () => {
    const ws = await createTestWorkspace('webhooks-hook');
    const orders = await createWebhook(ws.secretKey, { url: DEAD_URL, events: ['Order Completed'] });
    const identifies = await createWebhook(ws.secretKey, { url: DEAD_URL, types: ['identify'] });
    const order = collected(ws.workspaceId, { event: 'Order Completed', userId: 'u1' });
    const bot = collected(ws.workspaceId, { event: 'Order Completed', userId: 'u2', bot: { flagged: true, reason: 'ua:crawler' } });
    const identify = collected(ws.workspaceId, { type: 'identify', event: null, userId: 'u1' });
    await deliver([order, bot, identify, collected(ws.workspaceId, { event: 'Other' })]);
    const ordersLog = await eventually(() => log(orders.webhook.id), (entries) => entries.length >= 1);
    const identifiesLog = await eventually(() => log(identifies.webhook.id), (entries) => entries.length >= 1);
    expect(new Set(ordersLog.map((entry) => entry.webhook_id))).toEqual(new Set([await webhookIdOf(orders.webhook.id, order.messageId)]));
    expect(new Set(identifiesLog.map((entry) => entry.webhook_id))).toEqual(new Set([await webhookIdOf(identifies.webhook.id, identify.messageId)]));
    expect(ordersLog[0]).toMatchObject({ attempt: 1, outcome: 'retrying' });
  }, 20_000);
});

describe('webhooks consumer', () => {
  async function subscription(name: string, url = DEAD_URL): Promise<{ workspaceId: string; id: string }> {
    const ws = await createTestWorkspace(name);
    const created = await createWebhook(ws.secretKey, { url, events: ['Order Completed'] });
    return { workspaceId: ws.workspaceId, id: created.webhook.id };
  }

  it('a failed attempt is retried as a new message with the same webhook-id', async () => {
    const sub = await subscription('wh-retry');
    const message = delivery(sub.workspaceId, sub.id);
    expect((await deliver([message], { queue: 'monfri-webhooks' })).explicitAcks).toHaveLength(1);
    const entries = await eventually(() => log(sub.id), (rows) => rows.length >= 2, 20_000);
    expect(entries.slice(0, 2).map((entry) => [entry.attempt, entry.outcome, entry.webhook_id])).toEqual([
      [1, 'retrying', message.webhookId],
      [2, 'retrying', message.webhookId],
    ]);
  }, 30_000);

  it('refuses a stored URL the SSRF guard no longer allows: disabled with the reason, the delivery dead-lettered', async () => {
    const sub = await subscription('wh-refused');
    await env.DB.prepare("UPDATE webhook_subscriptions SET url = 'https://169.254.169.254/latest' WHERE id = ?").bind(sub.id).run();
    const message = delivery(sub.workspaceId, sub.id);
    await deliver([message], { queue: 'monfri-webhooks' });
    const row = await env.DB.prepare('SELECT enabled, disabled_reason FROM webhook_subscriptions WHERE id = ?').bind(sub.id).first<{ enabled: number; disabled_reason: string }>();
    expect(row?.enabled).toBe(0);
    expect(row?.disabled_reason).toMatch(/SSRF guard.*metadata/);
    expect(await log(sub.id)).toMatchObject([{ outcome: 'refused' }]);
    const letter = await env.DB.prepare('SELECT queue, reason FROM dead_letters WHERE message_id = ?').bind(message.messageId).first();
    expect(letter).toMatchObject({ queue: 'monfri-webhooks', reason: expect.stringMatching(/SSRF/) });
  });

  it('dead-letters deliveries of a disabled subscription (replayable after re-enable), with a fresh retry window', async () => {
    const sub = await subscription('wh-disabled');
    await env.DB.prepare("UPDATE webhook_subscriptions SET enabled = 0, disabled_reason = 'test' WHERE id = ?").bind(sub.id).run();
    const message = delivery(sub.workspaceId, sub.id, { attempts: 3, firstAttemptAtMs: Date.now() - 60_000 });
    await deliver([message], { queue: 'monfri-webhooks' });
    const letter = await env.DB.prepare('SELECT reason, body FROM dead_letters WHERE message_id = ?').bind(message.messageId).first<{ reason: string; body: string }>();
    expect(letter?.reason).toBe('subscription_disabled');
    expect(JSON.parse(letter?.body ?? '{}')).toMatchObject({ webhookId: message.webhookId, attempts: 0, firstAttemptAtMs: null });
    expect(await log(sub.id)).toEqual([]);
  });

  it('dead-letters a delivery still failing after the 24 h window', async () => {
    const sub = await subscription('wh-window');
    const message = delivery(sub.workspaceId, sub.id, { attempts: 17, firstAttemptAtMs: Date.now() - 25 * 3_600_000 });
    await deliver([message], { queue: 'monfri-webhooks' });
    expect(await log(sub.id)).toMatchObject([{ attempt: 18, outcome: 'dead_lettered', error: expect.stringMatching(/24 h retry window/) }]);
    const letter = await env.DB.prepare('SELECT queue FROM dead_letters WHERE message_id = ?').bind(message.messageId).first();
    expect(letter).toEqual({ queue: 'monfri-webhooks' });
  });

  it('disables an endpoint failing for 5 days, saying why', async () => {
    const sub = await subscription('wh-five-days');
    const sixDaysAgo = new Date(Date.now() - 6 * 86_400_000).toISOString();
    await env.DB.prepare('UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ?').bind(sixDaysAgo, sub.id).run();
    await deliver([delivery(sub.workspaceId, sub.id, { attempts: 1, firstAttemptAtMs: Date.now() - 60_000 })], { queue: 'monfri-webhooks' });
    const row = await env.DB.prepare('SELECT enabled, disabled_reason FROM webhook_subscriptions WHERE id = ?').bind(sub.id).first<{ enabled: number; disabled_reason: string }>();
    expect(row?.enabled).toBe(0);
    expect(row?.disabled_reason).toContain(`failing without a single success since ${sixDaysAgo} (5 days)`);
  });

  it('a failing endpoint gets one probe per batch; the rest wait without costing an attempt', async () => {
    const sub = await subscription('wh-backlog');
    await env.DB.prepare('UPDATE webhook_subscriptions SET failing_since = ? WHERE id = ?').bind(new Date().toISOString(), sub.id).run();
    await deliver([delivery(sub.workspaceId, sub.id), delivery(sub.workspaceId, sub.id), delivery(sub.workspaceId, sub.id)], { queue: 'monfri-webhooks' });
    expect(await log(sub.id)).toMatchObject([{ attempt: 1, outcome: 'retrying' }]);
  });

  it('matches an event whose subscriptions were unknown at insert time (D1 down) when it comes back', async () => {
    const sub = await subscription('wh-match-later');
    const view = { messageId: `late-${crypto.randomUUID()}`, type: 'track', event: 'Order Completed', source: 'server', bot: { flagged: false, reason: null }, properties: {} };
    await deliver([{ kind: 'webhook_match', workspaceId: sub.workspaceId, view }], { queue: 'monfri-webhooks' });
    const entries = await eventually(() => log(sub.id), (rows) => rows.length >= 1);
    expect(entries[0]?.webhook_id).toBe(await webhookIdOf(sub.id, view.messageId));
  });

  it('parks poison messages and DLQ arrivals in the dead-letter store', async () => {
    const marker = `hook-${crypto.randomUUID()}`;
    expect((await deliver([{ messageId: marker, url: 'https://example.test/hook' }], { queue: 'monfri-webhooks' })).explicitAcks).toHaveLength(1);
    expect(await env.DB.prepare('SELECT queue, reason FROM dead_letters WHERE message_id = ?').bind(marker).first()).toEqual({ queue: 'monfri-webhooks', reason: 'invalid_webhook_delivery' });
    const exhausted = `dlq-${crypto.randomUUID()}`;
    expect((await deliver([{ messageId: exhausted }], { queue: 'monfri-webhooks-dlq' })).ackAll).toBe(true);
    expect(await env.DB.prepare('SELECT queue, reason FROM dead_letters WHERE message_id = ?').bind(exhausted).first()).toEqual({ queue: 'monfri-webhooks', reason: 'retries_exhausted' });
  });
});
