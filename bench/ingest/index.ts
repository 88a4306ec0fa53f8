/**
 * `npm run bench -- ingest`: the full local pipeline. N events (BENCH_N, default 100,000)
 * in batches of 50 over HTTP to the real Worker (wrangler dev: collect -> local Queue ->
 * consumer -> ClickHouse 18.16), then:
 * - throughput: events/s from the first POST until all N are queryable
 * - POST latency p50/p99
 * - POST -> queryable-in-ClickHouse latency p50/p99 (sampled: every 5th batch, polled every 25 ms)
 * - ClickHouse insert latency per consumer batch (median), from the consumer's own step
 *   timings (Redis list monfri:pipeline_stats, written by consumers/events/handler.ts)
 * - the same inserts done raw (one client, the same batch sizes, sequential) as the ceiling
 */
import { Redis as IORedis } from 'ioredis';
import { z } from 'zod';
import { buildEventRow } from '../../consumers/events/event-row';
import { PIPELINE_STATS_KEY } from '../../consumers/events/stats-key';
import { createClickHouse } from '../../lib/clickhouse';
import { countStoredQuery, EVENTS_TABLE, queryRows, uint64 } from '../../lib/event-queries';
import { sql } from '../../lib/sql';
import type { CollectedEvent } from '../../schema/event';
import { freePort, logStep } from '../../dev/process';
import { startStack } from '../../dev/stack';
import { runtimeNote, startSnapshotWorker } from './snapshot-worker';
import { summarize, writeReport, type Row } from '../report';

const BATCH_SIZE = 50;
const SENDERS = 4;
const PROBE_EVERY = 5;
const IDLE_PROBES = 20;
/** Pause before each idle probe (and each paced raw insert), so the pipeline is really idle in between. */
const IDLE_PAUSE_MS = 100;
/** Raw inserts sampled during the load: consumer-sized (the median batch under load is 100), a few per second. */
const RAW_UNDER_LOAD_ROWS = 100;
const RAW_UNDER_LOAD_PAUSE_MS = 250;
const OPERATOR_TOKEN = 'bench-operator-token';

const batchReport = z.object({
  at: z.number(),
  startedAt: z.number().optional(),
  settledAt: z.number().optional(),
  messages: z.number(),
  workspaceIds: z.array(z.string()).default([]),
  eventsInsertMs: z.number().nullable(),
  steps: z.record(z.string(), z.number()),
  outcomes: z.record(z.string(), z.number()),
});

function benchEvent(index: number, runId: string): Record<string, unknown> {
  return {
    type: 'track',
    messageId: `bench-${runId}-${index}`,
    userId: `user-${index % 5000}`,
    // Each user keeps one anonymous id (a realistic journey: linked once, no identity conflicts).
    anonymousId: `anon-${index % 5000}`,
    event: ['Viewed Page', 'Clicked', 'Signed Up', 'Purchased'][index % 4],
    properties: { index, plan: index % 3 === 0 ? 'pro' : 'free', price: (index % 100) + 0.99, path: `/p/${index % 50}` },
    context: { page: { url: `https://bench.test/p/${index % 50}`, path: `/p/${index % 50}` }, library: { name: 'bench', version: '1' } },
  };
}

async function post(url: string, key: string, batch: unknown[]): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`POST /v1/batch answered ${response.status}`);
  return performance.now() - started;
}

export async function run(): Promise<void> {
  const total = Number(process.env.BENCH_N ?? 100_000);
  if (!Number.isInteger(total) || total < BATCH_SIZE) throw new Error('BENCH_N must be a whole number >= 50');
  const database = process.env.BENCH_DATABASE ?? 'monfri_bench';
  logStep(`ingest bench: ${total} events in batches of ${BATCH_SIZE}, ${SENDERS} concurrent senders, database ${database}`);
  const stack = await startStack({ database, upstashPort: await freePort(), quiet: true });
  const worker = await startSnapshotWorker({ ...stack.workerEnv, OPERATOR_TOKEN, LIVE_TICKET_SECRET: 'bench', SESSION_SECRET: 'bench', RETRY_BASE_SECONDS: '1' });
  const clickhouse = createClickHouse({ CLICKHOUSE_URL: stack.clickhouse.url, CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default', CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '', CLICKHOUSE_DATABASE: database });
  const redis = new IORedis(stack.redis.url);
  try {
    const created = await fetch(`${worker.url}/admin/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
    const workspace = z.object({ workspace: z.object({ id: z.string() }), secretKey: z.string() }).parse(await created.json());
    const workspaceId = workspace.workspace.id;
    const runId = `${Date.now().toString(36)}`;
    const stored = async (): Promise<number> => (await queryRows(clickhouse, countStoredQuery(workspaceId), z.object({ events: uint64, rows: uint64 })))[0]?.events ?? 0;
    const visible = async (messageId: string): Promise<boolean> =>
      (await queryRows(clickhouse, sql`SELECT count() AS n FROM events WHERE workspace_id = ${workspaceId} AND message_id = ${messageId}`, z.object({ n: uint64 })))[0]?.n === 1;

    // Raw inserts into a workspace of their own, rows built like the consumer builds them.
    const rawWorkspace = `bench-raw-${runId}`;
    let rawIndex = 0;
    const rawInsert = async (size: number): Promise<number> => {
      const rows = Array.from({ length: size }, () => {
        const index = rawIndex++;
        const event = benchEvent(index, `raw-${runId}`);
        const collected: CollectedEvent = {
          v: 1, workspaceId: rawWorkspace, messageId: String(event.messageId), type: 'track', event: String(event.event), userId: `user-${index % 5000}`, anonymousId: `anon-${index % 5000}`,
          groupId: null, previousId: null, properties: { index, plan: 'pro', price: 1.99, path: '/p/1' }, traits: {}, context: { page: { url: 'https://bench.test/p/1', path: '/p/1' } }, integrations: {},
          timestamp: new Date().toISOString(), originalTimestamp: null, sentAt: null, receivedAt: new Date().toISOString(), timestampAdjustment: null, source: 'server',
          ip: null, userAgent: null, geo: null, library: { name: 'bench', version: '1' }, sessionId: null, bot: { flagged: false, reason: null },
        };
        return buildEventRow(collected, `user:user-${index % 5000}`, Date.now());
      });
      const started = performance.now();
      await clickhouse.insert({ table: EVENTS_TABLE, format: 'JSONEachRow', values: rows });
      return performance.now() - started;
    };

    const batches = Math.ceil(total / BATCH_SIZE);
    const postLatencies: number[] = [];
    const visibleLatencies: number[] = [];
    let next = 0;
    let sending = true;
    /** Probes: the last event of every PROBE_EVERY-th batch, with the time its POST started. */
    const probes = new Map<string, number>();
    const startedAt = performance.now();

    const sender = async (): Promise<void> => {
      for (;;) {
        const batchIndex = next++;
        if (batchIndex >= batches) return;
        const events = Array.from({ length: Math.min(BATCH_SIZE, total - batchIndex * BATCH_SIZE) }, (_, offset) => benchEvent(batchIndex * BATCH_SIZE + offset, runId));
        const postStarted = performance.now();
        postLatencies.push(await post(worker.url, workspace.secretKey, events));
        const last = events.at(-1);
        if (last && batchIndex % PROBE_EVERY === 0) probes.set(String(last.messageId), postStarted);
      }
    };
    // One ClickHouse query per poll for all pending probes, so probing adds a constant, small load.
    const prober = async (): Promise<void> => {
      while (sending || probes.size > 0) {
        const pending = [...probes.keys()];
        if (pending.length > 0) {
          const seen = await queryRows(clickhouse, sql`SELECT message_id FROM events WHERE workspace_id = ${workspaceId} AND has(${pending}, message_id)`, z.object({ message_id: z.string() }));
          const now = performance.now();
          for (const { message_id: messageId } of seen) {
            const postStarted = probes.get(messageId);
            if (postStarted === undefined) continue;
            visibleLatencies.push(now - postStarted);
            probes.delete(messageId);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    // Raw inserts of a consumer-sized batch while the pipeline is loaded: what contention alone does to the same insert.
    const rawUnderLoad: number[] = [];
    const rawSampler = async (): Promise<void> => {
      while (sending) {
        rawUnderLoad.push(await rawInsert(RAW_UNDER_LOAD_ROWS));
        await new Promise((resolve) => setTimeout(resolve, RAW_UNDER_LOAD_PAUSE_MS));
      }
    };
    const probing = prober();
    const sampling = rawSampler();
    await Promise.all(Array.from({ length: SENDERS }, sender));
    const postsDoneAt = performance.now();
    sending = false;
    await sampling;
    for (;;) {
      if ((await stored()) >= total) break;
      if (performance.now() - postsDoneAt > 15 * 60_000) throw new Error('events did not all arrive within 15 minutes');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const allVisibleAt = performance.now();
    await probing;

    // Idle latency: one small batch at a time through the drained pipeline.
    const idleLatencies: number[] = [];
    const idleStartedAt = Date.now();
    for (let probe = 0; probe < IDLE_PROBES; probe++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_PAUSE_MS));
      const event = benchEvent(total + probe, runId);
      const started = performance.now();
      await post(worker.url, workspace.secretKey, [event]);
      while (!(await visible(String(event.messageId)))) await new Promise((resolve) => setTimeout(resolve, 5));
      idleLatencies.push(performance.now() - started);
    }

    const reports = (await redis.lrange(PIPELINE_STATS_KEY, 0, -1))
      .map((line) => batchReport.safeParse(JSON.parse(line)))
      .flatMap((parsed) => (parsed.success && parsed.data.workspaceIds.includes(workspaceId) ? [parsed.data] : []));
    const idleReports = reports.filter((report) => report.at >= idleStartedAt);
    const loadReports = reports.filter((report) => report.at < idleStartedAt);
    const consumerInserts = loadReports.flatMap((report) => (report.eventsInsertMs === null ? [] : [report.eventsInsertMs]));
    const consumerIdleInserts = idleReports.flatMap((report) => (report.eventsInsertMs === null ? [] : [report.eventsInsertMs]));
    const consumerBatchSizes = loadReports.filter((report) => report.eventsInsertMs !== null).map((report) => report.outcomes.ok ?? report.messages);
    const stepMedians = (step: string): number => summarize(loadReports.map((report) => report.steps[step] ?? 0)).p50;
    const cycles = loadReports.flatMap((report) => (report.startedAt !== undefined && report.settledAt !== undefined ? [report.settledAt - report.startedAt] : []));

    // Raw ceiling: the same number of inserts with the same batch sizes, one client, sequential, on the drained machine.
    const rawLatencies: number[] = [];
    for (const size of consumerBatchSizes) rawLatencies.push(await rawInsert(size));
    // The same client, paced like the idle probes (a cold insert after a pause, as the idle consumer sees it).
    const rawPacedLatencies: number[] = [];
    for (let probe = 0; probe < IDLE_PROBES; probe++) {
      await new Promise((resolve) => setTimeout(resolve, IDLE_PAUSE_MS));
      rawPacedLatencies.push(await rawInsert(1));
    }

    const postStats = summarize(postLatencies);
    const visibleStats = summarize(visibleLatencies);
    const consumerStats = summarize(consumerInserts);
    const rawStats = summarize(rawLatencies);
    const rawUnderLoadStats = summarize(rawUnderLoad);
    const consumerIdleStats = summarize(consumerIdleInserts);
    const rawPacedStats = summarize(rawPacedLatencies);
    const seconds = (allVisibleAt - startedAt) / 1000;
    const rows: Row[] = [
      { metric: 'events', value: total, unit: 'events', note: `${batches} POSTs of ${BATCH_SIZE}, ${SENDERS} concurrent senders` },
      { metric: 'throughput (POST start -> all queryable)', value: total / seconds, unit: 'events/s', note: `${seconds.toFixed(1)} s` },
      { metric: 'accept rate (POSTs only)', value: total / ((postsDoneAt - startedAt) / 1000), unit: 'events/s', note: '' },
      { metric: 'POST latency p50', value: postStats.p50, unit: 'ms', note: `n=${postStats.n}` },
      { metric: 'POST latency p99', value: postStats.p99, unit: 'ms', note: '' },
      { metric: 'POST -> queryable p50', value: visibleStats.p50, unit: 'ms', note: `sampled n=${visibleStats.n}` },
      { metric: 'POST -> queryable p99', value: visibleStats.p99, unit: 'ms', note: 'includes queue backlog: POSTs outrun the local consumer' },
      { metric: 'POST -> queryable, idle pipeline p50', value: summarize(idleLatencies).p50, unit: 'ms', note: `one 1-event POST at a time, n=${idleLatencies.length}` },
      { metric: 'POST -> queryable, idle pipeline p99', value: summarize(idleLatencies).p99, unit: 'ms', note: '' },
      { metric: 'consumer batches', value: reports.length, unit: 'batches', note: `median size ${summarize(consumerBatchSizes).p50}` },
      { metric: 'ClickHouse insert per consumer batch, median', value: consumerStats.p50, unit: 'ms', note: `p99 ${consumerStats.p99.toFixed(1)} ms (events INSERT only)` },
      { metric: 'same insert raw (1 client, same sizes), median', value: rawStats.p50, unit: 'ms', note: `p99 ${rawStats.p99.toFixed(1)} ms, n=${rawStats.n}; back to back after the load` },
      { metric: 'raw insert during the load, median', value: rawUnderLoadStats.p50, unit: 'ms', note: `p99 ${rawUnderLoadStats.p99.toFixed(1)} ms, n=${rawUnderLoadStats.n}; ${RAW_UNDER_LOAD_ROWS} rows, 1 Node client, every ${RAW_UNDER_LOAD_PAUSE_MS} ms` },
      { metric: 'ClickHouse insert per consumer batch, idle pipeline, median', value: consumerIdleStats.p50, unit: 'ms', note: `p99 ${consumerIdleStats.p99.toFixed(1)} ms, n=${consumerIdleStats.n}; the 1-event idle probes` },
      { metric: 'raw insert, idle and paced like the probes, median', value: rawPacedStats.p50, unit: 'ms', note: `p99 ${rawPacedStats.p99.toFixed(1)} ms, n=${rawPacedStats.n}; 1 row after a ${IDLE_PAUSE_MS} ms pause` },
      { metric: 'consumer step medians', value: stepMedians('insert_batch'), unit: 'ms', note: ['parse', 'dedup', 'resolve_identity', 'build_rows', 'insert_batch', 'after_insert'].map((step) => `${step} ${stepMedians(step).toFixed(1)}`).join(', ') },
      { metric: 'consumer batch start -> settled, median', value: summarize(cycles).p50, unit: 'ms', note: `p99 ${summarize(cycles).p99.toFixed(1)} ms, n=${cycles.length}` },
    ];
    writeReport('ingest', `Ingest pipeline, ${total} events over HTTP (wrangler dev, ClickHouse ${stack.clickhouse.version})`, rows, [
      'Worker: `wrangler dev` on a frozen copy of the sources (bench/ingest/snapshot-worker.ts), so edits elsewhere cannot reload it mid-run.',
      'Full local pipeline: POST /v1/batch -> local Queue (max_batch_size 100, max_batch_timeout 0) -> consumer -> one INSERT per batch.',
      'Consumer insert latency comes from the consumer itself (eventsInsertMs in monfri:pipeline_stats; workerd clocks advance only on I/O, so it is the time until the Worker got the answer); the raw rows repeat the insert with one Node client: back to back after the load, sampled during the load, and paced like the idle probes.',
      'Step medians and the insert medians under load cover the batches before the idle probes.',
      'The product page claims 6 ms per insert; compare with the two insert medians above (same machine, same run).',
      'Everything shares 2 cores: wrangler/workerd, ClickHouse, Redis, the Upstash stand-in and this load generator.',
      runtimeNote(),
    ]);
  } finally {
    redis.disconnect();
    await clickhouse.close();
    await worker.stop();
    await stack.stop();
  }
}
