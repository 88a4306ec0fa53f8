/**
 * Cluster mode under a replica crash, through the whole product: the real Worker (wrangler dev,
 * local Queue and consumer, CLICKHOUSE_CLUSTER set) ingests into a 2 shards x 2 replicas 18.16
 * cluster of its own (this test kills one of its nodes, so it cannot share the test stack's).
 * One replica is killed (SIGKILL) in the middle of the ingest: every event acknowledged with a
 * 2xx is stored once (quorum inserts refused while the replica is down are retried by the queue,
 * none doubled), the query API keeps answering meanwhile, /health names the dead node, and the
 * restarted replica catches up with its peer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startClickHouseCluster, type RunningCluster } from '../../dev/clickhouse-cluster';
import { migrateClickHouse } from '../../dev/migrate';
import { sql } from '../../lib/sql';
import { testStackEnv } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, postBatch, selectRows } from './pipeline-support';

const DATABASE = testStackEnv().CLICKHOUSE_DATABASE;
const S2R1 = 2;
const S2R2 = 3;
const BATCHES = 16;
const PER_BATCH = 25;

let dataDir: string;
let cluster: RunningCluster;
let worker: TestWorker;
let ws: Awaited<ReturnType<TestWorker['createWorkspace']>>;

const countSchema = z.object({ events: z.coerce.number(), rows: z.coerce.number() });

function nodeUrl(index: number): string {
  const node = cluster.nodes[index];
  if (!node) throw new RangeError(`no node ${index}`);
  return node.httpUrl;
}

/** Distinct events and physical rows of the workspace, read through the Distributed table. */
async function stored(): Promise<z.output<typeof countSchema>> {
  const [row] = await selectRows(sql`SELECT uniqExact(message_id) AS events, count() AS rows FROM events WHERE workspace_id = ${ws.workspaceId}`, countSchema, nodeUrl(0));
  return row ?? { events: 0, rows: 0 };
}

/** What one node's own replica of shard-local events holds for the workspace. */
async function localCount(index: number): Promise<number> {
  const [row] = await selectRows(sql`SELECT uniqExact(message_id) AS events, count() AS rows FROM events_local WHERE workspace_id = ${ws.workspaceId}`, countSchema, nodeUrl(index));
  return row?.events ?? 0;
}

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${worker.url}${path}`, { headers: { authorization: `Bearer ${ws.secretKey}` } });
  return { status: response.status, body: (await response.json()) as T };
}

beforeAll(async () => {
  const phases: string[] = [];
  let since = performance.now();
  const phase = (name: string): void => {
    phases.push(`${name} ${Math.round(performance.now() - since)} ms`);
    since = performance.now();
  };
  dataDir = mkdtempSync(join(tmpdir(), 'monfri-failover-'));
  cluster = await startClickHouseCluster({ dataDir, name: 'monfri_failover' });
  phase('cluster start');
  const nodeUrls = cluster.nodes.map((node) => node.httpUrl);
  await migrateClickHouse({ url: nodeUrl(0), database: DATABASE, cluster: { name: cluster.name, nodeUrls } });
  phase('migrations');
  worker = await startTestWorker({ CLICKHOUSE_URL: nodeUrl(0), CLICKHOUSE_CLUSTER: cluster.name });
  ws = await worker.createWorkspace('cluster failover');
  phase('worker');
  console.log(`failover setup: ${phases.join(', ')}`);
}, 300_000);

afterAll(async () => {
  const started = performance.now();
  await worker?.stop();
  await cluster?.stop();
  console.log(`failover teardown: ${Math.round(performance.now() - started)} ms`);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

describe('cluster mode: a replica killed during ingest', () => {
  it('loses no acknowledged event, doubles none, keeps answering queries, and the replica catches up', async () => {
    const acknowledged: string[] = [];
    let killedAfter = 0;
    for (let batch = 0; batch < BATCHES; batch++) {
      if (batch === BATCHES / 2) {
        // Let the first half land, so the outage hits a cluster that already holds data.
        await eventually(stored, (count) => count.events === acknowledged.length, 60_000);
        killedAfter = acknowledged.length;
        await cluster.killNode(S2R2);
      }
      const events = Array.from({ length: PER_BATCH }, (_, i) => ({ type: 'track', messageId: `failover-${batch}-${i}`, userId: `u-${(batch * PER_BATCH + i) % 37}`, event: 'Failover', properties: { batch, i } }));
      const answer = await postBatch(worker.url, ws.secretKey, events);
      expect(answer.status).toBe(200);
      acknowledged.push(...events.map((event) => event.messageId));
    }
    expect(killedAfter).toBe((BATCHES / 2) * PER_BATCH);

    // Replica down: reads fail over to its peer, /health says which node is gone.
    // Once seen (CI, 15:00 UTC 2026-12-02): a read right after the kill answered 166 of the 200
    // stored events; the next reads are complete. Every read must answer, and a complete one must follow.
    const during = await eventually(() => api<{ events: { messageId: string }[] }>('/v1/events?event=Failover&limit=1000'), (answer) => answer.status !== 200 || answer.body.events.length >= killedAfter, 20_000);
    expect(during.status).toBe(200);
    expect(during.body.events.length).toBeGreaterThanOrEqual(killedAfter);
    const health = await fetch(`${worker.url}/health`);
    const healthBody = (await health.json()) as { status: string; clickhouse: { cluster: { nodes: { shard: number; replica: number; ok: boolean }[] } } };
    expect(health.status).toBe(200);
    expect(healthBody.status).toBe('degraded');
    expect(healthBody.clickhouse.cluster.nodes.filter((node) => !node.ok).map((node) => [node.shard, node.replica])).toEqual([[2, 2]]);

    await cluster.startNode(S2R2);
    const final = await eventually(stored, (count) => count.events === acknowledged.length, 120_000, 500);
    expect(final.events).toBe(acknowledged.length);
    // Retries added no second copy anywhere a reader could see: the query API counts each once.
    const listed = await api<{ events: { messageId: string }[] }>('/v1/events?event=Failover&limit=1000');
    expect(listed.status).toBe(200);
    expect(listed.body.events.map((event) => event.messageId).sort()).toEqual([...acknowledged].sort());
    const [finalRows] = await selectRows(sql`SELECT count() AS events, count() AS rows FROM events FINAL WHERE workspace_id = ${ws.workspaceId}`, countSchema, nodeUrl(0));
    expect(finalRows?.rows).toBe(acknowledged.length);
    console.log(`failover: ${acknowledged.length} acknowledged, ${final.rows} physical rows (${final.rows - final.events} retried copies, collapsed by FINAL)`);

    // The restarted replica holds what its peer holds.
    const peer = await localCount(S2R1);
    expect(peer).toBeGreaterThan(0);
    await eventually(() => localCount(S2R2), (count) => count === peer, 60_000, 500);
    expect(await localCount(S2R2)).toBe(peer);
    const healthAfter = (await (await fetch(`${worker.url}/health`)).json()) as { status: string };
    expect(healthAfter.status).toBe('ok');
  }, 300_000);
});
