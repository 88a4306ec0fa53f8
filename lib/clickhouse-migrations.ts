/**
 * Applies versioned ClickHouse migrations (schema/clickhouse/NNN_name.sql) once each,
 * recording them in `schema_migrations`. Statements must run on ClickHouse 18.16 and on
 * current releases, so this uses nothing but plain DDL over HTTP.
 */
import type { ClickHouseClient } from '@clickhouse/client-web';
import { sql } from './sql';

export interface ClickHouseMigration {
  version: number;
  name: string;
  sql: string;
}

export function parseMigrationFileName(fileName: string): { version: number; name: string } | null {
  const match = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(fileName);
  if (!match?.[1] || !match[2]) return null;
  return { version: Number(match[1]), name: match[2] };
}

/** Splits a migration file into statements: `;` at a line end separates them; `--` lines are comments. */
export function splitStatements(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0);
}

export async function appliedVersions(client: ClickHouseClient): Promise<Set<number>> {
  const result = await client.query({ query: 'SELECT version FROM schema_migrations', format: 'JSONEachRow' });
  const rows = await result.json<{ version: number | string }>();
  return new Set(rows.map((row) => Number(row.version)));
}

/** Returns the migrations it applied (empty when everything was already applied). */
export function assertDatabaseName(database: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new TypeError(`bad database name: ${database}`);
  return database;
}

/**
 * ClickHouse has no `ADD COLUMN IF NOT EXISTS` on 18.16, and a migration is recorded only after
 * all its statements ran: a re-run after a later statement failed must not fail on the columns
 * it already added (18.16 answers Code 44, current releases Code 15, both with this text).
 */
const COLUMN_EXISTS = /column with this name already exists/;

async function runStatement(client: ClickHouseClient, statement: string): Promise<void> {
  try {
    await client.command({ query: statement });
  } catch (error) {
    const addsColumns = /^ALTER\s+TABLE\b[\s\S]*\bADD\s+COLUMN\b/i.test(statement);
    if (!(addsColumns && COLUMN_EXISTS.test(error instanceof Error ? error.message : String(error)))) throw error;
  }
}

export async function applyClickHouseMigrations(client: ClickHouseClient, database: string, migrations: ClickHouseMigration[]): Promise<ClickHouseMigration[]> {
  assertDatabaseName(database);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog`,
  });
  const done = await appliedVersions(client);
  const applied: ClickHouseMigration[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    for (const statement of splitStatements(migration.sql)) {
      await runStatement(client, statement);
    }
    await client.command({
      query: sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, now())`,
    });
    applied.push(migration);
  }
  return applied;
}
