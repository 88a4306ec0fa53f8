/**
 * Tracking plans and schema discovery through the whole stack (wrangler dev: edge, local Queue,
 * consumer, ClickHouse with its materialized views, the live feed over a WebSocket, D1), driven
 * by the admin CLI and the official Segment Node library:
 * - a realistic Segment Public API plan (nested objects, arrays of objects, enums, required,
 *   patterns, type unions, two versions of Order Completed) imported with `plan import`;
 * - flag mode: violating events accepted, their reasons on the live feed and in ClickHouse rows,
 *   counted per event, rule and key; the event version in context.protocols picks the rules;
 * - block mode: violating and unplanned events refused in the batch answer with their reasons,
 *   valid siblings stored; the refused ones on the live feed as `blocked` with their reasons, and
 *   counted per event, rule and key (the edge's tally, stored by the consumer) in the schema API;
 * - discovery: a key sent as a number then as a string reported with both types and counts; a
 *   high-cardinality key and a dynamic-key event flagged; look-alike event names; docs and a draft plan;
 * - `plan export` round trip and `plan codegen`, whose module type-checks in use and refuses misuse.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Analytics } from '@segment/analytics-node';
import ts from 'typescript';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { z } from 'zod';
import { REPO_ROOT } from '../../dev/process';
import { uint64 } from '../../lib/event-queries';
import { sql } from '../../lib/sql';
import { importSegmentPlan } from '../../lib/tracking-plans/segment-import';
import { startTestWorker, type TestWorker } from '../support/worker';
import { adminCli, eventually, openLiveFeed, selectRows } from './pipeline-support';

const PLAN_FILE = join(REPO_ROOT, 'lib', 'tracking-plans', 'fixtures', 'public-api.json');

let worker: TestWorker;
let scratch: string;
beforeAll(async () => {
  // Settings and plans apply at once: no per-isolate caching of keys (which carry the settings) or plans.
  worker = await startTestWorker({ KEY_CACHE_TTL_SECONDS: '0' });
  scratch = mkdtempSync(join(tmpdir(), 'monfri-e2e-plans-'));
});
afterAll(async () => {
  await worker?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const admin = (...args: string[]) => adminCli(worker, ...args);

/**
 * fetch, tried once more when a pooled keep-alive connection turned out closed by wrangler dev
 * (undici's `other side closed` on a socket left idle while the admin CLI ran). Only used for
 * requests that are safe to repeat (reads, tickets, batches with messageIds).
 */
async function fetchFresh(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause: unknown = error instanceof Error ? error.cause : null;
    if (!(cause instanceof Error && 'code' in cause && cause.code === 'UND_ERR_SOCKET')) throw error;
    return fetch(url, init);
  }
}

async function postBatch(url: string, writeKey: string, batch: unknown[]): Promise<{ status: number; body: unknown }> {
  const response = await fetchFresh(`${url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ batch }),
  });
  return { status: response.status, body: await response.json() };
}

interface FeedItem {
  messageId: string;
  status: string;
  reason: string | null;
  plan?: { flagged: boolean; unplanned: boolean; violations: { path: string; rule: string; message: string }[] };
}

/** The feed after a fresh ticket (the ticket call may meet a stale keep-alive socket, see fetchFresh). */
async function openFeed(secretKey: string, seen: FeedItem[]): Promise<WebSocket> {
  await fetchFresh(`${worker.url}/health`);
  return openLiveFeed(worker.url, secretKey, seen);
}

async function api<T>(secretKey: string, path: string): Promise<T> {
  const response = await fetchFresh(`${worker.url}${path}`, { headers: { authorization: `Bearer ${secretKey}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (path.endsWith('.md') ? await response.text() : await response.json()) as T;
}

const storedRow = z.object({ message_id: z.string(), plan_violation: uint64, violation_reason: z.string(), plan_violation_reasons: z.array(z.string()) });

function storedRows(workspaceId: string) {
  return selectRows(sql`SELECT message_id, plan_violation, violation_reason, plan_violation_reasons FROM events FINAL WHERE workspace_id = ${workspaceId} ORDER BY message_id`, storedRow);
}

interface BatchAnswer {
  accepted: number;
  rejected: { index: number; messageId: string; code: string; message: string; violations?: { path: string; rule: string }[] }[];
}

const order = (messageId: string, properties: Record<string, unknown>, version?: number) => ({
  type: 'track',
  event: 'Order Completed',
  userId: 'buyer-1',
  messageId,
  properties,
  ...(version === undefined ? {} : { context: { protocols: { event_version: version } } }),
});
const products = [{ product_id: 'p-1', sku: 'TEE-1', price: 20, quantity: 1 }];
const goodV1 = order('order-good-v1', { order_id: 'ord_a1b2c3d4', revenue: 20, currency: 'EUR', coupon: null, products, shipping: { method: 'express', address: { country: 'DE' } } });
const badV1 = order('order-bad-v1', { order_id: 'ORD-1', currency: 'JPY', products: [{ sku: 'bad sku', price: -5 }], shipping: { address: { country: 'Germany' } } });
const goodV2 = order('order-good-v2', { order_id: 'ord_a1b2c3d4', products, subtotal: 20 }, 2);
const v2WithoutSubtotal = order('order-v2-no-subtotal', { order_id: 'ord_a1b2c3d4', products }, 2);

it('imports a Segment plan, flags violations with their reasons on the feed and in ClickHouse, and counts them per rule and key', async () => {
  const ws = await worker.createWorkspace('plans flag');
  const imported = admin('plan', 'import', '--workspace', ws.workspaceId, '--file', PLAN_FILE);
  expect(imported.status, imported.stderr).toBe(0);
  expect(imported.json).toMatchObject({ changed: true, trackingPlan: { version: 1, sourceFormat: 'public_api' }, import: { format: 'public_api' } });
  expect((imported.json as { import: { warnings: unknown[] } }).import.warnings).toEqual(importSegmentPlan(JSON.parse(readFileSync(PLAN_FILE, 'utf8'))).warnings);
  expect(admin('plan', 'settings', '--workspace', ws.workspaceId, '--violations', 'flag').status).toBe(0);

  const seen: FeedItem[] = [];
  const socket = await openFeed(ws.secretKey, seen);
  const { status, body } = await postBatch(worker.url, ws.writeKey, [goodV1, badV1, goodV2, v2WithoutSubtotal]);
  expect(status).toBe(200);
  expect(body).toMatchObject({ accepted: 4, rejected: [] });

  // Outcomes only: the edge's `received` row comes first and is replaced by the consumer's.
  const feed = await eventually(() => Promise.resolve(seen.filter((item) => item.status !== 'received')), (items) => items.length >= 4);
  socket.close();
  const byId = new Map(feed.map((item) => [item.messageId, item]));
  expect(byId.get('order-good-v1')).toMatchObject({ status: 'stored', reason: null });
  expect(byId.get('order-good-v2')).toMatchObject({ status: 'stored', reason: null });
  expect(byId.get('order-bad-v1')).toMatchObject({ status: 'flagged', reason: 'plan_violation', plan: { flagged: true, unplanned: false } });
  expect(byId.get('order-bad-v1')?.plan?.violations.map((violation) => `${violation.rule} ${violation.path}`).sort()).toEqual([
    'enum properties.currency',
    'minimum properties.products[0].price',
    'pattern properties.order_id',
    'pattern properties.products[0].sku',
    'pattern properties.shipping.address.country',
    'required properties.products[0].product_id',
  ]);
  // Version 2 (asked for in context.protocols.event_version) requires a subtotal; version 1 does not.
  expect(byId.get('order-v2-no-subtotal')?.plan?.violations.map((violation) => `${violation.rule} ${violation.path}`)).toEqual(['required properties.subtotal']);

  const rows = await eventually(() => storedRows(ws.workspaceId), (found) => found.length === 4);
  const row = (id: string) => rows.find((candidate) => candidate.message_id === id);
  expect(row('order-good-v1')).toMatchObject({ plan_violation: 0, violation_reason: '', plan_violation_reasons: [] });
  expect(row('order-bad-v1')?.plan_violation).toBe(1);
  expect(row('order-bad-v1')?.plan_violation_reasons.sort()).toEqual(['enum:properties.currency', 'minimum:properties.products[].price', 'pattern:properties.order_id', 'pattern:properties.products[].sku', 'pattern:properties.shipping.address.country', 'required:properties.products[].product_id']);
  expect(row('order-bad-v1')?.violation_reason).toContain('properties.order_id: ');

  const detail = await api<{ status: string; planVersions: number[]; violations: number; keys: { path: string; planned: boolean; description: string | null; violations: { rule: string; events: number; flagged: number; blocked: number }[] }[] }>(ws.secretKey, '/v1/schema/events/Order%20Completed');
  expect(detail).toMatchObject({ status: 'planned', planVersions: [1, 2] });
  expect(detail.violations).toBe(7);
  const currency = detail.keys.find((entry) => entry.path === 'currency');
  expect(currency).toMatchObject({ planned: true, description: 'ISO 4217 currency code.', violations: [{ rule: 'enum', events: 1, flagged: 1 }] });
  expect(detail.keys.find((entry) => entry.path === 'products[].price')?.violations).toEqual([{ rule: 'minimum', events: 1, flagged: 1, blocked: 0 }]);
});

it('blocks violating and unplanned events with their reasons in the batch answer, on the live feed and in the counts, while valid siblings are stored', async () => {
  const ws = await worker.createWorkspace('plans block');
  expect(admin('plan', 'import', '--workspace', ws.workspaceId, '--file', PLAN_FILE).status).toBe(0);
  expect(admin('plan', 'settings', '--workspace', ws.workspaceId, '--violations', 'block', '--unplanned', 'block').status).toBe(0);
  const unplanned = { type: 'track', event: 'Wishlist Shared', userId: 'buyer-1', messageId: 'unplanned-1', properties: {} };
  const seen: FeedItem[] = [];
  const socket = await openFeed(ws.secretKey, seen);
  const { status, body } = await postBatch(worker.url, ws.writeKey, [badV1, goodV1, unplanned, goodV2]);
  expect(status).toBe(200);
  const answer = body as BatchAnswer;
  expect(answer.accepted).toBe(2);
  expect(answer.rejected.map((rejection) => [rejection.index, rejection.messageId, rejection.code])).toEqual([[0, 'order-bad-v1', 'plan_violation'], [2, 'unplanned-1', 'unplanned_event']]);
  expect(answer.rejected[0]?.violations).toHaveLength(6);
  expect(answer.rejected[0]?.message).toMatch(/tracking plan.*properties\./);
  const rows = await eventually(() => storedRows(ws.workspaceId), (found) => found.length >= 2);
  expect(rows.map((row) => row.message_id)).toEqual(['order-good-v1', 'order-good-v2']);

  // The live feed: the refused events once each, `blocked` from the edge with every reason; their siblings stored.
  const feed = await eventually(() => Promise.resolve(seen.filter((item) => item.status !== 'received')), (items) => items.length >= 4);
  socket.close();
  const byId = new Map(feed.map((item) => [item.messageId, item]));
  expect([...byId.keys()].sort()).toEqual(['order-bad-v1', 'order-good-v1', 'order-good-v2', 'unplanned-1']);
  expect(byId.get('order-good-v1')).toMatchObject({ status: 'stored' });
  expect(byId.get('order-bad-v1')).toMatchObject({ status: 'blocked', reason: 'plan_violation', plan: { flagged: false, unplanned: false } });
  expect(byId.get('order-bad-v1')?.plan?.violations.map((violation) => `${violation.rule} ${violation.path}`).sort()).toEqual(answer.rejected[0]?.violations?.map((violation) => `${violation.rule} ${violation.path}`).sort());
  expect(byId.get('unplanned-1')).toMatchObject({ status: 'blocked', reason: 'unplanned_event', plan: { unplanned: true, violations: [{ rule: 'unplanned', path: 'event' }] } });
  expect(seen.filter((item) => item.status === 'blocked')).toHaveLength(2);

  // The counts: the edge's one tally for the request, stored by the consumer, next to the (absent) stored violations.
  type Counts = { rule: string; events: number; flagged: number; blocked: number };
  const detail = await eventually(
    () => api<{ violations: number; blocked: number; keys: { path: string; violations: Counts[] }[] }>(ws.secretKey, '/v1/schema/events/Order%20Completed'),
    (value) => value.blocked > 0,
  );
  expect(detail).toMatchObject({ violations: 0, blocked: 6 });
  expect(detail.keys.find((entry) => entry.path === 'currency')?.violations).toEqual([{ rule: 'enum', events: 0, flagged: 0, blocked: 1 }]);
  expect(detail.keys.find((entry) => entry.path === 'products[].sku')?.violations).toEqual([{ rule: 'pattern', events: 0, flagged: 0, blocked: 1 }]);
  // An event only ever refused is in no discovery table, and still listed with its blocked count.
  const report = await api<{ events: { event: string; status: string; volume: number; blocked: number }[] }>(ws.secretKey, '/v1/schema');
  expect(report.events.find((entry) => entry.event === 'Wishlist Shared')).toMatchObject({ status: 'unplanned', volume: 0, blocked: 1 });
  const wishlist = await api<{ otherViolations: Counts[] }>(ws.secretKey, '/v1/schema/events/Wishlist%20Shared');
  expect(wishlist.otherViolations).toMatchObject([{ rule: 'unplanned', path: 'event', events: 0, blocked: 1 }]);
  expect(await api<string>(ws.secretKey, '/v1/schema/docs.md')).toContain('| Wishlist Shared | track | unplanned | 0 | — | 0 | 1 | 0 |');

  // The same batch again (a client retry): its tally has the same id, so the consumer does not count it twice.
  const again = await postBatch(worker.url, ws.writeKey, [badV1, unplanned]);
  expect(again.body).toMatchObject({ accepted: 0, error: { code: 'no_events_accepted' } });
  const marker = { type: 'track', event: 'Wishlist Shared', userId: 'buyer-1', messageId: 'unplanned-2', properties: {} };
  expect((await postBatch(worker.url, ws.writeKey, [marker])).body).toMatchObject({ accepted: 0 });
  const recount = await eventually(() => api<{ blocked: number }>(ws.secretKey, '/v1/schema/events/Wishlist%20Shared'), (value) => value.blocked >= 2);
  expect(recount.blocked).toBe(2);
  expect((await api<{ blocked: number }>(ws.secretKey, '/v1/schema/events/Order%20Completed')).blocked).toBe(6);

  // Segment's own library gets the same answer: the refused event is not retried as a failure of the whole batch.
  const analytics = new Analytics({ writeKey: ws.writeKey, host: worker.url, flushAt: 2 });
  analytics.track({ userId: 'buyer-2', event: 'Order Completed', properties: { order_id: 'ord_zzzzzzzz', products }, messageId: 'segment-good' });
  analytics.track({ userId: 'buyer-2', event: 'Order Completed', properties: { order_id: 'nope' }, messageId: 'segment-bad' });
  await analytics.closeAndFlush({ timeout: 20_000 });
  const after = await eventually(() => storedRows(ws.workspaceId), (found) => found.some((row) => row.message_id === 'segment-good'));
  expect(after.map((row) => row.message_id)).not.toContain('segment-bad');
});

interface SchemaAnswer {
  events: { type: string; event: string; status: string; volume: number; warnings: { code: string; path: string | null }[] }[];
  warnings: { code: string; event: string; path: string | null }[];
}

it('discovers keys, types and cardinality as events arrive, warns about likely bugs, documents and drafts a plan', async () => {
  const ws = await worker.createWorkspace('plans discovery');
  expect(admin('plan', 'import', '--workspace', ws.workspaceId, '--file', PLAN_FILE).status).toBe(0);
  const track = (event: string, messageId: string, properties: Record<string, unknown>) => ({ type: 'track', event, anonymousId: 'visitor-1', messageId, properties });
  const scrolls = Array.from({ length: 1200 }, (_, index) => track('Page Scrolled', `scroll-${index}`, { scroll_id: `s-${index}-${index * 7919}`, section: index % 2 === 0 ? 'top' : 'bottom', depth: index % 4 }));
  const batch = [
    track('Level Up', 'level-1', { score: 5, level: 2 }),
    track('Level Up', 'level-2', { score: 'five', level: 3 }),
    track('level up', 'level-3', { score: 7, level: 4 }),
    track('Prefs Saved', 'prefs-1', { prefs: { user_123: true, user_456: false }, theme: 'dark' }),
    { type: 'identify', userId: 'buyer-1', messageId: 'identify-1', traits: { email: 'buyer@example.com', plan: 'pro' } },
    ...scrolls,
  ];
  const sent = await postBatch(worker.url, ws.writeKey, batch);
  expect(sent.body).toMatchObject({ accepted: batch.length, rejected: [] });

  const report = await eventually(
    () => api<SchemaAnswer>(ws.secretKey, '/v1/schema'),
    (value) => value.events.find((event) => event.event === 'Page Scrolled')?.volume === 1200 && value.events.some((event) => event.event === 'Prefs Saved'),
    60_000,
  );
  const status = (event: string) => report.events.find((entry) => entry.event === event)?.status;
  expect(status('Level Up')).toBe('unplanned');
  expect(status('Order Completed')).toBe('never_seen');
  expect(report.events.find((entry) => entry.type === 'identify')?.status).toBe('planned');
  const warnings = report.warnings.map((warning) => `${warning.code} ${warning.event} ${warning.path ?? ''}`.trim());
  expect(warnings).toContain('type_changed Level Up score');
  expect(warnings).toContain('high_cardinality Page Scrolled scroll_id');
  expect(warnings).toContain('dynamic_key Prefs Saved prefs.{id}');
  expect(warnings).toContain('similar_event_names Level Up');
  expect(warnings).toContain('similar_event_names level up');
  expect(warnings.filter((warning) => warning.startsWith('high_cardinality'))).toEqual(['high_cardinality Page Scrolled scroll_id']);

  const levelUp = await api<{ keys: { path: string; types: { type: string; count: number }[]; distinctValues: number; example: string | null }[] }>(ws.secretKey, '/v1/schema/events/Level%20Up');
  const score = levelUp.keys.find((entry) => entry.path === 'score');
  expect(score?.types.map((entry) => [entry.type, entry.count])).toEqual([['integer', 1], ['string', 1]]);
  expect(score?.distinctValues).toBe(2);
  const identify = await api<{ keys: { path: string; example: string | null }[] }>(ws.secretKey, '/v1/schema/events/_?type=identify');
  expect(identify.keys.find((entry) => entry.path === 'email')?.example).toBeNull();
  expect(identify.keys.find((entry) => entry.path === 'plan')?.example).toBe('pro');

  const docs = await api<string>(ws.secretKey, '/v1/schema/docs.md');
  expect(docs).toContain('# Event schema: plans discovery');
  expect(docs).toContain('## Level Up');
  expect(docs).toContain('| `score` | integer (1), string (1) | 2 |');
  expect(docs).toContain('⚠ high_cardinality');

  const draftPath = join(scratch, 'draft.json');
  expect(admin('plan', 'draft', '--workspace', ws.workspaceId, '--out', draftPath).status).toBe(0);
  const draft = JSON.parse(readFileSync(draftPath, 'utf8')) as { plan: { events: { name: string; rules: { properties: Record<string, unknown> } }[] } };
  expect(draft.plan.events.find((event) => event.name === 'Level Up')?.rules.properties['score']).toEqual({ type: ['integer', 'string'] });
  const adopted = await fetchFresh(`${worker.url}/v1/tracking-plan`, { method: 'PUT', headers: { authorization: `Bearer ${ws.secretKey}`, 'content-type': 'application/json' }, body: JSON.stringify(draft.plan) });
  expect(adopted.status).toBe(200);
  expect(((await adopted.json()) as { trackingPlan: { version: number; sourceFormat: string } }).trackingPlan).toMatchObject({ version: 2, sourceFormat: 'monfri' });
});

it('exports the plan back to both Segment shapes and generates a typed client that compiles in use and refuses misuse', () => {
  const ws = { id: '' };
  const created = admin('workspace', 'create', '--name', 'plans codegen');
  ws.id = (created.json as { workspace: { id: string } }).workspace.id;
  expect(admin('plan', 'import', '--workspace', ws.id, '--file', PLAN_FILE).status).toBe(0);
  const original = importSegmentPlan(JSON.parse(readFileSync(PLAN_FILE, 'utf8'))).plan;
  for (const format of ['config-api', 'public-api']) {
    const out = join(scratch, `export-${format}.json`);
    const exported = admin('plan', 'export', '--workspace', ws.id, '--format', format, '--out', out);
    expect(exported.status, exported.stderr).toBe(0);
    const { id: _id, ...reimported } = importSegmentPlan(JSON.parse(readFileSync(out, 'utf8'))).plan;
    const { id: _originalId, ...expected } = original;
    expect(reimported).toEqual(expected);
  }
  const versions = admin('plan', 'versions', '--workspace', ws.id);
  expect(versions.json).toMatchObject({ current: 1, versions: [{ version: 1, sourceFormat: 'public_api', actor: 'operator' }] });

  const module = join(scratch, 'tracking-plan.ts');
  const generated = admin('plan', 'codegen', '--workspace', ws.id, '--out', module);
  expect(generated.status, generated.stderr).toBe(0);
  expect(generated.json).toMatchObject({ written: module, events: 5 });
  const usage = join(scratch, 'usage.ts');
  const misuse = join(scratch, 'misuse.ts');
  const header = `import { createTrackingPlanClient } from './tracking-plan';\nconst tracking = createTrackingPlanClient({ track: (event: string, properties?: Record<string, unknown>) => console.log(event, properties) });\n`;
  writeFileSync(usage, `${header}tracking.orderCompleted({ order_id: 'ord_a1b2c3d4', products: [{ product_id: 'p', price: 1 }], currency: 'EUR', coupon: null });\ntracking.track('Signed Up', { method: 'google' });\n`);
  writeFileSync(misuse, `${header}tracking.orderCompleted({ order_id: 'ord_a1b2c3d4', products: [{ product_id: 'p', price: '1' }], currency: 'JPY' });\ntracking.track('Order Shipped', {});\n`);
  const program = ts.createProgram({ rootNames: [module, usage, misuse], options: { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: [], skipLibCheck: true } });
  const errorsIn = (path: string) => ts.getPreEmitDiagnostics(program, program.getSourceFile(path)).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  expect(errorsIn(module)).toEqual([]);
  expect(errorsIn(usage)).toEqual([]);
  const misuses = errorsIn(misuse).join('\n');
  expect(misuses).toMatch(/Type 'string' is not assignable to type 'number'/);
  expect(misuses).toMatch(/"JPY"/);
  expect(misuses).toMatch(/"Order Shipped"/);
});
