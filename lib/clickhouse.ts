/** The one way Worker code talks to ClickHouse: an HTTP client built from env per call site. */
import { createClient, type ClickHouseClient } from '@clickhouse/client-web';

export interface ClickHouseConfig {
  CLICKHOUSE_URL: string;
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  CLICKHOUSE_DATABASE: string;
}

export function createClickHouse(config: ClickHouseConfig, options: { timeoutMs?: number } = {}): ClickHouseClient {
  return createClient({
    url: config.CLICKHOUSE_URL,
    username: config.CLICKHOUSE_USER || 'default',
    password: config.CLICKHOUSE_PASSWORD ?? '',
    database: config.CLICKHOUSE_DATABASE,
    request_timeout: options.timeoutMs ?? 10_000,
    // 18.16 rejects settings it does not know; the client adds none unless asked.
    clickhouse_settings: {},
  });
}

export type { ClickHouseClient };
