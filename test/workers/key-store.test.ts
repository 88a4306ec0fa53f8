import { describe, expect, it } from 'vitest';
import { KeyStore } from '../../workers/auth/key-store';
import { createTestWorkspace, env } from './support';

/** Counts the D1 statements the key store prepares, around the real D1 binding. */
function countingDb(db: D1Database): { db: D1Database; lookups: () => number } {
  let count = 0;
  const proxy = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'prepare') {
        return (query: string) => {
          count++;
          return target.prepare(query);
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { db: proxy, lookups: () => count };
}

describe('KeyStore per-isolate cache', () => {
  it('serves repeated lookups from the cache within the TTL and goes back to D1 after it', async () => {
    const ws = await createTestWorkspace();
    const store = new KeyStore();
    const { db, lookups } = countingDb(env.DB);
    const t0 = 1_000_000;
    expect((await store.lookup(db, ws.writeKey, 30, t0)).status).toBe('valid');
    expect((await store.lookup(db, ws.writeKey, 30, t0 + 29_000)).status).toBe('valid');
    expect(lookups()).toBe(1);
    await store.lookup(db, ws.writeKey, 30, t0 + 31_000);
    expect(lookups()).toBe(2);
  });

  it('sees a revocation once the cached entry expires', async () => {
    const ws = await createTestWorkspace();
    const store = new KeyStore();
    const now = Date.now();
    expect((await store.lookup(env.DB, ws.secretKey, 10, now)).status).toBe('valid');
    await env.DB.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?').bind(new Date(now - 1000).toISOString(), ws.keyIds.secret).run();
    expect((await store.lookup(env.DB, ws.secretKey, 10, now + 5_000)).status).toBe('valid');
    expect((await store.lookup(env.DB, ws.secretKey, 10, now + 11_000)).status).toBe('revoked');
  });

  it('caches unknown keys only briefly (at most 5 s)', async () => {
    const store = new KeyStore();
    const { db, lookups } = countingDb(env.DB);
    const t0 = 2_000_000;
    expect((await store.lookup(db, 'wk_nope', 60, t0)).status).toBe('unknown');
    await store.lookup(db, 'wk_nope', 60, t0 + 4_000);
    expect(lookups()).toBe(1);
    await store.lookup(db, 'wk_nope', 60, t0 + 6_000);
    expect(lookups()).toBe(2);
  });
});
