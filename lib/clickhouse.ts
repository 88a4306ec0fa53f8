/** The one way Worker code talks to ClickHouse: an HTTP client built from env per call site. */
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client-web';
import { z } from 'zod';
import { clickHouseErrorCode } from './clickhouse-errors';
import { sql } from './sql';

export interface ClickHouseConfig {
  CLICKHOUSE_URL: string;
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  CLICKHOUSE_DATABASE: string;
  /** The `remote_servers` cluster our tables live on (cluster mode), or '' / absent for one server. */
  CLICKHOUSE_CLUSTER?: string;
}

/**
 * What a successful insert means in cluster mode, and so what a consumer ack means: every row
 * is on two replicas of its shard (insert_quorum=2) of every shard it went to
 * (insert_distributed_sync=1: the Distributed table writes through before it answers, rather
 * than queueing the rows on the node that took them). An acked event survives losing any one
 * replica. The price: while a replica is down, its shard refuses quorum inserts (Code 285/286/319)
 * and the consumer retries the batch with backoff; the queue holds the events until the replica
 * is back (it catches up from its peer), and reads keep answering from the live replica.
 * A retry never doubles what a reader sees: a replicated table drops a block equal to one it
 * already holds (the shard a half-done Distributed insert reached), and whatever is inserted
 * again with other bytes is a version ReplacingMergeTree / FINAL / uniqExact collapse, as on one
 * server (the sharding keys keep every version of a row on one shard: clickhouse-cluster-ddl.ts).
 * ClickHouse applies these settings to INSERTs only; reads ignore them.
 */
export const CLUSTER_INSERT_SETTINGS = {
  insert_distributed_sync: 1,
  insert_quorum: '2',
  // Below the consumer's 10 s request timeout, so ClickHouse's own answer (319) comes first.
  insert_quorum_timeout: 5000,
} as const satisfies ClickHouseSettings;

export function clusterName(config: Pick<ClickHouseConfig, 'CLICKHOUSE_CLUSTER'>): string | null {
  const name = config.CLICKHOUSE_CLUSTER?.trim() ?? '';
  if (name === '') return null;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`bad CLICKHOUSE_CLUSTER: ${name}`);
  return name;
}

export function createClickHouse(config: ClickHouseConfig, options: { timeoutMs?: number } = {}): ClickHouseClient {
  return createClient({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_USER || 'default',
    password: config.CLICKHOUSE_PASSWORD ?? '',
    database: config.CLICKHOUSE_DATABASE,
    request_timeout: options.timeoutMs ?? 10_000,
    // 18.16 rejects settings it does not know; the client adds none unless asked.
    clickhouse_settings: clusterName(config) === null ? {} : { ...CLUSTER_INSERT_SETTINGS },
  });
}

export const clusterNodeSchema = z.object({ shard_num: z.coerce.number(), replica_num: z.coerce.number(), host_name: z.string(), port: z.coerce.number() });
export type ClusterNode = z.output<typeof clusterNodeSchema>;

/** The cluster's nodes as the node we talk to knows them (its remote_servers). */
export function clusterNodesSql(cluster: string): string {
  return sql`SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = ${cluster} ORDER BY shard_num, replica_num`;
}

/** Whether one node answers, asked through the node we talk to (the Worker reaches only that one). */
export function nodeProbeSql(node: Pick<ClusterNode, 'host_name' | 'port'>): string {
  return sql`SELECT count() AS n FROM remote(${`${node.host_name}:${node.port}`}, system.one)`;
}

/** UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE: "Another quorum insert has been already started" and its kin. */
const QUORUM_BUSY = 286;
const QUORUM_BUSY_ATTEMPTS = 6;

/**
 * `client.insert`, retried in a moment when ClickHouse 18.16 answers that another quorum insert
 * into the same table and shard is under way: it runs one at a time (current releases run them
 * in parallel, insert_quorum_parallel), so two consumer batches meet often. Waiting here costs
 * tens of milliseconds; the queue's backoff would cost seconds. With a replica down the same code
 * lasts: after the attempts, the error goes to the caller like any outage. Outside cluster mode
 * no insert is a quorum insert, so nothing is ever retried here.
 */
export async function insertRetryingQuorum(client: ClickHouseClient, params: Parameters<ClickHouseClient['insert']>[0], sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.insert(params);
      return;
    } catch (error) {
      if (clickHouseErrorCode(error) !== QUORUM_BUSY || attempt >= QUORUM_BUSY_ATTEMPTS) throw error;
      await sleep(20 * 2 ** attempt * (0.5 + Math.random()));
    }
  }
}

export type { ClickHouseClient };
