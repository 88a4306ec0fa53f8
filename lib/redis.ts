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

/**
 * Clients by endpoint, per isolate: a client holds only its URL, token and options (every
 * command is its own fetch in the calling request), and building one costs more than the
 * single XADD a one-event collect request sends.
 */
const clients = new Map<string, Redis>();
const MAX_CLIENTS = 16;

export function createRedis(config: RedisConfig): Redis {
  const key = `${config.UPSTASH_REDIS_REST_URL}\n${config.UPSTASH_REDIS_REST_TOKEN}`;
  let client = clients.get(key);
  if (!client) {
    if (clients.size >= MAX_CLIENTS) clients.clear();
    client = newClient(config);
    clients.set(key, client);
  }
  return client;
}

function newClient(config: RedisConfig): Redis {
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

const PIPELINE_RETRIES = 2;

/**
 * Sends commands as one request to Upstash's REST `/pipeline`, without a client: for the
 * edge's hot path (the stream mirror), where the client's command objects and reply decoding
 * cost more than the request itself. Network failures are retried like the client does;
 * a refused request or a failed command throws with Upstash's reason (never the commands).
 */
export async function sendPipeline(config: RedisConfig, commands: readonly (readonly string[])[]): Promise<void> {
  const init: RequestInit = { method: 'POST', headers: { authorization: `Bearer ${config.UPSTASH_REDIS_REST_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(commands) };
  const url = `${config.UPSTASH_REDIS_REST_URL.replace(/\/+$/, '')}/pipeline`;
  let response: Response | undefined;
  for (let attempt = 0; !response; attempt++) {
    try {
      response = await fetch(url, init);
    } catch (error) {
      if (attempt >= PIPELINE_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
    }
  }
  const text = await response.text();
  const reason = (value: unknown): string | null => (typeof value === 'object' && value !== null && 'error' in value && typeof value.error === 'string' ? value.error : null);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) throw new Error(`Upstash answered ${response.status}: ${reason(body) ?? text.slice(0, 200)}`);
  const failed = Array.isArray(body) ? body.map(reason).find((error) => error !== null) : 'not a pipeline answer';
  if (failed) throw new Error(`Upstash pipeline command failed: ${failed}`);
}
