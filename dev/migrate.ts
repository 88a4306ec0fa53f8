/** Node side of migrations: reads schema/clickhouse/*.sql and applies them to a ClickHouse URL. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { clusterName, clusterNodeSchema, clusterNodesSql, createClickHouse, type ClickHouseClient } from '../lib/clickhouse';
import { applyClickHouseMigrations, assertDatabaseName, parseMigrationFileName, type ClickHouseMigration } from '../lib/clickhouse-migrations';
import { queryRows } from '../lib/event-queries';
import { REPO_ROOT } from './process';

export function readClickHouseMigrations(dir = join(REPO_ROOT, 'schema', 'clickhouse')): ClickHouseMigration[] {
  return readdirSync(dir)
    .flatMap((fileName) => {
      const parsed = parseMigrationFileName(fileName);
      return parsed ? [{ ...parsed, sql: readFileSync(join(dir, fileName), 'utf8') }] : [];
    })
    .sort((a, b) => a.version - b.version);
}

export interface MigrateOptions {
  /** The node the migrator talks to (in cluster mode: any node of the cluster). */
  url: string;
  database: string;
  user?: string;
  password?: string;
  dir?: string;
  /** Cluster mode: the `remote_servers` name and every node's HTTP URL (statements that 18.16 cannot run ON CLUSTER go to each). */
  cluster?: { name: string; nodeUrls: readonly string[] };
}

export async function migrateClickHouse(options: MigrateOptions): Promise<ClickHouseMigration[]> {
  const clientOf = (url: string, database: string): ClickHouseClient =>
    createClickHouse({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: options.user ?? 'default', CLICKHOUSE_PASSWORD: options.password ?? '', CLICKHOUSE_DATABASE: database }, { timeoutMs: 30_000 });
  const client = clientOf(options.url, options.database);
  // The database may not exist yet: run the bootstrap statements against `default`.
  const bootstrap = clientOf(options.url, 'default');
  const nodes = (options.cluster?.nodeUrls ?? []).map((url) => clientOf(url, options.database));
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertDatabaseName(options.database)}` });
    const cluster = options.cluster ? { name: options.cluster.name, nodes } : undefined;
    return await applyClickHouseMigrations(client, options.database, readClickHouseMigrations(options.dir), { cluster });
  } finally {
    await Promise.all([client, bootstrap, ...nodes].map((each) => each.close()));
  }
}

/** The cluster's nodes as `url`'s node sees them (system.clusters), one line each. */
export async function describeClusterNodes(url: string, cluster: string): Promise<string[]> {
  const client = createClickHouse({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default', CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '', CLICKHOUSE_DATABASE: 'default' });
  try {
    const nodes = await queryRows(client, clusterNodesSql(cluster), clusterNodeSchema);
    return nodes.map((node) => `shard ${node.shard_num} replica ${node.replica_num}: ${node.host_name}:${node.port}`);
  } finally {
    await client.close();
  }
}

/** CLICKHOUSE_CLUSTER and CLICKHOUSE_CLUSTER_NODES (comma-separated HTTP URLs, the migrator's node first or among them). */
export function clusterFromEnv(env: NodeJS.ProcessEnv, url: string): MigrateOptions['cluster'] {
  const name = clusterName({ CLICKHOUSE_CLUSTER: env.CLICKHOUSE_CLUSTER });
  if (name === null) return undefined;
  const nodeUrls = (env.CLICKHOUSE_CLUSTER_NODES ?? '').split(',').map((each) => each.trim()).filter((each) => each !== '');
  if (nodeUrls.length === 0) throw new Error('CLICKHOUSE_CLUSTER is set: CLICKHOUSE_CLUSTER_NODES must list every node\'s HTTP URL (comma separated)');
  return { name, nodeUrls: nodeUrls.includes(url) ? nodeUrls : [url, ...nodeUrls] };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
  const database = process.env.CLICKHOUSE_DATABASE ?? 'monfri';
  const cluster = clusterFromEnv(process.env, url);
  if (cluster) console.log([`cluster ${cluster.name}:`, ...(await describeClusterNodes(url, cluster.name)).map((line) => `  ${line}`)].join('\n'));
  const applied = await migrateClickHouse({ url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD, cluster });
  console.log(applied.length ? `applied ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}` : 'ClickHouse schema up to date');
}
