/**
 * `npm run soak -- [--rate 100] [--minutes 1] [--faults] [--workspaces 4] [--seed 18]`: a steady
 * mixed load through the whole local stack, then a reconciliation per messageId against
 * ClickHouse. Not part of `npm test` (minutes long, and it stops services with --faults).
 *
 * - Stack: a private ClickHouse, redis-server and Upstash stand-in plus `wrangler dev` on a
 *   frozen copy of the sources (bench/soak/stack.ts), workspaces and keys made through the
 *   admin API as the benches do.
 * - Load (bench/soak/load.ts): server batches and single calls, browser /v1/collect and CORS
 *   batches, bot user agents, duplicates, whole-batch client retries, invalid and hostile events.
 * - `--faults`: one at a time, with gaps: ClickHouse stopped and started again, workerd
 *   SIGKILLed under load (the consumer mid-batch) and wrangler dev restarted on the same port,
 *   then Redis and the Upstash endpoint stopped and started again (injectFaults says why in
 *   this order). Afterwards the operator's recovery: pending dead letters and the stream mirror
 *   over the missing events' window are replayed (both idempotent), and reported.
 * - Reconciliation: every accepted event stored once (raw rows and FINAL), every refused one
 *   absent, GET /v1/usage equal to the accepted human billable events; exit 1 on any loss or double.
 */
import { parseArgs } from 'node:util';
import { Redis as IORedis } from 'ioredis';
import { z } from 'zod';
import { PIPELINE_STATS_KEY } from '../../consumers/events/stats-key';
import { logStep } from '../../dev/process';
import { createClickHouse } from '../../lib/clickhouse';
import { countStoredQuery, queryRows, uint64 } from '../../lib/event-queries';
import { sql } from '../../lib/sql';
import { summarize, writeReport, type Row } from '../report';
import { SoakLoad, type EventRecord, type SoakWorkspace } from './load';
import { rssMiB, SOAK_OPERATOR_TOKEN, startSoakStack, type Restartable, type SoakStack } from './stack';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '100' },
    minutes: { type: 'string', default: '1' },
    faults: { type: 'boolean', default: false },
    workspaces: { type: 'string', default: '4' },
    seed: { type: 'string', default: '18' },
    'drain-minutes': { type: 'string' },
  },
});

const rate = Number(args.rate);
const minutes = Number(args.minutes);
const workspaceCount = Number(args.workspaces);
const seed = Number(args.seed);
// The local consumer may fall behind the load (Miniflare runs its batches one at a time): by default give the drain 3x the run, at least 10 minutes.
const drainMs = Number(args['drain-minutes'] ?? Math.max(10, 3 * minutes)) * 60_000;
if (!(rate > 0) || !(minutes > 0) || !Number.isInteger(workspaceCount) || workspaceCount < 1 || !Number.isFinite(seed) || !(drainMs > 0)) {
  console.error('usage: npm run soak -- [--rate EVENTS_PER_S] [--minutes M] [--faults] [--workspaces N] [--seed S] [--drain-minutes M]');
  process.exit(2);
}
const faults = args.faults;
const reportName = faults ? 'soak-faults' : 'soak';
/** Counts unchanged this long (and no consumer batch meanwhile) means drained; retries back off up to tens of seconds after faults. */
const STABLE_MS = faults ? 60_000 : 20_000;

const operator = { authorization: `Bearer ${SOAK_OPERATOR_TOKEN}`, 'content-type': 'application/json' };

async function createWorkspaces(workerUrl: string, runId: string): Promise<SoakWorkspace[]> {
  const created = z.object({ workspace: z.object({ id: z.string() }), writeKey: z.string(), secretKey: z.string() });
  const workspaces: SoakWorkspace[] = [];
  for (let index = 0; index < workspaceCount; index++) {
    // Scale (10M events) so no usage notice or plan limit enters the counts.
    const response = await fetch(`${workerUrl}/admin/workspaces`, { method: 'POST', headers: operator, body: JSON.stringify({ name: `soak ${runId} ${index}`, plan: 'scale' }) });
    if (response.status !== 201) throw new Error(`workspace create answered ${response.status}: ${await response.text()}`);
    const body = created.parse(await response.json());
    workspaces.push({ id: body.workspace.id, writeKey: body.writeKey, secretKey: body.secretKey });
  }
  return workspaces;
}

type Memory = Record<string, number | null>;

function memoryOf(stack: SoakStack): Memory {
  const sum = (service: Restartable): number | null => {
    const sizes = service.pids().map(rssMiB).filter((size): size is number => size !== null);
    return sizes.length ? sizes.reduce((total, size) => total + size, 0) : null;
  };
  return {
    workerd: sum(stack.worker),
    'clickhouse-server': sum(stack.clickhouse),
    'redis-server': sum(stack.redis),
    'upstash stand-in': sum(stack.upstash),
    'soak load generator': process.memoryUsage().rss / 1024 / 1024,
  };
}

interface FaultLog {
  what: string;
  atS: number;
  downS: number;
}

/**
 * One fault at a time with gaps, all while the load runs: ClickHouse stopped and started again,
 * workerd SIGKILLed and wrangler dev restarted, then Redis and the Upstash endpoint stopped and
 * started again; each logs the pipeline's backlog when it begins. The kill comes before the
 * Redis faults on purpose: the local Queue lives in workerd's memory and dies with it (a
 * Cloudflare Queue does not), so its backlog is recovered from the Redis Stream mirror, which
 * holds every event accepted while Redis was up.
 */
async function injectFaults(stack: SoakStack, runSeconds: number, startedAt: number, log: FaultLog[], say: (message: string) => void, backlogNow: () => Promise<string>): Promise<void> {
  const downMs = Math.min(30_000, Math.max(5_000, runSeconds * 80));
  const elapsed = (): number => (performance.now() - startedAt) / 1000;
  const waitUntil = async (fraction: number): Promise<void> => {
    const wait = fraction * runSeconds - elapsed();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  };
  const outage = async (fraction: number, service: Restartable): Promise<void> => {
    await waitUntil(fraction);
    const backlog = await backlogNow();
    const at = elapsed();
    say(`fault: stopping ${service.name} at ${at.toFixed(0)} s for ${downMs / 1000} s (${backlog})`);
    await service.stop();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await service.start();
    log.push({ what: `${service.name} stopped and restarted (at its start: ${backlog})`, atS: at, downS: elapsed() - at });
    say(`fault: ${service.name} back after ${(elapsed() - at).toFixed(1)} s`);
  };
  await outage(0.1, stack.clickhouse);
  await waitUntil(0.3);
  const backlog = await backlogNow();
  const at = elapsed();
  say(`fault: SIGKILL workerd (consumer mid-batch) at ${at.toFixed(0)} s (${backlog}), restarting wrangler dev`);
  await stack.worker.kill();
  await stack.worker.start();
  log.push({ what: `workerd SIGKILLed, wrangler dev restarted (at its start: ${backlog})`, atS: at, downS: elapsed() - at });
  say(`fault: wrangler dev back after ${(elapsed() - at).toFixed(1)} s`);
  await outage(0.52, stack.redis);
  await outage(0.72, stack.upstash);
}

const finalRow = z.object({ message_id: z.string(), copies: uint64, bot: z.coerce.number(), reason: z.string() });
const rawRow = z.object({ message_id: z.string(), copies: uint64 });

interface Stored {
  /** FINAL: messageId -> rows as a FINAL reader sees them, bot flag, bot reason. */
  final: Map<string, { copies: number; bot: boolean; reason: string }>;
  /** Raw rows per messageId (no FINAL: duplicates not merged yet count). */
  raw: Map<string, number>;
  uniqExact: number;
}

async function readStored(clickhouse: ReturnType<typeof createClickHouse>, workspaceId: string): Promise<Stored> {
  const final = await queryRows(clickhouse, sql`SELECT message_id, count() AS copies, max(is_bot) AS bot, any(bot_reason) AS reason FROM events FINAL WHERE workspace_id = ${workspaceId} GROUP BY message_id`, finalRow);
  const raw = await queryRows(clickhouse, sql`SELECT message_id, count() AS copies FROM events WHERE workspace_id = ${workspaceId} GROUP BY message_id`, rawRow);
  const [counted] = await queryRows(clickhouse, countStoredQuery(workspaceId), z.object({ events: uint64, rows: uint64 }));
  return {
    final: new Map(final.map((row) => [row.message_id, { copies: row.copies, bot: row.bot > 0, reason: row.reason }])),
    raw: new Map(raw.map((row) => [row.message_id, row.copies])),
    uniqExact: counted?.events ?? 0,
  };
}

async function main(): Promise<void> {
  const say = logStep;
  const runId = Date.now().toString(36);
  const database = 'monfri_soak';
  say(`soak: ${rate} events/s for ${minutes} min, ${workspaceCount} workspaces${faults ? ', with faults' : ''}; logs in .data/logs (soak-*, wrangler-soak)`);
  const stack = await startSoakStack({ database, say });
  // Ctrl-C or a kill mid-run: stop the private stack (wrangler dev, ClickHouse, Redis, Upstash) rather than leave it running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`soak: ${signal}, stopping the stack`);
      void stack.stop().finally(() => process.exit(130));
    });
  }
  const clickhouse = createClickHouse({ CLICKHOUSE_URL: stack.clickhouseUrl, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '', CLICKHOUSE_DATABASE: database });
  // maxRetriesPerRequest: a Redis stopped by a fault must not make our own stats reads hang.
  const redis = new IORedis(stack.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  let exitCode = 0;
  try {
    const workspaces = await createWorkspaces(stack.workerUrl, runId);
    const memoryStart = memoryOf(stack);
    const memoryPeak: Memory = { ...memoryStart };
    const load = new SoakLoad(() => stack.workerUrl, workspaces, runId, seed);
    const runSeconds = minutes * 60;
    const startedAt = performance.now();
    const startedWall = Date.now();
    const faultLog: FaultLog[] = [];
    const storedOfOurs = async (): Promise<number> => {
      let total = 0;
      for (const workspace of workspaces) {
        const [counted] = await queryRows(clickhouse, countStoredQuery(workspace.id), z.object({ events: uint64, rows: uint64 }));
        total += counted?.events ?? 0;
      }
      return total;
    };
    const acceptedSoFar = (): number => [...load.events.values()].filter((event) => event.acceptedAt !== null).length;
    /** How far the pipeline is behind at this moment (accepted so far minus stored so far), for the fault log. */
    const backlog = async (): Promise<string> => {
      const target = acceptedSoFar();
      const stored = await storedOfOurs().catch(() => null);
      return stored === null ? `${target} accepted so far, stored count unreadable` : `backlog ${Math.max(0, target - stored)} of ${target} accepted`;
    };
    const faulting = faults ? injectFaults(stack, runSeconds, startedAt, faultLog, say, backlog) : Promise.resolve();

    let sending = true;
    // Received -> stored, sampled: one ClickHouse query per poll for every pending probe.
    const probing = (async () => {
      while (sending || load.probes.size > 0) {
        const pending = [...load.probes.keys()];
        if (pending.length > 0) {
          const seen = await queryRows(clickhouse, sql`SELECT DISTINCT message_id FROM events WHERE has(${pending}, message_id)`, z.object({ message_id: z.string() })).catch(() => []);
          const now = Date.now();
          for (const { message_id: messageId } of seen) {
            const answeredAt = load.probes.get(messageId);
            if (answeredAt === undefined) continue;
            load.stats.storedLatencies.push(now - answeredAt);
            load.probes.delete(messageId);
          }
        }
        if (!sending && performance.now() - startedAt > (runSeconds + 120) * 1000) load.probes.clear();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();

    await load.drive(rate, runSeconds, (second) => {
      for (const [name, size] of Object.entries(memoryOf(stack))) if (size !== null) memoryPeak[name] = Math.max(memoryPeak[name] ?? 0, size);
      if (second % 10 === 0) say(`t=${second}s offered ${load.stats.offeredEvents} events, in flight ${load.inFlight}, statuses ${JSON.stringify(load.stats.statuses)}`);
    });
    const sentFor = (performance.now() - startedAt) / 1000;
    await faulting;
    say(`load done after ${sentFor.toFixed(0)} s; waiting for ${load.inFlight} requests (client retries) to settle`);
    await load.settle();
    sending = false;

    const records = [...load.events.values()];
    const acceptedIn = (workspace: number): EventRecord[] => records.filter((event) => event.workspace === workspace && event.acceptedAt !== null);
    const acceptedTotal = records.filter((event) => event.acceptedAt !== null).length;

    const lastConsumerBatchAt = async (): Promise<number> => {
      if (redis.status === 'wait') await redis.connect().catch(() => undefined);
      // The consumer LPUSHes one report per batch: the head is the latest.
      const [latest] = await redis.lrange(PIPELINE_STATS_KEY, 0, 0).catch((): string[] => []);
      const parsed = z.object({ at: z.number() }).safeParse(JSON.parse(latest ?? 'null'));
      return parsed.success ? parsed.data.at : 0;
    };
    /** Until every accepted event is counted, or the counts and the consumer stay idle for STABLE_MS, or the deadline. */
    const drain = async (label: string): Promise<number> => {
      const drainStarted = performance.now();
      let last = -1;
      let lastChange = performance.now();
      for (;;) {
        const stored = await storedOfOurs().catch(() => last);
        if (stored !== last) {
          last = stored;
          lastChange = performance.now();
        }
        const idleFor = Date.now() - (await lastConsumerBatchAt());
        if (stored >= acceptedTotal) break;
        if (performance.now() - lastChange > STABLE_MS && idleFor > STABLE_MS / 2) break;
        if (performance.now() - drainStarted > drainMs) {
          say(`${label}: drain deadline reached`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
      const seconds = (performance.now() - drainStarted) / 1000;
      say(`${label}: ${last} of ${acceptedTotal} accepted events stored after ${seconds.toFixed(0)} s`);
      return seconds;
    };
    let drainSeconds = await drain('drain');

    const missingIn = async (): Promise<Map<number, EventRecord[]>> => {
      const missing = new Map<number, EventRecord[]>();
      for (const [index, workspace] of workspaces.entries()) {
        const stored = await readStored(clickhouse, workspace.id);
        const lost = acceptedIn(index).filter((event) => !stored.final.has(event.messageId));
        if (lost.length) missing.set(index, lost);
      }
      return missing;
    };
    const countOf = (missing: Map<number, EventRecord[]>): number => [...missing.values()].reduce((sum, events) => sum + events.length, 0);

    // Recovery, only after faults: what the operator runs after a local outage (README "Faults").
    let missingBeforeRecovery = 0;
    const recovery: string[] = [];
    if (faults) {
      let missing = await missingIn();
      missingBeforeRecovery = countOf(missing);
      const deadLetters = z.object({ deadLetters: z.array(z.object({ messageId: z.string().nullable() })) });
      let pendingLetters = 0;
      for (const workspace of workspaces) {
        const listed = deadLetters.parse(await (await fetch(`${stack.workerUrl}/admin/dead-letters?workspace=${workspace.id}&limit=1000`, { headers: operator })).json());
        pendingLetters += listed.deadLetters.length;
        if (listed.deadLetters.length) await fetch(`${stack.workerUrl}/admin/dead-letters/replay`, { method: 'POST', headers: operator, body: JSON.stringify({ workspaceId: workspace.id }) });
      }
      recovery.push(`${pendingLetters} pending dead letters replayed`);
      if (pendingLetters > 0) drainSeconds += await drain('after dead-letter replay');
      missing = await missingIn();
      // The local Queue lives in workerd's memory: the SIGKILL drops its backlog (a Cloudflare Queue keeps it). The stream mirror has the events.
      for (const [index, events] of missing) {
        const workspace = workspaces[index];
        if (!workspace) continue;
        const times = events.map((event) => event.acceptedAt ?? 0);
        const from = new Date(Math.min(...times) - 5_000).toISOString();
        const to = new Date(Math.max(...times) + 60_000).toISOString();
        // An operator sends the same replay again after a 503 (the local queue refuses when it holds a big backlog).
        let response = await fetch(`${stack.workerUrl}/admin/replay`, { method: 'POST', headers: operator, body: JSON.stringify({ workspaceId: workspace.id, from, to }) });
        for (let attempt = 1; response.status === 503 && attempt < 20; attempt++) {
          await response.arrayBuffer();
          await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? '5')));
          response = await fetch(`${stack.workerUrl}/admin/replay`, { method: 'POST', headers: operator, body: JSON.stringify({ workspaceId: workspace.id, from, to }) });
        }
        const window = `accepted at t=${((Math.min(...times) - startedWall) / 1000).toFixed(1)}..${((Math.max(...times) - startedWall) / 1000).toFixed(1)} s`;
        recovery.push(`workspace ${index}: ${events.length} missing (${window}), mirror replay ${from}..${to} answered ${response.status} ${await response.text()}`);
      }
      if (missing.size > 0) drainSeconds += await drain('after mirror replay');
    }

    // Probes of events that never arrived would keep the prober polling.
    load.probes.clear();
    await probing;

    // Reconciliation.
    const usageSchema = z.object({ usage: z.object({ billable: z.number(), bots: z.number() }) });
    let stored = 0;
    let missing = 0;
    let doubled = 0;
    let rawDuplicateRows = 0;
    let refusedButStored = 0;
    let invalidAccepted = 0;
    let unackStored = 0;
    let usageMismatches = 0;
    let botsFlagged = 0;
    let botsStored = 0;
    let humansFlagged = 0;
    let uniqExactMismatch = 0;
    const humanFlagReasons = new Map<string, number>();
    const missingAtS: number[] = [];
    const usageLines: string[] = [];
    const examples: string[] = [];
    for (const [index, workspace] of workspaces.entries()) {
      const storedRows = await readStored(clickhouse, workspace.id);
      const ours = records.filter((event) => event.workspace === index);
      let expectedUsage = 0;
      let oursStored = 0;
      for (const event of ours) {
        const final = storedRows.final.get(event.messageId);
        const raw = storedRows.raw.get(event.messageId) ?? 0;
        if (raw > 1) rawDuplicateRows += raw - 1;
        if (final) oursStored++;
        if (event.acceptedAt !== null) {
          if (event.kind === 'invalid') invalidAccepted++;
          if (!final) {
            missing++;
            missingAtS.push((event.acceptedAt - startedWall) / 1000);
            if (examples.length < 5) examples.push(`missing ${event.messageId} (${event.kind}, accepted at ${new Date(event.acceptedAt).toISOString()})`);
            continue;
          }
          stored++;
          if (final.copies > 1) {
            doubled++;
            if (examples.length < 5) examples.push(`doubled ${event.messageId}: ${final.copies} rows under FINAL`);
          }
          if (event.kind === 'bot') {
            botsStored++;
            if (final.bot) botsFlagged++;
          } else if (final.bot) {
            humansFlagged++;
            humanFlagReasons.set(final.reason, (humanFlagReasons.get(final.reason) ?? 0) + 1);
          }
          if (event.billable && !final.bot) expectedUsage++;
        } else if (final) {
          if (event.unacknowledged) unackStored++;
          else {
            refusedButStored++;
            if (examples.length < 5) examples.push(`refused yet stored ${event.messageId} (${[...event.refusedWith].join(',')})`);
          }
        }
      }
      const acceptedHere = ours.filter((event) => event.acceptedAt !== null).length;
      // uniqExact counts every stored messageId of the workspace: ours (accepted, or unacknowledged that landed) plus nothing else.
      if (storedRows.uniqExact !== oursStored) uniqExactMismatch++;
      const usage = usageSchema.parse(await (await fetch(`${stack.workerUrl}/v1/usage`, { headers: { authorization: `Bearer ${workspace.secretKey}` } })).json());
      if (usage.usage.billable !== expectedUsage) usageMismatches++;
      usageLines.push(`workspace ${index}: accepted ${acceptedHere}, uniqExact ${storedRows.uniqExact}, usage billable ${usage.usage.billable} vs expected ${expectedUsage} (bots ${usage.usage.bots})`);
    }

    const memoryEnd = memoryOf(stack);
    const sent = records.length;
    const accepted = acceptedTotal;
    const unacknowledged = records.filter((event) => event.acceptedAt === null && event.unacknowledged).length;
    const refused = sent - accepted - unacknowledged;
    const invalidSent = records.filter((event) => event.kind === 'invalid').length;
    const requestStats = summarize(load.stats.requestLatencies);
    const storedStats = summarize(load.stats.storedLatencies);
    const failed = missing > 0 || doubled > 0 || refusedButStored > 0 || invalidAccepted > 0 || usageMismatches > 0 || uniqExactMismatch > 0;
    const fmt = (size: number | null | undefined): string => (size === null || size === undefined ? 'n/a' : `${size.toFixed(0)} MiB`);
    const rows: Row[] = [
      { metric: 'events sent (distinct messageIds)', value: sent, unit: 'events', note: `${load.stats.offeredEvents} offered in ${sentFor.toFixed(0)} s (${(load.stats.offeredEvents / sentFor).toFixed(0)}/s of ${rate}/s asked); duplicates and batch retries included in offered` },
      { metric: 'requests', value: Object.values(load.stats.requests).reduce((sum, count) => sum + count, 0), unit: 'requests', note: Object.entries(load.stats.requests).map(([kind, count]) => `${kind} ${count}`).join(', ') },
      { metric: 'HTTP attempts', value: load.stats.attempts, unit: 'attempts', note: `client retries ${load.stats.clientRetries}; statuses ${Object.entries(load.stats.statuses).map(([status, count]) => `${status}: ${count}`).join(', ')}; gave up ${load.stats.gaveUp}` },
      { metric: 'accepted (2xx for the event)', value: accepted, unit: 'events', note: '' },
      { metric: 'refused (4xx for the event, or 429/503 to the end)', value: refused, unit: 'events', note: `${invalidSent} invalid sent, ${invalidAccepted} of them accepted` },
      { metric: 'unacknowledged (no definite answer)', value: unacknowledged, unit: 'events', note: `${unackStored} of them stored (allowed: at least once)` },
      { metric: 'stored (accepted, under FINAL)', value: stored, unit: 'events', note: `uniqExact per workspace matches ours: ${uniqExactMismatch === 0 ? 'yes' : `no (${uniqExactMismatch} workspaces)`}` },
      { metric: 'missing (accepted, not stored)', value: missing, unit: 'events', note: faults ? `${missingBeforeRecovery} before recovery` : '' },
      { metric: 'doubled (more than one row under FINAL)', value: doubled, unit: 'events', note: `raw duplicate rows not merged yet: ${rawDuplicateRows} (the FINAL/uniqExact backstop absorbs them)` },
      { metric: 'refused yet stored', value: refusedButStored, unit: 'events', note: '' },
      { metric: 'usage (GET /v1/usage billable) = accepted human billable events', value: workspaces.length - usageMismatches, unit: `of ${workspaces.length} workspaces`, note: usageLines.join('; ') },
      { metric: 'bot user agents flagged', value: botsFlagged, unit: `of ${botsStored} stored`, note: `human-meant events flagged by burst/IP layers: ${humansFlagged}${humanFlagReasons.size ? ` (${[...humanFlagReasons].map(([reason, count]) => `${reason} ${count}`).join(', ')})` : ''}` },
      { metric: 'request latency p50', value: requestStats.p50, unit: 'ms', note: `n=${requestStats.n}` },
      { metric: 'request latency p99', value: requestStats.p99, unit: 'ms', note: '' },
      { metric: 'answered 2xx -> stored p50', value: storedStats.p50, unit: 'ms', note: `sampled n=${storedStats.n}, polled every 250 ms` },
      { metric: 'answered 2xx -> stored p99', value: storedStats.p99, unit: 'ms', note: '' },
      { metric: 'drain after the load', value: drainSeconds, unit: 's', note: '' },
      ...Object.keys(memoryStart).map((name) => ({ metric: `RSS ${name}`, value: memoryEnd[name] ?? 0, unit: 'MiB at end', note: `start ${fmt(memoryStart[name])}, peak ${fmt(memoryPeak[name])}, end ${fmt(memoryEnd[name])}` })),
    ];
    const notes = [
      `Result: ${failed ? 'FAILED' : 'passed'} (exit ${failed ? 1 : 0}): zero missing, zero doubled, zero refused-yet-stored, no invalid event accepted, usage equal, uniqExact equal.`,
      `Private stack: ClickHouse ${stack.clickhouseVersion}, redis-server, Upstash stand-in, wrangler dev on a frozen copy of the sources; ${workspaceCount} workspaces (plan scale), seed ${seed}.`,
      'Mix per request: server /v1/batch (secret key, 10-30 events, 5% with a forwarded bot user agent), single server calls (write key), browser /v1/collect (text/plain, write key in the body, 5% of requests with a Googlebot UA) and CORS /v1/batch, 5% whole-batch re-posts, 5% batches of already-accepted messageIds, 2% invalid single calls; 3% of batched events invalid, 0.5% hostile (lone surrogates, __proto__ keys, 8 KB value).',
      'Client: like a Segment library, a 429, 5xx or no answer is retried with the same body (backoff 250 ms doubling to 8 s, for up to 4 min). 429/503 mean nothing was kept; no answer or another 5xx leaves the outcome open (unacknowledged).',
      ...faultLog.map((fault) => `Fault at ${fault.atS.toFixed(0)} s: ${fault.what}, back after ${fault.downS.toFixed(1)} s.`),
      ...recovery.map((line) => `Recovery: ${line}`),
      ...(missingAtS.length ? [`Missing events were accepted between t=${Math.min(...missingAtS).toFixed(1)} s and t=${Math.max(...missingAtS).toFixed(1)} s of the run.`] : []),
      ...examples.map((line) => `Example: ${line}`),
      'The machine is shared (2 cores): latencies include every other process on it.',
    ];
    writeReport(reportName, `Soak: ${rate} events/s for ${minutes} min${faults ? ' with faults' : ''}`, rows, notes);
    if (failed) exitCode = 1;
  } finally {
    redis.disconnect();
    await clickhouse.close();
    await stack.stop();
  }
  process.exitCode = exitCode;
}

await main();
