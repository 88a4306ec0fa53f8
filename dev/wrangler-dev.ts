/**
 * Runs the Worker locally with `wrangler dev` (real workerd, local Queues, D1, Durable
 * Objects), pointed at a service stack. Used by `npm run dev`, the e2e tests and benchmarks.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildAssets } from './build';
import { freePort, logPath, REPO_ROOT, spawnLogged, stopChild, StepError, waitFor } from './process';

export interface RunningWorker {
  url: string;
  port: number;
  persistTo: string;
  stop(): Promise<void>;
}

const WRANGLER = join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

export function applyD1Migrations(persistTo: string): void {
  const result = spawnSync(process.execPath, [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
  });
  if (result.status !== 0) throw new StepError(`D1 migrations failed: ${result.stderr || result.stdout}`, 'check schema/d1/*.sql');
}

export async function startWranglerDev(options: { persistTo: string; vars: Record<string, string>; port?: number; logName?: string }): Promise<RunningWorker> {
  await buildAssets();
  mkdirSync(options.persistTo, { recursive: true });
  applyD1Migrations(options.persistTo);
  const envFile = join(options.persistTo, 'dev.vars');
  writeFileSync(envFile, Object.entries(options.vars).map(([name, value]) => `${name}=${JSON.stringify(value)}`).join('\n') + '\n', { mode: 0o600 });
  const port = options.port ?? (await freePort());
  const logName = options.logName ?? `wrangler-${port}`;
  const child = spawnLogged(
    logName,
    process.execPath,
    [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', options.persistTo, '--env-file', envFile, '--show-interactive-dev-session=false', '--log-level', 'warn'],
    { env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor('wrangler dev', async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).status > 0, 120_000, child).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new StepError(`wrangler dev did not start: ${String(error)}`, `see ${logPath(logName)}`);
  });
  return { url, port, persistTo: options.persistTo, stop: () => stopChild(child, 5000) };
}
