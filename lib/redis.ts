/** Redis over Upstash's REST protocol (real Upstash in production, dev/upstash-rest.ts locally). */
import { Redis } from '@upstash/redis/cloudflare';
import { withDeadline } from './deadline';

export interface RedisConfig {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

/**
 * Every Redis call is best effort, so a Redis that stops answering (the REST endpoint up, its
 * Redis gone) must not stall the caller: it gives up after this long and degrades. A race,
 * not an AbortSignal on the client: a signal on every request slowed workerd's fetches down.
 */
export const REDIS_CALL_TIMEOUT_MS = 2000;

export function withRedisDeadline<T>(call: Promise<T>): Promise<T> {
  return withDeadline(call, REDIS_CALL_TIMEOUT_MS, 'redis');
}

export function createRedis(config: RedisConfig): Redis {
  return new Redis({
    url: config.UPSTASH_REDIS_REST_URL,
    token: config.UPSTASH_REDIS_REST_TOKEN,
    // Values are our own JSON or plain strings; we parse them ourselves with zod.
    automaticDeserialization: false,
    enableTelemetry: false,
    retry: { retries: 2, backoff: (attempt) => 20 * 2 ** attempt },
  });
}

export type { Redis };
