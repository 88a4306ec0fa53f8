/**
 * Segments: what real-time evaluation costs and how fast a membership change is visible.
 * 1. Engine cost per event (Node, in-process, the code the SegmentShard Durable Object runs):
 *    routing a batch (which segments an event can affect, by event name and trait key) plus
 *    applying each offered event to the person's state and deciding membership, at 1, 10 and
 *    100 active segments; the reference is the same batch routed with no segments at all.
 * 2. Deciding event -> `Segment Entered` on the live feed, through the whole local stack
 *    (wrangler dev: edge -> Queue -> consumer -> ClickHouse -> SegmentShard -> Queue ->
 *    consumer -> LiveFeed -> WebSocket), at 100 and 1,000 events/s, one segment with 1 shard
 *    and with 4 shards (a hot segment: every tenth event decides an entry). Goal: p99 under
 *    100 ms at 1,000 events/s.
 */
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { freePort } from '../../dev/process';
import { startStack } from '../../dev/stack';
import type { RunningWorker } from '../../dev/wrangler-dev';
import { applyEvent, compileSegment, emptyState, isMember, nextChangeAt, type CompiledSegment, type PersonState } from '../../lib/segments/engine';
import { routeBatch } from '../../lib/segments/routing';
import type { ActiveSegment, Condition, SegmentEvent } from '../../schema/segments';
import { runtimeNote, startSnapshotWorker } from '../ingest/snapshot-worker';
import { summarize, writeReport, type Row } from '../report';
import { seededRandom } from '../../dev/seeded-random';

const OPERATOR_TOKEN = 'bench-operator-token';
const EVENT_NAMES = ['Page Viewed', 'Product Viewed', 'Added To Cart', 'Order Completed', 'Signed Up', 'Searched', 'Video Played', 'Invite Sent'];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Segment i reads one event name (round robin) with a property filter, a window and a count; every third also a trait. */
function syntheticSegment(index: number): ActiveSegment {
  const performed: Condition = {
    type: 'performed',
    event: EVENT_NAMES[index % EVENT_NAMES.length] ?? 'Page Viewed',
    where: [{ property: 'value', op: 'gt', value: index % 50 }],
    count: { op: 'at_least', value: 1 + (index % 3) },
    withinDays: 7 + (index % 30),
  };
  const condition: Condition =
    index % 3 === 0 ? { type: 'all', conditions: [performed, { type: 'trait', trait: 'plan', op: 'eq', value: 'pro' }] } : performed;
  return { id: `seg_${index}`, name: `Segment ${index}`, version: 1, shards: 1, condition, computedTraits: [] };
}

function syntheticEvents(count: number, persons: number, seed: number, startMs: number): SegmentEvent[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i): SegmentEvent => {
    const identify = random() < 0.05;
    const properties: Record<string, number> = identify ? {} : { value: Math.floor(random() * 100) };
    const traits: Record<string, string> = identify ? { plan: random() < 0.5 ? 'pro' : 'free' } : {};
    return {
      messageId: `m-${seed}-${i}`,
      personId: `user:p${Math.floor(random() * persons)}`,
      type: identify ? 'identify' : 'track',
      event: identify ? null : (EVENT_NAMES[Math.floor(random() * EVENT_NAMES.length)] ?? null),
      at: startMs + i * 100,
      sessionId: null,
      properties,
      traits,
    };
  });
}

/** Routes the batch, then applies each segment's share the way a shard does: state per person, membership before and after. */
function evaluateBatch(segments: readonly ActiveSegment[], compiled: ReadonlyMap<string, CompiledSegment>, states: Map<string, PersonState>, events: readonly SegmentEvent[], now: number): number {
  let changes = 0;
  for (const share of routeBatch(segments, events, [])) {
    const segment = compiled.get(share.segment.id);
    if (!segment) continue;
    for (const shardShare of share.shards.values()) {
      for (const event of shardShare.events) {
        const key = `${share.segment.id}\n${event.personId}`;
        const before = states.get(key) ?? emptyState();
        const wasMember = isMember(segment, before, now);
        const after = applyEvent(segment, before, event, now);
        states.set(key, after);
        if (isMember(segment, after, now) !== wasMember) changes++;
        nextChangeAt(segment, after, now);
      }
    }
  }
  return changes;
}

function engineRows(): Row[] {
  const batchSize = 100;
  const batches = Number(process.env.BENCH_SEGMENT_BATCHES ?? 300);
  const startMs = Date.UTC(2026, 10, 1);
  const rows: Row[] = [];
  for (const segmentCount of [0, 1, 10, 100]) {
    const segments = Array.from({ length: segmentCount }, (_, i) => syntheticSegment(i));
    const compiled = new Map(segments.map((segment) => [segment.id, compileSegment(segment)]));
    const states = new Map<string, PersonState>();
    const perEventUs: number[] = [];
    let changes = 0;
    for (let b = 0; b < batches + 20; b++) {
      const events = syntheticEvents(batchSize, 2000, b + 1, startMs + b * batchSize * 100);
      const now = (events.at(-1)?.at ?? startMs) + 1;
      const started = performance.now();
      const batchChanges = evaluateBatch(segments, compiled, states, events, now);
      const elapsedUs = (performance.now() - started) * 1000;
      // The first 20 batches warm the JIT and the states; they are not measured.
      if (b >= 20) {
        perEventUs.push(elapsedUs / batchSize);
        changes += batchChanges;
      }
    }
    const summary = summarize(perEventUs);
    rows.push({
      'active segments': segmentCount === 0 ? '0 (reference: routing only)' : segmentCount,
      batches: summary.n,
      'µs/event p50': summary.p50,
      'µs/event p99': summary.p99,
      'µs/event mean': summary.mean,
      'membership changes': changes,
      'person states': states.size,
    });
  }
  return rows;
}

interface Entry {
  acceptedAt?: number;
  /** First frame carrying the Segment Entered (the shard's `received` announce). */
  enteredAt?: number;
  /** The frame with its outcome: the Segment Entered event stored in ClickHouse. */
  storedAt?: number;
}

async function createWorkspace(worker: RunningWorker): Promise<{ writeKey: string; secretKey: string }> {
  const response = await fetch(`${worker.url}/admin/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench segments' }) });
  if (response.status !== 201) throw new Error(`workspace create failed: ${response.status} ${await response.text()}`);
  return z.object({ writeKey: z.string(), secretKey: z.string() }).parse(await response.json());
}

async function createSegment(worker: RunningWorker, secretKey: string, name: string, shards: number): Promise<string> {
  const headers = { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' };
  const condition = { type: 'performed', event: name, where: [{ property: 'total', op: 'gt', value: 50 }] };
  const response = await fetch(`${worker.url}/v1/segments`, { method: 'POST', headers, body: JSON.stringify({ name, condition, shards }) });
  if (response.status !== 201) throw new Error(`segment create failed: ${response.status} ${await response.text()}`);
  const id = z.object({ segment: z.object({ id: z.string() }) }).parse(await response.json()).segment.id;
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    const status = z.object({ segment: z.object({ status: z.string() }) }).parse(await (await fetch(`${worker.url}/v1/segments/${id}`, { headers })).json()).segment.status;
    if (status === 'active') return id;
    await sleep(200);
  }
  throw new Error(`segment ${id} did not finish its back-fill within 60 s`);
}

const liveFrameSchema = z.object({ type: z.string(), items: z.array(z.object({ event: z.string().nullable(), status: z.string(), properties: z.record(z.string(), z.unknown()) })).optional() });

async function openFeed(worker: RunningWorker, secretKey: string, entries: Map<string, Entry>): Promise<WebSocket> {
  const response = await fetch(`${worker.url}/v1/live/ticket`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}` } });
  const { ticket } = z.object({ ticket: z.string() }).parse(await response.json());
  const socket = new WebSocket(`${worker.url.replace(/^http/, 'ws')}/v1/live?ticket=${encodeURIComponent(ticket)}&event=${encodeURIComponent('Segment Entered')}&backfill=0`);
  socket.on('message', (data) => {
    const now = performance.now();
    const frame = liveFrameSchema.safeParse(JSON.parse(String(data)));
    if (!frame.success || frame.data.type !== 'events') return;
    socket.send('{"type":"ack"}');
    for (const item of frame.data.items ?? []) {
      const deciding = item.event === 'Segment Entered' ? item.properties.decidingMessageId : undefined;
      const entry = typeof deciding === 'string' ? entries.get(deciding) : undefined;
      if (!entry) continue;
      entry.enteredAt ??= now;
      if (item.status !== 'received') entry.storedAt ??= now;
    }
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('message', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

interface Scenario {
  eventsPerSecond: number;
  eventsPerRequest: number;
  seconds: number;
  shards: number;
}

/** Every tenth event is a deciding `Order` of a new person (enters); the rest are events no segment reads. */
async function runScenario(worker: RunningWorker, keys: { writeKey: string; secretKey: string }, scenario: Scenario, label: string): Promise<Row> {
  const eventName = `Bench Order ${label}`;
  await createSegment(worker, keys.secretKey, eventName, scenario.shards);
  const entries = new Map<string, Entry>();
  const socket = await openFeed(worker, keys.secretKey, entries);
  const auth = `Basic ${Buffer.from(`${keys.writeKey}:`).toString('base64')}`;
  const requests = Math.round((scenario.eventsPerSecond / scenario.eventsPerRequest) * scenario.seconds);
  const intervalMs = (1000 * scenario.eventsPerRequest) / scenario.eventsPerSecond;
  const pending: Promise<void>[] = [];
  let failed = 0;
  let sent = 0;
  const statuses = new Map<string, number>();
  const countStatus = (status: string): void => void statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const start = performance.now();
  for (let r = 0; r < requests; r++) {
    const wait = start + r * intervalMs - performance.now();
    if (wait > 1) await sleep(wait);
    const events = Array.from({ length: scenario.eventsPerRequest }, (_, i) => {
      const n = r * scenario.eventsPerRequest + i;
      const messageId = `${label}-${n}`;
      const deciding = n % 10 === 0;
      if (deciding) entries.set(messageId, {});
      return deciding
        ? { type: 'track', event: eventName, userId: `${label}-buyer-${n}`, messageId, properties: { total: 99 } }
        : { type: 'track', event: 'Bench Noise', userId: `${label}-visitor-${n % 200}`, messageId, properties: { n } };
    });
    sent += events.length;
    const single = events.length === 1;
    pending.push(
      fetch(`${worker.url}/v1/${single ? 'track' : 'batch'}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(single ? events[0] : { batch: events }) })
        .then(async (response) => {
          const acceptedAt = performance.now();
          await response.arrayBuffer();
          countStatus(String(response.status));
          if (response.status !== 200) failed += events.length;
          for (const event of events) {
            const entry = entries.get(event.messageId);
            if (entry) entry.acceptedAt = acceptedAt;
          }
        })
        .catch((error: unknown) => {
          countStatus(error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message).slice(0, 40) : 'error');
          failed += events.length;
        }),
    );
  }
  await Promise.all(pending);
  const sendSeconds = (performance.now() - start) / 1000;
  const drainUntil = performance.now() + 30_000;
  while (performance.now() < drainUntil && [...entries.values()].some((entry) => entry.storedAt === undefined)) await sleep(50);
  socket.close();
  const seen = [...entries.values()].filter((entry): entry is Entry & { acceptedAt: number; enteredAt: number } => entry.acceptedAt !== undefined && entry.enteredAt !== undefined);
  const latency = summarize(seen.map((entry) => Math.max(0, entry.enteredAt - entry.acceptedAt)));
  const stored = seen.flatMap((entry) => (entry.storedAt === undefined ? [] : [Math.max(0, entry.storedAt - entry.acceptedAt)]));
  const storedLatency = summarize(stored);
  return {
    scenario: `${scenario.eventsPerSecond.toLocaleString('en-US')} events/s (${scenario.eventsPerRequest} per POST)`,
    shards: scenario.shards,
    'achieved ev/s': Math.round(sent / sendSeconds),
    'deciding events': entries.size,
    'entered on feed': seen.length,
    missing: entries.size - seen.length,
    'http failed': failed,
    'p50 accepted->entered ms': latency.p50,
    'p99 accepted->entered ms': latency.p99,
    'entered stored': stored.length,
    'p50 accepted->stored ms': storedLatency.p50,
    'p99 accepted->stored ms': storedLatency.p99,
    'http statuses': [...statuses].map(([status, count]) => `${status}x${count}`).join(' '),
  };
}

export async function run(): Promise<void> {
  const engine = engineRows();
  writeReport('segments-engine', 'Segment evaluation cost per event (Node, lib/segments engine, batches of 100 events, 2,000 persons)', engine, [
    'Per batch: routeBatch (which segments an event can affect, by event name and trait key, split by shard) plus, for each offered event, applyEvent, membership before and after, and the next time-based change: what a SegmentShard does besides SQLite and the RPC.',
    'Segments: each reads one of 8 event names (round robin) with a property filter, a count of 1-3 in a 7-36 day window; every third also a trait. Events: 8 names at random, 5% identify calls with a trait. 20 warm-up batches not measured.',
    'The reference row routes the same batches with no segment: the floor of the hook.',
  ]);
  const seconds = Number(process.env.BENCH_SEGMENT_SECONDS ?? 5);
  const scenarios: Scenario[] = [
    { eventsPerSecond: 100, eventsPerRequest: 1, seconds, shards: 1 },
    { eventsPerSecond: 1000, eventsPerRequest: 10, seconds, shards: 1 },
    { eventsPerSecond: 1000, eventsPerRequest: 10, seconds, shards: 4 },
  ];
  const stack = await startStack({ database: 'monfri_bench_segments', upstashPort: await freePort(), quiet: true });
  const worker = await startSnapshotWorker({ ...stack.workerEnv, OPERATOR_TOKEN, LIVE_TICKET_SECRET: 'bench', SESSION_SECRET: 'bench', RETRY_BASE_SECONDS: '1', SEGMENT_SETTLE_SECONDS: '1', WORKSPACE_PROFILE_TTL_SECONDS: '1' });
  try {
    const keys = await createWorkspace(worker);
    await runScenario(worker, keys, { eventsPerSecond: 50, eventsPerRequest: 1, seconds: 2, shards: 1 }, 'warmup');
    const rows: Row[] = [];
    for (const [index, scenario] of scenarios.entries()) rows.push(await runScenario(worker, keys, scenario, `s${index}-${Date.now().toString(36)}`));
    writeReport('segments', 'Deciding event accepted -> Segment Entered on the live feed (wrangler dev, local stack)', rows, [
      'One segment ("performed Bench Order with total > 50") per scenario, created and back-filled first; every tenth event is a new person\'s deciding order, the rest are events the segment does not read (offered to no segment).',
      'entered: the first frame carrying the Segment Entered. Path: edge -> Queue -> consumer (insert) -> SegmentShard DO (outbox -> Queue, then the `received` announce) -> LiveFeed -> WebSocket: one pass through the queue and ClickHouse.',
      'stored: the frame with the Segment Entered\'s outcome, after its own pass: Queue -> consumer (insert of Segment Entered) -> LiveFeed -> WebSocket: two passes through the queue and ClickHouse in all.',
      'accepted: the HTTP 200 of the deciding event\'s request.',
      'Goal: p99 under 100 ms at 1,000 events/s. The 1 vs 4 shards rows are the hot-segment comparison; locally every Durable Object runs in the same workerd process on the same 2 cores, so shards spread state and calls but cannot add CPU here.',
      runtimeNote(),
      `Machine load average when finished: ${loadavg().map((value) => value.toFixed(2)).join(' ')} (other sessions share the machine).`,
    ]);
  } finally {
    await worker.stop();
    await stack.stop();
  }
}
