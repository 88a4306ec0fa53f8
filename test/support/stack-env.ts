import { z } from 'zod';

export interface TestStackEnv {
  [name: string]: string;
  CLICKHOUSE_URL: string;
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  CLICKHOUSE_DATABASE: string;
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

/** The service addresses `npm test` (dev/test.ts) passes to the test projects. */
export function testStackEnv(): TestStackEnv {
  const get = (name: string, fallback: string): string => process.env[`MONFRI_TEST_${name}`] ?? fallback;
  return {
    CLICKHOUSE_URL: get('CLICKHOUSE_URL', 'http://127.0.0.1:18123'),
    CLICKHOUSE_USER: get('CLICKHOUSE_USER', 'default'),
    CLICKHOUSE_PASSWORD: get('CLICKHOUSE_PASSWORD', ''),
    CLICKHOUSE_DATABASE: get('CLICKHOUSE_DATABASE', 'monfri_test'),
    UPSTASH_REDIS_REST_URL: get('UPSTASH_REDIS_REST_URL', 'http://127.0.0.1:18079'),
    UPSTASH_REDIS_REST_TOKEN: get('UPSTASH_REDIS_REST_TOKEN', 'dev-token'),
  };
}

export const TEST_OPERATOR_TOKEN = 'test-operator-token';

/** One ClickHouse engine of the test stack: the Worker's and the other one, migrated alike. */
export const testClickHouseEngineSchema = z.object({ engine: z.enum(['server', 'current']), url: z.string(), version: z.string() });
export type TestClickHouseEngine = z.output<typeof testClickHouseEngineSchema>;

/** Every ClickHouse engine `npm test` started (dev/test.ts), the Worker's first. */
export function testClickHouseEngines(): TestClickHouseEngine[] {
  const raw = process.env.MONFRI_TEST_CLICKHOUSE_ENGINES;
  if (!raw) throw new Error('MONFRI_TEST_CLICKHOUSE_ENGINES is not set: run the tests with `npm test`, which starts both engines');
  return z.array(testClickHouseEngineSchema).parse(JSON.parse(raw));
}
