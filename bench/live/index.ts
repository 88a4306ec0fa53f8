/**
 * Live-feed latency: from the collect API accepting an event (HTTP 200 received) to the
 * dashboard's WebSocket receiving it, through the whole local product (wrangler dev: edge ->
 * local Queue -> consumer -> ClickHouse insert -> LiveFeed Durable Object -> WebSocket).
 * Rates: 100 events/s as single POST /v1/track calls, and 1,000 events/s as POST /v1/batch
 * of 10 events every 10 ms (one Node client on the same 2-core machine as workerd and
 * ClickHouse; per-event POSTs at 1,000/s would measure the load generator instead).
 * Goal: p50 <= 25 ms, p99 <= 100 ms.
 */
import { loadavg } from 'node:os';
import { freePort } from '../../dev/process';
import { startStack } from '../../dev/stack';
import { WebSocket } from 'ws';
import { startTestWorker, type TestWorker } from '../../test/support/worker';
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

interface Timing {
  sentAt: number;
  acceptedAt?: number;
  receivedAt?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Feed {
  socket: WebSocket;
  dropNotices: number;
}

async function openFeed(worker: TestWorker, secretKey: string, timings: Map<string, Timing>): Promise<Feed> {
  const response = await fetch(`${worker.url}/v1/live/ticket`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}` } });
  const { ticket } = (await response.json()) as { ticket: string };
  const socket = new WebSocket(`${worker.url.replace(/^http/, 'ws')}/v1/live?ticket=${encodeURIComponent(ticket)}&backfill=0`);
  const feed: Feed = { socket, dropNotices: 0 };
  socket.on('message', (data) => {
    const now = performance.now();
    const frame = JSON.parse(String(data)) as { type: string; items?: { messageId: string }[] };
    if (frame.type === 'dropped') feed.dropNotices++;
    if (frame.type !== 'events') return;
    socket.send('{"type":"ack"}');
    for (const item of frame.items ?? []) {
      const timing = timings.get(item.messageId);
      if (timing && timing.receivedAt === undefined) timing.receivedAt = now;
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
  });
  return feed;
}

async function runScenario(worker: TestWorker, writeKey: string, secretKey: string, scenario: Scenario): Promise<Row> {
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
  while (performance.now() < drainUntil && [...timings.values()].some((timing) => timing.receivedAt === undefined)) await sleep(50);
  feed.socket.close();

  const all = [...timings.values()];
  const received = all.filter((timing): timing is Required<Timing> => timing.receivedAt !== undefined && timing.acceptedAt !== undefined);
  const fromAccepted = summarize(received.map((timing) => Math.max(0, timing.receivedAt - timing.acceptedAt)));
  const fromSent = summarize(received.map((timing) => timing.receivedAt - timing.sentAt));
  const beforeAccepted = received.filter((timing) => timing.receivedAt < timing.acceptedAt).length;
  return {
    scenario: scenario.name,
    'achieved ev/s': Math.round(all.length / sendSeconds),
    sent: all.length,
    received: received.length,
    missing: all.length - received.length - failed,
    'http failed': failed,
    'p50 accepted->ws ms': fromAccepted.p50,
    'p99 accepted->ws ms': fromAccepted.p99,
    'p50 sent->ws ms': fromSent.p50,
    'p99 sent->ws ms': fromSent.p99,
    'ws before 200': beforeAccepted,
    'skipped (in-flight cap)': skippedForBackpressure,
    'drop notices': feed.dropNotices,
    'http statuses': [...statuses].map(([status, count]) => `${status}x${count}`).join(' '),
  };
}

/** One event at a time on an otherwise idle Worker: the floor the loaded runs are compared with. */
async function runIdle(worker: TestWorker, writeKey: string, secretKey: string): Promise<Row> {
  const timings = new Map<string, Timing>();
  const feed = await openFeed(worker, secretKey, timings);
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const prefix = `idle-${Date.now().toString(36)}`;
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    const messageId = `${prefix}-${i}`;
    const timing: Timing = { sentAt: performance.now() };
    timings.set(messageId, timing);
    const response = await fetch(`${worker.url}/v1/track`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'track', event: 'Idle Event', userId: 'idle-user', messageId }) });
    timing.acceptedAt = performance.now();
    await response.arrayBuffer();
    const deadline = performance.now() + 5000;
    while (timing.receivedAt === undefined && performance.now() < deadline) await sleep(1);
  }
  feed.socket.close();
  const received = [...timings.values()].filter((timing): timing is Required<Timing> => timing.receivedAt !== undefined && timing.acceptedAt !== undefined);
  const fromAccepted = summarize(received.map((timing) => Math.max(0, timing.receivedAt - timing.acceptedAt)));
  const fromSent = summarize(received.map((timing) => timing.receivedAt - timing.sentAt));
  return {
    scenario: `idle: 1 event at a time (${IDLE_SAMPLES})`,
    'achieved ev/s': Math.round(1000 / Math.max(1, fromSent.mean)),
    sent: timings.size,
    received: received.length,
    missing: timings.size - received.length,
    'http failed': 0,
    'p50 accepted->ws ms': fromAccepted.p50,
    'p99 accepted->ws ms': fromAccepted.p99,
    'p50 sent->ws ms': fromSent.p50,
    'p99 sent->ws ms': fromSent.p99,
    'ws before 200': received.filter((timing) => timing.receivedAt < timing.acceptedAt).length,
    'skipped (in-flight cap)': 0,
    'drop notices': feed.dropNotices,
    'http statuses': '',
  };
}

export async function run(): Promise<void> {
  const stack = await startStack({ database: 'monfri_bench_live', upstashPort: await freePort(), quiet: true });
  for (const [name, value] of Object.entries(stack.workerEnv)) process.env[`MONFRI_TEST_${name}`] = value;
  const worker = await startTestWorker();
  try {
    const workspace = await worker.createWorkspace('bench live');
    // Warm-up: first requests compile the Worker and open the ClickHouse connection.
    await runScenario(worker, workspace.writeKey, workspace.secretKey, { name: 'warm-up', eventsPerSecond: 50, eventsPerRequest: 1, seconds: 2 });
    const rows: Row[] = [await runIdle(worker, workspace.writeKey, workspace.secretKey)];
    for (const scenario of SCENARIOS) rows.push(await runScenario(worker, workspace.writeKey, workspace.secretKey, scenario));
    writeReport('live', 'Live feed latency: POST accepted -> WebSocket message (wrangler dev, local stack)', rows, [
      'accepted->ws: from the HTTP 200 of the collect call to the WebSocket frame carrying the event (clamped at 0 when the frame beat the 200).',
      'sent->ws: from the moment the request was sent.',
      'Path: edge -> local Queue (max_batch_timeout 0) -> consumer -> ClickHouse 18.16 insert -> LiveFeed DO -> WebSocket; client acks every frame.',
      'Goal: p50 <= 25 ms, p99 <= 100 ms. Load generator, workerd and ClickHouse share the same 2 cores.',
      `Machine load average when finished: ${loadavg().map((value) => value.toFixed(2)).join(' ')} (other test runs share the machine).`,
    ]);
  } finally {
    await worker.stop();
    await stack.stop();
  }
}
