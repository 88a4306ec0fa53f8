/**
 * ClickHouse SQL for privacy: deleting a person, and retention by month partitions.
 *
 * Deletes are mutations (`ALTER TABLE ... DELETE WHERE`): ClickHouse 18.16 has no lightweight
 * `DELETE FROM`, and mutations run on every release since. A mutation rewrites the parts that
 * hold matching rows in the background; `system.mutations.is_done` says when it has. Each
 * statement carries the job id as an always-true condition (`notEmpty('<job id>')`), so the
 * job finds its own mutations in `system.mutations.command` and waits for exactly those.
 *
 * Cluster mode (CLICKHOUSE_CLUSTER): tables are `<name>_local` (Replicated*MergeTree) behind a
 * `Distributed` table of the same name (lib/clickhouse-cluster-ddl.ts). 18.16 refuses ALTER on
 * a Distributed table, so mutations and partition drops go `ON CLUSTER` to the local tables:
 * the distributed DDL queue runs them on every shard, replication takes them to each replica.
 * Their progress is read from every node (`remote()` over the cluster's addresses).
 *
 * Not in these builders, on purpose: the schema-discovery aggregates (`schema_*`, per event
 * name and key, their examples blank anything that looks personal) and usage counts (per day),
 * which hold no person id.
 */
import { localTableName } from './clickhouse-cluster-ddl';
import { identifier, raw, sql, type RawSql } from './sql';

/** Every ClickHouse table with rows keyed by a person or one of their identities. */
export const PERSON_TABLES = ['events', 'identities', 'identity_conflicts', 'person_traits', 'person_stats'] as const;
export type PersonTable = (typeof PERSON_TABLES)[number];

/** What one person is known by: identity keys ('user:..', 'anonymous:..') and the raw ids behind them. */
export interface PersonTarget {
  workspaceId: string;
  identityKeys: readonly string[];
  userIds: readonly string[];
  anonymousIds: readonly string[];
}

function splitKey(key: string): { kind: 'user' | 'anonymous'; id: string } | null {
  if (key.startsWith('user:')) return { kind: 'user', id: key.slice('user:'.length) };
  if (key.startsWith('anonymous:')) return { kind: 'anonymous', id: key.slice('anonymous:'.length) };
  return null;
}

/** The target of a person's identity keys (the raw user and anonymous ids taken from them). */
export function targetOf(workspaceId: string, identityKeys: readonly string[]): PersonTarget {
  const split = identityKeys.map(splitKey).filter((entry) => entry !== null);
  return {
    workspaceId,
    identityKeys: [...identityKeys],
    userIds: split.filter((entry) => entry.kind === 'user').map((entry) => entry.id),
    anonymousIds: split.filter((entry) => entry.kind === 'anonymous').map((entry) => entry.id),
  };
}

function inList(values: readonly string[]): RawSql {
  // An empty IN list is a syntax error; NUL never occurs in an id we store.
  return raw((values.length > 0 ? values : ['\u0000none']).map((value) => sql`${value}`).join(', '));
}

/** Rows of `table` that belong to the person (by their ids, wherever a table holds one). */
export function personCondition(table: PersonTable, target: PersonTarget): string {
  const keys = inList(target.identityKeys);
  const workspace = sql`workspace_id = ${target.workspaceId}`;
  switch (table) {
    case 'events': {
      const ids = inList([...target.userIds, ...target.anonymousIds]);
      return sql`${raw(workspace)} AND (person_id IN (${keys}) OR user_id IN (${inList(target.userIds)}) OR anonymous_id IN (${inList(target.anonymousIds)}) OR previous_id IN (${ids}))`;
    }
    case 'identities':
      return sql`${raw(workspace)} AND (identity_key IN (${keys}) OR person_id IN (${keys}))`;
    case 'identity_conflicts':
      return sql`${raw(workspace)} AND (identity_key IN (${keys}) OR existing_person_id IN (${keys}) OR claimed_person_id IN (${keys}))`;
    case 'person_traits':
    case 'person_stats':
      return sql`${raw(workspace)} AND person_id IN (${keys})`;
  }
}

/** Raw rows per table (no FINAL: every physical copy counts, duplicates included), one row per table. */
export function personRowCountsSql(target: PersonTarget): string {
  return PERSON_TABLES.map((table) => sql`SELECT ${table} AS table_name, count() AS rows FROM ${raw(identifier(table, PERSON_TABLES))} WHERE ${raw(personCondition(table, target))}`).join('\nUNION ALL\n');
}

/** The table a mutation or partition drop must name: the table itself, or its local table ON CLUSTER. */
function alterTarget(table: string, cluster: string | null): string {
  return cluster === null ? table : `${localTableName(table)} ON CLUSTER ${cluster}`;
}

function assertClusterName(cluster: string | null): string | null {
  if (cluster !== null && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(cluster)) throw new TypeError(`bad cluster name: ${cluster}`);
  return cluster;
}

/** One job id a mutation can be found by: only characters that survive any formatting of a string literal. */
export function assertJobId(jobId: string): string {
  if (!/^[A-Za-z0-9_-]{8,64}$/.test(jobId)) throw new TypeError(`bad deletion job id: ${jobId}`);
  return jobId;
}

/** The mutations deleting a person, one per table. */
export function personDeleteMutations(target: PersonTarget, jobId: string, cluster: string | null): { table: PersonTable; sql: string }[] {
  const marker = assertJobId(jobId);
  const on = assertClusterName(cluster);
  return PERSON_TABLES.map((table) => ({
    table,
    sql: sql`ALTER TABLE ${raw(alterTarget(identifier(table, PERSON_TABLES), on))} DELETE WHERE ${raw(personCondition(table, target))} AND notEmpty(${marker})`,
  }));
}

/** Nodes as `host:port` for remote(): ports are native (TCP) ports, from system.clusters. */
export interface ClusterAddress {
  host_name: string;
  port: number;
}

/**
 * The job's mutations and whether each is done: on this server, or on every node of the
 * cluster (each replica applies a mutation to its own parts). `parts_to_do` says how far along.
 */
export function mutationProgressSql(database: string, marker: string, nodes: readonly ClusterAddress[] | null): string {
  const job = assertJobId(marker);
  return sql`SELECT table, mutation_id, is_done, parts_to_do FROM ${systemTable('mutations', nodes)} WHERE database = ${database} AND position(command, ${job}) > 0`;
}

/** A system table of this server, or of every node (remote() with comma-separated addresses reads each as a shard). */
function systemTable(name: 'mutations' | 'parts', nodes: readonly ClusterAddress[] | null): RawSql {
  const table = `system.${identifier(name, ['mutations', 'parts'])}`;
  if (nodes === null || nodes.length === 0) return raw(table);
  return raw(sql`remote(${nodes.map((node) => `${node.host_name}:${node.port}`).join(',')}, ${raw(table)})`);
}

/** The events table's monthly partitions (toYYYYMM(timestamp)) on this server, or on every node of the cluster. */
export function eventPartitionsSql(database: string, cluster: string | null, nodes: readonly ClusterAddress[] | null): string {
  const table = cluster === null ? 'events' : localTableName('events');
  return sql`SELECT DISTINCT partition FROM ${systemTable('parts', nodes)} WHERE database = ${database} AND table = ${table} AND active ORDER BY partition`;
}

/** Which workspaces have events in one month partition (its YYYYMM number), read through the (distributed) table. */
export function workspacesInMonthSql(month: number): string {
  assertMonth(month);
  return sql`SELECT DISTINCT workspace_id FROM events WHERE toYYYYMM(timestamp) = ${month}`;
}

function assertMonth(month: number): number {
  if (!Number.isInteger(month) || month < 197001 || month > 299912 || month % 100 < 1 || month % 100 > 12) throw new TypeError(`not a YYYYMM month: ${month}`);
  return month;
}

/**
 * Drops one month of events for everyone: the cheap path, used when every workspace holding rows
 * in it has a retention that expires it. `toYYYYMM` partitions are named by that number on
 * every release (`DROP PARTITION 202401`).
 */
export function dropEventMonthSql(month: number, cluster: string | null): string {
  return `ALTER TABLE ${alterTarget('events', assertClusterName(cluster))} DROP PARTITION ${assertMonth(month)}`;
}

/**
 * One workspace's events before a month, for a month partition other workspaces still keep:
 * a mutation (it rewrites those parts), marked like a person delete so its progress can be read.
 */
export function deleteWorkspaceEventsBeforeSql(workspaceId: string, beforeMonth: number, marker: string, cluster: string | null): string {
  return sql`ALTER TABLE ${raw(alterTarget('events', assertClusterName(cluster)))} DELETE WHERE workspace_id = ${workspaceId} AND toYYYYMM(timestamp) < ${assertMonth(beforeMonth)} AND notEmpty(${assertJobId(marker)})`;
}

/** How many of a workspace's events lie in months before `beforeMonth` (YYYYMM): zero means retention has nothing left to do. */
export function workspaceEventsBeforeSql(workspaceId: string, beforeMonth: number): string {
  return sql`SELECT count() AS rows FROM events WHERE workspace_id = ${workspaceId} AND toYYYYMM(timestamp) < ${beforeMonth}`;
}
