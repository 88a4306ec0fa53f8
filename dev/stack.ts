/**
 * The local service stack shared by `npm run dev`, `npm test` and the benchmarks:
 * ClickHouse (migrated), Redis, and the Upstash REST stand-in in front of Redis.
 */
import { randomBytes } from 'node:crypto';
import { ensureClickHouse, type RunningClickHouse } from './clickhouse-server';
import { migrateClickHouse } from './migrate';
import { logStep } from './process';
import { ensureRedis, type RunningRedis } from './redis-server';
import { startUpstashRest, type UpstashRest } from './upstash-rest';

export interface Stack {
  clickhouse: RunningClickHouse;
  redis: RunningRedis;
  upstash: UpstashRest;
  database: string;
  upstashToken: string;
  /** Values for the Worker's vars/secrets that point at this stack. */
  workerEnv: Record<string, string>;
  stop(): Promise<void>;
}

export async function startStack(options: { database: string; upstashPort: number; upstashToken?: string; quiet?: boolean }): Promise<Stack> {
  const say = options.quiet ? () => {} : logStep;
  say('ClickHouse: looking for a server (CLICKHOUSE_URL, then a local one)');
  const clickhouse = await ensureClickHouse();
  say(`ClickHouse ${clickhouse.version} at ${clickhouse.url}`);
  const applied = await migrateClickHouse({ url: clickhouse.url, database: options.database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD });
  say(applied.length ? `ClickHouse migrations applied: ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}` : `ClickHouse schema '${options.database}' up to date`);
  say('Redis: looking for a server (REDIS_URL, then 127.0.0.1:6379)');
  const redis = await ensureRedis();
  say(`Redis ${redis.version} at ${redis.url}`);
  const upstashToken = options.upstashToken ?? randomBytes(16).toString('hex');
  const upstash = await startUpstashRest({ port: options.upstashPort, redisUrl: redis.url, token: upstashToken });
  say(`Upstash REST endpoint at ${upstash.url}`);
  return {
    clickhouse,
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
      await clickhouse.stop();
    },
  };
}
