/**
 * The local service stack shared by `npm run dev`, `npm test` and the benchmarks:
 * ClickHouse (migrated), Redis, and the Upstash REST stand-in in front of Redis.
 */
import { randomBytes } from 'node:crypto';
import { startClickHouseCluster, clickHouseHttpQuery } from './clickhouse-cluster';
import { ensureClickHouseEngine, type ClickHouseEngine, type RunningClickHouse } from './clickhouse-server';
import { describeClusterNodes, migrateClickHouse } from './migrate';
import { logStep } from './process';
import { ensureRedis, type RunningRedis } from './redis-server';
import { startUpstashRest, type UpstashRest } from './upstash-rest';

export interface StackClickHouse extends RunningClickHouse {
  /** `cluster`: ZooKeeper + 2 shards x 2 replicas of 18.16 (dev/clickhouse-cluster.ts); `url` is its first node. */
  engine: ClickHouseEngine | 'cluster';
  cluster?: { name: string; nodeUrls: string[] };
}

export interface Stack {
  /** The ClickHouse the Worker uses. */
  clickhouse: StackClickHouse;
  /** Every ClickHouse started, the Worker's first: tests run the same SQL on each (migrated alike). */
  clickhouses: StackClickHouse[];
  redis: RunningRedis;
  upstash: UpstashRest;
  database: string;
  upstashToken: string;
  /** Values for the Worker's vars/secrets that point at this stack. */
  workerEnv: Record<string, string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  database: string;
  upstashPort: number;
  upstashToken?: string;
  quiet?: boolean;
  /** The Worker's engine (CLICKHOUSE_ENGINE); default `server`. */
  engine?: ClickHouseEngine;
  /** More engines to start and migrate beside it (the test stack starts both). */
  alsoEngines?: readonly ClickHouseEngine[];
  /**
   * Also start a local cluster (private configs and data under `dataDir`) and migrate it in
   * cluster mode. `forWorker`: the Worker uses it (`npm run dev -- --cluster`); else it is one
   * more target beside the engines (the tests compare it with them).
   */
  cluster?: { dataDir: string; name: string; forWorker: boolean };
}

async function startCluster(options: NonNullable<StackOptions['cluster']>, database: string, say: (message: string) => void): Promise<StackClickHouse> {
  say(`ClickHouse cluster ${options.name}: ZooKeeper + 2 shards x 2 replicas under ${options.dataDir}`);
  const started = performance.now();
  const cluster = await startClickHouseCluster({ dataDir: options.dataDir, name: options.name });
  try {
    const nodeUrls = cluster.nodes.map((node) => node.httpUrl);
    const [url] = nodeUrls;
    if (!url) throw new Error('a cluster without nodes');
    const version = await clickHouseHttpQuery(url, 'SELECT version()');
    say(`ClickHouse cluster ${version} up in ${Math.round(performance.now() - started)} ms: ${(await describeClusterNodes(url, options.name)).join(' · ')}`);
    const migrated = performance.now();
    const applied = await migrateClickHouse({ url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD, cluster: { name: options.name, nodeUrls } });
    say(`ClickHouse cluster migrations (cluster mode) ${applied.length ? `applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}` : `'${database}' up to date`} in ${Math.round(performance.now() - migrated)} ms`);
    return { engine: 'cluster', url, version, cluster: { name: options.name, nodeUrls }, stop: () => cluster.stop() };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

async function startClickHouse(engine: ClickHouseEngine, database: string, say: (message: string) => void): Promise<StackClickHouse> {
  say(`ClickHouse (${engine}): looking for a server (CLICKHOUSE_URL, then a local one)`);
  const running = await ensureClickHouseEngine(engine);
  say(`ClickHouse ${running.version} at ${running.url}`);
  const applied = await migrateClickHouse({ url: running.url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD });
  say(applied.length ? `ClickHouse migrations applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}` : `ClickHouse schema '${database}' up to date`);
  return { ...running, engine };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const say = options.quiet ? () => {} : logStep;
  const engine = options.engine ?? 'server';
  const clickhouses: StackClickHouse[] = [];
  // The cluster starts beside the engines: its nodes wait on ZooKeeper, not on the CPU.
  const clusterStarting = options.cluster ? startCluster(options.cluster, options.database, say) : null;
  clusterStarting?.catch(() => undefined);
  try {
    const engines = options.cluster?.forWorker ? [] : [engine, ...(options.alsoEngines ?? []).filter((other) => other !== engine)];
    for (const each of engines) {
      clickhouses.push(await startClickHouse(each, options.database, say));
    }
    if (clusterStarting) {
      const cluster = await clusterStarting;
      if (options.cluster?.forWorker) clickhouses.unshift(cluster);
      else clickhouses.push(cluster);
    }
  } catch (error) {
    await clusterStarting?.then((cluster) => cluster.stop(), () => undefined);
    for (const each of clickhouses) await each.stop();
    throw error;
  }
  const [clickhouse] = clickhouses;
  if (!clickhouse) throw new Error('no ClickHouse engine started');
  say('Redis: looking for a server (REDIS_URL, then 127.0.0.1:6379)');
  const redis = await ensureRedis();
  say(`Redis ${redis.version} at ${redis.url}`);
  const upstashToken = options.upstashToken ?? randomBytes(16).toString('hex');
  const upstash = await startUpstashRest({ port: options.upstashPort, redisUrl: redis.url, token: upstashToken });
  say(`Upstash REST endpoint at ${upstash.url}`);
  return {
    clickhouse,
    clickhouses,
    redis,
    upstash,
    database: options.database,
    upstashToken,
    workerEnv: {
      CLICKHOUSE_URL: clickhouse.url,
      CLICKHOUSE_USER: process.env.CLICKHOUSE_USER ?? 'default',
      CLICKHOUSE_PASSWORD: process.env.CLICKHOUSE_PASSWORD ?? '',
      CLICKHOUSE_DATABASE: options.database,
      CLICKHOUSE_CLUSTER: clickhouse.cluster?.name ?? '',
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: upstashToken,
    },
    async stop() {
      await upstash.close();
      await redis.stop();
      for (const each of clickhouses) await each.stop();
    },
  };
}
