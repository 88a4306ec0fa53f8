/**
 * Webhook retry policy, pure: every time comes in as epoch milliseconds and randomness as
 * a function, so the consumer decides what "now" is and tests can pin both.
 *
 * Like Stripe and Svix: any non-2xx answer (redirects included: they are never followed,
 * so a redirect cannot lead past the SSRF guard) or transport error is retried with
 * exponential backoff and full jitter for at least 24 hours, then dead-lettered where it
 * can be replayed. 410 Gone disables the endpoint at once; an endpoint failing for 5 days
 * without a single success is disabled too. Every delay fits in one Cloudflare Queues
 * `delaySeconds` (at most 12 h).
 */

export const RETRY_BASE_DELAY_MS = 5_000;
export const RETRY_MAX_DELAY_MS = 6 * 60 * 60 * 1000;
/**
 * Floor under the jittered delay. Pure full jitter can draw 0 every time; with no floor, time
 * would never advance and the 24 h window would never close.
 */
export const RETRY_MIN_DELAY_MS = 1_000;
export const RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;
export const MAX_RETRY_AFTER_MS = 6 * 60 * 60 * 1000;
export const DISABLE_AFTER_FAILING_MS = 5 * 24 * 60 * 60 * 1000;

export type DeliveryResult = { kind: 'response'; status: number; retryAfter: string | null } | { kind: 'error'; error: string };

export interface DeliveryContext {
  /** 1 for the first try; the attempt whose result is being classified. */
  attempt: number;
  firstAttemptAtMs: number;
  nowMs: number;
  /** Uniform in [0, 1), like Math.random. */
  random: () => number;
}

export type DeliveryDecision =
  | { action: 'delivered' }
  | { action: 'retry'; delayMs: number; reason: string }
  | { action: 'dead_letter'; reason: string }
  | { action: 'disable'; reason: string };

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: recipients must accept all three HTTP-date formats.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
const RFC_850_DATE = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-(${MONTH})-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${MONTH}) ( \\d|\\d{2}) ${TIME} (\\d{4})$`);
const DELAY_SECONDS = /^\d+$/;

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], floored at RETRY_MIN_DELAY_MS. */
export function retryDelayMs(attempt: number, random: () => number): number {
  assertAttempt(attempt);
  const ceiling = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** (attempt - 1));
  return Math.max(RETRY_MIN_DELAY_MS, Math.round(drawJitter(random) * ceiling));
}

/** A Retry-After header (delay-seconds or HTTP-date) as a delay in ms, at most MAX_RETRY_AFTER_MS; null if absent or unreadable. */
export function parseRetryAfter(header: string | null, nowMs: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (DELAY_SECONDS.test(value)) return Math.min(MAX_RETRY_AFTER_MS, Number(value) * 1000);
  const dateMs = parseHttpDate(value, nowMs);
  if (dateMs === null) return null;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, dateMs - nowMs));
}

export function classifyDeliveryResult(result: DeliveryResult, context: DeliveryContext): DeliveryDecision {
  assertAttempt(context.attempt);
  if (result.kind === 'response' && isSuccessStatus(result.status)) return { action: 'delivered' };
  if (result.kind === 'response' && result.status === 410) {
    return { action: 'disable', reason: 'HTTP 410 Gone: the receiver says this endpoint no longer exists' };
  }
  const reason = failureReason(result);
  if (context.nowMs - context.firstAttemptAtMs >= RETRY_WINDOW_MS) {
    return { action: 'dead_letter', reason: `still failing after ${context.attempt} attempts over the ${RETRY_WINDOW_MS / 3_600_000} h retry window; last: ${reason}` };
  }
  return { action: 'retry', delayMs: nextDelayMs(result, context), reason };
}

/** True once an endpoint has failed without a single success for DISABLE_AFTER_FAILING_MS. */
export function shouldDisableEndpoint(failingSinceMs: number | null, nowMs: number): boolean {
  return failingSinceMs !== null && nowMs - failingSinceMs >= DISABLE_AFTER_FAILING_MS;
}

function nextDelayMs(result: DeliveryResult, context: DeliveryContext): number {
  // Pulled in to the window's end so the last retry lands at 24 h, not up to 6 h beyond it.
  const untilWindowEndMs = context.firstAttemptAtMs + RETRY_WINDOW_MS - context.nowMs;
  const backoffMs = Math.max(RETRY_MIN_DELAY_MS, Math.min(retryDelayMs(context.attempt, context.random), untilWindowEndMs));
  const retryAfterMs = honoursRetryAfter(result) ? parseRetryAfter(result.retryAfter, context.nowMs) : null;
  // Never sooner than the receiver asked, and never faster than our own backoff:
  // "Retry-After: 0" answered forever must not become a retry storm.
  return retryAfterMs === null ? backoffMs : Math.max(retryAfterMs, backoffMs);
}

function honoursRetryAfter(result: DeliveryResult): result is Extract<DeliveryResult, { kind: 'response' }> {
  return result.kind === 'response' && (result.status === 429 || result.status === 503);
}

function isSuccessStatus(status: number): boolean {
  return status >= 200 && status <= 299;
}

function failureReason(result: DeliveryResult): string {
  if (result.kind === 'error') return `request failed: ${result.error}`;
  if (result.status >= 300 && result.status <= 399) return `HTTP ${result.status} redirect (redirects are not followed)`;
  if (honoursRetryAfter(result) && result.retryAfter !== null) return `HTTP ${result.status} (Retry-After: ${result.retryAfter})`;
  return `HTTP ${result.status}`;
}

function assertAttempt(attempt: number): void {
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a whole number from 1, got ${attempt}`);
}

function drawJitter(random: () => number): number {
  const value = random();
  if (!(value >= 0 && value <= 1)) throw new RangeError(`random() must return a number in [0, 1], got ${value}`);
  return value;
}

function parseHttpDate(value: string, nowMs: number): number | null {
  const imf = IMF_FIXDATE.exec(value);
  if (imf) return utcMs(Number(imf[3]), imf[2], Number(imf[1]), imf.slice(4, 7));
  const rfc850 = RFC_850_DATE.exec(value);
  if (rfc850) return utcMs(fullYearFromTwoDigits(Number(rfc850[3]), nowMs), rfc850[2], Number(rfc850[1]), rfc850.slice(4, 7));
  const asctime = ASCTIME_DATE.exec(value);
  if (asctime) return utcMs(Number(asctime[6]), asctime[1], Number(asctime[2]), asctime.slice(3, 6));
  return null;
}

/** RFC 9110: a two-digit year more than 50 years ahead means the most recent past year with those digits. */
function fullYearFromTwoDigits(twoDigits: number, nowMs: number): number {
  const currentYear = new Date(nowMs).getUTCFullYear();
  const candidate = Math.floor(currentYear / 100) * 100 + twoDigits;
  return candidate > currentYear + 50 ? candidate - 100 : candidate;
}

/** Epoch ms for the parts, or null when they name no real instant (Feb 30, 25:00). */
function utcMs(year: number, monthName: string | undefined, day: number, time: readonly (string | undefined)[]): number | null {
  const month = MONTHS.indexOf(monthName ?? '');
  const [hours, minutes, seconds] = time.map(Number);
  if (month < 0 || hours === undefined || minutes === undefined || seconds === undefined) return null;
  if (hours > 23 || minutes > 59 || seconds > 59) return null;
  const date = new Date(Date.UTC(year, month, day, hours, minutes, seconds));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month && date.getUTCDate() === day ? date.getTime() : null;
}
