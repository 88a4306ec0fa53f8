/**
 * Local ClickHouse for dev and tests: use CLICKHOUSE_URL if set, reuse a server already
 * answering on our port, else start one with a private config under .data/clickhouse
 * (installing Debian's clickhouse-server first when we are root on Debian).
 *
 * Two engines (`CLICKHOUSE_ENGINE`): `server` (default) is the clickhouse-server this machine
 * can install (Debian's 18.16); `current` is ClickHouse 26.x in-process through chdb behind a
 * local HTTP endpoint (dev/clickhouse-current.ts), so the product runs on a current release
 * too. The schema and every query are the same on both.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR, StepError, aptInstall, findExecutable, isDebianRoot, logPath, spawnLogged, stopChild, waitFor } from './process';

export interface RunningClickHouse {
  url: string;
  version: string;
  /** Stops the server if this process started it; a no-op for an external or reused server. */
  stop(): Promise<void>;
}

export const LOCAL_CLICKHOUSE_HTTP_PORT = 18123;
const LOCAL_CLICKHOUSE_TCP_PORT = 19000;
/** Where `npm run dev` serves the current engine (chdb) when CLICKHOUSE_ENGINE=current. */
export const LOCAL_CURRENT_CLICKHOUSE_PORT = 18124;

export const CLICKHOUSE_ENGINES = ['server', 'current'] as const;
export type ClickHouseEngine = (typeof CLICKHOUSE_ENGINES)[number];

/** `CLICKHOUSE_ENGINE` (unset: `server`); anything else is a setup error with a fix. */
export function clickHouseEngineFromEnv(value = process.env.CLICKHOUSE_ENGINE): ClickHouseEngine {
  const engine = (value ?? '').trim() || 'server';
  const known = CLICKHOUSE_ENGINES.find((candidate) => candidate === engine);
  if (!known) throw new StepError(`CLICKHOUSE_ENGINE=${engine} is not an engine`, `use ${CLICKHOUSE_ENGINES.join(' or ')} (or unset it)`);
  return known;
}

export async function clickHouseVersion(url: string, user = 'default', password = ''): Promise<string> {
  const response = await fetch(`${url.replace(/\/$/, '')}/?query=${encodeURIComponent('SELECT version()')}`, {
    headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password },
    signal: AbortSignal.timeout(2000),
  });
  if (!response.ok) throw new Error(`ClickHouse answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.text()).trim();
}

function writePrivateConfig(dir: string, httpPort: number, tcpPort: number): string {
  for (const sub of ['data', 'tmp', 'user_files', 'log']) mkdirSync(join(dir, sub), { recursive: true });
  const usersPath = join(dir, 'users.xml');
  writeFileSync(
    usersPath,
    `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
  );
  const configPath = join(dir, 'config.xml');
  writeFileSync(
    configPath,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>50M</size><count>2</count></logger>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <users_config>${usersPath}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
`,
  );
  return configPath;
}

function findClickHouseBinary(): string | null {
  return findExecutable(['clickhouse-server', '/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server', 'clickhouse']);
}

export async function ensureClickHouse(options: { dataDir?: string; httpPort?: number; tcpPort?: number } = {}): Promise<RunningClickHouse> {
  const external = process.env.CLICKHOUSE_URL;
  if (external) {
    const version = await clickHouseVersion(external, process.env.CLICKHOUSE_USER, process.env.CLICKHOUSE_PASSWORD).catch((error: unknown) => {
      throw new StepError(`CLICKHOUSE_URL=${external} does not answer: ${String(error)}`, 'start that server, or unset CLICKHOUSE_URL to use a local one');
    });
    return { url: external, version, stop: async () => {} };
  }
  const httpPort = options.httpPort ?? LOCAL_CLICKHOUSE_HTTP_PORT;
  const url = `http://127.0.0.1:${httpPort}`;
  const reused = await clickHouseVersion(url).catch(() => null);
  if (reused) return { url, version: reused, stop: async () => {} };

  let binary = findClickHouseBinary();
  if (!binary && isDebianRoot()) {
    aptInstall(['clickhouse-server', 'clickhouse-client']);
    binary = findClickHouseBinary();
  }
  if (!binary) {
    throw new StepError(
      'no ClickHouse server binary found',
      'install one (Debian: sudo apt-get install -y clickhouse-server) or set CLICKHOUSE_URL to a running server',
    );
  }
  const dir = options.dataDir ?? join(DATA_DIR, 'clickhouse');
  const tcpPort = options.tcpPort ?? (httpPort === LOCAL_CLICKHOUSE_HTTP_PORT ? LOCAL_CLICKHOUSE_TCP_PORT : httpPort + 1);
  const configPath = writePrivateConfig(dir, httpPort, tcpPort);
  const args = binary.endsWith('/clickhouse') || binary === 'clickhouse' ? ['server', `--config-file=${configPath}`] : [`--config-file=${configPath}`];
  const child: ChildProcess = spawnLogged('clickhouse', binary, args);
  await waitFor('ClickHouse', async () => (await clickHouseVersion(url)).length > 0, 60_000, child).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new StepError(`ClickHouse did not start: ${String(error)}`, `see ${logPath('clickhouse')} and ${dir}/log/error.log`);
  });
  return { url, version: await clickHouseVersion(url), stop: () => stopChild(child, 10_000) };
}

/** Major version of a `version()` string (18 for 18.16.1, 26 for 26.7.2.1). */
export function majorVersion(version: string): number {
  return Number(version.split('.')[0]);
}

/**
 * The current engine: reuse one already answering on our port (a running `npm run dev`), else
 * start the chdb endpoint in this process with its data under .data/chdb. chdb is loaded only
 * here, so runs on the 18.16 server never pay for its ~550 MB library.
 */
export async function ensureCurrentClickHouse(options: { dataDir?: string; port?: number } = {}): Promise<RunningClickHouse> {
  const port = options.port ?? LOCAL_CURRENT_CLICKHOUSE_PORT;
  const url = `http://127.0.0.1:${port}`;
  const reused = await clickHouseVersion(url).catch(() => null);
  if (reused !== null) {
    if (majorVersion(reused) < 20) throw new StepError(`port ${port} answers as ClickHouse ${reused}, not a current release`, `stop what listens there, or set CLICKHOUSE_URL`);
    return { url, version: reused, stop: async () => {} };
  }
  const { startCurrentClickHouse } = await import('./clickhouse-current');
  const dataDir = options.dataDir ?? join(DATA_DIR, 'chdb');
  const current = await startCurrentClickHouse({ port, dataDir }).catch((error: unknown) => {
    throw new StepError(`the current ClickHouse engine (chdb) did not start: ${String(error)}`, 'check that node_modules/@chdb/lib-linux-x64-gnu is installed (npm ci)');
  });
  return { url: current.url, version: current.version, stop: () => current.close() };
}

/** The ClickHouse for `engine`; CLICKHOUSE_URL, when set, wins over both. */
export async function ensureClickHouseEngine(engine: ClickHouseEngine, options: { port?: number; dataDir?: string } = {}): Promise<RunningClickHouse> {
  if (engine === 'current' && !process.env.CLICKHOUSE_URL) return ensureCurrentClickHouse(options);
  return ensureClickHouse(options.port === undefined ? { dataDir: options.dataDir } : { httpPort: options.port, dataDir: options.dataDir });
}
