/**
 * `npm run bench -- cluster`: one ClickHouse 18.16 server vs the local 2 shards x 2 replicas
 * cluster (dev/clickhouse-cluster.ts) on the same machine, side by side in one run:
 * - loading the storage bench's seeded synthetic events (bench/storage/synthetic.ts) through
 *   our real schema: on the cluster through the Distributed tables with the consumer's insert
 *   settings (insert_distributed_sync=1, insert_quorum=2: each row on both replicas of its shard
 *   before the answer);
 * - consumer-shaped inserts: sequential 100-event batches, and 4 batches at once (four consumer
 *   invocations: 18.16 runs one quorum insert per table and shard at a time, lib/clickhouse.ts);
 * - the storage bench's read queries (bench/storage/queries.ts), each answer compared between
 *   the two, so the cluster's answers are checked along with its cost;
 * - size on disk: the cluster holds two copies (two replicas per shard).
 * On 2 shared cores the cluster is not faster (its 4 servers and ZooKeeper share the cores the
 * one server has alone); the point is the cost of distribution and replication, and correctness.
 *
 * Options (env): BENCH_CLUSTER_EVENTS (default 1,000,000; the quick suite runs 200,000),
 * BENCH_CLUSTER_RUNS (warm repetitions per query, default 10), BENCH_SEED (default 42).
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startClickHouseCluster, type RunningCluster } from '../../dev/clickhouse-cluster';
import { ensureClickHouse } from '../../dev/clickhouse-server';
import { REPO_ROOT, freePort, logStep } from '../../dev/process';
import { summarize, writeReport, type Row } from '../report';
import { openClickHouse } from '../storage/clickhouse';
import type { Answer, QueryScope, StorageEngine, StorageFootprint } from '../storage/engine';
import { repeat, timed } from '../storage/measure';
import { BENCH_QUERIES } from '../storage/queries';
import { datasetSpec, generateChunks, probeRows, typicalUser, type DatasetSpec } from '../storage/synthetic';

const DAY_MS = 86_400_000;
const WINDOW_DAYS = 30;
const CHUNK_ROWS = 20_000;
const BATCH_SIZE = 100;
const SEQUENTIAL_BATCHES = 50;
const CONCURRENT_BATCHES = 4;
const CONCURRENT_ROUNDS = 15;
const MAX_INSERT_ATTEMPTS = 20;
const CLUSTER_NAME = 'monfri_bench';
const DATABASE = 'monfri_bench_cluster';

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive whole number, got ${value}`);
  return parsed;
}

interface Side {
  engine: StorageEngine;
  label: string;
  loadMs: number;
  settleMs: number;
  footprint: StorageFootprint | null;
}

async function load(sides: readonly Side[], spec: DatasetSpec): Promise<void> {
  for (const side of sides) await side.engine.resetDataset();
  let events = 0;
  let nextReport = spec.events / 5;
  for (const chunk of generateChunks(spec, CHUNK_ROWS)) {
    for (const side of sides) side.loadMs += await side.engine.loadChunk(chunk);
    events += chunk.events.length;
    if (events >= nextReport) {
      nextReport += spec.events / 5;
      logStep(`  ${events.toLocaleString('en')} events: ${sides.map((side) => `${side.label} ${Math.round(events / (side.loadMs / 1000)).toLocaleString('en')}/s`).join(', ')}`);
    }
  }
  for (const side of sides) {
    side.settleMs = await side.engine.settle();
    side.footprint = await side.engine.footprint();
  }
}

/** Sequential batches: what one consumer invocation after another pays per insert. */
async function sequentialInserts(engine: StorageEngine, spec: DatasetSpec, salt: number): Promise<number[]> {
  const rows = probeRows(spec, BATCH_SIZE * SEQUENTIAL_BATCHES, salt);
  const latencies: number[] = [];
  for (let index = 0; index < SEQUENTIAL_BATCHES; index++) latencies.push((await timed(() => engine.insertEvents(rows.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE)))).ms);
  return latencies;
}

/**
 * Rounds of CONCURRENT_BATCHES inserts sent at once. An insert the server refuses after
 * insertRetryingQuorum's own retries (18.16: Code 286, another quorum insert still running) is
 * sent again at once, as the queue would redeliver the batch (without its backoff); its latency
 * counts until it went in. Returns each insert's latency, how many attempts were refused, and
 * the events/s over all rounds.
 */
async function concurrentInserts(engine: StorageEngine, spec: DatasetSpec, salt: number): Promise<{ latencies: number[]; refused: number; eventsPerSecond: number }> {
  const rows = probeRows(spec, BATCH_SIZE * CONCURRENT_BATCHES * CONCURRENT_ROUNDS, salt);
  const latencies: number[] = [];
  let refused = 0;
  const insertUntilIn = async (batch: typeof rows): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await engine.insertEvents(batch);
        return;
      } catch (error) {
        refused++;
        if (attempt >= MAX_INSERT_ATTEMPTS) throw error;
      }
    }
  };
  const started = performance.now();
  for (let round = 0; round < CONCURRENT_ROUNDS; round++) {
    const batches = Array.from({ length: CONCURRENT_BATCHES }, (_, slot) => {
      const from = (round * CONCURRENT_BATCHES + slot) * BATCH_SIZE;
      return rows.slice(from, from + BATCH_SIZE);
    });
    const timings = await Promise.all(batches.map((batch) => timed(() => insertUntilIn(batch))));
    latencies.push(...timings.map((timing) => timing.ms));
  }
  return { latencies, refused, eventsPerSecond: rows.length / ((performance.now() - started) / 1000) };
}

function ratio(cluster: number, server: number): string {
  if (!Number.isFinite(cluster) || !Number.isFinite(server) || server <= 0) return '';
  return `${(cluster / server).toFixed(2)}×`;
}

function sameAnswer(a: Answer, b: Answer): boolean {
  return a.length === b.length && a.every((line, index) => line === b[index]);
}

export async function run(): Promise<void> {
  const events = positiveInteger(process.env.BENCH_CLUSTER_EVENTS ?? '1000000', 'BENCH_CLUSTER_EVENTS');
  const runs = positiveInteger(process.env.BENCH_CLUSTER_RUNS ?? '10', 'BENCH_CLUSTER_RUNS');
  const spec = datasetSpec(events, positiveInteger(process.env.BENCH_SEED ?? '42', 'BENCH_SEED'));
  const startedAt = performance.now();
  const dataDir = join(REPO_ROOT, '.data', 'bench-cluster');
  rmSync(dataDir, { recursive: true, force: true });
  // A private server too: the shared one on :18123 is restarted by test runs.
  const server = await ensureClickHouse({ httpPort: await freePort(), tcpPort: await freePort(), dataDir: join(dataDir, 'one-server') });
  logStep(`starting ZooKeeper + 2 shards x 2 replicas under ${dataDir}`);
  const cluster: RunningCluster = await startClickHouseCluster({ dataDir, name: CLUSTER_NAME });
  const nodeUrls = cluster.nodes.map((node) => node.httpUrl);
  const sides: Side[] = [];
  try {
    const one = await openClickHouse({ url: server.url, database: DATABASE });
    const many = await openClickHouse({ url: nodeUrls[0] ?? '', database: DATABASE, cluster: { name: CLUSTER_NAME, nodeUrls }, describe: (version) => `2x2 cluster ${version}` });
    sides.push({ engine: one, label: 'one server', loadMs: 0, settleMs: 0, footprint: null }, { engine: many, label: '2x2 cluster', loadMs: 0, settleMs: 0, footprint: null });
    const [single, distributed] = sides as [Side, Side];
    logStep(`loading ${events.toLocaleString('en')} events into ${single.engine.label} and ${distributed.engine.label}`);
    await load(sides, spec);

    const rows: Row[] = [];
    const row = (measurement: string, unit: string, serverValue: { p50: number; p99: number | null }, clusterValue: { p50: number; p99: number | null }, n: string, answers = ''): Row => ({
      measurement,
      unit,
      'one server p50': serverValue.p50,
      'one server p99': serverValue.p99 ?? '',
      'cluster p50': clusterValue.p50,
      'cluster p99': clusterValue.p99 ?? '',
      'cluster ÷ server': unit === 'events/s' ? ratio(serverValue.p50, clusterValue.p50) : ratio(clusterValue.p50, serverValue.p50),
      n,
      answers,
    });
    const once = (value: number): { p50: number; p99: null } => ({ p50: value, p99: null });
    rows.push(row('load: insert throughput (20,000-event inserts)', 'events/s', once(events / (single.loadMs / 1000)), once(events / (distributed.loadMs / 1000)), String(events)));
    rows.push(row('load: wait for merges after the load', 's', once(single.settleMs / 1000), once(distributed.settleMs / 1000), ''));
    rows.push(row('size on disk, events (cluster: both replicas)', 'MB', once(Math.round((single.footprint?.bytes ?? 0) / 2 ** 20)), once(Math.round((distributed.footprint?.bytes ?? 0) / 2 ** 20)), ''));

    logStep('consumer-shaped inserts');
    const salt = Date.now() % 2 ** 31;
    const sequentialServer = await sequentialInserts(single.engine, spec, salt);
    const sequentialCluster = await sequentialInserts(distributed.engine, spec, salt + 1);
    rows.push(row(`${BATCH_SIZE}-event INSERT, one at a time`, 'ms', summarize(sequentialServer), summarize(sequentialCluster), String(SEQUENTIAL_BATCHES)));
    const concurrentServer = await concurrentInserts(single.engine, spec, salt + 2);
    const concurrentCluster = await concurrentInserts(distributed.engine, spec, salt + 3);
    rows.push(row(`${BATCH_SIZE}-event INSERT, ${CONCURRENT_BATCHES} at once`, 'ms', summarize(concurrentServer.latencies), summarize(concurrentCluster.latencies), String(concurrentServer.latencies.length)));
    rows.push(row(`${CONCURRENT_BATCHES} concurrent inserters: throughput`, 'events/s', once(concurrentServer.eventsPerSecond), once(concurrentCluster.eventsPerSecond), String(BATCH_SIZE * CONCURRENT_BATCHES * CONCURRENT_ROUNDS)));
    rows.push(row(`${CONCURRENT_BATCHES} concurrent inserters: inserts refused after the in-place retries, sent again`, 'inserts', once(concurrentServer.refused), once(concurrentCluster.refused), String(concurrentServer.latencies.length)));

    const scope: QueryScope = { workspaceId: spec.workspaceId, fromMs: spec.endMs - WINDOW_DAYS * DAY_MS, toMs: spec.endMs, person: typicalUser(spec) };
    const differences: string[] = [];
    for (const query of BENCH_QUERIES) {
      const results: { samples: number[]; last: Answer }[] = [];
      for (const side of sides) {
        await side.engine.runQuery(query.id, scope);
        results.push(await repeat(() => side.engine.runQuery(query.id, scope), { runs, minRuns: 3, budgetMs: 10_000 }));
      }
      const [onServer, onCluster] = results as [{ samples: number[]; last: Answer }, { samples: number[]; last: Answer }];
      const same = sameAnswer(onServer.last, onCluster.last);
      if (!same) differences.push(`${query.id}: ${onCluster.last.length} rows on the cluster vs ${onServer.last.length} on one server`);
      const serverStats = summarize(onServer.samples);
      const clusterStats = summarize(onCluster.samples);
      logStep(`  ${query.id}: one server p50 ${serverStats.p50.toFixed(1)} ms, cluster p50 ${clusterStats.p50.toFixed(1)} ms, answers ${same ? 'same' : 'DIFFER'}`);
      rows.push(row(query.title, 'ms', serverStats, clusterStats, `${serverStats.n}/${clusterStats.n}`, same ? `same (${onServer.last.length} rows)` : 'DIFFER'));
    }

    const notes = [
      `Machine: 2 shared cores, 1-minute load average at the end ${(loadavg()[0] ?? 0).toFixed(1)}; one server (ClickHouse 18.16, a private server on :${new URL(server.url).port}) and the cluster (ZooKeeper 3.8 + four 18.16 servers, 2 shards x 2 replicas, dev/clickhouse-cluster.ts) run side by side, but only one is asked at a time. Whole run ${((performance.now() - startedAt) / 1000).toFixed(0)} s.`,
      `Data: the storage bench's seeded generator (bench/storage/synthetic.ts), ${events.toLocaleString('en')} events of one workspace over ${spec.days} days, ${spec.users.toLocaleString('en')} users, identify links in the identity map. Schema: schema/clickhouse through dev/migrate.ts, on the cluster in cluster mode (each table t as t_local, Replicated*MergeTree ON CLUSTER, plus t, a Distributed table: lib/clickhouse-cluster-ddl.ts).`,
      `Inserts on the cluster go through the Distributed tables with the consumer's settings (lib/clickhouse.ts CLUSTER_INSERT_SETTINGS: insert_distributed_sync=1, insert_quorum=2), so the node asked splits the rows by sharding key, writes each shard's part and waits for both replicas of it; one server writes one part. ${CONCURRENT_BATCHES} at once: ${CONCURRENT_ROUNDS} rounds of ${CONCURRENT_BATCHES} simultaneous ${BATCH_SIZE}-event inserts, as several consumer invocations would send; on 18.16 they queue per table and shard for the quorum (retried in place on Code 286, insertRetryingQuorum).`,
      `Queries: the storage bench's (bench/storage/queries.ts), one unmeasured run then up to ${runs} warm runs each; on the cluster the node asked fans each read out to one replica per shard and merges; the identity-map joins run with each side as its own distributed subquery (README, cluster mode). Answers compared line by line: ${differences.length === 0 ? 'every query gave exactly the same rows on both.' : `DIFFERENCES: ${differences.join('; ')}`}`,
      `Sizes: ${sides.map((side) => `${side.label}: ${side.footprint?.detail ?? 'n/a'}`).join('; ')}.`,
      'Ratios: cluster time over one-server time (above 1× the cluster is slower); for throughput, one server\'s rate over the cluster\'s. On 2 cores the cluster has no cores to spread onto: these are its overheads (sharding, a second copy of every row, quorum round trips, distributed reads), which real shards on their own machines turn into capacity.',
    ];
    writeReport('cluster', `One ClickHouse server vs a 2 shards x 2 replicas cluster, ${events.toLocaleString('en')} events`, rows, notes);
    if (differences.length > 0) process.exitCode = 1;
  } finally {
    await Promise.all(sides.map((side) => side.engine.close()));
    await cluster.stop();
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
