/**
 * `GET /health`: which ClickHouse and Redis this Worker is connected to, and whether they answer.
 * In cluster mode, also every node of the cluster (as the node we talk to knows them) and
 * whether each answers: a node down leaves reads working but stalls quorum inserts into its
 * shard (lib/clickhouse.ts), so it makes the status `degraded`.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { clusterName, clusterNodeSchema, clusterNodesSql, createClickHouse, nodeProbeSql, type ClickHouseClient, type ClusterNode } from '../../lib/clickhouse';
import { queryRows } from '../../lib/event-queries';
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

interface NodeHealth {
  shard: number;
  replica: number;
  host: string;
  port: number;
  ok: boolean;
  error?: string;
}

async function nodeHealth(client: ClickHouseClient, node: ClusterNode): Promise<NodeHealth> {
  const where = { shard: node.shard_num, replica: node.replica_num, host: node.host_name, port: node.port };
  try {
    await queryRows(client, nodeProbeSql(node), z.object({ n: z.coerce.number() }));
    return { ...where, ok: true };
  } catch (error) {
    return { ...where, ok: false, error: (error instanceof Error ? error.message : String(error)).slice(0, 200) };
  }
}

async function clusterHealth(env: Env): Promise<{ name: string; nodes: NodeHealth[] } | null> {
  const name = clusterName(env);
  if (name === null) return null;
  const client = createClickHouse(env, { timeoutMs: 3000 });
  try {
    const nodes = await queryRows(client, clusterNodesSql(name), clusterNodeSchema).catch(() => []);
    return { name, nodes: await Promise.all(nodes.map((node) => nodeHealth(client, node))) };
  } finally {
    await client.close();
  }
}

async function redisVersion(env: Env): Promise<string> {
  const info = await createRedis(env).exec<string>(['INFO', 'server']);
  return /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
}

export const healthRoutes = new Hono<AppEnv>().get('/', async (c) => {
  const [clickhouse, redis, cluster] = await Promise.all([probe(() => clickHouseVersion(c.env)), probe(() => redisVersion(c.env)), clusterHealth(c.env)]);
  const ok = clickhouse.ok && redis.ok;
  const clusterOk = cluster === null || (cluster.nodes.length > 0 && cluster.nodes.every((node) => node.ok));
  const body = { status: ok && clusterOk ? 'ok' : 'degraded', clickhouse: cluster ? { ...clickhouse, cluster } : clickhouse, redis };
  // A replica down is degraded, not down: the Worker still accepts and serves; only a dead service is a 503.
  return c.json(body, ok ? 200 : 503);
});
