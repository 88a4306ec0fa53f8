/**
 * Per-key ingestion quota: a request over the key's rate is refused with 429 and
 * Retry-After BEFORE anything of it is accepted (it runs right after authentication, before
 * the body is validated or queued), so a 2xx always means handed off and a 429 means
 * nothing was kept: the client retries the same body.
 *
 * Mechanism: the Workers Rate Limiting binding (INGEST_RATE_LIMIT in wrangler.toml), not
 * Redis counters. It answers from the Cloudflare location without a network round trip, so
 * the edge still never waits on Redis before answering, and it keeps working when Redis is
 * down. Its counters are per location and its windows fixed (limit per 10 s), which is right
 * for protecting the shared system, not for billing (usage metering is exact, in ClickHouse).
 * If the binding is missing or fails, the quota fails open: refusing data because the
 * limiter broke would turn a protection into an outage.
 */
import type { ResolvedKey } from '../../schema/control-plane';
import { REQUEST_REJECTIONS } from '../../schema/rejections';
import { ApiError } from '../errors';

/** The binding's window (wrangler.toml `period`): after it, a refused key has a fresh allowance. */
export const QUOTA_RETRY_AFTER_SECONDS = 10;

export async function assertWithinQuota(limiter: RateLimit | undefined, key: ResolvedKey): Promise<void> {
  if (!limiter) return;
  let allowed: boolean;
  try {
    allowed = (await limiter.limit({ key: key.keyId })).success;
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'ingest_quota_failed_open', error: error instanceof Error ? error.message : String(error) }));
    return;
  }
  if (!allowed) {
    throw new ApiError(429, 'rate_limited', REQUEST_REJECTIONS.rate_limited, { keyId: key.keyId, workspaceId: key.workspace.id }, { 'Retry-After': String(QUOTA_RETRY_AFTER_SECONDS) });
  }
}
