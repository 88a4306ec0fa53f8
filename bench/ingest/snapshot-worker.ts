/**
 * `wrangler dev` on a frozen copy of the Worker's sources. The benchmark runs for minutes
 * while people edit the checkout; a normal `wrangler dev` reloads on every save, and a
 * reload drops the local (in-memory) queue's backlog, which would wreck the numbers.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildAssets } from '../../dev/build';
import { freePort, REPO_ROOT, spawnLogged, stopChild, StepError, waitFor } from '../../dev/process';
import type { RunningWorker } from '../../dev/wrangler-dev';

/** Everything the Worker bundle may import; the rest (deps, data, tests, benchmarks) stays out. */
const NOT_COPIED = new Set(['.git', '.data', '.wrangler', 'node_modules', 'dist', 'bench', 'test']);

/** One line for a benchmark's notes: which way the Worker was started. */
export function runtimeNote(): string {
  return process.env.BENCH_INSPECTOR === '0'
    ? 'Runtime: wrangler dev without the devtools inspector (BENCH_INSPECTOR=0, bench/ingest/quiet-worker.ts).'
    : 'Runtime: `wrangler dev` CLI with its devtools inspector, as `npm run dev` (BENCH_INSPECTOR=0 runs without it).';
}

/** A wrangler dev process on a snapshot; `pid` is wrangler's own (workerd runs as its child). */
export interface SnapshotProcess extends RunningWorker {
  pid: number;
}

/** A frozen copy of the sources with its D1 state; start (and after a crash, start again) wrangler dev on it. */
export interface WorkerSnapshot {
  root: string;
  /** Starts wrangler dev on the snapshot (on `port` when given, e.g. the same one after a restart). */
  start(port?: number): Promise<SnapshotProcess>;
  remove(): void;
}

export async function createWorkerSnapshot(vars: Record<string, string>, options: { inspector?: boolean; logName?: string } = {}): Promise<WorkerSnapshot> {
  const inspector = options.inspector ?? process.env.BENCH_INSPECTOR !== '0';
  if (!existsSync(join(REPO_ROOT, 'dist', 'public'))) await buildAssets();
  const root = mkdtempSync(join(tmpdir(), 'monfri-bench-src-'));
  const entries = readdirSync(REPO_ROOT).filter((entry) => !NOT_COPIED.has(entry));
  for (const entry of [...entries, join('dist', 'public')]) cpSync(join(REPO_ROOT, entry), join(root, entry), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  const persistTo = join(root, '.state');
  const wrangler = join(REPO_ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
  const env = { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' };
  const migrate = spawnSync(process.execPath, [wrangler, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], { cwd: root, encoding: 'utf8', env });
  if (migrate.status !== 0) throw new StepError(`D1 migrations failed: ${migrate.stderr || migrate.stdout}`, 'check schema/d1/*.sql');
  const envFile = join(root, 'dev.vars');
  writeFileSync(envFile, Object.entries(vars).map(([name, value]) => `${name}=${JSON.stringify(value)}`).join('\n') + '\n', { mode: 0o600 });
  return {
    root,
    async start(requestedPort) {
      const port = requestedPort ?? (await freePort());
      const args = inspector
        ? [wrangler, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(await freePort()), '--persist-to', persistTo, '--env-file', envFile, '--show-interactive-dev-session=false', '--log-level', 'warn']
        : [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'bench', 'ingest', 'quiet-worker.ts'), root, persistTo, envFile, String(port)];
      const child = spawnLogged(options.logName ?? 'wrangler-bench', process.execPath, args, { cwd: root, env });
      const url = `http://127.0.0.1:${port}`;
      await waitFor('wrangler dev (bench snapshot)', async () => (await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })).status > 0, 120_000, child);
      return { url, port, persistTo, pid: child.pid ?? 0, stop: () => stopChild(child, 5000) };
    },
    remove() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * `inspector: false` starts it through bench/ingest/quiet-worker.ts instead of the CLI (no
 * devtools inspector traffic); the default is what `npm run dev` runs. `BENCH_INSPECTOR=0`
 * picks the quiet one for every benchmark.
 */
export async function startSnapshotWorker(vars: Record<string, string>, options: { inspector?: boolean } = {}): Promise<RunningWorker> {
  const snapshot = await createWorkerSnapshot(vars, options);
  const worker = await snapshot.start();
  return {
    url: worker.url,
    port: worker.port,
    persistTo: worker.persistTo,
    async stop() {
      await worker.stop();
      snapshot.remove();
    },
  };
}
