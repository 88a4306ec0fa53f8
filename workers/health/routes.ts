/** `GET /health`: which ClickHouse and Redis this Worker is connected to, and whether they answer. */
import { Hono } from 'hono';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis } from '../../lib/redis';
import type { AppEnv } from '../context';

type Probe = { ok: true; version: string; latencyMs: number } | { ok: false; error: string };

async function probe(run: () => Promise<string>): Promise<Probe> {
  const started = Date.now();
  try {
    const version = await run();
    return { ok: true, version, latencyMs: Date.now() - started };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

async function clickHouseVersion(env: Env): Promise<string> {
  const client = createClickHouse(env, { timeoutMs: 3000 });
  try {
    const result = await client.query({ query: 'SELECT version() AS version', format: 'JSONEachRow' });
    const [row] = await result.json<{ version: string }>();
    return row?.version ?? 'unknown';
  } finally {
    await client.close();
  }
}

async function redisVersion(env: Env): Promise<string> {
  const info = await createRedis(env).exec<string>(['INFO', 'server']);
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
}

export const healthRoutes = new Hono<AppEnv>().get('/', async (c) => {
  const [clickhouse, redis] = await Promise.all([probe(() => clickHouseVersion(c.env)), probe(() => redisVersion(c.env))]);
  const ok = clickhouse.ok && redis.ok;
  return c.json({ status: ok ? 'ok' : 'degraded', clickhouse, redis }, ok ? 200 : 503);
});
