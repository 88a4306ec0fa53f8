/** Helpers for the pipeline e2e tests: read the real ClickHouse from Node, poll, post batches, a cuttable TCP proxy. */
import { spawnSync } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { z } from 'zod';
import { createClickHouse } from '../../lib/clickhouse';
import { countStoredQuery, queryRows, uint64 } from '../../lib/event-queries';
import { REPO_ROOT } from '../../dev/process';
import { sql } from '../../lib/sql';
import { testStackEnv } from '../support/stack-env';

/** A client for the test stack's ClickHouse, or for another engine of it (`url`, same database). */
export function clickHouseClient(url?: string) {
  const stack = testStackEnv();
  return createClickHouse(url === undefined ? stack : { ...stack, CLICKHOUSE_URL: url });
}

export async function selectRows<S extends z.ZodType>(query: string, schema: S, url?: string): Promise<z.output<S>[]> {
  const client = clickHouseClient(url);
  try {
    return await queryRows(client, query, schema);
  } finally {
    await client.close();
  }
}

export async function storedCounts(workspaceId: string, url?: string): Promise<{ events: number; rows: number }> {
  const [row] = await selectRows(countStoredQuery(workspaceId), z.object({ events: uint64, rows: uint64 }), url);
  return row ?? { events: 0, rows: 0 };
}

/** Raw rows (no FINAL, so duplicates not merged yet count) holding these messageIds. */
export async function rawRowsOf(workspaceId: string, messageIds: readonly string[], url?: string): Promise<number> {
  const [row] = await selectRows(sql`SELECT count() AS rows FROM events WHERE workspace_id = ${workspaceId} AND has(${messageIds}, message_id)`, z.object({ rows: uint64 }), url);
  return row?.rows ?? 0;
}

export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function postBatch(url: string, writeKey: string, batch: unknown[], extra: Record<string, unknown> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ batch, ...extra }),
  });
  return { status: response.status, body: await response.json() };
}

/**
 * A TCP proxy in front of the shared ClickHouse that a test can cut and restore, so the
 * Worker sees "ClickHouse unreachable" without stopping the server other people use.
 */
export class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Refuses new connections and kills the open ones (keep-alive included). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Opens a workspace's live feed (no back-fill) and appends every item of every `events` frame to `seen`. */
export async function openLiveFeed<T>(workerUrl: string, secretKey: string, seen: T[]): Promise<WebSocket> {
  const response = await fetch(`${workerUrl}/v1/live/ticket`, { method: 'POST', headers: { authorization: `Bearer ${secretKey}` } });
  const { ticket } = (await response.json()) as { ticket: string };
  const socket = new WebSocket(`${workerUrl.replace(/^http/, 'ws')}/v1/live?ticket=${encodeURIComponent(ticket)}&backfill=0`);
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string; items?: T[] };
    if (frame.type === 'events') seen.push(...(frame.items ?? []));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return socket;
}

/** `npm run admin -- ...` against a running Worker, as an operator: exit status, parsed stdout (or the text), stderr. */
export function adminCli(worker: { url: string; operatorToken: string }, ...args: string[]): { status: number | null; json: unknown; stderr: string } {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'dev', 'admin.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MONFRI_URL: worker.url, OPERATOR_TOKEN: worker.operatorToken },
  });
  let json: unknown = null;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    json = result.stdout;
  }
  return { status: result.status, json, stderr: result.stderr };
}
