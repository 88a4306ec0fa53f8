import { describe, expect, it } from 'vitest';
import {
  classifyDeliveryResult,
  DISABLE_AFTER_FAILING_MS,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  RETRY_BASE_DELAY_MS,
  RETRY_MAX_DELAY_MS,
  RETRY_MIN_DELAY_MS,
  RETRY_WINDOW_MS,
  retryDelayMs,
  shouldDisableEndpoint,
  type DeliveryContext,
  type DeliveryDecision,
  type DeliveryResult,
} from './retry';

const HOUR = 3_600_000;
const start = Date.UTC(2025, 0, 15, 12, 0, 0);
const maxJitter = () => 1;
const minJitter = () => 0;
const halfJitter = () => 0.5;

function response(status: number, retryAfter: string | null = null): DeliveryResult {
  return { kind: 'response', status, retryAfter };
}

function context(overrides: Partial<DeliveryContext> = {}): DeliveryContext {
  return { attempt: 1, firstAttemptAtMs: start, nowMs: start, random: halfJitter, ...overrides };
}

function retryDelayOf(decision: DeliveryDecision): number {
  if (decision.action !== 'retry') throw new Error(`expected a retry, got ${JSON.stringify(decision)}`);
  return decision.delayMs;
}

describe('policy constants', () => {
  it('are base 5 s, cap 6 h, window 24 h, Retry-After cap 6 h, disable after 5 days', () => {
    expect(RETRY_BASE_DELAY_MS).toBe(5_000);
    expect(RETRY_MAX_DELAY_MS).toBe(6 * HOUR);
    expect(RETRY_WINDOW_MS).toBe(24 * HOUR);
    expect(MAX_RETRY_AFTER_MS).toBe(6 * HOUR);
    expect(DISABLE_AFTER_FAILING_MS).toBe(5 * 24 * HOUR);
  });

  it('keep every delay within one Cloudflare Queues delaySeconds (12 h)', () => {
    expect(Math.max(RETRY_MAX_DELAY_MS, MAX_RETRY_AFTER_MS)).toBeLessThanOrEqual(12 * HOUR);
  });
});

describe('retryDelayMs', () => {
  it.each([1, 2, 3, 4, 10])('with max jitter, attempt %i waits base * 2^(attempt-1)', (attempt) => {
    expect(retryDelayMs(attempt, maxJitter)).toBe(RETRY_BASE_DELAY_MS * 2 ** (attempt - 1));
  });

  it('scales the window by random() (full jitter)', () => {
    expect(retryDelayMs(3, () => 0.25)).toBe(0.25 * RETRY_BASE_DELAY_MS * 4);
    expect(retryDelayMs(3, () => 0.75)).toBe(0.75 * RETRY_BASE_DELAY_MS * 4);
  });

  it('caps the window at 6 h from the first attempt whose doubling passes it, and beyond', () => {
    const firstCapped = Math.ceil(Math.log2(RETRY_MAX_DELAY_MS / RETRY_BASE_DELAY_MS)) + 1;
    expect(retryDelayMs(firstCapped - 1, maxJitter)).toBeLessThan(RETRY_MAX_DELAY_MS);
    expect(retryDelayMs(firstCapped, maxJitter)).toBe(RETRY_MAX_DELAY_MS);
    expect(retryDelayMs(2000, maxJitter)).toBe(RETRY_MAX_DELAY_MS);
  });

  it('never goes below the 1 s floor, even when random() draws 0', () => {
    expect(RETRY_MIN_DELAY_MS).toBe(1_000);
    expect(retryDelayMs(1, minJitter)).toBe(RETRY_MIN_DELAY_MS);
    expect(retryDelayMs(20, minJitter)).toBe(RETRY_MIN_DELAY_MS);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(retryDelayMs(7, () => 0.123456789))).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])('throws for attempt %s', (attempt) => {
    expect(() => retryDelayMs(attempt, halfJitter)).toThrow(RangeError);
  });

  it.each([-0.1, 1.1, Number.NaN])('throws when random() returns %s', (value) => {
    expect(() => retryDelayMs(1, () => value)).toThrow(RangeError);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 0, 15, 12, 0, 0);

  it.each([
    ['0', 0],
    ['1', 1_000],
    ['120', 120_000],
    [' 30 ', 30_000],
  ])('reads delay-seconds %j', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });

  it('caps delay-seconds at 6 h', () => {
    expect(parseRetryAfter(String(6 * 3600), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter(String(6 * 3600 + 1), now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('reads an IMF-fixdate in the future', () => {
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90_000);
  });

  it('reads the obsolete RFC 850 date form', () => {
    expect(parseRetryAfter('Wednesday, 15-Jan-25 12:02:00 GMT', now)).toBe(120_000);
  });

  it('reads the obsolete asctime date form', () => {
    expect(parseRetryAfter('Wed Jan 15 12:00:45 2025', now)).toBe(45_000);
    expect(parseRetryAfter('Sat Feb  1 12:00:30 2025', Date.UTC(2025, 1, 1, 12, 0, 0))).toBe(30_000);
  });

  it('turns a date in the past into 0', () => {
    expect(parseRetryAfter(new Date(now - 60_000).toUTCString(), now)).toBe(0);
  });

  it('caps a far-future date at 6 h', () => {
    expect(parseRetryAfter(new Date(now + 7 * 24 * HOUR).toUTCString(), now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it.each([
    ['absent', null],
    ['empty', ''],
    ['negative', '-5'],
    ['fractional', '1.5'],
    ['exponent', '1e3'],
    ['words', 'soon'],
    ['a free-form date Date.parse accepts', 'Jan 16 2025'],
    ['a loose date Date.parse accepts', '2025-01-15T12:05:00Z'],
    ['a day that does not exist', 'Fri, 30 Feb 2025 12:00:00 GMT'],
    ['an hour that does not exist', 'Wed, 15 Jan 2025 25:00:00 GMT'],
    ['a non-GMT zone', 'Wed, 15 Jan 2025 12:05:00 +0000'],
    ['a lower-case month', 'Wed, 15 jan 2025 12:05:00 GMT'],
  ])('returns null for %s', (_, header) => {
    expect(parseRetryAfter(header, now)).toBeNull();
  });
});

describe('classifyDeliveryResult', () => {
  it.each([200, 201, 202, 204, 299])('treats HTTP %i as delivered', (status) => {
    expect(classifyDeliveryResult(response(status), context())).toEqual({ action: 'delivered' });
  });

  it('treats a 2xx as delivered even after the retry window', () => {
    expect(classifyDeliveryResult(response(200), context({ attempt: 18, nowMs: start + 30 * HOUR }))).toEqual({ action: 'delivered' });
  });

  it('disables the endpoint at once on 410 Gone, on the first attempt and after the window', () => {
    expect(classifyDeliveryResult(response(410), context())).toMatchObject({ action: 'disable', reason: expect.stringContaining('410') });
    expect(classifyDeliveryResult(response(410), context({ attempt: 18, nowMs: start + 30 * HOUR }))).toMatchObject({ action: 'disable' });
  });

  it.each([301, 302, 303, 307, 308])('retries a %i redirect with backoff instead of following it', (status) => {
    const decision = classifyDeliveryResult(response(status), context({ attempt: 3, random: maxJitter }));
    expect(decision).toEqual({ action: 'retry', delayMs: retryDelayMs(3, maxJitter), reason: expect.stringContaining('not followed') });
  });

  it.each([100, 400, 401, 403, 404, 408, 413, 422, 500, 502, 504])('retries HTTP %i with backoff', (status) => {
    const decision = classifyDeliveryResult(response(status), context({ attempt: 4, random: halfJitter }));
    expect(decision).toEqual({ action: 'retry', delayMs: retryDelayMs(4, halfJitter), reason: `HTTP ${status}` });
  });

  it.each(['timeout after 15000 ms', 'ECONNREFUSED', 'TLS handshake failed'])('retries a transport error (%s) with backoff', (error) => {
    const decision = classifyDeliveryResult({ kind: 'error', error }, context({ attempt: 2, random: halfJitter }));
    expect(decision).toEqual({ action: 'retry', delayMs: retryDelayMs(2, halfJitter), reason: `request failed: ${error}` });
  });

  it.each([429, 503])('honours Retry-After in seconds on %i', (status) => {
    const decision = classifyDeliveryResult(response(status, '120'), context({ attempt: 1 }));
    expect(retryDelayOf(decision)).toBe(120_000);
    expect(decision).toMatchObject({ reason: expect.stringContaining('Retry-After: 120') });
  });

  it.each([429, 503])('honours Retry-After as an HTTP-date on %i', (status) => {
    const decision = classifyDeliveryResult(response(status, new Date(start + 10 * 60_000).toUTCString()), context({ attempt: 1 }));
    expect(retryDelayOf(decision)).toBe(10 * 60_000);
  });

  it.each([429, 503])('falls back to backoff on %i without a Retry-After', (status) => {
    expect(retryDelayOf(classifyDeliveryResult(response(status), context({ attempt: 5, random: maxJitter })))).toBe(retryDelayMs(5, maxJitter));
  });

  it.each([429, 503])('falls back to backoff on %i with an unreadable Retry-After', (status) => {
    expect(retryDelayOf(classifyDeliveryResult(response(status, 'later please'), context({ attempt: 5, random: maxJitter })))).toBe(retryDelayMs(5, maxJitter));
  });

  it('waits for the backoff when it is longer than Retry-After (so "Retry-After: 0" cannot cause a storm)', () => {
    expect(retryDelayOf(classifyDeliveryResult(response(429, '0'), context({ attempt: 6, random: maxJitter })))).toBe(retryDelayMs(6, maxJitter));
  });

  it('caps a huge Retry-After at 6 h', () => {
    expect(retryDelayOf(classifyDeliveryResult(response(503, '999999'), context()))).toBe(MAX_RETRY_AFTER_MS);
  });

  it('ignores Retry-After on statuses other than 429 and 503', () => {
    expect(retryDelayOf(classifyDeliveryResult(response(500, '3600'), context({ attempt: 1, random: maxJitter })))).toBe(retryDelayMs(1, maxJitter));
  });

  it('pulls the last backoff in so the final retry lands at the end of the 24 h window', () => {
    const nowMs = start + RETRY_WINDOW_MS - HOUR;
    expect(retryDelayOf(classifyDeliveryResult(response(500), context({ attempt: 16, nowMs, random: maxJitter })))).toBe(HOUR);
  });

  it('keeps the 1 s floor when the window ends sooner than that', () => {
    const nowMs = start + RETRY_WINDOW_MS - 10;
    expect(retryDelayOf(classifyDeliveryResult(response(500), context({ attempt: 16, nowMs, random: maxJitter })))).toBe(RETRY_MIN_DELAY_MS);
  });

  it('does not pull in a Retry-After that reaches past the window', () => {
    const nowMs = start + RETRY_WINDOW_MS - HOUR;
    expect(retryDelayOf(classifyDeliveryResult(response(503, String(2 * 3600)), context({ attempt: 16, nowMs })))).toBe(2 * HOUR);
  });

  it('retries 1 ms before the 24 h window closes and dead-letters exactly at it', () => {
    const before = classifyDeliveryResult(response(500), context({ attempt: 17, nowMs: start + RETRY_WINDOW_MS - 1 }));
    const at = classifyDeliveryResult(response(500), context({ attempt: 17, nowMs: start + RETRY_WINDOW_MS }));
    expect(before.action).toBe('retry');
    expect(at).toEqual({ action: 'dead_letter', reason: expect.stringContaining('HTTP 500') });
  });

  it.each<[string, DeliveryResult]>([
    ['a 3xx', response(302)],
    ['a 429 with Retry-After', response(429, '60')],
    ['a transport error', { kind: 'error', error: 'timeout' }],
  ])('dead-letters %s after the window, naming the attempts and the last failure', (_, result) => {
    const decision = classifyDeliveryResult(result, context({ attempt: 17, nowMs: start + RETRY_WINDOW_MS + 5 * HOUR }));
    expect(decision).toMatchObject({ action: 'dead_letter', reason: expect.stringMatching(/17 attempts.*last: /) });
  });

  it('throws for an attempt below 1', () => {
    expect(() => classifyDeliveryResult(response(200), context({ attempt: 0 }))).toThrow(RangeError);
  });
});

describe('a delivery that fails every time', () => {
  /** Replays attempts until the policy stops retrying; returns when and after how many attempts. */
  function simulateAlwaysFailing(random: () => number): { attempts: number; lastAttemptAtMs: number; decision: DeliveryDecision; retryTimesMs: number[] } {
    let nowMs = start;
    const retryTimesMs: number[] = [];
    // Bounded so a policy that stops advancing time fails the test instead of hanging it.
    for (let attempt = 1; attempt <= 1_000_000; attempt++) {
      const decision = classifyDeliveryResult(response(500), { attempt, firstAttemptAtMs: start, nowMs, random });
      if (decision.action !== 'retry') return { attempts: attempt, lastAttemptAtMs: nowMs, decision, retryTimesMs };
      nowMs += decision.delayMs;
      retryTimesMs.push(nowMs);
    }
    throw new Error('still retrying after 1,000,000 attempts');
  }

  it.each([
    ['max jitter', maxJitter],
    ['min jitter', minJitter],
  ])('with %s, keeps being retried for at least 24 h and is then dead-lettered', (_, random) => {
    const run = simulateAlwaysFailing(random);
    expect(run.decision.action).toBe('dead_letter');
    expect(run.lastAttemptAtMs - start).toBeGreaterThanOrEqual(RETRY_WINDOW_MS);
    expect(run.lastAttemptAtMs - start).toBeLessThanOrEqual(RETRY_WINDOW_MS + RETRY_MIN_DELAY_MS);
    const retriesBeforeWindowEnd = run.retryTimesMs.filter((at) => at < start + RETRY_WINDOW_MS);
    expect(retriesBeforeWindowEnd).toHaveLength(run.retryTimesMs.length - 1);
  });

  it('with max jitter, uses a modest number of attempts (under 20) across the day', () => {
    expect(simulateAlwaysFailing(maxJitter).attempts).toBeLessThan(20);
  });

  it('with max jitter, spaces consecutive retries by at most 6 h', () => {
    const { retryTimesMs } = simulateAlwaysFailing(maxJitter);
    const gaps = retryTimesMs.map((at, index) => at - (retryTimesMs[index - 1] ?? start));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(RETRY_MAX_DELAY_MS);
  });
});

describe('shouldDisableEndpoint', () => {
  it('does not disable an endpoint that is not failing', () => {
    expect(shouldDisableEndpoint(null, start)).toBe(false);
  });

  it('does not disable one failing for 1 ms under 5 days', () => {
    expect(shouldDisableEndpoint(start, start + DISABLE_AFTER_FAILING_MS - 1)).toBe(false);
  });

  it('disables one failing for exactly 5 days, and longer', () => {
    expect(shouldDisableEndpoint(start, start + DISABLE_AFTER_FAILING_MS)).toBe(true);
    expect(shouldDisableEndpoint(start, start + 30 * 24 * HOUR)).toBe(true);
  });

  it('does not disable one that started failing just now', () => {
    expect(shouldDisableEndpoint(start, start)).toBe(false);
  });
});
