/**
 * The webhooks acceptance through the whole stack (wrangler dev: edge, local Queues, events
 * consumer, ClickHouse, the webhooks consumer, D1), events sent with the official Segment Node
 * library, received by a small HTTP server on 127.0.0.1 (allowed by the dev flag) and verified
 * with the independent `standardwebhooks` package. Each failure path has its own receiver path
 * and its own test; "not delivered" is always judged after a later delivery proves the hook ran.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Analytics } from '@segment/analytics-node';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { createRedis } from '../../lib/redis';
import { RETRY_BASE_DELAY_MS } from '../../lib/webhooks/retry';
import { monthContaining, PLAN_CATALOG } from '../../schema/plans';
import { testStackEnv } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { clickHouseClient, eventually } from './pipeline-support';
import { hang, ok, startWebhookReceiver, status, type Received, type WebhookReceiver } from './webhook-receiver';

let receiver: WebhookReceiver;
let receiverUrl: string;
let worker: TestWorker;
let workspace: Awaited<ReturnType<TestWorker['createWorkspace']>>;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  receiverUrl = receiver.url;
  worker = await startTestWorker();
});
// A workspace per test: its subscriptions exist before its first event, so no consumer holds
// an older profile of it (the profile cache lives WORKSPACE_PROFILE_TTL_SECONDS).
beforeEach(async () => {
  workspace = await worker.createWorkspace('webhooks acceptance');
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
});

async function api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${worker.url}${path}`, { ...init, headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json', ...init.headers } });
  return { status: response.status, body: (await response.json()) as T };
}

interface WebhookView {
  id: string;
  enabled: boolean;
  disabledReason: string | null;
}

async function subscribe(path: string, filter: Record<string, unknown>): Promise<{ webhook: WebhookView; secret: string }> {
  const created = await api<{ webhook: WebhookView; secret: string }>('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: `${receiverUrl}${path}`, ...filter }) });
  expect(created.status).toBe(201);
  return created.body;
}

async function track(events: Parameters<Analytics['track']>[0][]): Promise<void> {
  const analytics = new Analytics({ writeKey: workspace.writeKey, host: worker.url, flushAt: events.length });
  for (const event of events) analytics.track(event);
  await analytics.closeAndFlush({ timeout: 20_000 });
}

const at = (path: string): Received[] => receiver.at(path);
const arrived = (path: string, count: number, timeoutMs?: number): Promise<Received[]> => receiver.arrived(path, count, timeoutMs);

function verified(request: Received, secret: string): Record<string, unknown> {
  return new Webhook(secret).verify(request.body, request.headers) as Record<string, unknown>;
}

interface DeliveryView {
  webhookId: string;
  attempt: number;
  outcome: string;
  httpStatus: number | null;
  error: string | null;
  responseSnippet: string | null;
}

const deliveries = async (id: string): Promise<DeliveryView[]> => (await api<{ deliveries: DeliveryView[] }>(`/v1/webhooks/${id}/deliveries`)).body.deliveries;

it('delivers each Order Completed once, signed (verified by standardwebhooks), as the query API shows it; bot events only where asked', async () => {
  const plain = await subscribe('/orders', { events: ['Order Completed'] });
  const withBots = await subscribe('/orders-and-bots', { events: ['Order Completed'], includeBots: true });
  const crawler = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
  await track([
    { userId: 'buyer-1', event: 'Order Completed', properties: { total: 10 }, messageId: 'order-a' },
    { userId: 'buyer-1', event: 'Product Viewed', properties: {}, messageId: 'viewed-a' },
    { userId: 'crawler', event: 'Order Completed', properties: { total: 1 }, context: { userAgent: crawler }, messageId: 'order-bot' },
    { userId: 'buyer-2', event: 'Order Completed', properties: { total: 20 }, messageId: 'order-b' },
  ]);
  const botsSide = await arrived('/orders-and-bots', 3);
  const plainSide = await arrived('/orders', 2);
  const plainBodies = plainSide.map((request) => verified(request, plain.secret));
  expect(plainBodies.map((body) => body.messageId).sort()).toEqual(['order-a', 'order-b']);
  expect(botsSide.map((request) => verified(request, withBots.secret).messageId).sort()).toEqual(['order-a', 'order-b', 'order-bot']);
  const first = plainBodies.find((body) => body.messageId === 'order-a');
  expect(first).toMatchObject({ type: 'track', event: 'Order Completed', userId: 'buyer-1', properties: { total: 10 }, bot: { flagged: false } });
  expect(typeof first?.personId).toBe('string');
  expect(first?.personId).not.toBe('');
  for (const request of plainSide) {
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toMatch(/^Monfri-Webhooks\//);
    expect(request.headers['webhook-id']).toMatch(/^msg_/);
  }
  // Once each: a later marker proves nothing more was on its way.
  await track([{ userId: 'buyer-3', event: 'Order Completed', properties: {}, messageId: 'order-marker' }]);
  await arrived('/orders', 3);
  expect(at('/orders').map((request) => JSON.parse(request.body).messageId).sort()).toEqual(['order-a', 'order-b', 'order-marker']);
  expect(new Set(at('/orders').map((request) => request.headers['webhook-id'])).size).toBe(3);
  const log = await deliveries(plain.webhook.id);
  expect(log.filter((entry) => entry.outcome === 'delivered')).toHaveLength(3);
  expect(log[0]?.responseSnippet).toBe('ok');
});

it('retries a 500 and delivers once the endpoint recovers, with the same webhook-id', async () => {
  receiver.script('/flaky', [status(500), ok]);
  const { webhook, secret } = await subscribe('/flaky', { events: ['Flaky Event'] });
  await track([{ userId: 'u-flaky', event: 'Flaky Event', properties: {}, messageId: 'flaky-1' }]);
  const requests = await arrived('/flaky', 2);
  expect(requests).toHaveLength(2);
  expect(requests[0]?.headers['webhook-id']).toBe(requests[1]?.headers['webhook-id']);
  expect(verified(requests[1] as Received, secret).messageId).toBe('flaky-1');
  const log = await eventually(() => deliveries(webhook.id), (entries) => entries.length === 2);
  expect(log.map((entry) => [entry.attempt, entry.outcome, entry.httpStatus])).toEqual([
    [2, 'delivered', 200],
    [1, 'retrying', 500],
  ]);
});

/** Longer than the first retry's own backoff can be (at most RETRY_BASE_DELAY_MS, full jitter): only the header explains such a wait. */
const retryAfterSeconds = RETRY_BASE_DELAY_MS / 1000 + 3;

it('honours Retry-After on a 429', async () => {
  receiver.script('/throttled', [status(429, { 'retry-after': String(retryAfterSeconds) }), ok]);
  await subscribe('/throttled', { events: ['Throttled Event'] });
  await track([{ userId: 'u-429', event: 'Throttled Event', properties: {}, messageId: 'throttled-1' }]);
  const [first, second] = await arrived('/throttled', 2);
  expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(retryAfterSeconds * 1000);
});

it('honours Retry-After on a 503: the next attempt comes no sooner than asked, later than our own backoff could have', async () => {
  receiver.script('/unavailable', [status(503, { 'retry-after': String(retryAfterSeconds) }), ok]);
  const { webhook, secret } = await subscribe('/unavailable', { events: ['Unavailable Event'] });
  await track([{ userId: 'u-503', event: 'Unavailable Event', properties: {}, messageId: 'unavailable-1' }]);
  const [first, second] = await arrived('/unavailable', 2, 60_000);
  if (!first || !second) throw new Error('the receiver saw fewer than two attempts');
  expect(second.at - first.at).toBeGreaterThanOrEqual(retryAfterSeconds * 1000);
  expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
  expect(verified(second, secret).messageId).toBe('unavailable-1');
  const log = await eventually(() => deliveries(webhook.id), (entries) => entries.length === 2);
  expect(log.map((entry) => [entry.attempt, entry.outcome, entry.httpStatus, entry.error])).toEqual([
    [2, 'delivered', 200, null],
    [1, 'retrying', 503, `HTTP 503 (Retry-After: ${retryAfterSeconds})`],
  ]);
}, 90_000);

it('disables the subscription at once on 410 Gone, and re-enables on request', async () => {
  receiver.script('/gone', [status(410)]);
  const { webhook } = await subscribe('/gone', { events: ['Gone Event'] });
  await track([{ userId: 'u-410', event: 'Gone Event', properties: {}, messageId: 'gone-1' }]);
  const disabled = await eventually(async () => (await api<{ webhook: WebhookView }>(`/v1/webhooks/${webhook.id}`)).body.webhook, (view) => !view.enabled);
  expect(disabled.disabledReason).toMatch(/410/);
  expect(at('/gone')).toHaveLength(1);
  const reEnabled = await api<{ webhook: WebhookView }>(`/v1/webhooks/${webhook.id}`, { method: 'PATCH', body: JSON.stringify({ enabled: true }) });
  expect(reEnabled.body.webhook).toMatchObject({ enabled: true, disabledReason: null });
});

it('gives up on an endpoint that does not answer within 10 s and retries it', async () => {
  receiver.script('/slow', [hang, ok]);
  const { webhook } = await subscribe('/slow', { events: ['Slow Event'] });
  await track([{ userId: 'u-slow', event: 'Slow Event', properties: {}, messageId: 'slow-1' }]);
  await arrived('/slow', 2, 60_000);
  const log = await eventually(() => deliveries(webhook.id), (entries) => entries.length === 2);
  expect(log[1]).toMatchObject({ attempt: 1, outcome: 'retrying', httpStatus: null, error: expect.stringMatching(/timed out after 10 s/) });
  expect(log[0]).toMatchObject({ attempt: 2, outcome: 'delivered' });
});

it('never follows a redirect: a 302 is a failure and the Location is never requested', async () => {
  receiver.script('/moved', [status(302, { location: '/redirect-target' }), ok]);
  const { webhook } = await subscribe('/moved', { events: ['Moved Event'] });
  await track([{ userId: 'u-302', event: 'Moved Event', properties: {}, messageId: 'moved-1' }]);
  await arrived('/moved', 2);
  const log = await eventually(() => deliveries(webhook.id), (entries) => entries.length === 2);
  expect(log[1]).toMatchObject({ outcome: 'retrying', httpStatus: 302, error: expect.stringMatching(/redirect/) });
  expect(at('/redirect-target')).toHaveLength(0);
});

it('refuses every SSRF case at create and at update', async () => {
  const refused: [string, string][] = [
    ['http://example.com/hook', 'scheme_not_allowed'],
    ['ftp://example.com/hook', 'scheme_not_allowed'],
    ['https://user:pass@example.com/hook', 'userinfo_not_allowed'],
    ['https://example.com:8443/hook', 'port_not_allowed'],
    ['https://10.0.0.1/hook', 'private_address'],
    ['https://172.16.5.4/hook', 'private_address'],
    ['https://192.168.1.1/hook', 'private_address'],
    ['https://100.64.0.1/hook', 'private_address'],
    ['https://169.254.10.10/hook', 'private_address'],
    ['https://224.0.0.1/hook', 'private_address'],
    ['https://[fe80::1]/hook', 'private_address'],
    ['https://[fd12::1]/hook', 'private_address'],
    ['https://[ff02::1]/hook', 'private_address'],
    ['https://[::ffff:10.0.0.1]/hook', 'private_address'],
    ['https://[::ffff:127.0.0.1]/hook', 'private_address'],
    ['https://169.254.169.254/latest/meta-data', 'metadata_address'],
    ['https://[fd00:ec2::254]/latest/meta-data', 'metadata_address'],
    ['https://metadata.google.internal/computeMetadata', 'metadata_address'],
    ['https://printer.local/hook', 'host_not_allowed'],
    ['not a url', 'invalid_url'],
  ];
  for (const [url, code] of refused) {
    const created = await api<{ error: { code: string } }>('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url, events: ['Order Completed'] }) });
    expect([url, created.status, created.body.error.code]).toEqual([url, 400, code]);
  }
  const { webhook } = await subscribe('/ssrf-update', { events: ['Order Completed'] });
  const updated = await api<{ error: { code: string } }>(`/v1/webhooks/${webhook.id}`, { method: 'PATCH', body: JSON.stringify({ url: 'https://169.254.169.254/' }) });
  expect([updated.status, updated.body.error.code]).toEqual([400, 'metadata_address']);
});

it('signs with both the new and the old secret for 24 h after a rotation', async () => {
  const { webhook, secret: oldSecret } = await subscribe('/rotated', { events: ['Rotated Event'] });
  const rotated = await api<{ secret: string; webhook: { previousSecretValidUntil: string } }>(`/v1/webhooks/${webhook.id}/rotate-secret`, { method: 'POST' });
  expect(rotated.status).toBe(200);
  expect(rotated.body.secret).not.toBe(oldSecret);
  const graceHours = (Date.parse(rotated.body.webhook.previousSecretValidUntil) - Date.now()) / 3_600_000;
  expect(graceHours).toBeGreaterThan(23.9);
  expect(graceHours).toBeLessThanOrEqual(24);
  await track([{ userId: 'u-rot', event: 'Rotated Event', properties: {}, messageId: 'rotated-1' }]);
  const [request] = await arrived('/rotated', 1);
  expect(request?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
  expect(verified(request as Received, rotated.body.secret).messageId).toBe('rotated-1');
  expect(verified(request as Received, oldSecret).messageId).toBe('rotated-1');
});

it('sends a test event on request and logs it', async () => {
  const { webhook, secret } = await subscribe('/test-send', { events: ['Anything'] });
  const sent = await api<{ delivered: boolean; httpStatus: number }>(`/v1/webhooks/${webhook.id}/test`, { method: 'POST' });
  expect(sent.body).toMatchObject({ delivered: true, httpStatus: 200 });
  const [request] = await arrived('/test-send', 1);
  expect(verified(request as Received, secret).event).toBe('Webhook Test');
  expect((await deliveries(webhook.id))[0]).toMatchObject({ outcome: 'test', httpStatus: 200 });
});

it('delivers Segment Entered to a subscription for that segment', async () => {
  const { segment } = (await api<{ segment: { id: string } }>('/v1/segments', { method: 'POST', body: JSON.stringify({ name: 'signed up', condition: { type: 'performed', event: 'Signed Up', count: { op: 'at_least', value: 1 }, withinDays: 30 } }) })).body;
  await eventually(async () => (await api<{ segment: { status: string } }>(`/v1/segments/${segment.id}`)).body.segment.status, (value) => value === 'active', 30_000);
  const { secret } = await subscribe('/segments', { segments: [segment.id] });
  await track([{ userId: 'joiner', event: 'Signed Up', properties: {}, messageId: 'signed-up-1' }]);
  const [request] = await arrived('/segments', 1, 60_000);
  const body = verified(request as Received, secret);
  expect(body).toMatchObject({ event: 'Segment Entered', source: 'internal', properties: { segmentId: segment.id, decidingMessageId: 'signed-up-1' } });
});

/**
 * Plan limits are code (schema/plans.ts, no table a test could lower), so the workspace is put
 * just short of 80 % of Starter cheaply: its earlier events written straight into ClickHouse
 * (the exact count reads them) and the consumers' running estimate in Redis set to match (what
 * counting them through the pipeline would have left there; this workspace's own key). One
 * real event then crosses the line, and the rest is the real path: the usage hook's exact
 * count, the notice claimed in D1 and queued as an event, stored, matched, signed, delivered.
 */
/** The consumers' estimate key (consumers/events/usage-check.ts: usageEstimateKey; consumers are Worker code, not importable here). */
const usageEstimateKey = (workspaceId: string, month: string): string => `monfri:usage:estimate:${workspaceId}:${month}`;

async function seedCountedEvents(workspaceId: string, count: number): Promise<void> {
  const nowMs = Date.now();
  const rows = Array.from({ length: count }, (_, index) => ({ workspace_id: workspaceId, message_id: `seeded-${index}`, type: 'track', event: 'Seeded', timestamp: Math.floor(nowMs / 1000), timestamp_ms: nowMs, source: 'server', is_bot: 0 }));
  const client = clickHouseClient();
  try {
    await client.insert({ table: 'events', format: 'JSONEachRow', values: rows });
  } finally {
    await client.close();
  }
  await createRedis(testStackEnv()).set(usageEstimateKey(workspaceId, monthContaining(nowMs).id), String(count), { ex: 24 * 60 * 60 });
}

it('delivers usage.threshold to a subscription that asked for it, once, when the workspace crosses 80 % of its plan', async () => {
  workspace = await worker.createWorkspace('webhooks usage threshold', { plan: 'starter' });
  const limit = PLAN_CATALOG.starter.includedEvents;
  const notices = await subscribe('/usage-threshold', { usageThreshold: true });
  // Gets every track event, but Monfri's own events only through their own filters.
  await subscribe('/usage-all-tracks', { types: ['track'] });
  await seedCountedEvents(workspace.workspaceId, (limit * 80) / 100 - 1);
  await track([{ userId: 'u-usage', event: 'Order Completed', properties: {}, messageId: 'crossing-80' }]);

  const [notice] = await arrived('/usage-threshold', 1, 60_000);
  const month = monthContaining(Date.now()).id;
  expect(verified(notice as Received, notices.secret)).toMatchObject({
    // Deterministic (consumers/usage-notices.ts), so a resent notice is deduplicated like any retry.
    messageId: `usage.threshold:${workspace.workspaceId}:${month}:80`,
    type: 'track',
    event: 'usage.threshold',
    source: 'internal',
    properties: { threshold: 80, month, limit, plan: 'starter', counted: (limit * 80) / 100 },
  });
  // A later event proves the hook ran again since: still one notice, and none to the types subscription.
  await track([{ userId: 'u-usage', event: 'Order Completed', properties: {}, messageId: 'after-80' }]);
  await arrived('/usage-all-tracks', 2);
  expect(at('/usage-all-tracks').map((request) => JSON.parse(request.body).messageId).sort()).toEqual(['after-80', 'crossing-80']);
  expect(at('/usage-threshold')).toHaveLength(1);
}, 90_000);

const runFile = promisify(execFile);

/** Async, not spawnSync: the receiver in this process must keep answering while the CLI runs. */
async function admin(...args: string[]): Promise<{ ok: boolean; json: Record<string, unknown>; stderr: string }> {
  try {
    const { stdout } = await runFile(process.execPath, [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'dev', 'admin.ts'), ...args], {
      env: { ...process.env, MONFRI_URL: worker.url, OPERATOR_TOKEN: worker.operatorToken },
    });
    return { ok: true, json: JSON.parse(stdout) as Record<string, unknown>, stderr: '' };
  } catch (error) {
    return { ok: false, json: {}, stderr: String((error as { stderr?: unknown }).stderr ?? error) };
  }
}

it('the admin CLI creates, lists, updates, tests, shows deliveries of and deletes a webhook', async () => {
  const ws = ['--workspace', workspace.workspaceId];
  const created = await admin('webhook', 'create', ...ws, '--url', `${receiverUrl}/cli`, '--events', 'Order Completed,Signed Up', '--include-bots', 'true');
  expect(created.ok).toBe(true);
  const { webhook, secret } = created.json as { webhook: { id: string; events: string[]; includeBots: boolean }; secret: string };
  expect(webhook).toMatchObject({ events: ['Order Completed', 'Signed Up'], includeBots: true });
  expect(secret).toMatch(/^whsec_/);
  expect(((await admin('webhook', 'list', ...ws)).json.webhooks as unknown[]).length).toBe(1);
  expect((await admin('webhook', 'update', webhook.id, ...ws, '--enabled', 'false')).json).toMatchObject({ webhook: { enabled: false } });
  expect((await admin('webhook', 'update', webhook.id, ...ws, '--enabled', 'true')).json).toMatchObject({ webhook: { enabled: true } });
  expect((await admin('webhook', 'test', webhook.id, ...ws)).json).toMatchObject({ delivered: true, httpStatus: 200 });
  expect((await admin('webhook', 'deliveries', webhook.id, ...ws)).json).toMatchObject({ deliveries: [{ outcome: 'test', httpStatus: 200 }] });
  const refused = await admin('webhook', 'create', ...ws, '--url', 'https://10.0.0.1/x', '--events', 'A');
  expect(refused.ok).toBe(false);
  expect(refused.stderr).toMatch(/private_address/);
  expect((await admin('webhook', 'delete', webhook.id, ...ws)).json).toEqual({ deleted: true });
});
