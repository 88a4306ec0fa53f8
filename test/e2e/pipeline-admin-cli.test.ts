/**
 * `npm run admin -- ...` against the real Worker: workspaces, keys, and re-driving events
 * from the Redis Stream mirror (written by the real edge) after they were dead-lettered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { freePort } from '../../dev/process';
import { testStackEnv } from '../support/stack-env';
import { startTestWorker, type TestWorker } from '../support/worker';
import { adminCli, CuttableProxy, eventually, postBatch, sleep, storedCounts } from './pipeline-support';

let worker: TestWorker;
let proxy: CuttableProxy;
beforeAll(async () => {
  proxy = new CuttableProxy(Number(new URL(testStackEnv().CLICKHOUSE_URL).port || 8123), await freePort());
  await proxy.open();
  worker = await startTestWorker({ CLICKHOUSE_URL: proxy.url, RETRY_BASE_SECONDS: '0' });
});
afterAll(async () => {
  await worker?.stop();
  await proxy?.cut();
});

const admin = (...args: string[]) => adminCli(worker, ...args);

it('manages workspaces and keys', () => {
  const created = admin('workspace', 'create', '--name', 'CLI Co', '--plan', 'growth');
  expect(created.status).toBe(0);
  const { workspace } = z.object({ workspace: z.object({ id: z.string(), plan: z.string() }) }).parse(created.json);
  expect(workspace.plan).toBe('growth');
  const listed = z.object({ workspaces: z.array(z.object({ id: z.string() })) }).parse(admin('workspace', 'list').json);
  expect(listed.workspaces.map((entry) => entry.id)).toContain(workspace.id);

  const key = z.object({ key: z.object({ id: z.string(), kind: z.string(), allowedOrigins: z.array(z.string()) }), secret: z.string() }).parse(
    admin('keys', 'create', '--workspace', workspace.id, '--kind', 'write', '--origins', 'https://a.test,https://b.test').json,
  );
  expect(key.key).toMatchObject({ kind: 'write', allowedOrigins: ['https://a.test', 'https://b.test'] });
  const keys = z.object({ keys: z.array(z.object({ id: z.string() })) }).parse(admin('keys', 'list', '--workspace', workspace.id).json);
  expect(keys.keys.map((entry) => entry.id)).toContain(key.key.id);
  const rotated = z.object({ key: z.object({ id: z.string() }), previous: z.object({ id: z.string() }) }).parse(admin('keys', 'rotate', key.key.id, '--grace', '60').json);
  expect(rotated.previous.id).toBe(key.key.id);
  const revoked = z.object({ key: z.object({ id: z.string(), revokedAt: z.string().nullable() }) }).parse(admin('keys', 'revoke', rotated.key.id).json);
  expect(revoked.key.revokedAt).not.toBeNull();

  const bad = admin('keys', 'create', '--workspace', workspace.id, '--kind', 'admin');
  expect(bad.status).toBe(2);
  expect(bad.stderr).toContain('--kind must be write or secret');
});

it('re-drives a time range from the Redis Stream mirror after an outage, then a DLQ replay adds nothing', async () => {
  const ws = await worker.createWorkspace('cli replay');
  const from = new Date(Date.now() - 1000).toISOString();
  await proxy.cut();
  const batch = Array.from({ length: 25 }, (_, index) => ({ type: 'track', messageId: `cli-${index}-${Date.now()}`, userId: `u${index}`, event: 'Replayed' }));
  expect((await postBatch(worker.url, ws.secretKey, batch)).status).toBe(200);
  // RETRY_BASE_SECONDS=0: the 10 retries run out quickly and the events land in the D1 dead-letter store.
  const pending = z.object({ deadLetters: z.array(z.unknown()) });
  await eventually(async () => pending.parse(admin('dlq', 'list', '--workspace', ws.workspaceId).json).deadLetters.length, (count) => count === 25, 60_000, 1000);
  await proxy.open();
  const to = new Date(Date.now() + 1000).toISOString();

  const replay = admin('replay', '--workspace', ws.workspaceId, '--from', from, '--to', to);
  expect(replay.status).toBe(0);
  expect(replay.json).toMatchObject({ replayed: 25, truncated: false });
  await eventually(() => storedCounts(ws.workspaceId), (counts) => counts.events === 25, 60_000, 300);

  expect(admin('dlq', 'replay', '--workspace', ws.workspaceId).json).toEqual({ replayed: { 'monfri-events': 25 }, total: 25 });
  await sleep(3000);
  expect(await storedCounts(ws.workspaceId)).toEqual({ events: 25, rows: 25 });
});
