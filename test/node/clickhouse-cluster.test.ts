/**
 * Cluster mode end to end on a real 2 shards x 2 replicas ClickHouse 18.16 cluster
 * (dev/clickhouse-cluster.ts): our migrations as lib/clickhouse-cluster-ddl.ts rewrites them,
 * inserts and reads through the Distributed tables, a replica crash and its catch-up, a graceful
 * restart, the ALTER path, and that stopping leaves no process behind.
 */
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client-web';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startClickHouseCluster, type RunningCluster } from '../../dev/clickhouse-cluster';
import { readClickHouseMigrations } from '../../dev/migrate';
import { waitFor } from '../../dev/process';
import { clusterStatements, type ClusterDdlOptions, type ClusterStatement } from '../../lib/clickhouse-cluster-ddl';
import { splitStatements } from '../../lib/clickhouse-migrations';
import { sql } from '../../lib/sql';

const DATABASE = 'monfri_cluster';
const SHARDING_KEYS = {
  events: 'cityHash64(workspace_id, message_id)',
  identities: 'cityHash64(workspace_id, identity_key)',
  // Conflicts are looked up per identity: keep them on the identity's shard.
  identity_conflicts: 'cityHash64(workspace_id, identity_key)',
  // A workspace's usage rows for a day must meet on one shard to be replaced / summed.
  usage_days: 'cityHash64(workspace_id)',
  usage_inserts: 'cityHash64(workspace_id)',
  // Person-level tables: every version of a person's trait / stats row meets on its person's shard.
  person_traits: 'cityHash64(workspace_id, person_id)',
  person_stats: 'cityHash64(workspace_id, person_id)',
  // Discovery and violation counts: an event's aggregate rows meet on one shard to be merged.
  schema_events: 'cityHash64(workspace_id, type, event)',
  schema_keys: 'cityHash64(workspace_id, type, event)',
  plan_violation_counts: 'cityHash64(workspace_id, type, event)',
};
/** The bootstrap statements lib/clickhouse-migrations.ts runs before the files. */
const BOOTSTRAP = [
  `CREATE DATABASE IF NOT EXISTS ${DATABASE}`,
  `CREATE TABLE IF NOT EXISTS ${DATABASE}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog`,
];
const SYNC_INSERT: ClickHouseSettings = { insert_distributed_sync: 1 };
const QUORUM_INSERT: ClickHouseSettings = { insert_distributed_sync: 1, insert_quorum: '2', insert_quorum_timeout: 5000 };
/** TOO_FEW_LIVE_REPLICAS once the dead replica's session expired; UNKNOWN_STATUS_OF_INSERT (quorum timeout) before. */
const QUORUM_FAILURE_CODES = [285, 319];
const S1R1 = 0;
const S1R2 = 1;
const S2R1 = 2;
const S2R2 = 3;

const countRow = z.object({ n: z.coerce.number() });
const shardKeysRow = z.object({ keys: z.coerce.number(), rows: z.coerce.number() });
const tableRow = z.object({ name: z.string(), engine: z.string() });
const columnRow = z.object({ table: z.string(), type: z.string() });
const macroRow = z.object({ macro: z.string(), substitution: z.string() });

let dataDir: string;
let cluster: RunningCluster;
let clients: ClickHouseClient[] = [];
/** Session database = the migration database, as the single-node migrator's client has. */
let migrationClients: ClickHouseClient[] = [];
let coldStartMs = 0;

function client(index: number): ClickHouseClient {
  const found = clients[index];
  if (!found) throw new RangeError(`no client for node ${index}`);
  return found;
}

async function rows<T>(index: number, query: string, schema: z.ZodType<T>): Promise<T[]> {
  const result = await client(index).query({ query, format: 'JSONEachRow' });
  return z.array(schema).parse(await result.json());
}

async function count(index: number, query: string): Promise<number> {
  const [row] = await rows(index, query, countRow);
  if (!row) throw new Error(`no row from: ${query}`);
  return row.n;
}

function nodeClient(index: number, database: string): ClickHouseClient {
  const node = cluster.nodes[index];
  if (!node) throw new RangeError(`no cluster node ${index}`);
  return createClient({ url: node.httpUrl, database, request_timeout: 120_000, clickhouse_settings: {} });
}

async function runOnCluster(statement: ClusterStatement, on: ClickHouseClient[]): Promise<void> {
  const targets = statement.runOn === 'one-node' ? on.slice(0, 1) : on;
  for (const target of targets) await target.command({ query: statement.sql, clickhouse_settings: { ...statement.settings } });
}

const ddlOptions = (): ClusterDdlOptions => ({ cluster: cluster.name, database: DATABASE, shardingKeys: SHARDING_KEYS });

/** lib/clickhouse-migrations.ts's flow, with every statement rewritten for the cluster; the ledger is read through `ledgerNode`. */
async function applyClusterMigrations(ledgerNode: number): Promise<number[]> {
  for (const statement of BOOTSTRAP.flatMap((text) => clusterStatements(text, ddlOptions()))) await runOnCluster(statement, clients);
  if (migrationClients.length === 0) migrationClients = cluster.nodes.map((_, index) => nodeClient(index, DATABASE));
  const done = new Set((await rows(ledgerNode, `SELECT version AS n FROM ${DATABASE}.schema_migrations`, countRow)).map((row) => row.n));
  const applied: number[] = [];
  for (const migration of readClickHouseMigrations()) {
    if (done.has(migration.version)) continue;
    for (const statement of splitStatements(migration.sql).flatMap((text) => clusterStatements(text, ddlOptions()))) await runOnCluster(statement, migrationClients);
    await client(ledgerNode).command({
      query: `INSERT INTO ${DATABASE}.schema_migrations (version, name, applied_at) ` + sql`VALUES (${migration.version}, ${migration.name}, now())`,
    });
    applied.push(migration.version);
  }
  return applied;
}

function eventRows(workspaces: readonly string[], perWorkspace: number, insertedAt: string): Record<string, string | number>[] {
  return workspaces.flatMap((workspace) =>
    Array.from({ length: perWorkspace }, (_, i) => ({
      workspace_id: workspace,
      message_id: `msg-${i}`,
      type: 'track',
      event: 'Signed Up',
      timestamp: '2026-01-15 10:00:00',
      timestamp_ms: 1_768_471_200_000 + i,
      inserted_at: insertedAt,
    })),
  );
}

async function insertEvents(index: number, values: Record<string, string | number>[], settings: ClickHouseSettings): Promise<void> {
  await client(index).insert({ table: `${DATABASE}.events`, values, format: 'JSONEachRow', clickhouse_settings: settings });
}

/** ClickHouse's error code from an error's text: 18.16 answers `Code: N, e.displayText() = ...`. */
function errorCode(error: unknown): number | null {
  const match = /Code: (\d+)/.exec(error instanceof Error ? error.message : String(error));
  return match?.[1] ? Number(match[1]) : null;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

function rssKilobytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] ? Number(match[1]) : 0;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line names our temp dir: catches anything a child might have spawned. */
function processesUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function printMemory(when: string): void {
  const pids = cluster.runningProcessIds();
  const perProcess = pids.map((pid) => `${pid}: ${Math.round(rssKilobytes(pid) / 1024)} MB`);
  const totalMb = Math.round(pids.reduce((sum, pid) => sum + rssKilobytes(pid), 0) / 1024);
  console.log(`cluster RSS ${when}: ${totalMb} MB in ${pids.length} processes (${perProcess.join(', ')})`);
}

async function localKeys(index: number, where = '1'): Promise<{ keys: number; rows: number }> {
  const [row] = await rows(index, `SELECT uniqExact(workspace_id, message_id) AS keys, count() AS rows FROM ${DATABASE}.events_local WHERE ${where}`, shardKeysRow);
  if (!row) throw new Error('no row');
  return row;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'monfri-cluster-'));
  const started = performance.now();
  cluster = await startClickHouseCluster({ dataDir, name: 'monfri_test' });
  coldStartMs = performance.now() - started;
  clients = cluster.nodes.map((_, index) => nodeClient(index, 'default'));
  console.log(`cluster cold start (ZooKeeper + 4 nodes answering, 4 hosts in system.clusters): ${Math.round(coldStartMs)} ms`);
  printMemory('after start');
}, 300_000);

afterAll(async () => {
  await Promise.all([...clients, ...migrationClients].map((c) => c.close()));
  await cluster?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

describe('ClickHouse cluster (2 shards x 2 replicas, 18.16)', () => {
  it('started ZooKeeper and four nodes on distinct ports, each seeing the whole cluster', async () => {
    expect(cluster.nodes.map((node) => [node.shard, node.replica])).toEqual([
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ]);
    const ports = [cluster.zookeeper.port, ...cluster.nodes.flatMap((node) => [Number(new URL(node.httpUrl).port), node.tcpPort, node.interserverPort])];
    expect(new Set(ports).size).toBe(13);
    expect(ports).not.toContain(18123);
    expect(ports).not.toContain(18124);
    // Outside the ephemeral range, so no outgoing connection can take a stopped node's port.
    const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    expect(ports.every((port) => port < ephemeralStart)).toBe(true);
    expect(cluster.runningProcessIds()).toHaveLength(5);
    for (const [index, node] of cluster.nodes.entries()) {
      const macros = await rows(index, 'SELECT macro, substitution FROM system.macros ORDER BY macro', macroRow);
      expect(macros).toEqual([
        { macro: 'cluster', substitution: cluster.name },
        { macro: 'replica', substitution: node.name },
        { macro: 'shard', substitution: String(node.shard) },
      ]);
    }
  });

  it('applies our migrations, rewritten for the cluster, on every node; the ledger is the same everywhere', async () => {
    const files = readClickHouseMigrations();
    expect(await applyClusterMigrations(S1R1)).toEqual(files.map((migration) => migration.version));
    await cluster.waitForReplication(`${DATABASE}.schema_migrations`);
    const tables = await rows(S1R1, `SELECT name, engine FROM system.tables WHERE database = '${DATABASE}' ORDER BY name`, tableRow);
    const engineOf = new Map(tables.map((table) => [table.name, table.engine]));
    expect(engineOf.get('events')).toBe('Distributed');
    expect(engineOf.get('events_local')).toBe('ReplicatedReplacingMergeTree');
    expect(engineOf.get('identities')).toBe('Distributed');
    expect(engineOf.get('identities_local')).toBe('ReplicatedReplacingMergeTree');
    expect(engineOf.get('schema_migrations')).toBe('ReplicatedMergeTree');
    // Every sharded table is a Distributed table over a replicated one, whatever later migrations add.
    for (const table of Object.keys(SHARDING_KEYS)) {
      expect(engineOf.get(table)).toBe('Distributed');
      expect(engineOf.get(`${table}_local`)).toMatch(/^Replicated\w*MergeTree$/);
    }
    for (const index of cluster.nodes.keys()) {
      expect(await rows(index, `SELECT name, engine FROM system.tables WHERE database = '${DATABASE}' ORDER BY name`, tableRow)).toEqual(tables);
      expect(await count(index, `SELECT count() AS n FROM ${DATABASE}.schema_migrations`)).toBe(files.length);
    }
    // Another node reads the same ledger, so nothing is applied twice.
    expect(await applyClusterMigrations(S2R2)).toEqual([]);
  }, 180_000);

  it('inserts through the Distributed table with insert_distributed_sync=1 and insert_quorum=2 as URL settings; FINAL collapses duplicates kept on one shard', async () => {
    const workspaces = ['ws-a', 'ws-b', 'ws-c', 'ws-d'];
    // 18.16 checks URL settings (an unknown one is Code 115), so taking ours means it knows them.
    expect(errorCode(await rejection(insertEvents(S1R1, eventRows(['ws-x'], 1, '2026-01-15 10:00:00'), { async_insert: 1 })))).toBe(115);
    await insertEvents(S1R1, eventRows(workspaces, 50, '2026-01-15 10:00:00'), QUORUM_INSERT);
    // Synchronous and with quorum: both replicas of both shards hold every row when the insert answers.
    const afterFirst = await Promise.all(cluster.nodes.map((_, index) => localKeys(index)));
    expect(afterFirst[S1R1]).toEqual(afterFirst[S1R2]);
    expect(afterFirst[S2R1]).toEqual(afterFirst[S2R2]);
    expect((afterFirst[S1R1]?.keys ?? 0) + (afterFirst[S2R1]?.keys ?? 0)).toBe(200);

    await insertEvents(S2R1, eventRows(workspaces, 50, '2026-01-15 10:00:01'), QUORUM_INSERT);
    const shard1 = await localKeys(S1R1);
    const shard2 = await localKeys(S2R1);
    // Both shards got rows, and no message id landed on both: distinct keys add up to the 200 unique ones.
    expect(shard1.keys).toBeGreaterThan(0);
    expect(shard2.keys).toBeGreaterThan(0);
    expect(shard1.keys + shard2.keys).toBe(200);
    expect(await count(S1R2, `SELECT count() AS n FROM ${DATABASE}.events FINAL`)).toBe(200);
    expect(await count(S2R2, `SELECT count() AS n FROM ${DATABASE}.events FINAL WHERE inserted_at = toDateTime('2026-01-15 10:00:01')`)).toBe(200);

    // The usage view sits on the Distributed events table: it counts each inserted row once, not once per shard or replica.
    const usageRows = `SELECT sum(rows) AS n FROM ${DATABASE}.usage_inserts WHERE workspace_id IN ('ws-a', 'ws-b', 'ws-c', 'ws-d')`;
    await waitFor('usage_inserts to count the inserts', async () => (await count(S2R2, usageRows)) >= 400, 30_000);
    expect(await count(S1R2, usageRows)).toBe(400);
  }, 120_000);

  it('alters events the cluster way: 18.16 refuses ALTER ... ON CLUSTER on the Distributed table, the rewritten statements work', async () => {
    const refused = await rejection(client(S1R1).command({ query: `ALTER TABLE ${DATABASE}.events ON CLUSTER ${cluster.name} ADD COLUMN plan String` }));
    expect(errorCode(refused)).toBe(371);
    const statements = clusterStatements("ALTER TABLE events ADD COLUMN plan String DEFAULT 'free'", ddlOptions());
    expect(statements.map((statement) => statement.runOn)).toEqual(['one-node', 'each-node']);
    for (const statement of statements) await runOnCluster(statement, migrationClients);
    for (const index of cluster.nodes.keys()) {
      const columns = await rows(index, `SELECT table, type FROM system.columns WHERE database = '${DATABASE}' AND name = 'plan' ORDER BY table`, columnRow);
      expect(columns).toEqual([
        { table: 'events', type: 'String' },
        { table: 'events_local', type: 'String' },
      ]);
    }
    await insertEvents(S2R2, [{ ...eventRows(['ws-plan'], 1, '2026-01-15 10:00:00')[0], plan: 'pro' }], SYNC_INSERT);
    // Without quorum only one replica per shard has the row when the insert answers; reads may pick the other.
    await cluster.waitForReplication(`${DATABASE}.events_local`);
    expect(await count(S1R1, `SELECT count() AS n FROM ${DATABASE}.events WHERE plan = 'pro'`)).toBe(1);
    expect(await count(S1R1, `SELECT count() AS n FROM ${DATABASE}.events FINAL WHERE plan = 'free'`)).toBe(200);
  }, 180_000);

  it('keeps inserting and reading with a replica killed, while a quorum insert fails', async () => {
    await cluster.killNode(S1R2);
    expect(cluster.isNodeRunning(S1R2)).toBe(false);
    await insertEvents(S2R1, eventRows(['ws-down'], 100, '2026-01-15 11:00:00'), SYNC_INSERT);
    await cluster.waitForReplication(`${DATABASE}.events_local`);
    expect(await count(S2R2, `SELECT count() AS n FROM ${DATABASE}.events FINAL WHERE workspace_id = 'ws-down'`)).toBe(100);
    expect(await count(S1R1, `SELECT count() AS n FROM ${DATABASE}.events FINAL WHERE workspace_id != 'ws-plan'`)).toBe(300);

    const started = performance.now();
    const failure = await rejection(insertEvents(S1R1, eventRows(['ws-quorum'], 50, '2026-01-15 11:00:00'), QUORUM_INSERT));
    console.log(`quorum insert with one replica of shard 1 down failed after ${Math.round(performance.now() - started)} ms with Code ${errorCode(failure)}`);
    expect(QUORUM_FAILURE_CODES).toContain(errorCode(failure));
  }, 120_000);

  it('the killed replica catches up after a restart, and quorum inserts work again', async () => {
    const restarted = performance.now();
    await cluster.startNode(S1R2);
    const peer = await localKeys(S1R1, "workspace_id != 'ws-quorum'");
    expect(peer.keys).toBeGreaterThan(0);
    await waitFor('s1r2 to catch up', async () => (await localKeys(S1R2, "workspace_id != 'ws-quorum'")).keys === peer.keys, 120_000);
    console.log(`killed replica caught up ${Math.round(performance.now() - restarted)} ms after its restart began`);
    expect((await localKeys(S1R2, "workspace_id = 'ws-down'")).keys).toBe((await localKeys(S1R1, "workspace_id = 'ws-down'")).keys);

    // Retrying the very same body is safe: replicated tables drop a block they already hold.
    const quorumBody = eventRows(['ws-quorum'], 50, '2026-01-15 11:00:00');
    await waitFor(
      'a quorum insert to succeed',
      async () => {
        await insertEvents(S1R1, quorumBody, QUORUM_INSERT);
        return true;
      },
      120_000,
    );
    expect(await count(S2R2, `SELECT count() AS n FROM ${DATABASE}.events WHERE workspace_id = 'ws-quorum'`)).toBe(50);
  }, 300_000);

  it('a gracefully stopped replica catches up after its restart', async () => {
    await cluster.stopNode(S2R2);
    expect(cluster.isNodeRunning(S2R2)).toBe(false);
    await insertEvents(S1R1, eventRows(['ws-graceful'], 100, '2026-01-15 12:00:00'), SYNC_INSERT);
    const peer = await localKeys(S2R1, "workspace_id = 'ws-graceful'");
    expect(peer.keys).toBeGreaterThan(0);
    const restarted = performance.now();
    await cluster.startNode(S2R2);
    await waitFor('s2r2 to catch up', async () => (await localKeys(S2R2, "workspace_id = 'ws-graceful'")).keys === peer.keys, 120_000);
    console.log(`gracefully stopped replica caught up ${Math.round(performance.now() - restarted)} ms after its restart began`);
    await cluster.waitForReplication(`${DATABASE}.events_local`);
    expect(await count(S2R2, `SELECT count() AS n FROM ${DATABASE}.events FINAL WHERE workspace_id = 'ws-graceful'`)).toBe(100);
  }, 300_000);

  it('stops every process it started', async () => {
    printMemory('before stop');
    const started = cluster.startedProcessIds();
    expect(started.length).toBeGreaterThanOrEqual(7);
    const stopping = performance.now();
    const nodeStops = await Promise.all(
      cluster.nodes.map(async (node, index) => {
        const began = performance.now();
        await cluster.stopNode(index);
        return `${node.name} ${Math.round(performance.now() - began)} ms`;
      }),
    );
    await cluster.stop();
    console.log(`cluster stop: ${Math.round(performance.now() - stopping)} ms (${nodeStops.join(', ')}, then ZooKeeper)`);
    expect(cluster.runningProcessIds()).toEqual([]);
    expect(started.filter(processAlive)).toEqual([]);
    expect(processesUsing(dataDir)).toEqual([]);
    await expect(fetch(cluster.nodes[0]?.httpUrl ?? '')).rejects.toThrow();
  }, 120_000);
});
