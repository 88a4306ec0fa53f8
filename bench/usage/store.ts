/**
 * ClickHouse side of the usage benchmark. Each size is loaded once into a source database
 * of its own (large JSONEachRow inserts of buildEventRow rows) and reused while it still fits
 * (same generator, same size, loaded today); every run copies it inside ClickHouse into the
 * run database under the workspace the Worker just created, since a fresh Worker's D1 gives
 * a new workspace id each run. The migrations' materialized view fills usage_inserts on
 * both the load and the copy, as it does for the consumer's inserts.
 */
import { z } from 'zod';
import type { EventRow } from '../../consumers/events/event-row';
import { createClickHouse, type ClickHouseClient } from '../../lib/clickhouse';
import { EVENTS_TABLE, queryRows, uint64 } from '../../lib/event-queries';
import { literal, raw, sql, type RawSql } from '../../lib/sql';
import { USAGE_DAYS_TABLE } from '../../lib/usage';
import { migrateClickHouse } from '../../dev/migrate';
import { logStep } from '../../dev/process';
import { EventGenerator, GENERATOR_VERSION, todayRows, type DatasetSpec } from './synthetic';

const MARKER_TABLE = 'bench_usage_dataset';
export const SOURCE_WORKSPACE_ID = 'bench_usage_source';
/** Rows per JSONEachRow insert: large, but well under the server's 1M-row insert block. */
const CHUNK_ROWS = 50_000;
const GENERATE_SLICE_ROWS = 5_000;
/** One insert on the wire while the next chunk is generated: the 2 cores stay busy. */
const INSERTS_IN_FLIGHT = 2;
/** Rows per INSERT ... SELECT of the copy: ~10 s on this machine even under load. */
const COPY_SLICE_ROWS = 1_000_000;
const COPY_SAMPLE_EVERY = 1000;
const MERGE_WAIT_LIMIT_MS = 600_000;
/** client-web warns above 60 s (idle load balancers); every statement here is sized to stay below it. */
const REQUEST_TIMEOUT_MS = 60_000;

const markerSchema = z.object({
  generator: z.string(),
  spec: z.object({ events: z.number(), fromMs: z.number(), toMs: z.number(), seed: z.number() }),
  totals: z.object({ billable: z.number(), bots: z.number(), other: z.number() }),
  loadMs: z.number(),
});
export type DatasetMarker = z.output<typeof markerSchema>;

export function assertDatabaseName(database: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new TypeError(`bad database name: ${database}`);
  return database;
}

export function benchClient(url: string, database: string, timeoutMs = REQUEST_TIMEOUT_MS): ClickHouseClient {
  return createClickHouse({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default', CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '', CLICKHOUSE_DATABASE: database }, { timeoutMs });
}

const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

async function tableExists(client: ClickHouseClient, database: string, table: string): Promise<boolean> {
  const rows = await queryRows(client, sql`SELECT count() AS n FROM system.tables WHERE database = ${database} AND name = ${table}`, z.object({ n: uint64 }));
  return (rows[0]?.n ?? 0) > 0;
}

export async function countEvents(client: ClickHouseClient, workspaceId: string): Promise<number> {
  const rows = await queryRows(client, sql`SELECT count() AS n FROM events WHERE workspace_id = ${workspaceId}`, z.object({ n: uint64 }));
  return rows[0]?.n ?? 0;
}

export async function countEventsOnDay(client: ClickHouseClient, workspaceId: string, dayMs: number): Promise<number> {
  const rows = await queryRows(client, sql`SELECT count() AS n FROM events WHERE workspace_id = ${workspaceId} AND toDate(timestamp) = toDate(${dayOf(dayMs)})`, z.object({ n: uint64 }));
  return rows[0]?.n ?? 0;
}

async function readMarker(client: ClickHouseClient, system: ClickHouseClient, database: string): Promise<DatasetMarker | null> {
  if (!(await tableExists(system, database, MARKER_TABLE))) return null;
  const rows = await queryRows(client, `SELECT marker FROM ${MARKER_TABLE}`, z.object({ marker: z.string() }));
  const last = rows.at(-1);
  if (!last) return null;
  const parsed = markerSchema.safeParse(JSON.parse(last.marker));
  return parsed.success ? parsed.data : null;
}

async function writeMarker(client: ClickHouseClient, marker: DatasetMarker): Promise<void> {
  await client.command({ query: `CREATE TABLE IF NOT EXISTS ${MARKER_TABLE} (marker String, written_at DateTime) ENGINE = TinyLog` });
  await client.insert({ table: MARKER_TABLE, values: [{ marker: JSON.stringify(marker), written_at: Math.floor(Date.now() / 1000) }], format: 'JSONEachRow' });
}

/** A kept-alive socket the server had already closed (its idle timeout is 10 s): the write failed, so nothing of that insert was stored. */
function isClosedSocketWrite(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return typeof cause === 'object' && cause !== null && 'code' in cause && (cause.code === 'EPIPE' || cause.code === 'ECONNRESET');
}

async function insertChunk(client: ClickHouseClient, rows: readonly EventRow[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.insert({ table: EVENTS_TABLE, format: 'JSONEachRow', values: [...rows] });
      return;
    } catch (error) {
      if (attempt >= 3 || !isClosedSocketWrite(error)) throw error;
    }
  }
}

/** A chunk in slices, yielding in between so the insert in flight keeps streaming and the HTTP client's timers run. */
async function generateChunk(generator: EventGenerator): Promise<EventRow[]> {
  const rows: EventRow[] = [];
  while (rows.length < CHUNK_ROWS && generator.remaining > 0) {
    rows.push(...generator.rows(GENERATE_SLICE_ROWS));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return rows;
}

/** Generates and inserts the dataset; returns the time spent in generating + inserting. */
async function loadDataset(client: ClickHouseClient, spec: DatasetSpec, say: (message: string) => void): Promise<{ loadMs: number; generator: EventGenerator }> {
  const generator = new EventGenerator(spec, SOURCE_WORKSPACE_ID);
  const inFlight: Promise<void>[] = [];
  let failure: unknown = null;
  // Rejections are kept here, not left unhandled while the next chunk is generated.
  const remember = (error: unknown): void => {
    failure ??= error;
  };
  const started = performance.now();
  let reportedAt = started;
  while (generator.remaining > 0 && failure === null) {
    const rows = await generateChunk(generator);
    inFlight.push(insertChunk(client, rows).catch(remember));
    if (inFlight.length >= INSERTS_IN_FLIGHT) await inFlight.shift();
    if (performance.now() - reportedAt > 15_000) {
      reportedAt = performance.now();
      const done = spec.events - generator.remaining;
      say(`  loaded ${done.toLocaleString('en-US')} of ${spec.events.toLocaleString('en-US')} (${Math.round(done / ((reportedAt - started) / 1000)).toLocaleString('en-US')} rows/s)`);
    }
  }
  await Promise.all(inFlight);
  if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
  const loadMs = performance.now() - started;
  const stored = await countEvents(client, SOURCE_WORKSPACE_ID);
  if (stored !== spec.events) throw new Error(`the load stored ${stored} rows, expected ${spec.events}`);
  return { loadMs, generator };
}

/** Waits until no merge of `database` runs, so background merges from the load do not share the cores with the measurements. */
export async function waitForMerges(system: ClickHouseClient, database: string): Promise<number> {
  const started = performance.now();
  let quietPolls = 0;
  while (quietPolls < 2) {
    const rows = await queryRows(system, sql`SELECT count() AS merges FROM system.merges WHERE database = ${database}`, z.object({ merges: uint64 }));
    quietPolls = (rows[0]?.merges ?? 0) === 0 ? quietPolls + 1 : 0;
    if (performance.now() - started > MERGE_WAIT_LIMIT_MS) {
      logStep(`  merges in ${database} still running after ${MERGE_WAIT_LIMIT_MS / 1000} s; measuring anyway`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return performance.now() - started;
}

export interface SourceDataset {
  database: string;
  marker: DatasetMarker;
  /** False when an earlier run's load was reused. */
  loadedNow: boolean;
}

/** The source database for `events`: reused if an earlier run loaded the same dataset today, else (re)loaded. */
export async function ensureSourceDataset(url: string, database: string, spec: DatasetSpec, say: (message: string) => void): Promise<SourceDataset> {
  assertDatabaseName(database);
  const system = benchClient(url, 'default');
  const client = benchClient(url, database);
  try {
    const existing = await readMarker(client, system, database);
    const reusable = existing !== null && existing.generator === GENERATOR_VERSION && existing.spec.events === spec.events && existing.spec.seed === spec.seed && dayOf(existing.spec.toMs) === dayOf(spec.toMs);
    if (existing && reusable && (await countEvents(client, SOURCE_WORKSPACE_ID)) === spec.events) {
      say(`  reusing ${database}: ${spec.events.toLocaleString('en-US')} events loaded ${new Date(existing.spec.toMs).toISOString()}`);
      return { database, marker: existing, loadedNow: false };
    }
    say(`  loading ${spec.events.toLocaleString('en-US')} events into ${database}`);
    await system.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await migrateClickHouse({ url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD });
    const { loadMs, generator } = await loadDataset(client, spec, say);
    const marker: DatasetMarker = { generator: GENERATOR_VERSION, spec, totals: { ...generator.totals }, loadMs };
    await writeMarker(client, marker);
    return { database, marker, loadedNow: true };
  } finally {
    await Promise.all([system.close(), client.close()]);
  }
}

/** Every events column, in the order the loader writes them (buildEventRow's keys). */
function eventColumns(): string[] {
  const [sample] = todayRows('columns', 'columns', 0, 1, Date.now());
  if (!sample) throw new Error('no sample row');
  const columns = Object.keys(sample);
  for (const column of columns) if (!/^[a-z_]+$/.test(column)) throw new TypeError(`unexpected column name: ${column}`);
  return columns;
}

/** Days of the source workspace with their row counts, from the materialized view's tally (no scan of events). */
async function sourceDays(client: ClickHouseClient): Promise<{ day: string; rows: number }[]> {
  return queryRows(client, sql`SELECT toString(day) AS day, sum(rows) AS rows FROM usage_inserts WHERE workspace_id = ${SOURCE_WORKSPACE_ID} GROUP BY day ORDER BY day`, z.object({ day: z.string(), rows: uint64 }));
}

/**
 * Split points in a day's message ids for slices of about COPY_SLICE_ROWS rows, from a 1-in-1000
 * sample of them (message_id follows the day in the sort key, so every slice is an index range).
 */
async function sliceBounds(client: ClickHouseClient, day: string, rows: number): Promise<string[]> {
  if (rows <= COPY_SLICE_ROWS) return [];
  const sample = await queryRows(
    client,
    sql`SELECT message_id FROM events WHERE workspace_id = ${SOURCE_WORKSPACE_ID} AND toDate(timestamp) = toDate(${day}) AND cityHash64(message_id) % ${COPY_SAMPLE_EVERY} = 0 ORDER BY message_id`,
    z.object({ message_id: z.string() }),
  );
  const step = Math.max(1, Math.round(COPY_SLICE_ROWS / COPY_SAMPLE_EVERY));
  return sample.filter((_, index) => index > 0 && index % step === 0).map((row) => row.message_id);
}

function sliceConditions(bounds: readonly string[]): RawSql[] {
  const edges: (string | null)[] = [null, ...bounds, null];
  return edges.slice(0, -1).map((low, index) => {
    const high = edges[index + 1] ?? null;
    const conditions = [low === null ? '' : sql`message_id >= ${low}`, high === null ? '' : sql`message_id < ${high}`].filter(Boolean);
    return raw(conditions.length ? conditions.join(' AND ') : '1');
  });
}

/**
 * Copies the source workspace's events into `target` as `workspaceId`: INSERT ... SELECT inside
 * ClickHouse, per day and message-id range, so each statement stays under the client's 60 s
 * request timeout on a loaded machine.
 */
export async function copyDataset(url: string, source: string, target: string, workspaceId: string): Promise<number> {
  const sourceClient = benchClient(url, assertDatabaseName(source));
  const client = benchClient(url, assertDatabaseName(target));
  try {
    const columns = eventColumns();
    const selected = columns.map((column) => (column === 'workspace_id' ? `${literal(workspaceId)} AS workspace_id` : column)).join(', ');
    const started = performance.now();
    for (const { day, rows } of await sourceDays(sourceClient)) {
      for (const slice of sliceConditions(await sliceBounds(sourceClient, day, rows))) {
        // The filter sits in a subquery: ClickHouse resolves aliases in WHERE, so the new workspace_id would shadow the column.
        const sliceRows = sql`SELECT * FROM ${raw(source)}.${raw(EVENTS_TABLE)} WHERE workspace_id = ${SOURCE_WORKSPACE_ID} AND toDate(timestamp) = toDate(${day}) AND ${slice}`;
        await client.command({ query: `INSERT INTO ${target}.${EVENTS_TABLE} (${columns.join(', ')}) SELECT ${selected} FROM (${sliceRows})` });
      }
    }
    return performance.now() - started;
  } finally {
    await Promise.all([sourceClient.close(), client.close()]);
  }
}

/**
 * Waits until the server runs no query for the workspace: when the Worker gives up on a
 * query (its 15 s limit), ClickHouse keeps running it, and it would load the next call.
 */
export async function waitForWorkspaceQueries(system: ClickHouseClient, workspaceId: string): Promise<number> {
  const started = performance.now();
  const pattern = `%${workspaceId}%`;
  for (;;) {
    const rows = await queryRows(system, sql`SELECT count() AS n FROM system.processes WHERE query LIKE ${pattern} AND query NOT LIKE '%system.processes%'`, z.object({ n: uint64 }));
    if ((rows[0]?.n ?? 0) === 0) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Forgets every day's count of the month (the run database holds one workspace at a time), so the next read is cold again. */
export async function forgetUsageDays(client: ClickHouseClient, monthStartMs: number): Promise<void> {
  const partition = Number(dayOf(monthStartMs).slice(0, 7).replace('-', ''));
  await client.command({ query: `ALTER TABLE ${USAGE_DAYS_TABLE} DROP PARTITION ${partition}` });
}

export async function insertRows(client: ClickHouseClient, rows: readonly EventRow[]): Promise<void> {
  await client.insert({ table: EVENTS_TABLE, format: 'JSONEachRow', values: [...rows] });
}
