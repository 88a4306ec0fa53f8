/**
 * Redis configured but not answering. The test runs its own redis-server and Upstash REST
 * stand-in on free ports (the shared Redis on 6379 is left alone) and takes them down while
 * the Worker keeps ingesting:
 * 1. Redis up: a re-sent batch is dropped by the Redis dedup (no extra row lands).
 * 2. redis-server stopped, stand-in still up (its calls hang, then time out): every event
 *    is answered 2xx and stored; re-sent events now land as duplicate rows and the queries
 *    still count each messageId once; the degradation is logged and counted.
 * 3. The stand-in gone too (connection refused): the same.
 * 4. Both back: the Redis dedup works again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { freePort, logPath, stopChild, waitFor } from '../../dev/process';
import { redisVersion } from '../../dev/redis-server';
import { startUpstashRest, type UpstashRest } from '../../dev/upstash-rest';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually, postBatch, rawRowsOf, storedCounts } from './pipeline-support';

vi.setConfig({ testTimeout: 300_000 });

const TOKEN = 'redis-down-token';
const dataDir = mkdtempSync(join(tmpdir(), 'monfri-redis-down-'));
let redis: ChildProcess | null = null;
let rest: UpstashRest | null = null;
let worker: TestWorker | null = null;

afterAll(async () => {
  await worker?.stop();
  await rest?.close();
  if (redis) await stopChild(redis);
  rmSync(dataDir, { recursive: true, force: true });
});

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dataDir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor('private redis', async () => (await redisVersion(`redis://127.0.0.1:${port}`)).length > 0, 15_000, child);
  return child;
}

const events = (label: string, from: number, count: number) =>
  Array.from({ length: count }, (_, offset) => ({ type: 'track', messageId: `${label}-${from + offset}`, userId: `u-${(from + offset) % 7}`, event: 'Redis Down', properties: { n: from + offset } }));

/** Posts in batches of 10; returns every status. */
async function send(secretKey: string, batch: unknown[]): Promise<number[]> {
  const statuses: number[] = [];
  for (let start = 0; start < batch.length; start += 10) statuses.push((await postBatch(worker?.url ?? '', secretKey, batch.slice(start, start + 10))).status);
  return statuses;
}

/** Sends a marker after everything else and waits until it (and so every earlier batch, queued before it) is stored. */
async function settle(workspaceId: string, secretKey: string, marker: string, expectedEvents: number): Promise<{ events: number; rows: number }> {
  expect(await send(secretKey, [{ type: 'track', messageId: marker, userId: 'marker', event: 'Marker' }])).toEqual([200]);
  return await eventually(() => storedCounts(workspaceId), (value) => value.events >= expectedEvents, 150_000, 500);
}

const reportSchema = z.object({ msg: z.literal('pipeline_batch'), redisFailures: z.record(z.string(), z.number()).optional() });

/** The `pipeline_batch` reports and warnings the Worker logged (wrangler dev writes them to its log). */
function workerLog(port: number): { failures: Record<string, number>; warnings: string[] } {
  const lines = readFileSync(logPath(`wrangler-${port}`), 'utf8').split('\n');
  let failures: Record<string, number> = {};
  const warnings: string[] = [];
  for (const colored of lines) {
    // wrangler colours warnings; the JSON sits between its escape codes.
    const line = colored.replace(/\x1b\[[0-9;]*m/g, '');
    const start = line.indexOf('{');
    if (start < 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.slice(start));
    } catch {
      continue;
    }
    const report = reportSchema.safeParse(parsed);
    if (report.success && report.data.redisFailures) failures = report.data.redisFailures;
    const warning = z.object({ msg: z.string() }).or(z.object({ step: z.string() })).safeParse(parsed);
    if (warning.success) warnings.push('msg' in warning.data ? warning.data.msg : warning.data.step);
  }
  return { failures, warnings };
}

describe('Redis configured but down', () => {
  it('ingestion and storage continue, nothing is lost, queries stay exact, the degradation is logged and counted', async () => {
    const redisPort = await freePort();
    redis = await startRedis(redisPort);
    rest = await startUpstashRest({ port: await freePort(), redisUrl: `redis://127.0.0.1:${redisPort}`, token: TOKEN });
    const restPort = Number(new URL(rest.url).port);
    worker = await startTestWorker({ UPSTASH_REDIS_REST_URL: rest.url, UPSTASH_REDIS_REST_TOKEN: TOKEN });
    const ws = await worker.createWorkspace('redis down');
    const label = `rd-${Date.now()}`;

    // 1. Redis up: the re-sent half is a duplicate the Redis dedup drops before the insert.
    expect(await send(ws.secretKey, events(label, 0, 20))).toEqual([200, 200]);
    await eventually(() => storedCounts(ws.workspaceId), (value) => value.events >= 20, 120_000, 500);
    expect(await send(ws.secretKey, events(label, 0, 10))).toEqual([200]);
    expect(await settle(ws.workspaceId, ws.secretKey, `${label}-marker-1`, 21)).toEqual({ events: 21, rows: 21 });
    expect(workerLog(worker.port).failures).toEqual({});

    // 2. redis-server stopped: the stand-in still answers HTTP but its Redis calls hang until our timeout.
    await stopChild(redis);
    redis = null;
    const started = Date.now();
    expect(await send(ws.secretKey, [...events(label, 20, 20), ...events(label, 10, 10)])).toEqual([200, 200, 200]);
    expect(Date.now() - started).toBeLessThan(15_000);
    const stopped = await settle(ws.workspaceId, ws.secretKey, `${label}-marker-2`, 42);
    expect(stopped.events).toBe(42);
    expect(stopped.rows).toBeGreaterThanOrEqual(42);

    // 3. The stand-in gone as well: the port refuses connections.
    await rest.close();
    rest = null;
    expect(await send(ws.secretKey, [...events(label, 40, 20), ...events(label, 0, 10)])).toEqual([200, 200, 200]);
    const refused = await settle(ws.workspaceId, ws.secretKey, `${label}-marker-3`, 63);
    expect(refused.events).toBe(63);

    const during = workerLog(worker.port);
    expect(during.failures.dedup_read ?? 0).toBeGreaterThanOrEqual(2);
    expect(during.warnings).toContain('dedup_redis_unavailable');
    expect(during.warnings).toContain('batch_redis_writes_failed');
    expect(during.warnings).toContain('stream_mirror');

    // 4. Both back (same ports): the Redis dedup drops re-sent events again, so the raw rows stop growing.
    redis = await startRedis(redisPort);
    rest = await startUpstashRest({ port: restPort, redisUrl: `redis://127.0.0.1:${redisPort}`, token: TOKEN });
    const fresh = events(label, 60, 10);
    expect(await send(ws.secretKey, fresh)).toEqual([200]);
    await settle(ws.workspaceId, ws.secretKey, `${label}-marker-4`, 74);
    expect(await send(ws.secretKey, fresh)).toEqual([200]);
    expect((await settle(ws.workspaceId, ws.secretKey, `${label}-marker-5`, 75)).events).toBe(75);
    expect(await rawRowsOf(ws.workspaceId, fresh.map((event) => event.messageId))).toBe(10);
  });
});
