/**
 * Nothing accepted is lost, nothing is doubled, when ClickHouse is unreachable for the
 * Worker. The shared ClickHouse keeps running (others use it): the Worker reaches it
 * through a TCP proxy this test cuts and restores.
 * 1. Short outage: the consumer retries with exponential backoff and catches up.
 * 2. Outage longer than max_retries: messages go to monfri-events-dlq -> the D1 dead-letter
 *    store; `npm run admin -- dlq replay` re-drives them after ClickHouse is back.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { freePort, REPO_ROOT } from '../../dev/process';
import { testStackEnv } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { CuttableProxy, eventually, postBatch, sleep, storedCounts } from './pipeline-support';

const N = 60;
vi.setConfig({ testTimeout: 240_000 });
const running: TestWorker[] = [];
const proxies: CuttableProxy[] = [];
afterAll(async () => {
  for (const worker of running) await worker.stop();
  for (const proxy of proxies) await proxy.cut();
});

async function workerBehindProxy(vars: Record<string, string>): Promise<{ worker: TestWorker; proxy: CuttableProxy }> {
  const target = Number(new URL(testStackEnv().CLICKHOUSE_URL).port || 8123);
  const proxy = new CuttableProxy(target, await freePort());
  proxies.push(proxy);
  await proxy.open();
  const worker = await startTestWorker({ CLICKHOUSE_URL: proxy.url, ...vars });
  running.push(worker);
  return { worker, proxy };
}

async function sendEvents(worker: TestWorker, secretKey: string, label: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let start = 0; start < N; start += 10) {
    const batch = Array.from({ length: 10 }, (_, offset) => ({ type: 'track', messageId: `${label}-${start + offset}`, userId: `u-${offset}`, event: 'Fault Test', properties: { n: start + offset } }));
    statuses.push((await postBatch(worker.url, secretKey, batch)).status);
  }
  return statuses;
}

describe('ClickHouse unreachable', () => {
  it('short outage: every event answered 2xx, retried with backoff, exactly N rows after restore', async () => {
    const { worker, proxy } = await workerBehindProxy({ RETRY_BASE_SECONDS: '1' });
    const ws = await worker.createWorkspace('fault short');
    await proxy.cut();
    const statuses = await sendEvents(worker, ws.secretKey, `short-${Date.now()}`);
    expect(statuses).toEqual(Array.from({ length: N / 10 }, () => 200));
    await sleep(3000);
    expect((await storedCounts(ws.workspaceId)).rows).toBe(0);
    await proxy.open();
    // Backoff doubles per attempt (1, 2, 4, 8 ... s): on a loaded machine the last retries can be a minute out.
    await eventually(() => storedCounts(ws.workspaceId), (value) => value.events >= N, 150_000, 500);
    await sleep(3000);
    expect(await storedCounts(ws.workspaceId)).toEqual({ events: N, rows: N });
  });

  it('outage beyond max_retries: dead-lettered to D1, replayed with `npm run admin -- dlq replay`, exactly N rows', async () => {
    const { worker, proxy } = await workerBehindProxy({ RETRY_BASE_SECONDS: '0' });
    const ws = await worker.createWorkspace('fault long');
    await proxy.cut();
    const statuses = await sendEvents(worker, ws.secretKey, `long-${Date.now()}`);
    expect(statuses).toEqual(Array.from({ length: N / 10 }, () => 200));
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(REPO_ROOT, 'dev', 'admin.ts'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, MONFRI_URL: worker.url, OPERATOR_TOKEN: worker.operatorToken },
      });
    const pending = z.object({ deadLetters: z.array(z.object({ messageId: z.string(), reason: z.string() })) });
    const listed = await eventually(
      async () => pending.parse(JSON.parse(cli('dlq', 'list', '--workspace', ws.workspaceId).stdout || '{"deadLetters":[]}')),
      (value) => value.deadLetters.length >= N,
      90_000,
      1000,
    );
    expect(listed.deadLetters).toHaveLength(N);
    expect(new Set(listed.deadLetters.map((letter) => letter.reason))).toEqual(new Set(['retries_exhausted']));
    expect((await storedCounts(ws.workspaceId)).rows).toBe(0);

    await proxy.open();
    const replay = cli('dlq', 'replay', '--workspace', ws.workspaceId);
    expect(replay.status).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: { 'monfri-events': N }, total: N });
    await eventually(() => storedCounts(ws.workspaceId), (value) => value.events >= N, 60_000, 500);
    // A second replay finds nothing pending; a forced re-send would be dropped by dedup.
    expect(JSON.parse(cli('dlq', 'replay', '--workspace', ws.workspaceId).stdout)).toEqual({ replayed: {}, total: 0 });
    await sleep(2000);
    expect(await storedCounts(ws.workspaceId)).toEqual({ events: N, rows: N });
  });
});
