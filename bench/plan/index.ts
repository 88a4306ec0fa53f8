/**
 * `npm run bench -- plan`: what tracking plans and schema discovery cost per event.
 * - Edge: CPU per event of the real Hono app (/v1/batch, 500 events, I/O stubbed as in
 *   bench/edge) for a workspace without a plan, with a 200-event plan (plus a common rule)
 *   that every event conforms to, and with the same plan in flag mode when 10% of the events
 *   break it. Requests of the three kinds alternate, so they share the machine's conditions;
 *   the ratio to the no-plan median is the number to read (goal: at most +10%).
 * The plan is lib/tracking-plans/fixtures/benchmark-plan.ts (also used by validate-benchmark.test.ts).
 * - Consumer: the discovery columns (paths, types, value hashes, examples) and the plan columns
 *   per event, against building the whole ClickHouse row (which includes them).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { buildEventRow } from '../../consumers/events/event-row';
import { planViolationColumns, schemaColumns } from '../../consumers/events/schema-paths';
import { REPO_ROOT } from '../../dev/process';
import { benchmarkPlan, conformingPropertiesOf } from '../../lib/tracking-plans/fixtures/benchmark-plan';
import type { CollectedEvent, JsonObject } from '../../schema/event';
import type { PlannedEvent, TrackingPlan } from '../../schema/tracking-plan';
import { perEventMicros, recordingQueue, stubCloudflareModules, stubUpstash } from '../edge/index';
import { summarize, writeReport, type Row } from '../report';

const GOAL_RATIO = 1.1;
const PLAN_SIZE = 200;
const BATCH = 500;
const ROUNDS = 120;
const SECRET_KEY = 'sk_bench_plan_key_000000000000000000';

interface FetchableApp {
  fetch(request: Request, env: unknown, ctx: unknown): Response | Promise<Response>;
}

const BROKEN: JsonObject = { order_id: 'nope', products: [] };

/** `names`: how many of the plan's events the traffic uses (all of them evenly, or a few, as real traffic concentrates). */
function batchBody(plan: TrackingPlan, variant: number, brokenShare: number, names = plan.events.length): string {
  const batch = Array.from({ length: BATCH }, (_, index) => {
    const planned = plan.events[(variant * BATCH + index) % names] as PlannedEvent;
    const broken = brokenShare > 0 && index % Math.round(1 / brokenShare) === 0 && planned.name.startsWith('Order Completed');
    return {
      type: 'track',
      event: planned.name,
      messageId: `plan-${variant}-${index}-${Math.random().toString(36).slice(2)}`,
      userId: `user-${index % 50}`,
      properties: broken ? BROKEN : conformingPropertiesOf(planned.name),
      context: { app: { version: '2.14.0' }, locale: 'en-GB', library: { name: 'analytics-node', version: '2.1.0' } },
      originalTimestamp: new Date(Date.now() - 1000 - index).toISOString(),
    };
  });
  return JSON.stringify({ batch, sentAt: new Date().toISOString() });
}

/** Answers the key lookup (with the workspace's plan settings) and the plan lookup, the way D1 would. */
function stubDatabase(workspaceId: string, plan: TrackingPlan | null, violations: 'allow' | 'flag'): unknown {
  const keyRow = {
    id: `key_${workspaceId}`,
    workspace_id: workspaceId,
    kind: 'secret',
    prefix: SECRET_KEY.slice(0, 10),
    label: '',
    allowed_origins: '[]',
    created_at: '2026-01-01T00:00:00.000Z',
    revoked_at: null,
    w_name: workspaceId,
    w_plan: 'growth',
    w_anonymize_ip: 0,
    w_created_at: '2026-01-01T00:00:00.000Z',
    w_trial_ends_at: null,
    w_settings: JSON.stringify({ trackingPlan: { violations, unplanned: 'allow' } }),
  };
  const planRow = plan ? { id: `tp_${workspaceId}`, version: 1, plan: JSON.stringify(plan) } : null;
  return { prepare: (text: string) => ({ bind: () => ({ first: async () => (text.includes('tracking_plans') ? planRow : keyRow) }) }) };
}

interface Workspace {
  label: string;
  env: Record<string, unknown>;
  bodies: string[];
  app: FetchableApp;
}

async function importRepo<T>(...segments: string[]): Promise<T> {
  return (await import(pathToFileURL(join(REPO_ROOT, ...segments)).href)) as T;
}

/** CPU µs per event of one warm request (waitUntil work included). */
async function cpuPerEvent(workspace: Workspace, index: number): Promise<{ cpu: number; accepted: number }> {
  const pending: Promise<unknown>[] = [];
  const ctx = { waitUntil: (promise: Promise<unknown>) => pending.push(promise), passThroughOnException: () => {}, props: {} };
  const request = new Request('https://monfri.bench/v1/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Basic ${btoa(`${SECRET_KEY}:`)}`, 'user-agent': 'analytics-node-next/3.1.0' },
    body: workspace.bodies[index % workspace.bodies.length],
  });
  const before = process.cpuUsage();
  const response = await workspace.app.fetch(request, workspace.env, ctx);
  const answer = (await response.json()) as { accepted: number };
  await Promise.all(pending.splice(0));
  const cpu = process.cpuUsage(before);
  if (response.status !== 200) throw new Error(`${workspace.label}: ${response.status}`);
  return { cpu: (cpu.user + cpu.system) / BATCH, accepted: answer.accepted };
}

async function edgeRows(): Promise<Row[]> {
  stubCloudflareModules();
  const upstash = stubUpstash();
  upstash.commandsPerPipeline = BATCH;
  const { createApp } = await importRepo<{ createApp(): FetchableApp }>('workers', 'app.ts');
  const plan = benchmarkPlan(PLAN_SIZE);
  const { queue } = recordingQueue();
  const common = { EVENTS: queue, KEY_CACHE_TTL_SECONDS: '3600', STREAM_MAXLEN: '100000', UPSTASH_REDIS_REST_URL: 'http://upstash.bench', UPSTASH_REDIS_REST_TOKEN: 'bench' };
  // One app per workspace, so each has its own warm key and plan caches, as a busy isolate would.
  const workspaces: Workspace[] = [
    { label: 'no plan', env: { ...common, DB: stubDatabase('ws_none', null, 'allow') }, bodies: Array.from({ length: 8 }, (_, variant) => batchBody(plan, variant, 0)), app: createApp() },
    { label: `${PLAN_SIZE}-event plan, all conform`, env: { ...common, DB: stubDatabase('ws_plan', plan, 'flag') }, bodies: Array.from({ length: 8 }, (_, variant) => batchBody(plan, variant, 0)), app: createApp() },
    { label: `${PLAN_SIZE}-event plan, all conform, traffic on 5 of its events`, env: { ...common, DB: stubDatabase('ws_few', plan, 'flag') }, bodies: Array.from({ length: 8 }, (_, variant) => batchBody(plan, variant, 0, 5)), app: createApp() },
    { label: `${PLAN_SIZE}-event plan, 10% of Order Completed break it (flag)`, env: { ...common, DB: stubDatabase('ws_flag', plan, 'flag') }, bodies: Array.from({ length: 8 }, (_, variant) => batchBody(plan, variant, 0.1)), app: createApp() },
  ];
  const samples = workspaces.map(() => [] as number[]);
  const accepted = workspaces.map(() => 0);
  for (let round = 0; round < ROUNDS + 20; round++) {
    for (const [index, workspace] of workspaces.entries()) {
      const sample = await cpuPerEvent(workspace, round);
      if (round < 20) continue;
      samples[index]?.push(sample.cpu);
      accepted[index] = (accepted[index] ?? 0) + sample.accepted;
    }
  }
  const baseline = summarize(samples[0] ?? []).p50;
  return workspaces.map((workspace, index) => {
    const cpu = summarize(samples[index] ?? []);
    return {
      workspace: workspace.label,
      requests: cpu.n,
      'CPU median µs/event': cpu.p50,
      'CPU p99 µs/event': cpu.p99,
      'vs no plan': cpu.p50 / baseline,
      [`goal ≤ ×${GOAL_RATIO}`]: index === 0 ? '—' : cpu.p50 / baseline <= GOAL_RATIO ? 'met' : 'missed',
      accepted: accepted[index] ?? 0,
    };
  });
}

function consumerRows(): Row[] {
  const plan = benchmarkPlan(PLAN_SIZE);
  const events: CollectedEvent[] = Array.from({ length: 2000 }, (_, index) => {
    const planned = plan.events[index % plan.events.length] as PlannedEvent;
    const at = new Date(Date.now() - index).toISOString();
    return {
      v: 1,
      workspaceId: 'ws_bench',
      messageId: `m-${index}`,
      type: 'track',
      event: planned.name,
      userId: `user-${index % 50}`,
      anonymousId: null,
      groupId: null,
      previousId: null,
      properties: conformingPropertiesOf(planned.name),
      traits: {},
      context: { app: { version: '2.14.0' }, locale: 'en-GB', library: { name: 'analytics-node', version: '2.1.0' } },
      integrations: {},
      timestamp: at,
      originalTimestamp: at,
      sentAt: at,
      receivedAt: at,
      timestampAdjustment: null,
      source: 'server',
      ip: null,
      userAgent: null,
      geo: null,
      library: { name: 'analytics-node', version: '2.1.0' },
      sessionId: null,
      bot: { flagged: false, reason: null },
      ...(index % 10 === 0 ? { plan: { flagged: true, unplanned: false, violations: [{ path: 'properties.order_id', rule: 'pattern', message: 'must match pattern' }] } } : {}),
    };
  });
  const each = (step: (event: CollectedEvent) => unknown) => perEventMicros(events, (event) => step(event as CollectedEvent), 40);
  const row = each((event) => buildEventRow(event, 'person', Date.now()));
  const discovery = each((event) => schemaColumns(event));
  const planColumns = each((event) => planViolationColumns(event.plan));
  const paths = events.reduce((sum, event) => sum + schemaColumns(event).schema_paths.length, 0) / events.length;
  return [
    { step: 'whole ClickHouse row (buildEventRow, discovery included)', 'µs/event': row, 'share of the row': 1 },
    { step: `discovery columns (${paths.toFixed(1)} values/event on average)`, 'µs/event': discovery, 'share of the row': discovery / row },
    { step: 'plan violation columns (1 event in 10 carries a verdict)', 'µs/event': planColumns, 'share of the row': planColumns / row },
  ];
}

export async function run(): Promise<void> {
  // workerd forbids `new Function`, so zod runs there without its JIT fast paths; match that here.
  z.config({ jitless: true });
  const edge = await edgeRows();
  const ratio = (index: number): string => Number(edge[index]?.['vs no plan']).toFixed(3);
  writeReport('plan-edge', `Edge CPU per event with and without a ${PLAN_SIZE}-event tracking plan (real Hono app, I/O stubbed)`, edge, [
    `Goal: a conforming event costs at most ×${GOAL_RATIO} of the no-plan edge. Measured: ×${ratio(1)} with traffic spread over all ${PLAN_SIZE} events, ×${ratio(2)} with traffic on 5 of them.`,
    `Each request: POST /v1/batch with ${BATCH} track events of the plan's names (secret key, stream mirror to an instant stub); the three workspaces' requests alternate for ${ROUNDS} rounds after 20 warm-up rounds; CPU = process.cpuUsage() per request / events.`,
    'The plan is the Public API fixture\'s event shapes repeated to 200 names plus its common (context) rule; compiled once per isolate by plan revision; the plan lookup is cached per isolate like the key.',
    'Traffic spread evenly over all 200 events is the worst case: each event\'s compiled checks are separate closures that V8 warms up (and keeps type feedback for) one by one; the 5-event row shows traffic concentrated on a few events, as real traffic is.',
    'Broken events cost more: they are run through @cfworker/json-schema to find every reason (lib/tracking-plans/validate.ts).',
    'Measured in Node (V8) with jitless zod, not workerd.',
  ]);
  writeReport('plan-consumer', 'Consumer cost per event of schema discovery (row build, Node)', consumerRows(), [
    'Best of 40 rounds over 2,000 events shaped like the edge bench\'s; the discovery columns are computed while the row is built, so the first row includes them.',
    'ClickHouse then aggregates them in materialized views at insert time (schema_events, schema_keys, plan_violation_counts); that cost is on the ClickHouse side and not in this table.',
  ]);
}
