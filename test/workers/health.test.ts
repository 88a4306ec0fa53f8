import { expect, it } from 'vitest';
import { call } from './support';

it('GET /health reports the versions of the real ClickHouse and Redis it reaches', async () => {
  const response = await call('/health');
  const body = await response.json<{ status: string; clickhouse: { ok: boolean; version: string }; redis: { ok: boolean; version: string } }>();
  expect(body.clickhouse).toMatchObject({ ok: true });
  expect(body.clickhouse.version).toMatch(/^\d+\.\d+/);
  expect(body.redis).toMatchObject({ ok: true });
  expect(body.redis.version).toMatch(/^\d+\.\d+/);
  expect(response.status).toBe(200);
});
