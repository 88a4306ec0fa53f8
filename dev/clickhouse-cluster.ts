/**
 * A real ClickHouse cluster on one machine, for cluster-mode tests and experiments: one ZooKeeper
 * (Debian's, started with java directly) and four clickhouse-server processes as 2 shards x 2
 * replicas, every config private under `dataDir`, every port a free one picked at start and kept
 * across node restarts, logs in .data/logs (and each node's own under `dataDir`/<node>/log).
 *
 *   tsx dev/clickhouse-cluster.ts --data .data/cluster [--name monfri]
 *
 * starts it, prints the node URLs and stays up until Ctrl-C, then stops everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { StepError, aptInstall, findExecutable, freePort, isDebianRoot, logPath, logStep, spawnLogged, stopChild, waitFor } from './process';

export interface ClusterNode {
  shard: number;
  replica: number;
  /** Also the node's `{replica}` macro: unique across the whole cluster (s1r1, s1r2, s2r1, s2r2). */
  name: string;
  httpUrl: string;
  tcpPort: number;
  interserverPort: number;
}

export interface RunningCluster {
  name: string;
  dataDir: string;
  zookeeper: { port: number };
  nodes: readonly ClusterNode[];
  /** SIGTERM, then waits for the node to exit (SIGKILL after 30 s). */
  stopNode(index: number): Promise<void>;
  /** SIGKILL: a crash, leaving its ZooKeeper session to expire. */
  killNode(index: number): Promise<void>;
  /** Starts a stopped node again on the same ports and data; resolves once it answers. */
  startNode(index: number): Promise<void>;
  isNodeRunning(index: number): boolean;
  /** Waits until every running node's replica of `table` (db.table) has fetched and applied its replication queue. */
  waitForReplication(table: string, timeoutMs?: number): Promise<void>;
  /** Pids of ZooKeeper and of the nodes running now. */
  runningProcessIds(): number[];
  /** Pids of every process this cluster ever started, restarted nodes included. */
  startedProcessIds(): number[];
  /** Stops every node, then ZooKeeper. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  dataDir: string;
  /** The `remote_servers` cluster name ON CLUSTER statements use; default `monfri`. */
  name?: string;
}

const SHARDS = 2;
const REPLICAS_PER_SHARD = 2;
const ZOOKEEPER_JARS = ['/usr/share/java/zookeeper.jar', '/usr/share/java/slf4j-simple.jar'];
/** ClickHouse's default is 30 s; a killed replica can rejoin only once its old session expired. */
const ZOOKEEPER_SESSION_TIMEOUT_MS = 6000;
const NODE_START_TIMEOUT_MS = 90_000;
const ZOOKEEPER_START_TIMEOUT_MS = 60_000;
const NODE_STOP_TIMEOUT_MS = 30_000;

const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Sends a ZooKeeper four-letter command and returns everything it answers before closing. */
export async function zookeeperCommand(port: number, command: string, timeoutMs = 2000): Promise<string> {
  return await new Promise((resolvePromise, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`ZooKeeper ${command}: no answer in ${timeoutMs} ms`)));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
    });
    socket.once('end', () => resolvePromise(answer));
    socket.write(command);
  });
}

/** ZooKeeper answers `ruok` before it serves clients; `srvr` reports a Mode only once it does. */
async function zookeeperServes(port: number): Promise<boolean> {
  const answer = await zookeeperCommand(port, 'srvr');
  return answer.split('\n').some((line) => line.startsWith('Mode:'));
}

/** One statement over ClickHouse's HTTP interface (POST: a GET would be read-only); throws with the server's text on an error status. */
export async function clickHouseHttpQuery(httpUrl: string, query: string, timeoutMs = 5000): Promise<string> {
  const response = await fetch(`${httpUrl}/`, { method: 'POST', body: query, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse ${httpUrl} answered ${response.status}: ${text.slice(0, 300)}`);
  return text.trim();
}

function assertClusterName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`bad cluster name: ${name}`);
  return name;
}

/**
 * Where node ports come from: below the kernel's ephemeral range, and clear of the ports the rest
 * of the stack uses (16379, 18079, 18123, 18124, 19000). freePort's ports come from inside that
 * range, where any outgoing connection on the machine may take one as its local port while a node
 * is down; the restarted node then exits with code 70 ("Address already in use"), as seen here.
 */
const STABLE_PORT_BAND = { from: 20_000, to: 30_000 };

const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

function ephemeralRangeStart(): number {
  const range = existsSync(EPHEMERAL_RANGE_FILE) ? readFileSync(EPHEMERAL_RANGE_FILE, 'utf8') : '';
  const start = Number(range.trim().split(/\s+/)[0]);
  return Number.isInteger(start) && start > 0 ? start : 32_768;
}

async function portIsFree(port: number): Promise<boolean> {
  return await new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

/** Distinct free ports, picked at random in the band so two clusters started at once rarely meet. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  if (ephemeralRangeStart() <= STABLE_PORT_BAND.to) {
    // A machine whose ephemeral range covers the band: the kernel's free ports are the best left.
    while (ports.size < count) ports.add(await freePort());
    return [...ports];
  }
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt > 2000) throw new StepError(`no ${count} free ports between ${STABLE_PORT_BAND.from} and ${STABLE_PORT_BAND.to}`, 'stop what listens there');
    const port = STABLE_PORT_BAND.from + Math.floor(Math.random() * (STABLE_PORT_BAND.to - STABLE_PORT_BAND.from));
    if (!ports.has(port) && (await portIsFree(port))) ports.add(port);
  }
  return [...ports];
}

function zookeeperInstalled(): boolean {
  return ZOOKEEPER_JARS.every((jar) => existsSync(jar));
}

function findJava(): string | null {
  return findExecutable(['java', '/usr/bin/java']);
}

function findClickHouseServer(): string | null {
  return findExecutable(['clickhouse-server', '/usr/bin/clickhouse-server', '/usr/sbin/clickhouse-server', 'clickhouse']);
}

/** Installs what is missing from Debian when we may (root on Debian); else says how. */
function ensureInstalled(): { java: string; clickhouse: string } {
  const missing: string[] = [];
  // Debian's zookeeper depends on a JRE, so installing it brings java too.
  if (!zookeeperInstalled()) missing.push('zookeeper');
  else if (!findJava()) missing.push('default-jre-headless');
  if (!findClickHouseServer()) missing.push('clickhouse-server', 'clickhouse-client');
  if (missing.length > 0 && isDebianRoot()) aptInstall(missing);
  const java = findJava();
  const clickhouse = findClickHouseServer();
  if (!zookeeperInstalled() || !java) {
    throw new StepError('ZooKeeper (and java) not found', `install it: sudo apt-get install -y --no-install-recommends zookeeper (needs ${ZOOKEEPER_JARS.join(', ')})`);
  }
  if (!clickhouse) throw new StepError('no ClickHouse server binary found', 'install it: sudo apt-get install -y clickhouse-server');
  return { java, clickhouse };
}

/**
 * spawnLogged, in a process group of its own: Ctrl-C signals the whole foreground group, and a
 * ZooKeeper that dies with the nodes leaves them waiting out their session (~7 s) before they exit.
 * Kept apart, it is stopped last, after the nodes.
 */
function spawnLoggedOutsideTerminalGroup(name: string, command: string, args: string[]): ChildProcess {
  const path = logPath(name);
  mkdirSync(dirname(path), { recursive: true });
  const log = createWriteStream(path, { flags: 'a' });
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

function writeZookeeperConfig(dir: string, clientPort: number): string {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const configPath = join(dir, 'zoo.cfg');
  writeFileSync(
    configPath,
    [
      'tickTime=1000',
      `dataDir=${dir}/data`,
      `clientPort=${clientPort}`,
      'clientPortAddress=127.0.0.1',
      // Else the admin server takes :8080.
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr',
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  return configPath;
}

/**
 * Same users as dev/clickhouse-server.ts (`default`, no password, local addresses only), plus a
 * short poll_interval: an idle native connection (peers pool them for Distributed queries) sees a
 * shutdown only when its poll ends, 10 s by default, and a graceful stop waits for it.
 */
function writeUsersConfig(dir: string): string {
  const usersPath = join(dir, 'users.xml');
  writeFileSync(
    usersPath,
    `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage><poll_interval>1</poll_interval></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`,
  );
  return usersPath;
}

function remoteServersXml(clusterName: string, nodes: readonly ClusterNode[]): string {
  const shards = Array.from({ length: SHARDS }, (_, shardIndex) => {
    const replicas = nodes
      .filter((node) => node.shard === shardIndex + 1)
      .map((node) => `<replica><host>127.0.0.1</host><port>${node.tcpPort}</port></replica>`)
      .join('');
    // internal_replication: the Distributed table writes one replica per shard; replication copies it.
    return `      <shard><internal_replication>true</internal_replication>${replicas}</shard>`;
  });
  return `  <remote_servers>\n    <${clusterName}>\n${shards.join('\n')}\n    </${clusterName}>\n  </remote_servers>`;
}

function writeNodeConfig(dir: string, node: ClusterNode, clusterName: string, nodes: readonly ClusterNode[], zookeeperPort: number): string {
  for (const sub of ['data', 'tmp', 'user_files', 'log']) mkdirSync(join(dir, sub), { recursive: true });
  const usersPath = writeUsersConfig(dir);
  const configPath = join(dir, 'config.xml');
  writeFileSync(
    configPath,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/error.log</errorlog><size>50M</size><count>2</count></logger>
  <http_port>${new URL(node.httpUrl).port}</http_port>
  <tcp_port>${node.tcpPort}</tcp_port>
  <interserver_http_port>${node.interserverPort}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <!-- A graceful stop waits for idle keep-alive connections (ours included) until they time out: keep that short. -->
  <keep_alive_timeout>1</keep_alive_timeout>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <users_config>${usersPath}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
${remoteServersXml(clusterName, nodes)}
  <zookeeper>
    <node><host>127.0.0.1</host><port>${zookeeperPort}</port></node>
    <session_timeout_ms>${ZOOKEEPER_SESSION_TIMEOUT_MS}</session_timeout_ms>
  </zookeeper>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
  <macros><cluster>${clusterName}</cluster><shard>${node.shard}</shard><replica>${node.name}</replica></macros>
</yandex>
`,
  );
  return configPath;
}

function planNodes(ports: number[]): ClusterNode[] {
  const nodes: ClusterNode[] = [];
  for (let shard = 1; shard <= SHARDS; shard++) {
    for (let replica = 1; replica <= REPLICAS_PER_SHARD; replica++) {
      const [httpPort, tcpPort, interserverPort] = ports.splice(0, 3);
      if (httpPort === undefined || tcpPort === undefined || interserverPort === undefined) throw new Error('not enough ports planned');
      nodes.push({ shard, replica, name: `s${shard}r${replica}`, httpUrl: `http://127.0.0.1:${httpPort}`, tcpPort, interserverPort });
    }
  }
  return nodes;
}

async function nodeSeesWholeCluster(node: ClusterNode, clusterName: string): Promise<boolean> {
  if ((await clickHouseHttpQuery(node.httpUrl, 'SELECT 1')) !== '1') return false;
  const hosts = await clickHouseHttpQuery(node.httpUrl, `SELECT count() FROM system.clusters WHERE cluster = '${clusterName}'`);
  return Number(hosts) === SHARDS * REPLICAS_PER_SHARD;
}

function assertQualifiedTable(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new TypeError(`expected db.table, not ${table}`);
  return table;
}

export async function startClickHouseCluster(options: ClusterOptions): Promise<RunningCluster> {
  const clusterName = assertClusterName(options.name ?? 'monfri');
  const dataDir = resolve(options.dataDir);
  const binaries = ensureInstalled();
  const [zookeeperPort, ...nodePorts] = await clusterPorts(1 + SHARDS * REPLICAS_PER_SHARD * 3);
  if (zookeeperPort === undefined) throw new Error('no port for ZooKeeper');
  const nodes = planNodes(nodePorts);
  const zookeeperDir = join(dataDir, 'zookeeper');
  const zookeeperConfig = writeZookeeperConfig(zookeeperDir, zookeeperPort);
  const nodeConfigs = nodes.map((node) => writeNodeConfig(join(dataDir, node.name), node, clusterName, nodes, zookeeperPort));

  const logName = (what: string): string => `clickhouse-cluster-${clusterName}-${what}`;
  const startedPids: number[] = [];
  const nodeChildren: (ChildProcess | null)[] = nodes.map(() => null);
  let zookeeper: ChildProcess | null = null;

  const track = (child: ChildProcess): ChildProcess => {
    if (child.pid !== undefined) startedPids.push(child.pid);
    return child;
  };
  const isRunning = (child: ChildProcess | null): child is ChildProcess => child !== null && child.exitCode === null && child.signalCode === null;
  const nodeAt = (index: number): ClusterNode => {
    const node = nodes[index];
    if (!node) throw new RangeError(`no cluster node ${index} (0..${nodes.length - 1})`);
    return node;
  };

  const startZookeeper = async (): Promise<void> => {
    const classPath = [zookeeperDir, ...ZOOKEEPER_JARS].join(':');
    const child = track(spawnLoggedOutsideTerminalGroup(logName('zookeeper'), binaries.java, ['-Xms64m', '-Xmx256m', '-cp', classPath, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', zookeeperConfig]));
    zookeeper = child;
    await waitFor('ZooKeeper', () => zookeeperServes(zookeeperPort), ZOOKEEPER_START_TIMEOUT_MS, child).catch((error: unknown) => {
      child.kill('SIGKILL');
      throw new StepError(`ZooKeeper did not start: ${errorMessage(error)}`, `see ${logPath(logName('zookeeper'))}`);
    });
  };

  const startNode = async (index: number): Promise<void> => {
    const node = nodeAt(index);
    if (isRunning(nodeChildren[index] ?? null)) return;
    const configPath = nodeConfigs[index] ?? '';
    const args = binaries.clickhouse.endsWith('clickhouse') ? ['server', `--config-file=${configPath}`] : [`--config-file=${configPath}`];
    const child = track(spawnLogged(logName(node.name), binaries.clickhouse, args));
    nodeChildren[index] = child;
    await waitFor(`ClickHouse ${node.name}`, () => nodeSeesWholeCluster(node, clusterName), NODE_START_TIMEOUT_MS, child).catch((error: unknown) => {
      // A node that never got its ZooKeeper session can hang at "Loading metadata" for good.
      child.kill('SIGKILL');
      throw new StepError(`ClickHouse node ${node.name} did not start: ${errorMessage(error)}`, `see ${logPath(logName(node.name))} and ${dataDir}/${node.name}/log/error.log`);
    });
  };

  const stopNode = async (index: number): Promise<void> => {
    nodeAt(index);
    const child = nodeChildren[index] ?? null;
    if (isRunning(child)) await stopChild(child, NODE_STOP_TIMEOUT_MS);
  };

  const killNode = async (index: number): Promise<void> => {
    nodeAt(index);
    const child = nodeChildren[index] ?? null;
    if (!isRunning(child)) return;
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    child.kill('SIGKILL');
    await exited;
  };

  // ZooKeeper sits outside our process group: should this process end without stop(), take every child along.
  const killEverythingOnExit = (): void => {
    for (const child of [zookeeper, ...nodeChildren]) if (isRunning(child)) child.kill('SIGKILL');
  };
  process.once('exit', killEverythingOnExit);

  const stop = async (): Promise<void> => {
    // Nodes first: a node whose ZooKeeper vanished retries its session while shutting down.
    await Promise.all(nodes.map((_, index) => stopNode(index)));
    if (isRunning(zookeeper)) await stopChild(zookeeper, NODE_STOP_TIMEOUT_MS);
    process.removeListener('exit', killEverythingOnExit);
  };

  try {
    await startZookeeper();
    await Promise.all(nodes.map((_, index) => startNode(index)));
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    name: clusterName,
    dataDir,
    zookeeper: { port: zookeeperPort },
    nodes,
    stopNode,
    killNode,
    startNode,
    isNodeRunning: (index) => {
      nodeAt(index);
      return isRunning(nodeChildren[index] ?? null);
    },
    waitForReplication: async (table, timeoutMs = 60_000) => {
      const running = nodes.filter((_, index) => isRunning(nodeChildren[index] ?? null));
      // SYNC REPLICA pulls the shared replication log, then waits until this replica's queue is empty.
      await Promise.all(running.map((node) => clickHouseHttpQuery(node.httpUrl, `SYSTEM SYNC REPLICA ${assertQualifiedTable(table)}`, timeoutMs)));
    },
    runningProcessIds: () => [zookeeper, ...nodeChildren].flatMap((child) => (isRunning(child) && child.pid !== undefined ? [child.pid] : [])),
    startedProcessIds: () => [...startedPids],
    stop,
  };
}

function describeCluster(cluster: RunningCluster): string {
  const lines = cluster.nodes.map(
    (node) => `  shard ${node.shard} replica ${node.replica} (${node.name}): ${node.httpUrl}  tcp ${node.tcpPort}  interserver ${node.interserverPort}`,
  );
  return [`ClickHouse cluster ${cluster.name} (2 shards x 2 replicas), ZooKeeper on 127.0.0.1:${cluster.zookeeper.port}, data in ${cluster.dataDir}`, ...lines].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: '.data/cluster' },
      name: { type: 'string', default: 'monfri' },
    },
  });
  logStep('starting ZooKeeper and 4 ClickHouse nodes');
  const cluster = await startClickHouseCluster({ dataDir: values.data, name: values.name }).catch((error: unknown) => {
    console.error(`clickhouse-cluster: ${errorMessage(error)}${error instanceof StepError ? `\n  fix: ${error.fix}` : ''}`);
    process.exit(1);
  });
  console.log(describeCluster(cluster));
  console.log('Ctrl-C stops it.');
  const shutdown = (): void => {
    cluster.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`clickhouse-cluster: shutdown failed: ${errorMessage(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
