import { describe, expect, it } from 'vitest';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, parseRetryAfter, RETRY_AFTER_MAX_MS, retryDelay } from './backoff';

const now = Date.parse('2026-03-01T12:00:00Z');

describe('retry delay', () => {
  it('doubles per attempt between half and all of the ceiling (equal jitter)', () => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const ceiling = BACKOFF_BASE_MS * 2 ** (attempt - 1);
      expect(retryDelay(attempt, null, () => 0)).toBe(ceiling / 2);
      expect(retryDelay(attempt, null, () => 0.999999)).toBeCloseTo(ceiling, -1);
    }
  });

  it('spreads clients that fail together', () => {
    const delays = new Set([0.1, 0.4, 0.7, 0.9].map((random) => retryDelay(3, null, () => random)));
    expect(delays.size).toBe(4);
  });

  it('is capped at the maximum however many attempts failed', () => {
    expect(retryDelay(40, null, () => 1)).toBe(BACKOFF_MAX_MS);
    expect(retryDelay(40, null, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });

  it('never retries sooner than Retry-After', () => {
    expect(retryDelay(1, 30_000, () => 0.5)).toBe(30_000);
    expect(retryDelay(10, 1_000, () => 0)).toBe(BACKOFF_MAX_MS / 2);
  });
});

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(new Date(now + 12_000).toUTCString(), now)).toBe(12_000);
  });

  it('ignores missing or garbage values, clamps past dates to 0 and caps long waits', () => {
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(new Date(now - 5000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter('86400', now)).toBe(RETRY_AFTER_MAX_MS);
  });
});
