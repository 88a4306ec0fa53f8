/**
 * Applies versioned ClickHouse migrations (schema/clickhouse/NNN_name.sql) once each,
 * recording them in `schema_migrations`. Statements must run on ClickHouse 18.16 and on
 * current releases, so this uses nothing but plain DDL over HTTP. In cluster mode
 * (CLICKHOUSE_CLUSTER) every statement is first rewritten by clickhouse-cluster-ddl.ts.
 */
import type { ClickHouseClient } from '@clickhouse/client-web';
import { CLUSTER_SHARDING_KEYS, clusterStatements, type ClusterStatement } from './clickhouse-cluster-ddl';
import { sql } from './sql';

/** Cluster mode: the cluster's name and a client for each of its nodes (session database = the migration database). */
export interface ClusterMigrationTarget {
  name: string;
  nodes: readonly ClickHouseClient[];
}

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

async function runStatement(client: ClickHouseClient, statement: string, settings: Readonly<Record<string, number>> = {}): Promise<void> {
  try {
    await client.command({ query: statement, clickhouse_settings: { ...settings } });
  } catch (error) {
    const addsColumns = /^ALTER\s+TABLE\b[\s\S]*\bADD\s+COLUMN\b/i.test(statement);
    if (!(addsColumns && COLUMN_EXISTS.test(error instanceof Error ? error.message : String(error)))) throw error;
  }
}

/** Runs one migration statement: as it is on one server, or as its cluster form on the nodes it names. */
function statementRunner(client: ClickHouseClient, database: string, cluster: ClusterMigrationTarget | undefined): (statement: string) => Promise<void> {
  if (!cluster) return (statement) => runStatement(client, statement);
  const options = { cluster: cluster.name, database, shardingKeys: CLUSTER_SHARDING_KEYS };
  const runOn = async (each: ClusterStatement): Promise<void> => {
    // ON CLUSTER statements go to one node (the distributed DDL queue runs them everywhere); the others to every node, in turn.
    for (const node of each.runOn === 'one-node' ? [client] : cluster.nodes) await runStatement(node, each.sql, each.settings);
  };
  return async (statement) => {
    for (const each of clusterStatements(statement, options)) await runOn(each);
  };
}

/**
 * `client` talks to one node (any, in cluster mode: the ledger is replicated to every node). The
 * database must exist on that node: the session names it.
 */
export async function applyClickHouseMigrations(client: ClickHouseClient, database: string, migrations: ClickHouseMigration[], options: { cluster?: ClusterMigrationTarget } = {}): Promise<ClickHouseMigration[]> {
  assertDatabaseName(database);
  const run = statementRunner(client, database, options.cluster);
  await run(`CREATE DATABASE IF NOT EXISTS ${database}`);
  await run(`CREATE TABLE IF NOT EXISTS ${database}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog`);
  const done = await appliedVersions(client);
  const applied: ClickHouseMigration[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(migration.version)) continue;
    for (const statement of splitStatements(migration.sql)) await run(statement);
    await client.command({
      query: sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, now())`,
    });
    applied.push(migration);
  }
  return applied;
}
