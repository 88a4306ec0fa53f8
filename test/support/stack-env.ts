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

/**
 * One ClickHouse of the test stack, migrated alike: the Worker's engine, the other one, and the
 * local cluster (`cluster`: 2 shards x 2 replicas of 18.16, migrated in cluster mode; `url` is
 * its first node, `cluster.nodeUrls` all four).
 */
export const testClickHouseEngineSchema = z.object({
  engine: z.enum(['server', 'current', 'cluster']),
  url: z.string(),
  version: z.string(),
  cluster: z.object({ name: z.string(), nodeUrls: z.array(z.string()) }).optional(),
});
export type TestClickHouseEngine = z.output<typeof testClickHouseEngineSchema>;

/** Every ClickHouse `npm test` started (dev/test.ts), the Worker's first, the cluster last. */
export function testClickHouseTargets(): TestClickHouseEngine[] {
  const raw = process.env.MONFRI_TEST_CLICKHOUSE_ENGINES;
  if (!raw) throw new Error('MONFRI_TEST_CLICKHOUSE_ENGINES is not set: run the tests with `npm test`, which starts both engines and the cluster');
  return z.array(testClickHouseEngineSchema).parse(JSON.parse(raw));
}

/** The single-server engines only (18.16 and the current one). */
export function testClickHouseEngines(): TestClickHouseEngine[] {
  return testClickHouseTargets().filter((target) => target.engine !== 'cluster');
}

/** The Worker vars that point a test Worker at one target (cluster mode for the cluster). */
export function workerVarsFor(target: TestClickHouseEngine): Record<string, string> {
  return { CLICKHOUSE_URL: target.url, CLICKHOUSE_CLUSTER: target.cluster?.name ?? '' };
}
