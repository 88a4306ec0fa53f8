/**
 * `npm run bench -- storage`: the product page's PostgreSQL-vs-ClickHouse table, measured
 * side by side in one run on this machine: the same seeded synthetic events in PostgreSQL
 * (its idiomatic partitioned schema, bench/storage/postgres.ts) and in our real ClickHouse
 * `events` table on both engines (18.16 server and the current engine), then
 * - load throughput (COPY vs JSONEachRow) and size on disk,
 * - single-event and 100-event INSERT latency,
 * - the read queries of bench/storage/queries.ts, warm (median, p99) and one cold run,
 *   each answer compared across the three engines.
 *
 * Options (env, since bench/run.ts takes only benchmark names; flags work when this file is
 * run directly: `npx tsx bench/storage/index.ts --full --reload`):
 * - BENCH_FULL=1 / --full: 3M and 10M events too, and the query-time-vs-size table
 *   (storage-scaling.md; default: 1M only)
 * - BENCH_RELOAD=1 / --reload: reload even when the same dataset is already loaded
 * - BENCH_STORAGE_EVENTS=200000[,..]: other sizes (quick trials); BENCH_SEED (default 42)
 * - BENCH_COLD=0: skip the cold runs; BENCH_STORAGE_RUNS: warm repetitions (default 10)
 */
import { freemem, loadavg, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { ensureClickHouseEngine } from '../../dev/clickhouse-server';
import { DATA_DIR, logStep } from '../../dev/process';
import { summarize, writeReport, type Row } from '../report';
import { openClickHouse } from './clickhouse';
import type { Answer, LoadMarker, QueryScope, StorageEngine, StorageFootprint } from './engine';
import { dropOsCaches, repeat, timed, type RepeatPlan } from './measure';
import { openPostgres, postgresSettings, QUERY_WORK_MEM } from './postgres';
import { BENCH_QUERIES, FUNNEL_WINDOW_SECONDS } from './queries';
import { datasetKey, datasetSpec, generateChunks, probeRows, typicalUser, type DatasetSpec } from './synthetic';

const DAY_MS = 86_400_000;
const WINDOW_DAYS = 30;
const CHUNK_ROWS = 20_000;
const SINGLE_INSERTS = 200;
const BATCH_INSERTS = 50;
const BATCH_SIZE = 100;
const SINGLE_INSERT_TITLE = 'single-event INSERT (1 row per statement)';
/** Queries whose first answer rows go into the notes (what the engines agreed on). */
const SHOWN_ANSWERS = new Set(['events-by-user', 'funnel']);
/** Product page (PRODUCT_PAGE.md), quoted next to our numbers; we publish only what we measured. */
/**
 * The bench's own ClickHouse servers (data under .data/bench-storage-*): a long 10M run must not
 * share the test ports (18123/18124), which whichever `npm test` started them stops when it ends.
 */
const STORAGE_CLICKHOUSE_PORT = 18323;
const STORAGE_CURRENT_CLICKHOUSE_PORT = 18325;
const PAGE_CLAIMS = { insertPostgresMs: 972, insertClickHouseMs: 6, aggregationPostgresMs: 14_000, aggregationClickHouseMs: 340 };

interface BenchOptions {
  sizes: number[];
  seed: number;
  reload: boolean;
  cold: boolean;
  plan: RepeatPlan;
}

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive whole number, got ${value}`);
  return parsed;
}

function benchOptions(): BenchOptions {
  const flags = new Set(process.argv.slice(2));
  const full = flags.has('--full') || process.env.BENCH_FULL === '1';
  const listed = process.env.BENCH_STORAGE_EVENTS;
  const sizes = listed ? listed.split(',').map((size) => positiveInteger(size.trim(), 'BENCH_STORAGE_EVENTS')) : full ? [1_000_000, 3_000_000, 10_000_000] : [1_000_000];
  return {
    sizes,
    seed: positiveInteger(process.env.BENCH_SEED ?? '42', 'BENCH_SEED'),
    reload: flags.has('--reload') || process.env.BENCH_RELOAD === '1',
    cold: process.env.BENCH_COLD !== '0',
    plan: { runs: positiveInteger(process.env.BENCH_STORAGE_RUNS ?? '10', 'BENCH_STORAGE_RUNS'), minRuns: 3, budgetMs: 10_000 },
  };
}

function sizeLabel(events: number): string {
  if (events % 1_000_000 === 0) return `${events / 1_000_000}m`;
  if (events % 1000 === 0) return `${events / 1000}k`;
  return String(events);
}

/** Samples the 1-minute load average while a size runs: other engineers share these 2 cores. */
function sampleLoadAverage(): () => string {
  const samples: number[] = [loadavg()[0] ?? 0];
  const timer = setInterval(() => samples.push(loadavg()[0] ?? 0), 5000);
  timer.unref();
  return () => {
    clearInterval(timer);
    const stats = summarize(samples);
    return `min ${Math.min(...samples).toFixed(1)}, median ${stats.p50.toFixed(1)}, max ${Math.max(...samples).toFixed(1)}`;
  };
}

function rate(events: number, ms: number): number {
  return events / (ms / 1000);
}

/** PostgreSQL's time over ClickHouse's: above 1, ClickHouse is faster by that factor. */
function ratioText(postgres: number, clickhouse: number): string {
  if (!Number.isFinite(postgres) || !Number.isFinite(clickhouse) || clickhouse <= 0) return '';
  const ratio = postgres / clickhouse;
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toPrecision(2)}×`;
}

interface Engines {
  postgres: StorageEngine;
  /** PostgreSQL first (the reference answer and the ratios' numerator), then the two ClickHouse engines. */
  all: StorageEngine[];
}

async function openEngines(events: number, spec: DatasetSpec): Promise<Engines> {
  const label = sizeLabel(events);
  const database = `monfri_bench_storage_${label}`;
  const postgres = await openPostgres({ schema: `bench_storage_${label}`, dataFromMs: spec.startMs, dataToMs: spec.endMs });
  const server = await openClickHouse({ url: process.env.BENCH_CLICKHOUSE_URL ?? `http://127.0.0.1:${STORAGE_CLICKHOUSE_PORT}`, database });
  const current = await openClickHouse({
    url: process.env.BENCH_CLICKHOUSE_CURRENT_URL ?? `http://127.0.0.1:${STORAGE_CURRENT_CLICKHOUSE_PORT}`,
    database,
    describe: (version) => `ClickHouse ${version} (chdb)`,
  });
  return { postgres, all: [postgres, server, current] };
}

interface LoadOutcome {
  markers: Map<StorageEngine, LoadMarker>;
  loadedNow: Set<StorageEngine>;
  generateMs: number;
}

/** Loads the dataset into every engine that lacks it (one generated chunk goes to each in turn, each timed alone). */
async function ensureLoaded(engines: Engines, spec: DatasetSpec, reload: boolean): Promise<LoadOutcome> {
  const key = datasetKey(spec);
  const markers = new Map<StorageEngine, LoadMarker>();
  const pending: StorageEngine[] = [];
  for (const engine of engines.all) {
    const marker = reload ? null : await engine.loadedMarker();
    if (marker?.dataset === key) markers.set(engine, marker);
    else pending.push(engine);
  }
  const loadedNow = new Set(pending);
  if (pending.length === 0) {
    logStep(`dataset already loaded everywhere (${key}); BENCH_RELOAD=1 reloads`);
    return { markers, loadedNow, generateMs: 0 };
  }
  logStep(`loading ${spec.events.toLocaleString('en')} events into ${pending.map((engine) => engine.label).join(', ')} (${key})`);
  for (const engine of pending) await engine.resetDataset();
  const insertMs = new Map<StorageEngine, number>(pending.map((engine) => [engine, 0]));
  let events = 0;
  let identities = 0;
  let generateMs = 0;
  let nextReport = spec.events / 10;
  const chunks = generateChunks(spec, CHUNK_ROWS);
  for (;;) {
    const generated = await timed(async () => chunks.next());
    generateMs += generated.ms;
    if (generated.value.done) break;
    const chunk = generated.value.value;
    for (const engine of pending) insertMs.set(engine, (insertMs.get(engine) ?? 0) + (await engine.loadChunk(chunk)));
    events += chunk.events.length;
    identities += chunk.identities.length;
    if (events >= nextReport || events === spec.events) {
      nextReport += spec.events / 10;
      const rates = pending.map((engine) => `${engine.label} ${Math.round(rate(events, insertMs.get(engine) ?? 0)).toLocaleString('en')}/s`).join(', ');
      logStep(`  ${events.toLocaleString('en')} / ${spec.events.toLocaleString('en')} events; generating ${Math.round(rate(events, generateMs)).toLocaleString('en')}/s; ${rates}`);
    }
  }
  for (const engine of pending) {
    logStep(`  ${engine.label}: ${engine.settleStep}`);
    const settleMs = await engine.settle();
    const marker: LoadMarker = { dataset: key, events, identities, insertMs: insertMs.get(engine) ?? 0, settleMs, loadedAt: new Date().toISOString() };
    await engine.writeMarker(marker);
    markers.set(engine, marker);
    logStep(`  ${engine.label}: inserts ${(marker.insertMs / 1000).toFixed(1)} s, ${engine.settleStep} ${(settleMs / 1000).toFixed(1)} s`);
  }
  return { markers, loadedNow, generateMs };
}

interface QueryResult {
  warm: number[];
  cold: number | null;
  answer: Answer;
}

async function measureQuery(engine: StorageEngine, queryId: string, scope: QueryScope, options: BenchOptions): Promise<QueryResult> {
  const work = (): Promise<Answer> => engine.runQuery(queryId, scope);
  let cold: number | null = null;
  if (options.cold && dropOsCaches()) cold = (await timed(work)).ms;
  else await work();
  const { samples, last } = await repeat(work, options.plan);
  const stats = summarize(samples);
  logStep(`  ${queryId} on ${engine.label}: ${cold === null ? '' : `cold ${cold.toFixed(1)} ms, `}warm p50 ${stats.p50.toFixed(1)} ms, p99 ${stats.p99.toFixed(1)} ms (n=${stats.n}), ${last.length} answer rows`);
  return { warm: samples, cold, answer: last };
}

/** Empty when every engine gave PostgreSQL's answer; else one line per disagreement. */
function answerDifferences(engines: StorageEngine[], answers: Answer[]): string[] {
  const reference = answers[0] ?? [];
  return engines.slice(1).flatMap((engine, index) => {
    const answer = answers[index + 1] ?? [];
    if (answer.length === reference.length && answer.every((line, at) => line === reference[at])) return [];
    const at = answer.findIndex((line, position) => line !== reference[position]);
    const first = at === -1 ? Math.min(answer.length, reference.length) : at;
    return [`${engine.label} differs from ${engines[0]?.label}: ${answer.length} vs ${reference.length} rows, first difference at row ${first + 1}: ${JSON.stringify(answer[first] ?? null)} vs ${JSON.stringify(reference[first] ?? null)}`];
  });
}

/** One table row: p50/p99 per engine, then PostgreSQL ÷ each ClickHouse (by p50). */
function measurementRow(
  engines: readonly StorageEngine[],
  measurement: string,
  unit: string,
  values: { p50: number; p99: number | null }[],
  extra: { n: string; answers: string },
  ratioOf: (postgres: number, clickhouse: number) => string = ratioText,
): Row {
  const row: Row = { measurement, unit };
  engines.forEach((engine, index) => {
    const value = values[index];
    row[`${engine.label} p50`] = value?.p50 ?? '';
    row[`${engine.label} p99`] = value?.p99 ?? '';
  });
  const postgres = values[0]?.p50 ?? Number.NaN;
  engines.slice(1).forEach((engine, index) => {
    row[`PG÷${engine.label.replace('ClickHouse ', 'CH ')}`] = ratioOf(postgres, values[index + 1]?.p50 ?? Number.NaN);
  });
  row.n = extra.n;
  row.answers = extra.answers;
  return row;
}

function loadRows(engines: readonly StorageEngine[], markers: (LoadMarker | undefined)[], footprints: StorageFootprint[], events: number): Row[] {
  const single = (value: number): { p50: number; p99: null } => ({ p50: value, p99: null });
  return [
    measurementRow(engines, 'load: insert throughput', 'events/s', markers.map((marker) => single(marker ? rate(marker.events, marker.insertMs) : Number.NaN)), { n: String(events), answers: '' }, (postgres, clickhouse) => ratioText(clickhouse, postgres)),
    measurementRow(engines, 'load: inserts + settle', 's', markers.map((marker) => single(marker ? (marker.insertMs + marker.settleMs) / 1000 : Number.NaN)), { n: String(events), answers: '' }),
    measurementRow(engines, 'size on disk (events table)', 'MB', footprints.map((footprint) => single(Math.round(footprint.bytes / 2 ** 20))), { n: '', answers: '' }),
  ];
}

interface QueryPhase {
  warmRows: Row[];
  coldRows: Row[];
  answersDiffer: boolean;
  answerNotes: string[];
  planNotes: string[];
}

/** Every query on every engine (cold, then warm), answers compared with PostgreSQL's. */
async function measureQueries(engines: Engines, scope: QueryScope, options: BenchOptions): Promise<QueryPhase> {
  const phase: QueryPhase = { warmRows: [], coldRows: [], answersDiffer: false, answerNotes: [], planNotes: [] };
  for (const query of BENCH_QUERIES) {
    logStep(`query ${query.id}: ${query.title}`);
    const results: QueryResult[] = [];
    for (const engine of engines.all) results.push(await measureQuery(engine, query.id, scope, options));
    const differences = answerDifferences(engines.all, results.map((result) => result.answer));
    for (const difference of differences) logStep(`  ANSWERS DIFFER: ${difference}`);
    phase.answerNotes.push(...differences.map((difference) => `${query.id}: ${difference}`));
    phase.answersDiffer ||= differences.length > 0;
    const answers = differences.length === 0 ? `same (${results[0]?.answer.length ?? 0} rows)` : 'DIFFER (notes)';
    const stats = results.map((result) => summarize(result.warm));
    phase.warmRows.push(measurementRow(engines.all, query.title, 'ms', stats, { n: stats.map((stat) => stat.n).join('/'), answers }));
    if (results.every((result) => result.cold !== null)) {
      phase.coldRows.push(measurementRow(engines.all, `${query.title}, cold`, 'ms', results.map((result) => ({ p50: result.cold ?? Number.NaN, p99: null })), { n: '1', answers: '' }));
    }
    const plan = await engines.postgres.scanPlan?.(query.id, scope);
    if (plan) phase.planNotes.push(`${query.id}: ${plan}`);
    if (SHOWN_ANSWERS.has(query.id)) phase.answerNotes.push(`${query.id} answer (PostgreSQL, first rows): ${(results[0]?.answer ?? []).slice(0, 4).map((line) => line.replace('\t', ' = ')).join('; ')}`);
  }
  return phase;
}

/** `count` sequential INSERT statements of `batchSize` rows on each engine (the same rows for each). */
async function measureInserts(engines: readonly StorageEngine[], spec: DatasetSpec, batchSize: number, count: number): Promise<number[][]> {
  // A fresh salt per run: probe rows from earlier runs are still there, and message ids are keys.
  const salt = Date.now() % 2 ** 31;
  const samples: number[][] = [];
  for (const engine of engines) {
    const rows = probeRows(spec, batchSize * count, salt + batchSize);
    const latencies: number[] = [];
    for (let index = 0; index < count; index++) {
      const batch = rows.slice(index * batchSize, (index + 1) * batchSize);
      latencies.push((await timed(() => engine.insertEvents(batch))).ms);
    }
    const stats = summarize(latencies);
    logStep(`  ${batchSize}-event INSERT on ${engine.label}: p50 ${stats.p50.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms (n=${stats.n})`);
    samples.push(latencies);
  }
  return samples;
}

/** Inserts run last: their parts (ClickHouse) and touched pages (PostgreSQL) must not disturb the queries. */
async function insertRows(engines: readonly StorageEngine[], spec: DatasetSpec): Promise<Row[]> {
  logStep(`insert latency (probe rows go to workspace ${spec.workspaceId}_probe, which no query reads)`);
  const row = (title: string, samples: number[][]): Row => {
    const stats = samples.map((latencies) => summarize(latencies));
    return measurementRow(engines, title, 'ms', stats, { n: String(stats[0]?.n ?? 0), answers: '' });
  };
  const single = row(SINGLE_INSERT_TITLE, await measureInserts(engines, spec, 1, SINGLE_INSERTS));
  const batched = row(`${BATCH_SIZE}-event batch INSERT`, await measureInserts(engines, spec, BATCH_SIZE, BATCH_INSERTS));
  return [single, batched];
}

function p50Text(row: Row | undefined, engine: StorageEngine | undefined): string {
  const value = engine ? row?.[`${engine.label} p50`] : undefined;
  return typeof value === 'number' ? `${value.toFixed(value < 10 ? 2 : 0)} ms` : 'n/a';
}

interface NotesContext {
  spec: DatasetSpec;
  engines: Engines;
  options: BenchOptions;
  postgresConfig: string;
  load: LoadOutcome;
  markers: (LoadMarker | undefined)[];
  footprints: StorageFootprint[];
  scope: QueryScope;
  queries: QueryPhase;
  rows: Row[];
  loadAverage: string;
  elapsedMs: number;
}

function machineNote(context: NotesContext): string {
  return `Machine: 2 shared cores (other engineers' processes run too; 1-minute load average during this size: ${context.loadAverage}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} GiB free at the end), one local disk; every server and this Node client share the cores. Whole run for this size: ${(context.elapsedMs / 1000).toFixed(0)} s.`;
}

function pageClaimNote(context: NotesContext): string {
  const [postgres, server, current] = context.engines.all;
  const byTitle = (title: string): Row | undefined => context.rows.find((row) => row.measurement === title);
  const single = byTitle(SINGLE_INSERT_TITLE);
  const aggregation = byTitle(BENCH_QUERIES[0]?.title ?? '');
  return `Product page, for reference only: PostgreSQL insert ~${PAGE_CLAIMS.insertPostgresMs} ms vs ClickHouse ~${PAGE_CLAIMS.insertClickHouseMs} ms (162×); "events last 30 days by user" PostgreSQL ${PAGE_CLAIMS.aggregationPostgresMs / 1000} s vs ClickHouse ${PAGE_CLAIMS.aggregationClickHouseMs} ms. Measured here: single-event insert ${p50Text(single, postgres)} (PostgreSQL) vs ${p50Text(single, server)} (${server?.label}) / ${p50Text(single, current)} (${current?.label}); the aggregation ${p50Text(aggregation, postgres)} vs ${p50Text(aggregation, server)} / ${p50Text(aggregation, current)}. Publish only numbers measured like these, with the machine and sizes.`;
}

function dataNote(context: NotesContext): string {
  const { spec, load } = context;
  const generated = load.loadedNow.size > 0 ? ` Generating took ${(load.generateMs / 1000).toFixed(0)} s this run (${Math.round(rate(spec.events, load.generateMs)).toLocaleString('en')} events/s, not in the load numbers).` : '';
  return `Data (bench/storage/synthetic.ts, ${datasetKey(spec)}): ${spec.events.toLocaleString('en')} events of one workspace over ${spec.days} days ending ${new Date(spec.endMs).toISOString().slice(0, 10)}, in time order, with a daily and weekly rhythm; ${spec.users.toLocaleString('en')} users, sessions per user Zipf (s=0.9); ~40 event names, Zipf (s=1.1), and a Product Viewed -> Product Added -> Order Completed path more likely than chance; typed properties (strings, numbers, booleans, nested objects, arrays); 60% of users identify at their 1st-4th session (identify event + an identities row linking the anonymous id; ${(context.markers[0]?.identities ?? 0).toLocaleString('en')} links), their earlier events stay anonymous. ClickHouse rows come from the product's buildEventRow; PostgreSQL gets the same rows' data in its own columns.${generated}`;
}

function loadedNote(marker: LoadMarker | undefined, loadedNow: boolean): string {
  if (!marker) return '';
  return loadedNow ? 'loaded this run' : `reused (loaded ${marker.loadedAt.slice(0, 16)}Z)`;
}

function loadNote(context: NotesContext): string {
  const loaded = context.engines.all.map((engine, index) => `${engine.label}: ${loadedNote(context.markers[index], context.load.loadedNow.has(engine))}`).join('; ');
  return `Load: ${loaded}. PostgreSQL: one \`COPY events FROM STDIN\` (text format, streamed over pg's protocol; bench/storage/postgres.ts) per ${CHUNK_ROWS.toLocaleString('en')}-event chunk into the partitioned table with its indexes in place, then VACUUM (ANALYZE) + CHECKPOINT. ClickHouse: one JSONEachRow INSERT per chunk into our real events table (schema/clickhouse via dev/migrate.ts), then waiting until background merges stop. Throughput = events / time inside the inserts (serializing included, generating not); "inserts + settle" adds the settle step.`;
}

function reportNotes(context: NotesContext): string[] {
  const { engines, options, scope, queries } = context;
  const [, server, current] = engines.all;
  return [
    machineNote(context),
    pageClaimNote(context),
    dataNote(context),
    loadNote(context),
    `Sizes on disk: ${engines.all.map((engine, index) => `${engine.label}: ${context.footprints[index]?.detail ?? ''}`).join('; ')}.`,
    `PostgreSQL schema: events PARTITION BY RANGE ("timestamp") monthly; PRIMARY KEY (workspace_id, message_id, "timestamp") as the dedup key; BRIN ("timestamp"); btree (workspace_id, person_id, "timestamp") and (workspace_id, event, "timestamp"); jsonb properties/traits/context; ids COLLATE "C"; identities(workspace_id, identity_key) primary key. Server settings as installed (${context.postgresConfig}); the query session sets work_mem=${QUERY_WORK_MEM}.`,
    `ClickHouse engines: ${server?.label} is the Debian server on :${STORAGE_CLICKHOUSE_PORT}; ${current?.label} is the current engine in-process through chdb behind dev/clickhouse-current.ts on :${STORAGE_CURRENT_CLICKHOUSE_PORT} (a Node HTTP stand-in running one request at a time; its latencies include that stand-in). Same database name, schema and SQL on both.`,
    `Insert rows: ${SINGLE_INSERTS} sequential single-row INSERT statements, then ${BATCH_INSERTS} sequential ${BATCH_SIZE}-row INSERTs, one client each, rows built like the dataset's (probe workspace, the data's last hour, so PostgreSQL writes into the big current-month partition and its indexes). PostgreSQL: parameterized INSERT ... VALUES, autocommit (synchronous_commit=on, so every statement waits for its WAL flush). ClickHouse: one HTTP JSONEachRow insert per statement (each creates a part; merged later in the background). Probe rows stay in their workspace (reload to clear them).`,
    ...BENCH_QUERIES.map((query) => `"${query.title}": ${query.measures}.`),
    `PostgreSQL scan nodes (EXPLAIN): ${queries.planNotes.join(' | ')}.`,
    `Query window: [${new Date(scope.fromMs).toISOString()}, ${new Date(scope.toMs).toISOString()}) (${WINDOW_DAYS} days, the data's last days; fixed, so every run asks the same question). The user in the list query: ${scope.person.personIds.join(', ')} (a typical identified user). Funnel window ${FUNNEL_WINDOW_SECONDS} s.`,
    `Warm: after one unmeasured (or cold) run, up to ${options.plan.runs} runs per engine, fewer (>= ${options.plan.minRuns}) when they pass ${options.plan.budgetMs / 1000} s; with n <= 10, p99 is the slowest run. Times are client-side: from sending the query until the whole answer is parsed. Cold rows: a single run right after \`sync; echo 3 > /proc/sys/vm/drop_caches\` (the OS page cache); PostgreSQL's shared_buffers and ClickHouse's in-process caches (marks) stay warm, nothing is restarted.`,
    `Ratio columns: PostgreSQL's p50 over that ClickHouse engine's p50 (for throughput: ClickHouse's rate over PostgreSQL's); above 1× ClickHouse is faster.`,
    queries.answersDiffer
      ? 'Answers: NOT all the same across engines; see the lines below.'
      : 'Answers: every query returned exactly the same rows on all three engines (compared line by line: top-100 users with counts, the 100 listed message ids, all 30 days, top-20 events, every funnel level).',
    ...queries.answerNotes,
    "ClickHouse 18.16 and 26.7 order a person's windowFunnel events that fall in the same second differently (verified: B then A at one second, then C: 18.16 answers level 1, 26.7 level 3), so funnels over real data can differ between engines; the generator gives no user two events in one second so the engines can be compared.",
  ];
}

/** One size's warm query rows, for the query-time-vs-data-size table. */
interface SizeOutcome {
  events: number;
  labels: string[];
  warmRows: Row[];
}

async function runSize(events: number, options: BenchOptions, postgresConfig: string): Promise<SizeOutcome> {
  const spec = datasetSpec(events, options.seed);
  const engines = await openEngines(events, spec);
  const startedAt = performance.now();
  const loadAverage = sampleLoadAverage();
  try {
    logStep(`storage bench, ${events.toLocaleString('en')} events: ${engines.all.map((engine) => engine.label).join(' vs ')}`);
    const load = await ensureLoaded(engines, spec, options.reload);
    const markers = engines.all.map((engine) => load.markers.get(engine));
    const footprints = await Promise.all(engines.all.map((engine) => engine.footprint()));
    const scope: QueryScope = { workspaceId: spec.workspaceId, fromMs: spec.endMs - WINDOW_DAYS * DAY_MS, toMs: spec.endMs, person: typicalUser(spec) };
    const queries = await measureQueries(engines, scope, options);
    const inserts = await insertRows(engines.all, spec);
    const rows = [...loadRows(engines.all, markers, footprints, events), ...inserts, ...queries.warmRows, ...queries.coldRows];
    const notes = reportNotes({ spec, engines, options, postgresConfig, load, markers, footprints, scope, queries, rows, loadAverage: loadAverage(), elapsedMs: performance.now() - startedAt });
    const name = events === 1_000_000 ? 'storage' : `storage-${sizeLabel(events)}`;
    writeReport(name, `PostgreSQL vs ClickHouse, ${events.toLocaleString('en')} events (${engines.all.map((engine) => engine.label).join(', ')})`, rows, notes);
    return { events, labels: engines.all.map((engine) => engine.label), warmRows: queries.warmRows };
  } finally {
    await Promise.all(engines.all.map((engine) => engine.close()));
  }
}

/** Warm p50 of every query per engine at each size, and how much it grew from the smallest to the largest. */
function writeScalingReport(outcomes: readonly SizeOutcome[]): void {
  const smallest = outcomes[0];
  const largest = outcomes[outcomes.length - 1];
  if (!smallest || !largest || outcomes.length < 2) return;
  const rows: Row[] = [];
  for (const [index, template] of smallest.warmRows.entries()) {
    for (const label of smallest.labels) {
      const row: Row = { query: String(template.measurement), engine: label };
      const p50At = (outcome: SizeOutcome): number => {
        const value = outcome.warmRows[index]?.[`${label} p50`];
        return typeof value === 'number' ? value : Number.NaN;
      };
      for (const outcome of outcomes) row[`p50 ms at ${sizeLabel(outcome.events).toUpperCase()}`] = p50At(outcome);
      const growth = p50At(largest) / p50At(smallest);
      row[`${sizeLabel(largest.events).toUpperCase()} ÷ ${sizeLabel(smallest.events).toUpperCase()}`] = Number.isFinite(growth) ? `${growth.toPrecision(2)}×` : '';
      rows.push(row);
    }
  }
  const sizes = outcomes.map((outcome) => outcome.events.toLocaleString('en')).join(', ');
  writeReport('storage-scaling', `Query time vs data size (${sizes} events; warm p50 per engine)`, rows, [
    `Same queries, data generator and engines as the per-size reports (storage.md, storage-<size>.md), run one size after another in this run; data grows in users and events per day alike (the same 42 days), so "${smallest.warmRows[0]?.measurement ?? ''}" reads ${Math.round(largest.events / smallest.events)}× more rows at the largest size.`,
    `The last column is the growth factor of the p50 from the smallest to the largest size: near the data factor means the query scans what it reads linearly; far below it, an index (PostgreSQL) or the primary key (ClickHouse) keeps the read small.`,
  ]);
}

export async function run(): Promise<void> {
  const options = benchOptions();
  const postgresConfig = await postgresSettings();
  const servers = process.env.BENCH_CLICKHOUSE_URL
    ? []
    : [
        await ensureClickHouseEngine('server', { port: STORAGE_CLICKHOUSE_PORT, dataDir: join(DATA_DIR, 'bench-storage-clickhouse') }),
        await ensureClickHouseEngine('current', { port: STORAGE_CURRENT_CLICKHOUSE_PORT, dataDir: join(DATA_DIR, 'bench-storage-chdb') }),
      ];
  try {
    const outcomes: SizeOutcome[] = [];
    for (const events of options.sizes) outcomes.push(await runSize(events, options, postgresConfig));
    writeScalingReport(outcomes);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
