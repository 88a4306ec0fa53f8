/** Retry timing: exponential backoff with jitter, never sooner than the server's Retry-After. */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;
/** A Retry-After longer than this is capped: a misconfigured proxy must not park events for days. */
export const RETRY_AFTER_MAX_MS = 10 * 60 * 1000;

/** Milliseconds a Retry-After header asks for (delta-seconds or HTTP date), or null. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | null {
  if (!header) return null;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS) : null;
}

/**
 * Delay before retry number `attempt` (1-based): half fixed, half random ("equal jitter"), so
 * many clients failing together spread out but none retries immediately.
 */
export function retryDelay(attempt: number, retryAfterMs: number | null, random: () => number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + (ceiling / 2) * random();
  return Math.max(jittered, retryAfterMs ?? 0);
}
