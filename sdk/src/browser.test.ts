import { afterEach, describe, expect, it, vi } from 'vitest';
import { uuid } from './browser';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('messageId', () => {
  it('uses crypto.randomUUID when there is one', () => {
    vi.stubGlobal('crypto', { randomUUID: () => '11111111-2222-4333-8444-555555555555' });
    expect(uuid()).toBe('11111111-2222-4333-8444-555555555555');
  });

  it('falls back to a well-formed, distinct v4 uuid without it (non-secure contexts)', () => {
    vi.stubGlobal('crypto', undefined);
    const ids = Array.from({ length: 500 }, () => uuid());
    for (const id of ids) expect(id).toMatch(V4);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
