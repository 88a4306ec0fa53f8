import type { D1Migration } from 'cloudflare:test';

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      TEST_CLICKHOUSE_ENGINES: string;
      TEST_SMALL_RATE_LIMIT: RateLimit;
    }
  }
}
