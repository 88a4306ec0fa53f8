/**
 * Local Redis for dev and tests: use REDIS_URL if set, reuse one on 127.0.0.1:6379, else
 * start `redis-server` on a private port with its files under .data/redis.
 */
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { DATA_DIR, StepError, aptInstall, findExecutable, isDebianRoot, spawnLogged, stopChild, waitFor } from './process';

export interface RunningRedis {
  url: string;
  version: string;
  stop(): Promise<void>;
}

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const PRIVATE_REDIS_PORT = 16379;

/** Reads redis_version from INFO server over a raw socket (no client library needed). */
export async function redisVersion(url: string): Promise<string> {
  const { hostname, port, password } = new URL(url);
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
    let buffer = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      const match = /redis_version:([^\r\n]+)/.exec(buffer);
      if (match?.[1]) {
        resolve(match[1]);
        socket.end();
      } else if (buffer.startsWith('-')) {
        reject(new Error(buffer.trim()));
        socket.end();
      }
    });
    socket.write(`${password ? `AUTH ${decodeURIComponent(password)}\r\n` : ''}INFO server\r\n`);
  });
}

export async function ensureRedis(): Promise<RunningRedis> {
  const configured = process.env.REDIS_URL;
  const candidate = configured ?? DEFAULT_REDIS_URL;
  const version = await redisVersion(candidate).catch(() => null);
  if (version) return { url: candidate, version, stop: async () => {} };
  if (configured) throw new StepError(`REDIS_URL=${configured} does not answer`, 'start that Redis, or unset REDIS_URL to use a local one');

  const privateUrl = `redis://127.0.0.1:${PRIVATE_REDIS_PORT}`;
  const reused = await redisVersion(privateUrl).catch(() => null);
  if (reused) return { url: privateUrl, version: reused, stop: async () => {} };

  let binary = findExecutable(['redis-server', '/usr/bin/redis-server']);
  if (!binary && isDebianRoot()) {
    aptInstall(['redis-server']);
    binary = findExecutable(['redis-server', '/usr/bin/redis-server']);
  }
  if (!binary) throw new StepError('no redis-server found', 'install it (Debian: sudo apt-get install -y redis-server) or set REDIS_URL');
  const dir = join(DATA_DIR, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawnLogged('redis', binary, ['--bind', '127.0.0.1', '--port', String(PRIVATE_REDIS_PORT), '--dir', dir, '--save', '60 1', '--appendonly', 'no']);
  await waitFor('Redis', async () => (await redisVersion(privateUrl)).length > 0, 15_000, child);
  return { url: privateUrl, version: await redisVersion(privateUrl), stop: () => stopChild(child) };
}
