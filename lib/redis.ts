/** Redis over Upstash's REST protocol (real Upstash in production, dev/upstash-rest.ts locally). */
import { Redis } from '@upstash/redis/cloudflare';

export interface RedisConfig {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
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
