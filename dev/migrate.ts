/** Node side of migrations: reads schema/clickhouse/*.sql and applies them to a ClickHouse URL. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClickHouse } from '../lib/clickhouse';
import { applyClickHouseMigrations, assertDatabaseName, parseMigrationFileName, type ClickHouseMigration } from '../lib/clickhouse-migrations';
import { REPO_ROOT } from './process';

export function readClickHouseMigrations(dir = join(REPO_ROOT, 'schema', 'clickhouse')): ClickHouseMigration[] {
  return readdirSync(dir)
    .flatMap((fileName) => {
      const parsed = parseMigrationFileName(fileName);
      return parsed ? [{ ...parsed, sql: readFileSync(join(dir, fileName), 'utf8') }] : [];
    })
    .sort((a, b) => a.version - b.version);
}

export async function migrateClickHouse(options: { url: string; database: string; user?: string; password?: string; dir?: string }): Promise<ClickHouseMigration[]> {
  const client = createClickHouse({
    CLICKHOUSE_URL: options.url,
    CLICKHOUSE_USER: options.user ?? 'default',
    CLICKHOUSE_PASSWORD: options.password ?? '',
    CLICKHOUSE_DATABASE: options.database,
  });
  // The database may not exist yet: run the bootstrap statements against `default`.
  const bootstrap = createClickHouse({ CLICKHOUSE_URL: options.url, CLICKHOUSE_USER: options.user ?? 'default', CLICKHOUSE_PASSWORD: options.password ?? '', CLICKHOUSE_DATABASE: 'default' });
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertDatabaseName(options.database)}` });
    return await applyClickHouseMigrations(client, options.database, readClickHouseMigrations(options.dir));
  } finally {
    await Promise.all([client.close(), bootstrap.close()]);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:18123';
  const database = process.env.CLICKHOUSE_DATABASE ?? 'monfri';
  const applied = await migrateClickHouse({ url, database, user: process.env.CLICKHOUSE_USER, password: process.env.CLICKHOUSE_PASSWORD });
  console.log(applied.length ? `applied ${applied.map((m) => `${m.version}_${m.name}`).join(', ')}` : 'ClickHouse schema up to date');
}
