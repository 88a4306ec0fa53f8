import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestWorker, type TestWorker } from '../support/worker';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startTestWorker();
});
afterAll(async () => {
  await worker?.stop();
});

it('wrangler dev serves /health with the real ClickHouse and Redis versions', async () => {
  const response = await fetch(`${worker.url}/health`);
  const body = (await response.json()) as { clickhouse: { version: string }; redis: { version: string } };
  expect(response.status).toBe(200);
  expect(body.clickhouse.version).toMatch(/^\d+\.\d+/);
  expect(body.redis.version).toMatch(/^\d+\.\d+/);
});

it('creates a workspace through the admin API and refuses an unknown key', async () => {
  const ws = await worker.createWorkspace('boot');
  expect(ws.writeKey).toMatch(/^wk_/);
  const refused = await fetch(`${worker.url}/admin/workspaces`, { headers: { authorization: 'Bearer sk_unknown' } });
  expect(refused.status).toBe(401);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invalid_key');
});
