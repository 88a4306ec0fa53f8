import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

/**
 * One test command, three projects:
 * - node:    unit tests and Node-side integration (dev stack, Upstash stand-in, SQL, SDK units)
 * - workers: tests inside workerd (Vitest Workers pool) against the real ClickHouse and Redis
 * - e2e:     the whole product over HTTP (wrangler dev / Miniflare) and real headless Chromium
 * `npm test` (dev/test.ts) starts the services and passes their addresses as MONFRI_TEST_*.
 */
const testEnv = (name: string, fallback: string): string => process.env[`MONFRI_TEST_${name}`] ?? fallback;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts', 'sdk/**/*.test.ts', 'lib/**/*.test.ts', 'dev/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              // A real limiter with a small allowance, for the quota test only (it passes it as INGEST_RATE_LIMIT).
              ratelimits: { TEST_SMALL_RATE_LIMIT: { namespace_id: '1802', simple: { limit: 5, period: 60 } } },
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations('schema/d1'),
                // Every ClickHouse engine npm test started ([{engine, url, version}]), for the tests that run the same SQL on each.
                TEST_CLICKHOUSE_ENGINES: testEnv('CLICKHOUSE_ENGINES', '[]'),
                CLICKHOUSE_URL: testEnv('CLICKHOUSE_URL', 'http://127.0.0.1:18123'),
                CLICKHOUSE_USER: testEnv('CLICKHOUSE_USER', 'default'),
                CLICKHOUSE_PASSWORD: testEnv('CLICKHOUSE_PASSWORD', ''),
                CLICKHOUSE_DATABASE: testEnv('CLICKHOUSE_DATABASE', 'monfri_test'),
                UPSTASH_REDIS_REST_URL: testEnv('UPSTASH_REDIS_REST_URL', 'http://127.0.0.1:18079'),
                UPSTASH_REDIS_REST_TOKEN: testEnv('UPSTASH_REDIS_REST_TOKEN', 'dev-token'),
                OPERATOR_TOKEN: 'test-operator-token',
                LIVE_TICKET_SECRET: 'test-live-ticket-secret',
                SESSION_SECRET: 'test-session-secret',
                KEY_CACHE_TTL_SECONDS: '0',
                RETRY_BASE_SECONDS: '0',
                // Settings and segments read fresh for every batch; a new segment's back-fill settles in a second.
                WORKSPACE_PROFILE_TTL_SECONDS: '0',
                SEGMENT_SETTLE_SECONDS: '1',
                WEBHOOK_SECRETS_KEY: 'test-webhook-secrets-key',
                // Receivers in the tests listen on 127.0.0.1.
                WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
              },
            },
          })),
        ],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
          setupFiles: ['test/workers/setup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // The e2e suites each start a Worker and sometimes a browser: one file at a time on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
