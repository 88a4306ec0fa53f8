/**
 * ClickHouse side of the storage benchmark: our real schema (schema/clickhouse/*.sql through
 * dev/migrate.ts) in a database of its own, loaded with large JSONEachRow inserts, queried
 * through @clickhouse/client-web as the product does. The same code runs against the 18.16
 * server and the current engine (chdb behind dev/clickhouse-current.ts).
 */
import { z } from 'zod';
import type { EventRow } from '../../consumers/events/event-row';
import { createClickHouse, insertRetryingQuorum, type ClickHouseClient } from '../../lib/clickhouse';
import { LOCAL_TABLE_SUFFIX } from '../../lib/clickhouse-cluster-ddl';
import { EVENTS_TABLE, IDENTITIES_TABLE, queryRows, uint64 } from '../../lib/event-queries';
import { sql } from '../../lib/sql';
import { migrateClickHouse } from '../../dev/migrate';
import { logStep } from '../../dev/process';
import { benchQuery } from './queries';
import { loadMarkerSchema, type Answer, type LoadMarker, type QueryScope, type StorageEngine, type StorageFootprint } from './engine';
import type { DataChunk } from './synthetic';

const MARKER_TABLE = 'bench_storage_meta';
/** Above the product's 10 s for the slowest queries at 10M rows; at most 60 s, where client-web starts warning about idle load balancers. */
const REQUEST_TIMEOUT_MS = 60_000;
const MERGE_WAIT_LIMIT_MS = 300_000;
const MERGE_POLL_MS = 1000;

export interface ClickHouseOptions {
  url: string;
  database: string;
  /** Names the engine in the report when the server's version() alone would not (e.g. the chdb stand-in). */
  describe?: (version: string) => string;
  /**
   * Cluster mode (bench/cluster): `url` is one node; the schema is migrated as the product's
   * migrator does it in cluster mode, inserts carry the consumer's quorum settings, and sizes
   * and merges are summed over every node (both replicas of each shard).
   */
  cluster?: { name: string; nodeUrls: readonly string[] };
}

/**
 * Node's fetch keeps idle connections for 4 s; ClickHouse closes them after its
 * keep_alive_timeout (3 s by default, 1 s on the local cluster's nodes). A request written to a
 * connection the server just closed fails before the server read it (EPIPE / ECONNRESET): send
 * it again once, on a fresh connection. Anything else is a real failure.
 */
async function againOnStaleConnection<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = error instanceof Error && error.cause instanceof Error ? (error.cause as NodeJS.ErrnoException).code : undefined;
    if (code !== 'EPIPE' && code !== 'ECONNRESET') throw error;
    return await work();
  }
}

function assertDatabaseName(database: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new TypeError(`bad database name: ${database}`);
  return database;
}

function clientFor(url: string, database: string, cluster = ''): ClickHouseClient {
  return createClickHouse(
    { CLICKHOUSE_URL: url, CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default', CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '', CLICKHOUSE_DATABASE: database, CLICKHOUSE_CLUSTER: cluster },
    { timeoutMs: REQUEST_TIMEOUT_MS },
  );
}

async function databaseExists(client: ClickHouseClient, database: string): Promise<boolean> {
  const rows = await queryRows(client, sql`SELECT count() AS n FROM system.tables WHERE database = ${database} AND name = ${MARKER_TABLE}`, z.object({ n: uint64 }));
  return (rows[0]?.n ?? 0) > 0;
}

/** Waits until no merge of this database runs (parts from the load settle as they would in production, given time). */
async function waitForMerges(client: ClickHouseClient, database: string): Promise<void> {
  const started = performance.now();
  let quietPolls = 0;
  while (quietPolls < 2) {
    const rows = await queryRows(client, sql`SELECT count() AS merges FROM system.merges WHERE database = ${database}`, z.object({ merges: uint64 }));
    quietPolls = (rows[0]?.merges ?? 0) === 0 ? quietPolls + 1 : 0;
    if (performance.now() - started > MERGE_WAIT_LIMIT_MS) {
      logStep(`  merges in ${database} still running after ${MERGE_WAIT_LIMIT_MS / 1000} s; measuring anyway`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, MERGE_POLL_MS));
  }
}

export async function openClickHouse(options: ClickHouseOptions): Promise<StorageEngine> {
  const database = assertDatabaseName(options.database);
  const system = clientFor(options.url, 'default');
  const client = clientFor(options.url, database, options.cluster?.name);
  // One system client per node (the only node on one server): where parts, merges and databases are.
  const nodes = options.cluster ? options.cluster.nodeUrls.map((url) => clientFor(url, 'default')) : [system];
  const storedTable = (table: string): string => (options.cluster ? `${table}${LOCAL_TABLE_SUFFIX}` : table);
  const version = (await queryRows(system, 'SELECT version() AS version', z.object({ version: z.string() })))[0]?.version ?? 'unknown';

  return {
    label: options.describe?.(version) ?? `ClickHouse ${version}`,
    kind: 'clickhouse',
    settleStep: 'wait for background merges',
    async loadedMarker(): Promise<LoadMarker | null> {
      if (!(await databaseExists(system, database))) return null;
      const rows = await queryRows(client, `SELECT marker FROM ${MARKER_TABLE}`, z.object({ marker: z.string() }));
      const last = rows.at(-1);
      if (!last) return null;
      const parsed = loadMarkerSchema.safeParse(JSON.parse(last.marker));
      return parsed.success ? parsed.data : null;
    },
    async resetDataset(): Promise<void> {
      for (const node of nodes) await node.command({ query: `DROP DATABASE IF EXISTS ${database}` });
      await migrateClickHouse({ url: options.url, database, cluster: options.cluster });
      await client.command({ query: `CREATE TABLE ${MARKER_TABLE} (marker String, written_at DateTime) ENGINE = TinyLog` });
    },
    async loadChunk(chunk: DataChunk): Promise<number> {
      const started = performance.now();
      await againOnStaleConnection(() => insertRetryingQuorum(client, { table: EVENTS_TABLE, values: chunk.events, format: 'JSONEachRow' }));
      if (chunk.identities.length > 0) await againOnStaleConnection(() => insertRetryingQuorum(client, { table: IDENTITIES_TABLE, values: chunk.identities, format: 'JSONEachRow' }));
      return performance.now() - started;
    },
    async settle(): Promise<number> {
      const started = performance.now();
      for (const node of nodes) await waitForMerges(node, database);
      return performance.now() - started;
    },
    async writeMarker(marker: LoadMarker): Promise<void> {
      // TinyLog has no DELETE: recreate it empty, then write the one row.
      await client.command({ query: `DROP TABLE IF EXISTS ${MARKER_TABLE}` });
      await client.command({ query: `CREATE TABLE ${MARKER_TABLE} (marker String, written_at DateTime) ENGINE = TinyLog` });
      await client.insert({ table: MARKER_TABLE, values: [{ marker: JSON.stringify(marker), written_at: Math.floor(Date.now() / 1000) }], format: 'JSONEachRow' });
    },
    async footprint(): Promise<StorageFootprint> {
      const perNode = await Promise.all(
        nodes.map((node) =>
          queryRows(
            node,
            sql`SELECT table, sum(bytes_on_disk) AS bytes, count() AS parts, sum(data_uncompressed_bytes) AS raw FROM system.parts WHERE database = ${database} AND active GROUP BY table ORDER BY table`,
            z.object({ table: z.string(), bytes: uint64, parts: uint64, raw: uint64 }),
          ),
        ),
      );
      const total = (table: string): { bytes: number; parts: number; raw: number } =>
        perNode.flat().filter((row) => row.table === storedTable(table)).reduce((sum, row) => ({ bytes: sum.bytes + row.bytes, parts: sum.parts + row.parts, raw: sum.raw + row.raw }), { bytes: 0, parts: 0, raw: 0 });
      const events = total(EVENTS_TABLE);
      const identities = total(IDENTITIES_TABLE);
      const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`;
      const where = options.cluster ? ` summed over ${nodes.length} nodes (every replica's copy)` : '';
      return {
        bytes: events.bytes,
        detail: `events ${mb(events.bytes)} on disk in ${events.parts} parts (${mb(events.raw)} uncompressed)${where}; identities ${mb(identities.bytes)}`,
      };
    },
    async runQuery(queryId: string, scope: QueryScope): Promise<Answer> {
      const query = benchQuery(queryId);
      return againOnStaleConnection(() => queryRows(client, query.clickhouse(scope), query.clickhouseRow));
    },
    async insertEvents(rows: readonly EventRow[]): Promise<void> {
      await againOnStaleConnection(() => insertRetryingQuorum(client, { table: EVENTS_TABLE, values: [...rows], format: 'JSONEachRow' }));
    },
    async close(): Promise<void> {
      await Promise.all([...new Set([system, client, ...nodes])].map((each) => each.close()));
    },
  };
}
