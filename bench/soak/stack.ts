/**
 * The soak's own stack: a private ClickHouse server, redis-server and Upstash REST stand-in
 * (each on a free port, data under .data/soak), and `wrangler dev` on a frozen copy of the
 * sources. The soak owns every process it may stop in `--faults`, so it never takes down the
 * ClickHouse or Redis that other runs on the machine share, and it can read each one's memory.
 */
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureClickHouse, type RunningClickHouse } from '../../dev/clickhouse-server';
import { migrateClickHouse } from '../../dev/migrate';
import { DATA_DIR, freePort, REPO_ROOT, spawnLogged, stopChild, StepError, waitFor } from '../../dev/process';
import { redisVersion } from '../../dev/redis-server';
import { createWorkerSnapshot, type SnapshotProcess, type WorkerSnapshot } from '../ingest/snapshot-worker';

export const SOAK_OPERATOR_TOKEN = 'soak-operator-token';
const UPSTASH_TOKEN = 'soak-upstash-token';

/** One process the soak can stop and start again on the same port (and data). */
export interface Restartable {
  name: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Process ids to measure (the one that serves; workerd for the Worker). */
  pids(): number[];
}

export interface SoakStack {
  database: string;
  clickhouseUrl: string;
  clickhouseVersion: string;
  redisUrl: string;
  workerUrl: string;
  clickhouse: Restartable;
  redis: Restartable;
  upstash: Restartable;
  worker: Restartable & { kill(): Promise<void> };
  stop(): Promise<void>;
}

/** Every descendant of `pid` (children, grandchildren ...), from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the parenthesised command name, which may itself hold spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // The process exited while we listed.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift() ?? 0;
    for (const [child, parent] of parentOf) {
      if (parent === current) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** Sends a signal to a process that may already have exited. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // ESRCH: gone already, which is what we wanted.
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The process listening on 127.0.0.1:port (ClickHouse is started by dev/clickhouse-server.ts, which keeps its child to itself). */
function pidListeningOn(port: number): number | null {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is field 1 (ADDR:PORT), st 0A is LISTEN, inode is field 9.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (match?.[1] && inodes.has(match[1])) return Number(entry);
      } catch {
        // fd closed while we looked.
      }
    }
  }
  return null;
}

/** Resident memory of a process in MiB (VmRSS), or null when it is not running. */
export function rssMiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function startRedisServer(port: number, dir: string): Promise<ChildProcess> {
  // `--save` makes a graceful stop (SIGTERM) write the dataset, so a restart keeps the stream mirror and dedup claims.
  const child = spawnLogged('soak-redis', 'redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '3600 1', '--appendonly', 'no']);
  await waitFor('soak redis-server', async () => (await redisVersion(`redis://127.0.0.1:${port}`)).length > 0, 15_000, child);
  return child;
}

async function startUpstash(port: number, redisUrl: string): Promise<ChildProcess> {
  // Plain `node --import tsx` (not the tsx CLI, which forks): the child is the server, so its pid is what we measure and stop.
  const child = spawnLogged('soak-upstash', process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'dev', 'upstash-rest.ts'), '--port', String(port), '--redis', redisUrl, '--token', UPSTASH_TOKEN]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'soak Upstash REST stand-in',
    async () => (await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${UPSTASH_TOKEN}` }, body: '["PING"]', signal: AbortSignal.timeout(2000) })).ok,
    30_000,
    child,
  );
  return child;
}

export async function startSoakStack(options: { database: string; say: (message: string) => void }): Promise<SoakStack> {
  if (process.env.CLICKHOUSE_URL) {
    throw new StepError('the soak starts its own ClickHouse (it stops it with --faults), CLICKHOUSE_URL is set', 'unset CLICKHOUSE_URL for `npm run soak`');
  }
  const { database, say } = options;
  const root = join(DATA_DIR, 'soak');
  // A fresh private stack per run: memory at start means an empty server, and counts mean this run.
  rmSync(root, { recursive: true, force: true });
  const clickhouseDir = join(root, 'clickhouse');
  const redisDir = join(root, 'redis');
  mkdirSync(redisDir, { recursive: true });

  const clickhousePort = await freePort();
  const clickhouseTcpPort = await freePort();
  let clickhouse: RunningClickHouse = await ensureClickHouse({ httpPort: clickhousePort, tcpPort: clickhouseTcpPort, dataDir: clickhouseDir });
  say(`ClickHouse ${clickhouse.version} (private) at ${clickhouse.url}`);
  await migrateClickHouse({ url: clickhouse.url, database });

  const redisPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  let redis = await startRedisServer(redisPort, redisDir);
  say(`redis-server (private) at ${redisUrl}`);
  const upstashPort = await freePort();
  const upstashUrl = `http://127.0.0.1:${upstashPort}`;
  let upstash = await startUpstash(upstashPort, redisUrl);
  say(`Upstash REST stand-in at ${upstashUrl}`);

  const snapshot: WorkerSnapshot = await createWorkerSnapshot(
    {
      CLICKHOUSE_URL: clickhouse.url,
      CLICKHOUSE_USER: 'default',
      CLICKHOUSE_PASSWORD: '',
      CLICKHOUSE_DATABASE: database,
      CLICKHOUSE_CLUSTER: '',
      UPSTASH_REDIS_REST_URL: upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN,
      OPERATOR_TOKEN: SOAK_OPERATOR_TOKEN,
      LIVE_TICKET_SECRET: 'soak',
      SESSION_SECRET: 'soak',
      RETRY_BASE_SECONDS: '1',
    },
    { logName: 'wrangler-soak' },
  );
  let worker: SnapshotProcess = await snapshot.start();
  say(`wrangler dev (snapshot ${snapshot.root}) at ${worker.url}`);
  const workerdPids = (): number[] => descendants(worker.pid).filter((pid) => commandOf(pid) === 'workerd');

  const clickhouseRestartable: Restartable = {
    name: 'clickhouse-server',
    stop: () => clickhouse.stop(),
    async start() {
      clickhouse = await ensureClickHouse({ httpPort: clickhousePort, tcpPort: clickhouseTcpPort, dataDir: clickhouseDir });
    },
    pids: () => [pidListeningOn(clickhousePort)].filter((pid): pid is number => pid !== null),
  };
  const redisRestartable: Restartable = {
    name: 'redis-server',
    stop: () => stopChild(redis),
    async start() {
      redis = await startRedisServer(redisPort, redisDir);
    },
    pids: () => (redis.exitCode === null && redis.pid ? [redis.pid] : []),
  };
  const upstashRestartable: Restartable = {
    name: 'upstash stand-in',
    stop: () => stopChild(upstash),
    async start() {
      upstash = await startUpstash(upstashPort, redisUrl);
    },
    pids: () => (upstash.exitCode === null && upstash.pid ? [upstash.pid] : []),
  };
  const workerRestartable: SoakStack['worker'] = {
    name: 'workerd',
    stop: () => worker.stop(),
    async start() {
      worker = await snapshot.start(worker.port);
    },
    /** SIGKILL workerd (the consumer with it, mid-batch under load), then wrangler around it. */
    async kill() {
      // Listed before wrangler exits: its orphans are re-parented to init and could not be found after.
      const tree = descendants(worker.pid);
      for (const pid of tree.filter((each) => commandOf(each) === 'workerd')) signal(pid, 'SIGKILL');
      await worker.stop();
      for (const pid of tree) signal(pid, 'SIGKILL');
    },
    pids: workerdPids,
  };
  return {
    database,
    clickhouseUrl: clickhouse.url,
    clickhouseVersion: clickhouse.version,
    redisUrl,
    workerUrl: worker.url,
    clickhouse: clickhouseRestartable,
    redis: redisRestartable,
    upstash: upstashRestartable,
    worker: workerRestartable,
    async stop() {
      await worker.stop();
      snapshot.remove();
      await stopChild(upstash);
      await stopChild(redis);
      await clickhouse.stop();
    },
  };
}
