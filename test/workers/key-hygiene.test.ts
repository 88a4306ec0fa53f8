/**
 * Keys never appear in plain text in logs or storage: every path that handles a key (collect
 * with Basic, Bearer and body keys; refused, revoked and rotated keys; the query API; live
 * tickets; dashboard sign-in) runs while console output is captured, then the logs, D1, the
 * Redis Stream mirror and the ClickHouse rows are searched for every key used.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createRedis } from '../../lib/redis';
import { sql } from '../../lib/sql';
import { eventStreamKey } from '../../lib/stream';
import { basic, bearer, call, createTestWorkspace, env, eventually, OPERATOR } from './support';
import { selectRows, storedCounts } from './pipeline-support';

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;
let captured: string[] = [];

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.message} ${value.stack ?? ''}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

beforeEach(() => {
  captured = [];
  for (const method of CONSOLE_METHODS) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(args.map(text).join(' '));
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('key hygiene', () => {
  it('no key used on any path shows up in logs, D1, the stream mirror or ClickHouse', async () => {
    const ws = await createTestWorkspace('key-hygiene');
    const unknownWrite = `wk_${'u'.repeat(32)}`;
    const unknownSecret = `sk_${'v'.repeat(32)}`;
    const track = (event: string) => ({ type: 'track', event, userId: 'hygiene-user', properties: { n: 1 } });

    const accepted = [
      await call('/v1/track', { method: 'POST', headers: basic(ws.writeKey), json: track('Basic Write') }),
      await call('/v1/batch', { method: 'POST', headers: bearer(ws.secretKey), json: { batch: [track('Bearer Secret')] } }),
      await call('/v1/collect', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ writeKey: ws.writeKey, batch: [track('Body Write')] }) }),
    ];
    expect(accepted.map((response) => response.status)).toEqual([200, 200, 200]);

    const refused = [
      await call('/v1/track', { method: 'POST', headers: basic(unknownWrite), json: track('Unknown') }),
      await call('/v1/events', { headers: bearer(unknownSecret) }),
      await call('/v1/events', { headers: bearer(ws.writeKey) }),
      await call('/dashboard/session', { method: 'POST', json: { secretKey: unknownSecret } }),
    ];
    expect(refused.map((response) => response.status)).toEqual([401, 401, 403, 401]);

    expect((await call('/v1/events', { headers: bearer(ws.secretKey) })).status).toBe(200);
    expect((await call('/v1/live/ticket', { method: 'POST', headers: bearer(ws.secretKey) })).status).toBe(201);
    expect((await call('/dashboard/session', { method: 'POST', json: { secretKey: ws.secretKey } })).status).toBe(201);

    const rotated = await call(`/admin/keys/${ws.keyIds.write}/rotate`, { method: 'POST', headers: OPERATOR, json: {} });
    const newWriteKey = (await rotated.json<{ secret: string }>()).secret;
    expect(newWriteKey).toMatch(/^wk_/);
    const afterRotation = await call('/v1/track', { method: 'POST', headers: basic(ws.writeKey), json: track('Old Key') });
    expect(afterRotation.status).toBe(401);

    const counts = await eventually(() => storedCounts(ws.workspaceId), (value) => value.events >= 3);
    expect(counts.events).toBeGreaterThanOrEqual(3);

    const keys = [ws.writeKey, ws.secretKey, newWriteKey, unknownWrite, unknownSecret];
    // The captured logs are not empty (the pipeline logs every batch), so the search means something.
    expect(captured.some((line) => line.includes('pipeline_batch'))).toBe(true);
    const logs = captured.join('\n');
    const d1 = JSON.stringify(
      await Promise.all(['workspaces', 'api_keys', 'dead_letters'].map(async (table) => (await env.DB.prepare(`SELECT * FROM ${table}`).all()).results)),
    );
    const stream = JSON.stringify(await createRedis(env).xrange(eventStreamKey(ws.workspaceId), '-', '+'));
    expect(stream).toContain('Basic Write');
    const rows = JSON.stringify(await selectRows(sql`SELECT * FROM events WHERE workspace_id = ${ws.workspaceId}`, z.record(z.string(), z.unknown())));
    expect(rows).toContain('Bearer Secret');
    for (const key of keys) {
      expect(logs).not.toContain(key);
      expect(d1).not.toContain(key);
      expect(stream).not.toContain(key);
      expect(rows).not.toContain(key);
    }
  });
});
