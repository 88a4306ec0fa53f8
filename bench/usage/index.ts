/**
 * `npm run bench -- usage`: GET /v1/usage latency for a workspace with 1M and 10M events in
 * the current month, through the real Worker (wrangler dev on a frozen copy of the sources,
 * ClickHouse 18.16), next to lib/usage.ts's usageForMonth called straight from Node, in the
 * same run and interleaved call by call (the machine is shared, so both see the same load):
 * - cold: usage_days empty for the month (every day counted from events and written back);
 *   the first one is the first call after loading, the others follow a DROP PARTITION;
 * - warm: nothing changed since the last call (usage_days + usage_inserts only);
 * - today changing: a small insert of today's events before every call (today recounted);
 * - floor: a month without events (D1, auth and two tiny queries: the fixed cost).
 * The direct calls also run on the current engine (26.7 via chdb), direct only.
 *
 * Options (env, since bench/run.ts takes only benchmark names; flags work when this file is
 * run directly: `npx tsx bench/usage/index.ts --full`):
 * - BENCH_FULL=1 / --full: 10M events too (default: 1M only; see DEFAULT_SIZES)
 * - BENCH_USAGE_EVENTS=1000000[,..]: other sizes on 18.16 (quick trials)
 * - BENCH_USAGE_CURRENT_EVENTS=1000000[,..]: sizes for the current engine (0: skip it)
 * - BENCH_USAGE_RUNS: warm and today-changing calls per path (default 50); BENCH_USAGE_COLD_RUNS (default 5)
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { ClickHouseClient } from '../../lib/clickhouse';
import { migrateClickHouse } from '../../dev/migrate';
import { ensureCurrentClickHouse } from '../../dev/clickhouse-server';
import { freePort, logStep } from '../../dev/process';
import { startStack } from '../../dev/stack';
import { monthContaining, TRIAL, type Month, type PlanHistory } from '../../schema/plans';
import { runtimeNote, startSnapshotWorker } from '../ingest/snapshot-worker';
import { summarize, writeReport, type Row } from '../report';
import {
  answerOf,
  createScaleWorkspace,
  directCaller,
  historyFromAnswer,
  historyWithTrialBefore,
  OPERATOR_TOKEN,
  WorkerCallFailed,
  workerCaller,
  workerUsage,
  type UsageAnswer,
  type UsageCaller,
} from './calls';
import { benchClient, copyDataset, countEventsOnDay, ensureSourceDataset, forgetUsageDays, insertRows, waitForMerges, type SourceDataset } from './store';
import { todayRows, type DatasetSpec, type UsageTotals } from './synthetic';

const RUN_DATABASE = 'monfri_bench_usage';
const SEED = 42;
const DEFAULT_SIZES = [1_000_000];
const FULL_SIZES = [1_000_000, 10_000_000];
/** Events per insert while today is changing: a busy minute of a small shop, a second of a big one. */
const TODAY_BATCH = 20;
const WARMUP_CALLS = 3;
const FLOOR_CALLS = 20;
const WORKER_TIMEOUT_NOTE = 'the route gives ClickHouse 15 s (workers/api/usage.ts), then answers 503';
const DAY_MS = 86_400_000;

interface BenchOptions {
  sizes: number[];
  currentSizes: number[];
  runs: number;
  coldRuns: number;
}

interface RoundPlan {
  rounds: number;
  minRounds: number;
  /** Stops after minRounds once the state has taken this long. */
  budgetMs: number;
}

interface Cell {
  events: number;
  engine: string;
  path: string;
  state: string;
  samples: number[];
  failures: string[];
  mismatches: string[];
}

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(parsed) || parsed < 0) throw new Error(`${name} must be a whole number, got ${value}`);
  return parsed;
}

function sizeList(value: string, name: string): number[] {
  return value
    .split(',')
    .map((size) => positiveInteger(size.trim(), name))
    .filter((size) => size > 0);
}

function benchOptions(): BenchOptions {
  const full = process.argv.includes('--full') || process.env.BENCH_FULL === '1';
  const listed = process.env.BENCH_USAGE_EVENTS;
  return {
    sizes: listed ? sizeList(listed, 'BENCH_USAGE_EVENTS') : full ? FULL_SIZES : DEFAULT_SIZES,
    currentSizes: sizeList(process.env.BENCH_USAGE_CURRENT_EVENTS ?? '1000000', 'BENCH_USAGE_CURRENT_EVENTS'),
    runs: Math.max(1, positiveInteger(process.env.BENCH_USAGE_RUNS ?? '50', 'BENCH_USAGE_RUNS')),
    coldRuns: Math.max(1, positiveInteger(process.env.BENCH_USAGE_COLD_RUNS ?? '5', 'BENCH_USAGE_COLD_RUNS')),
  };
}

function sizeLabel(events: number): string {
  if (events % 1_000_000 === 0) return `${events / 1_000_000}m`;
  if (events % 1000 === 0) return `${events / 1000}k`;
  return String(events);
}

/** Samples the 1-minute load average: other sessions share these 2 cores. */
function sampleLoadAverage(): () => string {
  const samples: number[] = [loadavg()[0] ?? 0];
  const timer = setInterval(() => samples.push(loadavg()[0] ?? 0), 5000);
  timer.unref();
  return () => {
    clearInterval(timer);
    return `min ${Math.min(...samples).toFixed(1)}, median ${summarize(samples).p50.toFixed(1)}, max ${Math.max(...samples).toFixed(1)}`;
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const perSecond = (rows: number, ms: number): string => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;

/** What every answer must say: the dataset's totals plus the billable events inserted for today so far. */
class ExpectedUsage {
  private added = 0;
  constructor(private readonly base: UsageTotals) {}
  addBillable(count: number): void {
    this.added += count;
  }
  mismatch(answer: UsageAnswer): string | null {
    const billable = this.base.billable + this.added;
    if (answer.billable === billable && answer.bots === this.base.bots && answer.other === this.base.other) return null;
    return `billable ${answer.billable}/${billable}, bots ${answer.bots}/${this.base.bots}, other ${answer.other}/${this.base.other} (answered/expected)`;
  }
}

/**
 * Calls every caller once per round, `prepare` before each call, until the plan is met.
 * Interleaving keeps the Worker and the direct path under the same machine load.
 */
async function runRounds(callers: readonly UsageCaller[], cells: ReadonlyMap<UsageCaller, Cell>, plan: RoundPlan, expected: ExpectedUsage | null, prepare: () => Promise<void>): Promise<void> {
  const started = performance.now();
  for (let round = 0; round < plan.rounds; round++) {
    if (round >= plan.minRounds && performance.now() - started > plan.budgetMs) break;
    for (const caller of callers) {
      const cell = cells.get(caller);
      if (!cell) throw new Error(`no cell for ${caller.path}`);
      await prepare();
      try {
        const { ms, answer } = await caller.call();
        cell.samples.push(ms);
        const mismatch = expected?.mismatch(answer) ?? null;
        if (mismatch) cell.mismatches.push(mismatch);
      } catch (error) {
        // Counted and shown, not fatal: a 503 from the Worker's 15 s limit is a result too.
        cell.failures.push(error instanceof Error ? error.message : String(error));
      }
    }
  }
}

function cellsFor(callers: readonly UsageCaller[], events: number, state: string): Map<UsageCaller, Cell> {
  return new Map(callers.map((caller) => [caller, { events, engine: caller.engine, path: caller.path, state, samples: [], failures: [], mismatches: [] }]));
}

interface SizeContext {
  events: number;
  month: Month;
  runClient: ClickHouseClient;
  expected: ExpectedUsage;
  workspaceId: string;
  options: BenchOptions;
  runId: string;
}

/** The three states for a set of callers; `todayInserted` counts the rows added while today changes. */
async function measureStates(context: SizeContext, callers: readonly UsageCaller[], firstCold: { caller: UsageCaller; ms: number } | null): Promise<{ cells: Cell[]; todayInserted: number }> {
  const { events, month, runClient, expected, options } = context;
  const cold = cellsFor(callers, events, 'cold (usage_days empty)');
  const warm = cellsFor(callers, events, 'warm (nothing changed)');
  const changing = cellsFor(callers, events, `today changing (+${TODAY_BATCH} events before each call)`);
  const forget = (): Promise<void> => forgetUsageDays(runClient, month.startMs);
  const nothing = async (): Promise<void> => {};
  let todayInserted = 0;
  const insertToday = async (): Promise<void> => {
    await insertRows(runClient, todayRows(context.workspaceId, context.runId, todayInserted, TODAY_BATCH, Date.now()));
    todayInserted += TODAY_BATCH;
    expected.addBillable(TODAY_BATCH);
  };

  if (firstCold) {
    cold.get(firstCold.caller)?.samples.push(firstCold.ms);
    await runRounds(
      callers.filter((caller) => caller !== firstCold.caller),
      cold,
      { rounds: 1, minRounds: 1, budgetMs: 0 },
      expected,
      forget,
    );
  }
  const coldRounds = firstCold ? options.coldRuns - 1 : options.coldRuns;
  await runRounds(callers, cold, { rounds: coldRounds, minRounds: Math.min(coldRounds, 2), budgetMs: 180_000 }, expected, forget);
  logStep(`    cold done`);
  await runRounds(callers, cellsFor(callers, events, 'warm-up'), { rounds: WARMUP_CALLS, minRounds: WARMUP_CALLS, budgetMs: 0 }, expected, nothing);
  await runRounds(callers, warm, { rounds: options.runs, minRounds: 10, budgetMs: 240_000 }, expected, nothing);
  logStep(`    warm done`);
  await runRounds(callers, changing, { rounds: options.runs, minRounds: 10, budgetMs: 300_000 }, expected, insertToday);
  logStep(`    today changing done`);
  return { cells: [...cold.values(), ...warm.values(), ...changing.values()], todayInserted };
}

/** A month before the data: the fixed cost of the route (auth, D1 plan history, two queries answering nothing). */
async function measureFloor(callers: readonly UsageCaller[], events: number): Promise<Cell[]> {
  const floor = cellsFor(callers, events, 'floor (previous month, no events)');
  await runRounds(callers, floor, { rounds: FLOOR_CALLS, minRounds: FLOOR_CALLS, budgetMs: 0 }, null, async () => {});
  return [...floor.values()];
}

function previousMonthId(month: Month): string {
  return new Date(month.startMs - DAY_MS).toISOString().slice(0, 7);
}

/** The dataset for one size: spread from the month's start until now. */
function specFor(events: number, month: Month, nowMs: number): DatasetSpec {
  return { events, fromMs: month.startMs, toMs: nowMs, seed: SEED };
}

function loadNote(engine: string, source: SourceDataset): string {
  const { marker } = source;
  const when = source.loadedNow ? 'loaded this run' : `reused (loaded ${new Date(marker.spec.toMs).toISOString()})`;
  return `${engine}, ${sizeLabel(marker.spec.events)}: ${when}: ${marker.spec.events.toLocaleString('en-US')} rows in ${seconds(marker.loadMs)} (${perSecond(marker.spec.events, marker.loadMs)}, generating with buildEventRow included)`;
}

async function recreateDatabase(url: string, database: string): Promise<void> {
  const system = benchClient(url, 'default');
  try {
    await system.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  } finally {
    await system.close();
  }
  await migrateClickHouse({ url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD });
}

interface Prepared {
  source: SourceDataset;
  copyMs: number;
  settleMs: number;
  todayEvents: number;
}

/** Source dataset (loaded or reused), copied into the run database for `workspaceId`, merges settled. */
async function prepareWorkspace(url: string, engine: string, events: number, month: Month, workspaceId: string, runClient: ClickHouseClient): Promise<Prepared> {
  const sourceDatabase = `monfri_bench_usage_src_${sizeLabel(events)}`;
  const source = await ensureSourceDataset(url, sourceDatabase, specFor(events, month, Date.now()), logStep);
  const system = benchClient(url, 'default');
  try {
    await waitForMerges(system, sourceDatabase);
    logStep(`  copying into ${RUN_DATABASE} as ${workspaceId}`);
    const copyMs = await copyDataset(url, sourceDatabase, RUN_DATABASE, workspaceId);
    const settleMs = await waitForMerges(system, RUN_DATABASE);
    return { source, copyMs, settleMs, todayEvents: await countEventsOnDay(runClient, workspaceId, Date.now()) };
  } finally {
    await system.close();
  }
}

function prepareNote(engine: string, events: number, prepared: Prepared): string {
  const share = ((prepared.todayEvents / events) * 100).toFixed(0);
  return `${engine}, ${sizeLabel(events)}: copied into the run database in ${seconds(prepared.copyMs)} (${perSecond(events, prepared.copyMs)}, INSERT ... SELECT per day), merges settled in ${seconds(prepared.settleMs)}; today holds ${prepared.todayEvents.toLocaleString('en-US')} of the events (${share}%) before the today-changing inserts`;
}

function rowsFor(cells: readonly Cell[]): Row[] {
  const directP50 = new Map<string, number>();
  for (const cell of cells) {
    if (cell.path.startsWith('direct, same plan history')) directP50.set(`${cell.events}|${cell.engine}|${cell.state}`, summarize(cell.samples).p50);
  }
  return cells.map((cell) => {
    const stats = summarize(cell.samples);
    const direct = directP50.get(`${cell.events}|${cell.engine}|${cell.state}`);
    const notes = [
      cell.failures.length ? `${cell.failures.length} failed: ${cell.failures[0] ?? ''}` : '',
      cell.mismatches.length ? `${cell.mismatches.length} wrong answers: ${cell.mismatches[0] ?? ''}` : '',
    ].filter(Boolean);
    return {
      events: sizeLabel(cell.events),
      engine: cell.engine,
      state: cell.state,
      path: cell.path,
      n: stats.n,
      'p50 ms': stats.p50,
      'p99 ms': stats.p99,
      'mean ms': stats.mean,
      'Worker÷direct p50': cell.path.startsWith('Worker') && direct ? `${(stats.p50 / direct).toFixed(2)}×` : '',
      note: notes.join('; '),
    };
  });
}

interface ServerRun {
  cells: Cell[];
  notes: string[];
}

/** One size on ClickHouse 18.16: Worker and direct calls against the same workspace. */
async function measureServerSize(events: number, stackUrl: string, engine: string, workerUrl: string, options: BenchOptions, runClient: ClickHouseClient, runId: string): Promise<ServerRun> {
  const month = monthContaining(Date.now());
  const created = await createScaleWorkspace(workerUrl, `usage bench ${sizeLabel(events)}`);
  const workspaceId = created.workspace.id;
  logStep(`${engine}, ${sizeLabel(events)}: workspace ${workspaceId} (plan scale)`);
  const prepared = await prepareWorkspace(stackUrl, engine, events, month, workspaceId, runClient);
  const expected = new ExpectedUsage(prepared.source.marker.totals);

  logStep(`  measuring`);
  // The first call after loading, through the Worker; its answer also tells the plan history it used.
  await forgetUsageDays(runClient, month.startMs);
  const first = await workerUsage(workerUrl, created.secretKey).catch((error: unknown) => {
    throw error instanceof WorkerCallFailed ? new Error(`the first (cold) call failed, so no plan history to reuse: ${error.message}; ${WORKER_TIMEOUT_NOTE}`) : error;
  });
  const history = historyFromAnswer(first.response);
  const worker = workerCaller(workerUrl, created.secretKey, engine);
  const callers = [
    worker,
    directCaller(runClient, workspaceId, history, 'direct, same plan history as the Worker', engine),
    directCaller(runClient, workspaceId, historyWithTrialBefore(month.startMs), 'direct, trial over before this month', engine),
  ];
  const firstMismatch = expected.mismatch(answerOf(first.response));
  const context: SizeContext = { events, month, runClient, expected, workspaceId, options, runId };
  const { cells, todayInserted } = await measureStates(context, callers, { caller: worker, ms: first.ms });
  const floorCallers = [workerCaller(workerUrl, created.secretKey, engine, previousMonthId(month)), directCaller(runClient, workspaceId, history, 'direct, same plan history as the Worker', engine, previousMonthId(month))];
  cells.push(...(await measureFloor(floorCallers, events)));
  return {
    cells,
    notes: [
      loadNote(engine, prepared.source),
      prepareNote(engine, events, prepared),
      `${engine}, ${sizeLabel(events)}: first call after loading ${first.ms.toFixed(0)} ms, answered ${first.response.daily.length} days, billable ${first.response.usage.billable.toLocaleString('en-US')} (in trial ${first.response.usage.inTrial.toLocaleString('en-US')}), bots ${first.response.usage.bots.toLocaleString('en-US')}, not billable ${first.response.usage.notBillable.toLocaleString('en-US')}${firstMismatch ? `; WRONG: ${firstMismatch}` : ''}; ${todayInserted.toLocaleString('en-US')} events added for today while it changed`,
    ],
  };
}

/** A workspace that chose Scale when this run started: what the Worker's new workspace looks like. */
function historyChosenAt(nowMs: number): PlanHistory {
  return { trialEndsAt: new Date(nowMs + TRIAL.days * DAY_MS).toISOString(), changes: [{ plan: 'scale', changedAt: new Date(nowMs).toISOString() }] };
}

/** The direct calls on the current engine (no Worker: the product's Worker runs against 18.16 here). */
async function measureCurrentEngine(options: BenchOptions, runId: string, startedAtMs: number): Promise<ServerRun> {
  const current = await ensureCurrentClickHouse();
  const engine = `ClickHouse ${current.version} (chdb)`;
  const cells: Cell[] = [];
  const notes: string[] = [];
  try {
    await recreateDatabase(current.url, RUN_DATABASE);
    const runClient = benchClient(current.url, RUN_DATABASE);
    try {
      for (const events of options.currentSizes) {
        const month = monthContaining(Date.now());
        const workspaceId = `ws_current_${sizeLabel(events)}_${runId}`;
        logStep(`${engine}, ${sizeLabel(events)}: workspace ${workspaceId}`);
        const prepared = await prepareWorkspace(current.url, engine, events, month, workspaceId, runClient);
        const expected = new ExpectedUsage(prepared.source.marker.totals);
        const callers = [
          directCaller(runClient, workspaceId, historyChosenAt(startedAtMs), 'direct, same plan history as the Worker', engine),
          directCaller(runClient, workspaceId, historyWithTrialBefore(month.startMs), 'direct, trial over before this month', engine),
        ];
        logStep(`  measuring`);
        await forgetUsageDays(runClient, month.startMs);
        const { cells: measured, todayInserted } = await measureStates({ events, month, runClient, expected, workspaceId, options, runId }, callers, null);
        cells.push(...measured);
        notes.push(loadNote(engine, prepared.source), `${prepareNote(engine, events, prepared)}; ${todayInserted.toLocaleString('en-US')} events added for today while it changed`);
      }
    } finally {
      await runClient.close();
    }
  } finally {
    await current.stop();
  }
  return { cells, notes };
}

export async function run(): Promise<void> {
  const options = benchOptions();
  const startedAtMs = Date.now();
  const runId = startedAtMs.toString(36);
  const machineLoad = sampleLoadAverage();
  logStep(`usage bench: ${options.sizes.map(sizeLabel).join(', ')} on 18.16 (Worker + direct), ${options.currentSizes.map(sizeLabel).join(', ') || 'nothing'} on the current engine (direct); ${options.runs} warm / today-changing calls, ${options.coldRuns} cold, per path`);

  const stack = await startStack({ database: RUN_DATABASE, upstashPort: await freePort(), quiet: true });
  const engine = `ClickHouse ${stack.clickhouse.version}`;
  // A fresh run database: this run's workspaces only (the source datasets live in databases of their own).
  await recreateDatabase(stack.clickhouse.url, RUN_DATABASE);
  const worker = await startSnapshotWorker({ ...stack.workerEnv, OPERATOR_TOKEN, LIVE_TICKET_SECRET: 'bench', SESSION_SECRET: 'bench' });
  const runClient = benchClient(stack.clickhouse.url, RUN_DATABASE);
  const cells: Cell[] = [];
  const notes: string[] = [];
  try {
    for (const events of options.sizes) {
      const measured = await measureServerSize(events, stack.clickhouse.url, engine, worker.url, options, runClient, runId);
      cells.push(...measured.cells);
      notes.push(...measured.notes);
    }
  } finally {
    await runClient.close();
    await worker.stop();
    await stack.stop();
  }
  if (options.currentSizes.length > 0) {
    const current = await measureCurrentEngine(options, runId, startedAtMs);
    cells.push(...current.cells);
    notes.push(...current.notes);
  }

  const month = monthContaining(startedAtMs);
  writeReport('usage', `GET /v1/usage, ${options.sizes.map(sizeLabel).join(' and ')} events this month (Worker on ${engine}; direct usageForMonth on the same and on the current engine)`, rowsFor(cells), [
    `Machine: 2 shared cores; 1-minute load average during the run: ${machineLoad()}; whole run ${seconds(Date.now() - startedAtMs)}. Other sessions were running; Worker and direct calls are interleaved call by call, so both saw the same load.`,
    `Month ${month.id}, run on day ${new Date(startedAtMs).getUTCDate()}: the events are spread evenly in time from the month's start until the load, so today holds the share given below (early in a month that is a large part of it, and today is what the today-changing and trial rows recount).`,
    `Data: bench/usage/synthetic.ts (CollectedEvent-shaped, rows from consumers/events/event-row.ts buildEventRow): 62% track, 22% page, 4% screen, 10% identify, 2% group; 4% bot-flagged; 20,000 users; unique messageIds. Every answer is checked against the totals tallied while generating (plus the today inserts); wrong answers would show in the note column.`,
    ...notes,
    'Paths: "Worker" = GET /v1/usage with the secret key through wrangler dev (auth + D1 plan history + lib/usage.ts over client-web fetch from workerd, JSON answer), timed from Node until the body is read. "direct" = usageForMonth from Node with one long-lived client (no Worker, no D1). "same plan history as the Worker": the plan history the Worker answered with (Scale chosen at creation, which ended the trial today: lib/usage.ts then counts the trial\'s part of today from events on every call). "trial over before this month": the common case of a customer past its first month, where no trial query runs.',
    'States: cold = usage_days emptied (ALTER TABLE usage_days DROP PARTITION; the first cold Worker call is the first call after loading), every day recounted with uniqExact and written back; warm = nothing changed since the last call; today changing = 20 billable events inserted for today right before each call, so today is recounted from events each time; floor = the previous month (no events). With n <= 100, p99 is the slowest call.',
    `Worker timeouts: ${WORKER_TIMEOUT_NOTE}; failed calls are counted in the note column, not in the latencies.`,
    'Current engine: ClickHouse 26.7 in-process through chdb behind a Node HTTP stand-in (dev/clickhouse-current.ts) that runs one request at a time (so usageForMonth\'s two parallel reads run one after the other) and may be shared with other sessions; no Worker there. Its dataset is loaded on its own (same generator, a later load time, so a slightly different today share).',
    runtimeNote(),
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
