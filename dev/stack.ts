/**
 * The local service stack shared by `npm run dev`, `npm test` and the benchmarks:
 * ClickHouse (migrated), Redis, and the Upstash REST stand-in in front of Redis.
 */
import { randomBytes } from 'node:crypto';
import { ensureClickHouseEngine, type ClickHouseEngine, type RunningClickHouse } from './clickhouse-server';
import { migrateClickHouse } from './migrate';
import { logStep } from './process';
import { ensureRedis, type RunningRedis } from './redis-server';
import { startUpstashRest, type UpstashRest } from './upstash-rest';

export interface StackClickHouse extends RunningClickHouse {
  engine: ClickHouseEngine;
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
  for (const each of [engine, ...(options.alsoEngines ?? []).filter((other) => other !== engine)]) {
    clickhouses.push(await startClickHouse(each, options.database, say));
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
