/**
 * Per-key ingestion quota (workers/collect/quota.ts): over the rate, a request gets 429 with
 * Retry-After before anything of it is accepted. The limiter is a real Rate Limiting binding
 * with a small allowance (5 per minute, declared in vitest.config.ts) passed as
 * INGEST_RATE_LIMIT; the fixed window may roll over once during the test, so the 429 must
 * come within 2 x 5 + 1 requests.
 */
import { createExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sql } from '../../lib/sql';
import { createApp } from '../../workers/app';
import { QUOTA_RETRY_AFTER_SECONDS } from '../../workers/collect/quota';
import { basic, createTestWorkspace, env, eventually } from './support';
import { selectRows } from './pipeline-support';

const ALLOWANCE = 5;

async function post(app: ReturnType<typeof createApp>, limiter: RateLimit, key: string, messageId: string): Promise<Response> {
  const request = new Request('http://monfri.test/v1/track', {
    method: 'POST',
    headers: { ...basic(key), 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'Quota', userId: 'u1', messageId }),
  });
  return app.fetch(request, { ...env, INGEST_RATE_LIMIT: limiter }, createExecutionContext());
}

async function storedIds(workspaceId: string): Promise<string[]> {
  const rows = await selectRows(sql`SELECT message_id FROM events FINAL WHERE workspace_id = ${workspaceId} ORDER BY message_id`, z.object({ message_id: z.string() }));
  return rows.map((row) => row.message_id);
}

describe('per-key ingestion quota', () => {
  it('over the rate: 429 with Retry-After, nothing of the refused request stored; other keys unaffected', async () => {
    const ws = await createTestWorkspace('quota');
    const other = await createTestWorkspace('quota other');
    const app = createApp();
    const accepted: string[] = [];
    let refused: { messageId: string; response: Response } | null = null;
    for (let index = 0; index < 2 * ALLOWANCE + 1 && !refused; index++) {
      const messageId = `quota-${index}`;
      const response = await post(app, env.TEST_SMALL_RATE_LIMIT, ws.writeKey, messageId);
      if (response.status === 429) refused = { messageId, response };
      else {
        expect(response.status).toBe(200);
        accepted.push(messageId);
      }
    }
    if (!refused) throw new Error(`no 429 within ${2 * ALLOWANCE + 1} requests`);
    expect(accepted.length).toBeGreaterThanOrEqual(ALLOWANCE);
    expect(refused.response.headers.get('retry-after')).toBe(String(QUOTA_RETRY_AFTER_SECONDS));
    expect((await refused.response.json<{ error: { code: string } }>()).error.code).toBe('rate_limited');

    // The quota is per key: the same workspace's secret key and another workspace's key still get through.
    expect((await post(app, env.TEST_SMALL_RATE_LIMIT, other.writeKey, 'other-1')).status).toBe(200);
    expect((await post(app, env.TEST_SMALL_RATE_LIMIT, ws.secretKey, 'marker')).status).toBe(200);

    // Sent after the refused request: once it is stored, everything queued before it is too.
    const stored = await eventually(() => storedIds(ws.workspaceId), (ids) => ids.includes('marker') && ids.length > accepted.length, 30_000);
    expect(stored).toEqual([...accepted, 'marker'].sort());
  }, 60_000);

  it('a limiter that fails lets requests through (fails open) instead of refusing data', async () => {
    const ws = await createTestWorkspace('quota fails open');
    const broken: RateLimit = { limit: () => Promise.reject(new Error('rate limiter unavailable')) };
    expect((await post(createApp(), broken, ws.writeKey, 'open-1')).status).toBe(200);
  });
});
