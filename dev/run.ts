/**
 * `npm run dev`: the whole product on this machine. Starts (or reuses) ClickHouse and Redis,
 * the local Upstash REST endpoint, applies migrations, runs `wrangler dev`, makes sure a
 * demo workspace exists, and prints URLs and keys. Ctrl-C stops everything it started;
 * a second run reuses .data/ (events, workspaces, keys).
 *
 * `npm run dev -- --cluster`: the same product on a local ClickHouse cluster instead (ZooKeeper
 * + 2 shards x 2 replicas of 18.16, data in .data/cluster), migrated in cluster mode, the Worker
 * in cluster mode (CLICKHOUSE_CLUSTER=monfri).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { clickHouseEngineFromEnv } from './clickhouse-server';
import { DATA_DIR, logStep, StepError } from './process';
import { startStack, type Stack } from './stack';
import { startWranglerDev, type RunningWorker } from './wrangler-dev';

const WORKER_PORT = Number(process.env.PORT ?? 8787);
const UPSTASH_PORT = Number(process.env.UPSTASH_PORT ?? 18079);

interface LocalSecrets {
  OPERATOR_TOKEN: string;
  LIVE_TICKET_SECRET: string;
  SESSION_SECRET: string;
  UPSTASH_REDIS_REST_TOKEN: string;
  WEBHOOK_SECRETS_KEY: string;
}

interface DemoWorkspace {
  workspaceId: string;
  writeKey: string;
  secretKey: string;
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

/** Local-only secrets, made once and kept in .data/ so a second run finds the same data. */
function localSecrets(): LocalSecrets {
  // A fresh clone has no .data/ yet: this is the first thing written there.
  mkdirSync(DATA_DIR, { recursive: true });
  const path = join(DATA_DIR, 'secrets.json');
  const existing = readJson<Partial<LocalSecrets>>(path);
  const make = (): string => randomBytes(24).toString('base64url');
  // A .data/ from before webhooks lacks their key: add it, keep the rest (and the data) as it was.
  if (existing?.OPERATOR_TOKEN && existing.WEBHOOK_SECRETS_KEY) return existing as LocalSecrets;
  const secrets: LocalSecrets = {
    OPERATOR_TOKEN: existing?.OPERATOR_TOKEN ?? `op_${make()}`,
    LIVE_TICKET_SECRET: existing?.LIVE_TICKET_SECRET ?? make(),
    SESSION_SECRET: existing?.SESSION_SECRET ?? make(),
    UPSTASH_REDIS_REST_TOKEN: existing?.UPSTASH_REDIS_REST_TOKEN ?? make(),
    WEBHOOK_SECRETS_KEY: make(),
  };
  writeFileSync(path, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

async function adminRequest<T>(worker: RunningWorker, token: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${worker.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  return { status: response.status, body: (await response.json()) as T };
}

/** The demo workspace's keys are printed at creation and, for local convenience only, kept in .data/demo.json. */
async function ensureDemoWorkspace(worker: RunningWorker, operatorToken: string): Promise<DemoWorkspace & { created: boolean }> {
  const path = join(DATA_DIR, 'demo.json');
  const saved = readJson<DemoWorkspace>(path);
  if (saved) {
    const check = await adminRequest<unknown>(worker, operatorToken, `/admin/workspaces/${saved.workspaceId}`);
    if (check.status === 200) return { ...saved, created: false };
  }
  const created = await adminRequest<{ workspace: { id: string }; writeKey: string; secretKey: string }>(worker, operatorToken, '/admin/workspaces', {
    method: 'POST',
    body: JSON.stringify({ name: 'Demo', plan: 'growth' }),
  });
  if (created.status !== 201) throw new StepError(`creating the demo workspace failed (${created.status})`, 'see .data/logs/wrangler-dev.log');
  const demo = { workspaceId: created.body.workspace.id, writeKey: created.body.writeKey, secretKey: created.body.secretKey };
  writeFileSync(path, JSON.stringify(demo, null, 2), { mode: 0o600 });
  return { ...demo, created: true };
}

function engineLabel(stack: Stack): string {
  const { engine, cluster } = stack.clickhouse;
  if (cluster) return `cluster ${cluster.name}, 2 shards x 2 replicas: ${cluster.nodeUrls.join(' ')}; ZooKeeper and node logs in .data/`;
  return engine === 'current' ? 'current engine, chdb' : 'server';
}

function printSummary(worker: RunningWorker, stack: Stack, demo: DemoWorkspace & { created: boolean }, secrets: LocalSecrets): void {
  const url = worker.url;
  const lines = [
    '',
    '\u001b[32mMonfri is running.\u001b[0m',
    `  Dashboard        ${url}/dashboard/`,
    `  Demo page        ${url}/demo/?writeKey=${demo.writeKey}`,
    `  SDK script       ${url}/sdk/v1/monfri.min.js`,
    `  Collect (server) ${url}/v1/batch   (Segment HTTP API: /v1/track, /v1/identify, ...)`,
    `  Collect (SDK)    ${url}/v1/collect`,
    `  Health           ${url}/health`,
    '',
    `  Workspace        ${demo.workspaceId}${demo.created ? ' (created now)' : ' (reused from .data/)'}`,
    `  Write key        ${demo.writeKey}   (public: browser SDK)`,
    `  Secret key       ${demo.secretKey}   (server API, query API, dashboard sign-in)`,
    `  Operator token   ${secrets.OPERATOR_TOKEN}   (npm run admin -- ...)`,
    '',
    `  ClickHouse ${stack.clickhouse.version} (${engineLabel(stack)}) ${stack.clickhouse.url} (database ${stack.database}) · Redis ${stack.redis.version} ${stack.redis.url} · Upstash REST ${stack.upstash.url}`,
    ...(stack.clickhouse.cluster
      ? ['', `  Migrate the cluster: CLICKHOUSE_URL=${stack.clickhouse.url} CLICKHOUSE_CLUSTER=${stack.clickhouse.cluster.name} CLICKHOUSE_CLUSTER_NODES=${stack.clickhouse.cluster.nodeUrls.join(',')} npm run migrate`]
      : []),
    '',
    '  Try:',
    `    curl -u ${demo.writeKey}: ${url}/v1/track -H 'content-type: application/json' -d '{"event":"Signed Up","userId":"u1","properties":{"plan":"growth"}}'`,
    '',
    '  Logs in .data/logs/. Press Ctrl-C to stop.',
  ];
  console.log(lines.join('\n'));
}

const LOCAL_CLUSTER_NAME = 'monfri';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { cluster: { type: 'boolean', default: false } } });
  const secrets = localSecrets();
  const cluster = values.cluster ? { dataDir: join(DATA_DIR, 'cluster'), name: LOCAL_CLUSTER_NAME, forWorker: true } : undefined;
  const stack = await startStack({ database: process.env.CLICKHOUSE_DATABASE ?? 'monfri', upstashPort: UPSTASH_PORT, upstashToken: secrets.UPSTASH_REDIS_REST_TOKEN, engine: clickHouseEngineFromEnv(), cluster });
  let worker: RunningWorker | null = null;
  const stopAll = async (): Promise<void> => {
    await worker?.stop();
    await stack.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.log('\nstopping…');
      void stopAll().then(() => process.exit(0));
    });
  }
  try {
    logStep(`wrangler dev on 127.0.0.1:${WORKER_PORT} (bundling the Worker, applying D1 migrations)`);
    // Locally, settings and new segments take effect in seconds rather than production's half minute,
    // and webhooks may go to a receiver on this machine (http://127.0.0.1:<port>).
    const vars = { ...stack.workerEnv, ...secrets, WORKSPACE_PROFILE_TTL_SECONDS: '5', SEGMENT_SETTLE_SECONDS: '10', WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true' };
    writeFileSync(join(DATA_DIR, 'dev.vars'), Object.entries(vars).map(([name, value]) => `${name}=${JSON.stringify(value)}`).join('\n') + '\n', { mode: 0o600 });
    worker = await startWranglerDev({ persistTo: join(DATA_DIR, 'wrangler'), vars, port: WORKER_PORT, logName: 'wrangler-dev' });
    const health = (await (await fetch(`${worker.url}/health`)).json()) as { status: string; clickhouse: { cluster?: { name: string; nodes: { shard: number; replica: number; ok: boolean }[] } } };
    const nodes = health.clickhouse.cluster?.nodes.map((node) => `s${node.shard}r${node.replica} ${node.ok ? 'up' : 'DOWN'}`);
    logStep(`Worker healthy: ${health.status}${nodes ? ` (cluster ${health.clickhouse.cluster?.name}: ${nodes.join(', ')})` : ''}`);
    logStep('demo workspace');
    const demo = await ensureDemoWorkspace(worker, secrets.OPERATOR_TOKEN);
    printSummary(worker, stack, demo, secrets);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

main().catch((error: unknown) => {
  if (error instanceof StepError) console.error(`\n\u001b[31m✗ ${error.message}\u001b[0m\n  fix: ${error.fix}`);
  else console.error(error);
  process.exit(1);
});
