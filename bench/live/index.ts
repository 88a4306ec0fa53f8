/**
 * Live-feed latency through the whole local product (wrangler dev), for both steps an event
 * takes on the feed: visible (the edge hands it to the LiveFeed Durable Object, status
 * `received`, in waitUntil after the queue send) and stored (edge -> local Queue -> consumer ->
 * ClickHouse insert -> the room replaces the item with its outcome, person id included; the
 * event is then queryable).
 * Rates: 100 events/s as single POST /v1/track calls, and 1,000 events/s as POST /v1/batch
 * of 10 events every 10 ms (one Node client on the same 2-core machine as workerd and
 * ClickHouse; per-event POSTs at 1,000/s would measure the load generator instead).
 * Goal: p50 <= 25 ms, p99 <= 100 ms.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { Redis as IORedis } from 'ioredis';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { PIPELINE_STATS_KEY } from '../../consumers/events/stats-key';
import { freePort } from '../../dev/process';
import { startStack } from '../../dev/stack';
import type { RunningWorker } from '../../dev/wrangler-dev';
import { runtimeNote, startSnapshotWorker } from '../ingest/snapshot-worker';
import { summarize, writeReport, type Row } from '../report';

interface Scenario {
  name: string;
  eventsPerSecond: number;
  eventsPerRequest: number;
  seconds: number;
}

const SCENARIOS: Scenario[] = [
  { name: '100 events/s (1 per POST)', eventsPerSecond: 100, eventsPerRequest: 1, seconds: 10 },
  { name: '1,000 events/s (10 per POST)', eventsPerSecond: 1000, eventsPerRequest: 10, seconds: 5 },
];
const IDLE_SAMPLES = 100;
const DRAIN_MS = 30_000;
const MAX_IN_FLIGHT = 200;
const OPERATOR_TOKEN = 'bench-operator-token';

/**
 * Client times are performance.now(). `edgeReceivedAt` is the item's receivedAt (edge clock);
 * `visibleRoomAt` / `storedRoomAt` are the frames' `at` (when the room sent them), the latter
 * also finds the consumer batch that stored the event.
 */
interface Timing {
  sentAt: number;
  acceptedAt?: number;
  /** The first frame carrying the event (received, or an outcome that beat it). */
  receivedAt?: number;
  visibleRoomAt?: number;
  visibleStatus?: string;
  /** The frame carrying its outcome (stored / flagged / dropped). */
  storedAt?: number;
  storedRoomAt?: number;
  edgeReceivedAt?: number;
}

/** What the breakdown needs from the consumer's batch reports (consumers/events/handler.ts). */
const batchReportSchema = z.object({
  startedAt: z.number(),
  settledAt: z.number(),
  messages: z.number(),
  eventsInsertMs: z.number().nullable(),
  steps: z.record(z.string(), z.number()),
  live: z.array(z.object({ workspaceId: z.string(), seqFrom: z.number().nullable(), seqTo: z.number().nullable(), startedAt: z.number(), roomAt: z.number().nullable(), doneAt: z.number() })),
});
type BatchReport = z.infer<typeof batchReportSchema>;

interface Bench {
  worker: RunningWorker;
  redis: IORedis;
  workspaceId: string;
  writeKey: string;
  secretKey: string;
}

/**
 * CPU time (ms, user + system) of the Worker's workerd processes so far: the ones running in the
 * snapshot's directory (wrangler dev's proxy worker and the Worker itself), read from /proc.
 */
function workerdCpuMs(worker: RunningWorker): number {
  const root = dirname(worker.persistTo);
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) !== root || !readFileSync(`/proc/${pid}/comm`, 'utf8').includes('workerd')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  // USER_HZ is 100 on Linux.
  return ticks * 10;
}

/** Epoch ms of a performance.now() reading, to compare with the Worker's Date.now() marks (same machine clock). */
const epoch = (monotonic: number): number => performance.timeOrigin + monotonic;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Feed {
  socket: WebSocket;
  dropNotices: number;
}

async function openFeed(worker: RunningWorker, secretKey: string, timings: Map<string, Timing>): Promise<Feed> {
  const response = await fetch(`${worker.url}/v1/live/ticket`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}` } });
  const { ticket } = (await response.json()) as { ticket: string };
  const socket = new WebSocket(`${worker.url.replace(/^http/, 'ws')}/v1/live?ticket=${encodeURIComponent(ticket)}&backfill=0`);
  const feed: Feed = { socket, dropNotices: 0 };
  socket.on('message', (data) => {
    const now = performance.now();
    const frame = JSON.parse(String(data)) as { type: string; at?: number; items?: { messageId: string; status: string; receivedAt: string }[] };
    if (frame.type === 'dropped') feed.dropNotices++;
    if (frame.type !== 'events') return;
    socket.send('{"type":"ack"}');
    for (const item of frame.items ?? []) {
      const timing = timings.get(item.messageId);
      if (!timing) continue;
      if (timing.receivedAt === undefined) {
        timing.receivedAt = now;
        timing.visibleRoomAt = frame.at;
        timing.visibleStatus = item.status;
        timing.edgeReceivedAt = Date.parse(item.receivedAt);
      }
      if (item.status !== 'received' && timing.storedAt === undefined) {
        timing.storedAt = now;
        timing.storedRoomAt = frame.at;
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
  });
  return feed;
}

interface Measured {
  row: Row;
  timings: Map<string, Timing>;
}

async function runScenario({ worker, writeKey, secretKey }: Bench, scenario: Scenario): Promise<Measured> {
  const timings = new Map<string, Timing>();
  const feed = await openFeed(worker, secretKey, timings);
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const requests = Math.round((scenario.eventsPerSecond / scenario.eventsPerRequest) * scenario.seconds);
  const intervalMs = (1000 * scenario.eventsPerRequest) / scenario.eventsPerSecond;
  const prefix = `bench-${Date.now().toString(36)}`;
  let inFlight = 0;
  let failed = 0;
  const statuses = new Map<string, number>();
  const countStatus = (status: string): void => void statuses.set(status, (statuses.get(status) ?? 0) + 1);
  let skippedForBackpressure = 0;
  const cpuBefore = workerdCpuMs(worker);
  const start = performance.now();
  const pending: Promise<void>[] = [];

  for (let r = 0; r < requests; r++) {
    const due = start + r * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    if (inFlight >= MAX_IN_FLIGHT) {
      skippedForBackpressure++;
      continue;
    }
    const ids = Array.from({ length: scenario.eventsPerRequest }, (_, i) => `${prefix}-${r}-${i}`);
    const sentAt = performance.now();
    for (const id of ids) timings.set(id, { sentAt });
    const events = ids.map((messageId) => ({ type: 'track', event: 'Bench Event', userId: `bench-user-${r % 50}`, messageId, properties: { r } }));
    const single = scenario.eventsPerRequest === 1;
    inFlight++;
    pending.push(
      fetch(`${worker.url}/v1/${single ? 'track' : 'batch'}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(single ? events[0] : { batch: events }),
      })
        .then(async (response) => {
          const acceptedAt = performance.now();
          await response.arrayBuffer();
          countStatus(String(response.status));
          if (response.status !== 200) failed += ids.length;
          for (const id of ids) {
            const timing = timings.get(id);
            if (timing) timing.acceptedAt = acceptedAt;
          }
        })
        .catch((error: unknown) => {
          countStatus(error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message).slice(0, 40) : 'error');
          failed += ids.length;
        })
        .finally(() => {
          inFlight--;
        }),
    );
  }
  await Promise.all(pending);
  const sendSeconds = (performance.now() - start) / 1000;
  const drainUntil = performance.now() + DRAIN_MS;
  while (performance.now() < drainUntil && [...timings.values()].some((timing) => timing.storedAt === undefined)) await sleep(50);
  feed.socket.close();
  const row = latencyRow(scenario.name, timings, sendSeconds, failed, feed.dropNotices);
  addWorkerdCpu(row, workerdCpuMs(worker) - cpuBefore, performance.now() - start, timings.size);
  row['skipped (in-flight cap)'] = skippedForBackpressure;
  row['http statuses'] = [...statuses].map(([status, count]) => `${status}x${count}`).join(' ');
  return { row, timings };
}

/** workerd's CPU over the scenario (sending and draining): per event, and as a share of one core. */
function addWorkerdCpu(row: Row, cpuMs: number, wallMs: number, events: number): void {
  row['workerd CPU ms/event'] = cpuMs / Math.max(1, events);
  row['workerd CPU % of a core'] = Math.round((100 * cpuMs) / Math.max(1, wallMs));
}

/**
 * visible: the first frame carrying the event; stored: the frame with its outcome (the
 * ClickHouse insert is done by then). accepted = the client's HTTP 200 (clamped at 0 when
 * the frame beat it); edge = the edge's receivedAt (same machine clock).
 */
function latencyRow(scenario: string, timings: Map<string, Timing>, sendSeconds: number, failed: number, dropNotices: number): Row {
  const all = [...timings.values()];
  const visible = all.filter((timing): timing is Timing & { receivedAt: number; acceptedAt: number; edgeReceivedAt: number } => timing.receivedAt !== undefined && timing.acceptedAt !== undefined && timing.edgeReceivedAt !== undefined);
  const stored = visible.filter((timing): timing is typeof timing & { storedAt: number } => timing.storedAt !== undefined);
  const acceptedToVisible = summarize(visible.map((timing) => Math.max(0, timing.receivedAt - timing.acceptedAt)));
  const edgeToVisible = summarize(visible.map((timing) => epoch(timing.receivedAt) - timing.edgeReceivedAt));
  const edgeToStored = summarize(stored.map((timing) => epoch(timing.storedAt) - timing.edgeReceivedAt));
  const sentToVisible = summarize(visible.map((timing) => timing.receivedAt - timing.sentAt));
  return {
    scenario,
    'achieved ev/s': Math.round(all.length / sendSeconds),
    sent: all.length,
    visible: visible.length,
    stored: stored.length,
    missing: all.length - stored.length - failed,
    'http failed': failed,
    'p50 accepted->visible ms': acceptedToVisible.p50,
    'p99 accepted->visible ms': acceptedToVisible.p99,
    'p50 edge->visible ms': edgeToVisible.p50,
    'p99 edge->visible ms': edgeToVisible.p99,
    'p50 sent->visible ms': sentToVisible.p50,
    'p99 sent->visible ms': sentToVisible.p99,
    'p50 edge->stored ms': edgeToStored.p50,
    'p99 edge->stored ms': edgeToStored.p99,
    'visible before 200': visible.filter((timing) => timing.receivedAt < timing.acceptedAt).length,
    'first seen as outcome': visible.filter((timing) => timing.visibleStatus !== 'received').length,
    'skipped (in-flight cap)': 0,
    'drop notices': dropNotices,
    'http statuses': '',
  };
}

/** One event at a time on an otherwise idle Worker: the floor the loaded runs are compared with. */
async function runIdle({ worker, writeKey, secretKey }: Bench): Promise<Measured> {
  const timings = new Map<string, Timing>();
  const feed = await openFeed(worker, secretKey, timings);
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const prefix = `idle-${Date.now().toString(36)}`;
  const cpuBefore = workerdCpuMs(worker);
  const start = performance.now();
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    const messageId = `${prefix}-${i}`;
    const timing: Timing = { sentAt: performance.now() };
    timings.set(messageId, timing);
    const response = await fetch(`${worker.url}/v1/track`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'track', event: 'Idle Event', userId: 'idle-user', messageId }) });
    timing.acceptedAt = performance.now();
    await response.arrayBuffer();
    // The next event goes once this one is stored, so the room and the consumer are idle for it.
    const deadline = performance.now() + 5000;
    while (timing.storedAt === undefined && performance.now() < deadline) await sleep(1);
  }
  feed.socket.close();
  const sendSeconds = [...timings.values()].reduce((sum, timing) => sum + ((timing.storedAt ?? timing.sentAt) - timing.sentAt), 0) / 1000;
  const row = latencyRow(`idle: 1 event at a time (${IDLE_SAMPLES})`, timings, sendSeconds, 0, feed.dropNotices);
  addWorkerdCpu(row, workerdCpuMs(worker) - cpuBefore, performance.now() - start, timings.size);
  return { row, timings };
}

async function batchReports(bench: Bench): Promise<BatchReport[]> {
  const lines = await bench.redis.lrange(PIPELINE_STATS_KEY, 0, -1);
  return lines.flatMap((line) => {
    const parsed = batchReportSchema.safeParse(JSON.parse(line));
    return parsed.success && parsed.data.live.some((live) => live.workspaceId === bench.workspaceId) ? [parsed.data] : [];
  });
}

const percentiles = (samples: number[]): string => {
  const stats = summarize(samples);
  return stats.n === 0 ? '-' : `${stats.p50.toFixed(1)} / ${stats.p99.toFixed(1)}`;
};

/**
 * Where each event's time went, by hop (p50 / p99 ms over the events of the scenario), from the
 * edge's `receivedAt`, the frames' `at` (room send time), the consumer's batch report
 * (monfri:pipeline_stats; its room time equals the outcome frame's `at`) and the client's clock.
 * Visible: edge receivedAt -> room (edge steps, queue send, waitUntil RPC) -> frame received.
 * Stored: edge receivedAt -> consumer batch start -> live publish -> room -> frame received.
 */
function breakdown(name: string, timings: Map<string, Timing>, reports: BatchReport[], workspaceId: string): Row {
  const byRoomAt = new Map<number, { report: BatchReport; live: BatchReport['live'][number] }>();
  for (const report of reports) {
    for (const live of report.live) if (live.workspaceId === workspaceId && live.roomAt !== null) byRoomAt.set(live.roomAt, { report, live });
  }
  const hops = { edge: [] as number[], toRoom: [] as number[], roomToVisible: [] as number[], visible: [] as number[], queued: [] as number[], prePublish: [] as number[], insert: [] as number[], publishToRoom: [] as number[], roomToStored: [] as number[], stored: [] as number[] };
  const batches = new Set<BatchReport>();
  for (const timing of timings.values()) {
    if (timing.receivedAt === undefined || timing.acceptedAt === undefined || timing.edgeReceivedAt === undefined) continue;
    hops.edge.push(epoch(timing.acceptedAt) - timing.edgeReceivedAt);
    if (timing.visibleStatus === 'received' && timing.visibleRoomAt !== undefined) {
      hops.toRoom.push(timing.visibleRoomAt - timing.edgeReceivedAt);
      hops.roomToVisible.push(epoch(timing.receivedAt) - timing.visibleRoomAt);
    }
    hops.visible.push(epoch(timing.receivedAt) - timing.edgeReceivedAt);
    if (timing.storedAt === undefined || timing.storedRoomAt === undefined) continue;
    hops.stored.push(epoch(timing.storedAt) - timing.edgeReceivedAt);
    const found = byRoomAt.get(timing.storedRoomAt);
    if (!found) continue;
    batches.add(found.report);
    hops.queued.push(found.report.startedAt - timing.edgeReceivedAt);
    hops.prePublish.push(found.live.startedAt - found.report.startedAt);
    hops.insert.push(found.report.eventsInsertMs ?? 0);
    hops.publishToRoom.push(timing.storedRoomAt - found.live.startedAt);
    hops.roomToStored.push(epoch(timing.storedAt) - timing.storedRoomAt);
  }
  const sorted = [...batches].sort((a, b) => a.startedAt - b.startedAt);
  const cycles = sorted.map((report) => report.settledAt - report.startedAt);
  const gaps = sorted.slice(1).map((report, index) => report.startedAt - (sorted[index]?.settledAt ?? report.startedAt));
  return {
    scenario: name,
    events: hops.visible.length,
    'edge receivedAt->200': percentiles(hops.edge),
    'visible: receivedAt->room': percentiles(hops.toRoom),
    'visible: room->ws frame': percentiles(hops.roomToVisible),
    'receivedAt->visible': percentiles(hops.visible),
    batches: sorted.length,
    'events/batch p50': summarize(sorted.map((report) => report.messages)).p50,
    'stored: receivedAt->batch start': percentiles(hops.queued),
    'batch start->publish': percentiles(hops.prePublish),
    'of which insert': percentiles(hops.insert),
    'publish->room': percentiles(hops.publishToRoom),
    'stored: room->ws frame': percentiles(hops.roomToStored),
    'receivedAt->stored': percentiles(hops.stored),
    'batch start->settled': percentiles(cycles),
    'settled->next batch': percentiles(gaps),
  };
}

async function createWorkspace(worker: RunningWorker, name: string): Promise<{ workspaceId: string; writeKey: string; secretKey: string }> {
  const response = await fetch(`${worker.url}/admin/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  if (response.status !== 201) throw new Error(`workspace create failed: ${response.status} ${await response.text()}`);
  const body = z.object({ workspace: z.object({ id: z.string() }), writeKey: z.string(), secretKey: z.string() }).parse(await response.json());
  return { workspaceId: body.workspace.id, writeKey: body.writeKey, secretKey: body.secretKey };
}

export async function run(): Promise<void> {
  const stack = await startStack({ database: 'monfri_bench_live', upstashPort: await freePort(), quiet: true });
  // A frozen copy of the sources: edits in the checkout would otherwise reload the Worker mid-run.
  const worker = await startSnapshotWorker({ ...stack.workerEnv, OPERATOR_TOKEN, LIVE_TICKET_SECRET: 'bench', SESSION_SECRET: 'bench', RETRY_BASE_SECONDS: '1' });
  const redis = new IORedis(stack.redis.url);
  try {
    const bench: Bench = { worker, redis, ...(await createWorkspace(worker, 'bench live')) };
    // Warm-up: first requests compile the Worker and open the ClickHouse connection.
    await runScenario(bench, { name: 'warm-up', eventsPerSecond: 50, eventsPerRequest: 1, seconds: 2 });
    const measured: Measured[] = [await runIdle(bench)];
    for (const scenario of SCENARIOS) measured.push(await runScenario(bench, scenario));
    const loadAverage = `Machine load average when finished: ${loadavg().map((value) => value.toFixed(2)).join(' ')} (other test runs share the machine).`;
    writeReport('live', 'Live feed latency: event received -> visible on the feed, and -> stored (wrangler dev, local stack)', measured.map(({ row }) => row), [
      'visible: the first WebSocket frame carrying the event (the edge\'s `received` item). stored: the frame with its outcome from the consumer, after the ClickHouse insert (stored and queryable).',
      'accepted->: from the HTTP 200 of the collect call (clamped at 0 when the frame beat the 200); edge->: from the edge\'s receivedAt; sent->: from the moment the request was sent.',
      'Visible path: edge -> queue send -> 200, and in waitUntil the LiveFeed DO -> WebSocket. Stored path: edge -> local Queue (max_batch_timeout 0) -> consumer -> ClickHouse 18.16 insert -> LiveFeed DO -> WebSocket; client acks every frame.',
      'Goal: received -> visible p50 <= 25 ms, p99 <= 100 ms. Load generator, workerd and ClickHouse share the same 2 cores.',
      'workerd CPU: user + system time of the Worker\'s workerd processes (/proc) over the scenario, sending and draining; 100 % is one core, all of it on the thread that runs the edge, the consumer and the LiveFeed object alike.',
      runtimeNote(),
      loadAverage,
    ]);
    const reports = await batchReports(bench);
    writeReport('live-breakdown', 'Live feed latency by hop (p50 / p99 ms per event; same run as live.md)', measured.map(({ row, timings }) => breakdown(String(row.scenario), timings, reports, bench.workspaceId)), [
      "Marks: the edge's receivedAt (in the item), the frames' `at` (room send time), the consumer's batch report in monfri:pipeline_stats (batch start, live-feed publish start, the room's broadcast, settled) and the client's receive time; one machine clock (workerd's Date.now() advances only between I/O, so hops under 1 ms read as 0).",
      'edge receivedAt->200: edge work after receivedAt plus the queue send, until the client has the answer.',
      'visible: receivedAt->room: edge steps, queue send, then the waitUntil RPC reaching the LiveFeed object; room->ws frame: ring write, fan-out and the WebSocket to the client.',
      'stored: receivedAt->batch start: waiting in the local Queue (the broker delivers one batch at a time, the next only after the previous returned).',
      'batch start->publish: parse, dedup, identity, rows, ClickHouse insert (insert alone in the next column, per batch).',
      'publish->room: the consumer\'s RPC reaching the LiveFeed object; stored: room->ws frame: ring update, fan-out and the WebSocket.',
      'batch start->settled: consumer time per batch (acks included); settled->next batch: from one batch settling to the next starting (waitUntil work and the broker).',
      runtimeNote(),
      loadAverage,
    ]);
  } finally {
    redis.disconnect();
    await worker.stop();
    await stack.stop();
  }
}
