/**
 * The README's quickstart, tried as a new user would (run by .ci/run before the tests):
 * `npm run dev` on a data directory that does not exist yet, then `/health` answers ok, the
 * demo workspace's keys are printed, a tracked event becomes queryable, and Ctrl-C (SIGINT to
 * the whole process group, as a terminal sends it) stops every process it started. Then the
 * same with `CLICKHOUSE_URL` pointing at a ClickHouse that was already running, which must
 * still be running afterwards; and with `CLICKHOUSE_ENGINE=current` (ClickHouse 26.x via chdb).
 *
 * `tsx dev/quickstart-smoke.ts` (exit code 0 = the quickstart works).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureClickHouse, LOCAL_CLICKHOUSE_HTTP_PORT, LOCAL_CURRENT_CLICKHOUSE_PORT } from './clickhouse-server';
import { freePort, logStep, REPO_ROOT } from './process';

const START_TIMEOUT_MS = 300_000;
const STOP_TIMEOUT_MS = 60_000;

interface Printed {
  workspaceId: string;
  writeKey: string;
  secretKey: string;
}

class SmokeFailure extends Error {}

function fail(message: string, output: string): never {
  throw new SmokeFailure(`${message}\n--- npm run dev printed ---\n${output.slice(-4000)}`);
}

function processGroupMembers(groupId: number): number[] {
  const listed = spawnSync('pgrep', ['-g', String(groupId)], { encoding: 'utf8' });
  return listed.stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1500) });
    return true;
  } catch {
    return false;
  }
}

/** Starts `npm run dev` in its own process group and waits for the summary it prints. */
async function startDev(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; printed: Printed; output: () => string }> {
  const child = spawn('npm', ['run', 'dev'], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!output.includes('Monfri is running.') || !/Operator token/.test(output)) {
    if (child.exitCode !== null || child.signalCode !== null) fail(`npm run dev exited (${child.exitCode ?? child.signalCode}) before it was running`, output);
    if (Date.now() > deadline) fail('npm run dev did not say it was running in time', output);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const field = (label: string): string => new RegExp(`${label}\\s+(\\S+)`).exec(output)?.[1] ?? fail(`no "${label}" line printed`, output);
  return { child, printed: { workspaceId: field('Workspace'), writeKey: field('Write key'), secretKey: field('Secret key') }, output: () => output };
}

async function checkRunning(baseUrl: string, printed: Printed, output: () => string, clickhouseMajor: ((major: number) => boolean) | null): Promise<void> {
  const health = (await (await fetch(`${baseUrl}/health`)).json()) as { status?: string; clickhouse?: { version?: string } };
  if (health.status !== 'ok') fail(`/health answered ${JSON.stringify(health)}`, output());
  if (clickhouseMajor && !clickhouseMajor(Number(health.clickhouse?.version?.split('.')[0]))) fail(`/health reports ClickHouse ${health.clickhouse?.version ?? '?'}`, output());
  if (!printed.writeKey.startsWith('wk_') || !printed.secretKey.startsWith('sk_')) fail('the printed keys are not a write key and a secret key', output());
  const marker = `Quickstart Smoke ${Date.now()}`;
  const tracked = await fetch(`${baseUrl}/v1/track`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${printed.writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: marker, userId: 'u1', properties: { plan: 'growth' } }),
  });
  if (tracked.status !== 200) fail(`POST /v1/track answered ${tracked.status}: ${await tracked.text()}`, output());
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listed = await fetch(`${baseUrl}/v1/events?event=${encodeURIComponent(marker)}`, { headers: { authorization: `Bearer ${printed.secretKey}` } });
    const body = (await listed.json()) as { events?: unknown[] };
    if (listed.status === 200 && body.events?.length === 1) break;
    if (Date.now() > deadline) fail(`the tracked event never became queryable (last answer ${listed.status} ${JSON.stringify(body).slice(0, 300)})`, output());
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  // What the dashboard's Overview asks for (unique persons resolved through the identity map).
  const stats = await fetch(`${baseUrl}/v1/stats?event=${encodeURIComponent(marker)}`, { headers: { authorization: `Bearer ${printed.secretKey}` } });
  const totals = ((await stats.json()) as { totals?: { events?: number; uniquePersons?: number } }).totals;
  if (stats.status !== 200 || totals?.events !== 1 || totals.uniquePersons !== 1) fail(`GET /v1/stats answered ${stats.status} ${JSON.stringify(totals)}`, output());
}

/** Ctrl-C: SIGINT to the whole foreground process group; then nothing of it may be left, and its ports must be closed. */
async function pressCtrlC(child: ChildProcess, ports: number[], output: () => string): Promise<void> {
  const groupId = child.pid ?? fail('npm run dev has no pid', output());
  if (child.exitCode !== null || child.signalCode !== null) fail(`npm run dev was no longer running before Ctrl-C (exit code ${child.exitCode}, signal ${child.signalCode})`, output());
  process.kill(-groupId, 'SIGINT');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  // npm itself dies of the SIGINT (exitCode stays null, signalCode is set); what matters is that nothing of the group is left.
  while (processGroupMembers(groupId).length > 0 || (child.exitCode === null && child.signalCode === null)) {
    if (Date.now() > deadline) {
      const left = spawnSync('pgrep', ['-a', '-g', String(groupId)], { encoding: 'utf8' }).stdout;
      fail(`processes left running ${STOP_TIMEOUT_MS / 1000} s after Ctrl-C:\n${left}`, output());
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  for (const port of ports) if (await answers(`http://127.0.0.1:${port}/`)) fail(`port ${port} still answers after Ctrl-C`, output());
}

async function run(name: string, extraEnv: Record<string, string>, ownedPorts: number[], clickhouseMajor: ((major: number) => boolean) | null = null): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'monfri-quickstart-'));
  const port = await freePort();
  const upstashPort = await freePort();
  const env = { ...process.env, MONFRI_DATA_DIR: join(dataDir, 'fresh', '.data'), PORT: String(port), UPSTASH_PORT: String(upstashPort), ...extraEnv };
  logStep(`quickstart (${name}): npm run dev with a data directory that does not exist yet`);
  const started = Date.now();
  const { child, printed, output } = await startDev(env);
  try {
    logStep(`quickstart (${name}): running after ${((Date.now() - started) / 1000).toFixed(1)} s; workspace ${printed.workspaceId}`);
    await checkRunning(`http://127.0.0.1:${port}`, printed, output, clickhouseMajor);
    logStep(`quickstart (${name}): /health ok, keys printed, a tracked event is queryable and counted; pressing Ctrl-C`);
    await pressCtrlC(child, [port, upstashPort, ...ownedPorts], output);
    logStep(`quickstart (${name}): every process it started has stopped`);
  } finally {
    if (child.pid && processGroupMembers(child.pid).length > 0) process.kill(-child.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // 1. Nothing running: npm run dev starts its own ClickHouse (private config, default port).
  const defaultClickHouse = LOCAL_CLICKHOUSE_HTTP_PORT;
  const ownsClickHouse = !process.env.CLICKHOUSE_URL && !(await answers(`http://127.0.0.1:${defaultClickHouse}/`));
  await run('own services', {}, ownsClickHouse ? [defaultClickHouse] : []);

  // 2. The current engine: ClickHouse 26.x through chdb, started by npm run dev itself.
  const currentPort = LOCAL_CURRENT_CLICKHOUSE_PORT;
  const ownsCurrent = !(await answers(`http://127.0.0.1:${currentPort}/`));
  await run('CLICKHOUSE_ENGINE=current', { CLICKHOUSE_ENGINE: 'current' }, ownsCurrent ? [currentPort] : [], (major) => major >= 24);

  // 3. An already running ClickHouse given by CLICKHOUSE_URL: used, and left running.
  const externalDir = mkdtempSync(join(tmpdir(), 'monfri-quickstart-clickhouse-'));
  const external = await ensureClickHouse({ dataDir: externalDir, httpPort: await freePort(), tcpPort: await freePort() });
  try {
    await run('CLICKHOUSE_URL', { CLICKHOUSE_URL: external.url }, []);
    if (!(await answers(`${external.url}/`))) throw new SmokeFailure('npm run dev stopped the ClickHouse that CLICKHOUSE_URL pointed at');
    logStep('quickstart (CLICKHOUSE_URL): the external ClickHouse is still running');
  } finally {
    await external.stop();
    rmSync(externalDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`\n✗ quickstart smoke test failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
