/**
 * Cluster mode for our ClickHouse migrations: turns one statement of schema/clickhouse/*.sql (or
 * the migrator's own bootstrap DDL) into what a sharded, replicated cluster runs, so the product
 * keeps its SQL and its table names.
 *
 * - A MergeTree-family table `t` becomes `t_local` (Replicated*MergeTree, one replica set per
 *   shard) plus `t`, a Distributed table over `t_local`, created ON CLUSTER. Queries and inserts
 *   keep naming `t`. The sharding key is the caller's choice per table; it must keep every
 *   version of a row on one shard, or ReplacingMergeTree / FINAL cannot collapse them.
 *   SummingMergeTree / AggregatingMergeTree tables get `replicated_deduplication_window = 0`: a
 *   replicated table drops a block equal to a recent one as a retry, but two equal blocks of
 *   increments (a view writing `(workspace, day, 50)` twice) are two increments (seen on 18.16).
 * - A TinyLog table (our schema_migrations ledger) becomes one ReplicatedMergeTree copy on every
 *   node of the cluster, not sharded and keeping its name: the migrator may talk to any node and
 *   must see the same applied versions there, and the ledger survives losing a node. A per-node
 *   TinyLog would record a migration only on the node that ran it.
 * - `ALTER TABLE t` on a sharded table alters `t_local` ON CLUSTER, then `t` on each node by the
 *   caller: ClickHouse 18.16 refuses ALTER ... ON CLUSTER on a Distributed table (Code 371).
 * - `CREATE MATERIALIZED VIEW v TO target AS SELECT ... FROM t` stays over the Distributed tables,
 *   created on each node: a view on a Distributed table fires on the node that takes the insert,
 *   so each inserted row is seen once, and it writes through the Distributed target, so its rows
 *   land on the target's shard. Not ON CLUSTER: the distributed DDL queue resolves unqualified
 *   names in the SELECT against each server's default database (18.16: Code 60, default.t).
 * - `INSERT INTO ... SELECT` (a backfill) runs once, through the Distributed tables, synchronously.
 *
 * The caller runs every statement with the migration database as the session's database, as the
 * single-node migrator does: views and INSERTs name their tables unqualified.
 *
 * Only the statement shapes our migrations use are understood; anything else throws
 * UnsupportedClusterStatementError rather than being guessed at.
 */

export interface ClusterDdlOptions {
  /** The `remote_servers` cluster name. */
  cluster: string;
  /** The database our tables live in (the migrator's CLICKHOUSE_DATABASE). */
  database: string;
  /** Sharding expression per sharded table, e.g. { events: 'cityHash64(workspace_id, message_id)' }. */
  shardingKeys: Readonly<Record<string, string>>;
}

/**
 * `one-node`: an ON CLUSTER statement; send it to any one node and ClickHouse's distributed DDL
 * queue runs it on every host. `each-node`: the caller must send it to every node itself.
 */
export type ClusterStatementTarget = 'one-node' | 'each-node';

export interface ClusterStatement {
  sql: string;
  runOn: ClusterStatementTarget;
  /** Settings to send with the statement (as URL settings). */
  settings?: Readonly<Record<string, number>>;
}

/** A backfill is done when the statement answers, not when the Distributed table's queue drains. */
const SYNCHRONOUS_DISTRIBUTED_INSERT = { insert_distributed_sync: 1 } as const;

export class UnsupportedClusterStatementError extends Error {
  constructor(reason: string, statement: string) {
    super(`cluster DDL: ${reason}: ${statement.replace(/\s+/g, ' ').slice(0, 160)}`);
    this.name = 'UnsupportedClusterStatementError';
  }
}

/**
 * How each table of schema/clickhouse/*.sql is spread over the shards (cluster mode). The rule:
 * every version of a row (what ReplacingMergeTree / FINAL or an aggregate merge must meet) lands
 * on one shard, so the sharding key is a prefix of, or equal to, the table's ORDER BY key, built
 * from values that never change between versions. A table missing here cannot be created in
 * cluster mode (clusterStatements throws), so a new migration has to choose its key.
 */
export const CLUSTER_SHARDING_KEYS: Readonly<Record<string, string>> = {
  // By message id, not person: a redelivered event may resolve another person_id at ingest
  // (a link arrived in between); its message id never changes, so its duplicates meet.
  events: 'cityHash64(workspace_id, message_id)',
  // The identity map's key: all links of one identity meet, so FINAL keeps the earliest.
  identities: 'cityHash64(workspace_id, identity_key)',
  // A prefix of its ORDER BY: a redelivered conflict row meets its first copy.
  identity_conflicts: 'cityHash64(workspace_id, identity_key)',
  // A workspace's day is replaced (usage_days) or summed (usage_inserts) on one shard.
  usage_days: 'cityHash64(workspace_id)',
  usage_inserts: 'cityHash64(workspace_id)',
  // Person-level tables: every version of a person's trait / stats row meets on its person's shard.
  person_traits: 'cityHash64(workspace_id, person_id)',
  person_stats: 'cityHash64(workspace_id, person_id)',
  // Discovery and violation counts: an event's aggregate rows meet on one shard to be merged.
  schema_events: 'cityHash64(workspace_id, type, event)',
  schema_keys: 'cityHash64(workspace_id, type, event)',
  plan_violation_counts: 'cityHash64(workspace_id, type, event)',
  plan_blocked_counts: 'cityHash64(workspace_id, type, event)',
};

export const LOCAL_TABLE_SUFFIX = '_local';

/** The replicated table that holds a sharded table's rows on each shard. */
export function localTableName(table: string): string {
  return `${table}${LOCAL_TABLE_SUFFIX}`;
}

/** Engines whose Replicated form takes (zookeeper_path, replica_name, ...the same arguments). */
const MERGE_TREE_FAMILY = new Set([
  'MergeTree',
  'ReplacingMergeTree',
  'SummingMergeTree',
  'AggregatingMergeTree',
  'CollapsingMergeTree',
  'VersionedCollapsingMergeTree',
]);

/** Engines whose rows are increments: an equal block inserted again is new data, not a retry. */
const INCREMENT_ENGINES = new Set(['SummingMergeTree', 'AggregatingMergeTree']);
const NO_BLOCK_DEDUPLICATION = 'replicated_deduplication_window = 0';

const IDENTIFIER = '[A-Za-z_][A-Za-z0-9_]*';
const CREATE_DATABASE = new RegExp(`^CREATE\\s+DATABASE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?(${IDENTIFIER})$`, 'i');
const CREATE_TABLE_HEAD = new RegExp(`^CREATE\\s+TABLE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?(?:(${IDENTIFIER})\\.)?(${IDENTIFIER})\\s*\\(`, 'i');
const ENGINE_HEAD = new RegExp(`^\\s*ENGINE\\s*=\\s*(${IDENTIFIER})\\s*`, 'i');
const MATERIALIZED_VIEW_HEAD = new RegExp(
  `^CREATE\\s+MATERIALIZED\\s+VIEW\\s+(IF\\s+NOT\\s+EXISTS\\s+)?(?:(${IDENTIFIER})\\.)?(${IDENTIFIER})\\s+TO\\s+(?:(${IDENTIFIER})\\.)?(${IDENTIFIER})\\s+AS\\s+(?=SELECT\\s)`,
  'i',
);
const ALTER_TABLE_HEAD = new RegExp(`^ALTER\\s+TABLE\\s+(?:(${IDENTIFIER})\\.)?(${IDENTIFIER})\\s+(?!\\s|ON\\s+CLUSTER\\b)`, 'i');
/** Column changes a Distributed table takes too (it only holds the column list). */
const COLUMN_ACTION = /^(ADD|DROP|MODIFY)\s+COLUMN\s/i;

function assertIdentifier(kind: string, value: string): string {
  if (!new RegExp(`^${IDENTIFIER}$`).test(value)) throw new TypeError(`bad ${kind} name: ${value}`);
  return value;
}

/** Index just past the `)` closing the `(` at `open`, skipping quoted strings and identifiers. */
function indexAfterClosingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const char = text[i];
    if (char === "'" || char === '"' || char === '`') {
      i = indexOfClosingQuote(text, i);
    } else if (char === '(') {
      depth++;
    } else if (char === ')') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function indexOfClosingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

/** Splits on commas outside parentheses and quotes (ALTER actions, engine arguments). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "'" || char === '"' || char === '`') i = indexOfClosingQuote(text, i);
    else if (char === '(') depth++;
    else if (char === ')') depth--;
    else if (char === ',' && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts.filter((part) => part.length > 0);
}

function normalizeStatement(statement: string): string {
  return statement.trim().replace(/;\s*$/, '').trim();
}

function assertOwnDatabase(statement: string, named: string | undefined, options: ClusterDdlOptions): void {
  if (named !== undefined && named !== options.database) {
    throw new UnsupportedClusterStatementError(`it names database ${named}, but cluster DDL is for ${options.database}`, statement);
  }
}

interface ParsedCreateTable {
  ifNotExists: boolean;
  table: string;
  /** The column list with its parentheses, verbatim. */
  columns: string;
  engine: string;
  /** The engine's arguments without parentheses ('' for none). */
  engineArguments: string;
  /** PARTITION BY / ORDER BY / SETTINGS ..., verbatim. */
  clauses: string;
}

function parseCreateTable(statement: string, options: ClusterDdlOptions): ParsedCreateTable {
  const head = CREATE_TABLE_HEAD.exec(statement);
  if (!head?.[3]) throw new UnsupportedClusterStatementError('expected CREATE TABLE name (columns) ENGINE = ...', statement);
  assertOwnDatabase(statement, head[2], options);
  const columnsOpen = head[0].length - 1;
  const columnsEnd = indexAfterClosingParen(statement, columnsOpen);
  if (columnsEnd < 0) throw new UnsupportedClusterStatementError('unbalanced parentheses in the column list', statement);
  const afterColumns = statement.slice(columnsEnd);
  const engineHead = ENGINE_HEAD.exec(afterColumns);
  if (!engineHead?.[1]) throw new UnsupportedClusterStatementError('expected ENGINE = after the column list', statement);
  let rest = afterColumns.slice(engineHead[0].length);
  let engineArguments = '';
  if (rest.startsWith('(')) {
    const argumentsEnd = indexAfterClosingParen(rest, 0);
    if (argumentsEnd < 0) throw new UnsupportedClusterStatementError('unbalanced parentheses in the engine arguments', statement);
    engineArguments = rest.slice(1, argumentsEnd - 1).trim();
    rest = rest.slice(argumentsEnd);
  }
  return {
    ifNotExists: head[1] !== undefined,
    table: head[3],
    columns: statement.slice(columnsOpen, columnsEnd),
    engine: engineHead[1],
    engineArguments,
    clauses: rest.trim(),
  };
}

function createPrefix(parsed: ParsedCreateTable): string {
  return parsed.ifNotExists ? 'CREATE TABLE IF NOT EXISTS' : 'CREATE TABLE';
}

function shardingKeyFor(table: string, statement: string, options: ClusterDdlOptions): string {
  const key = Object.hasOwn(options.shardingKeys, table) ? options.shardingKeys[table]?.trim() : undefined;
  if (!key) throw new UnsupportedClusterStatementError(`no sharding key given for table ${table}`, statement);
  return key;
}

function replicatedEngine(engine: string, zookeeperPath: string, replicaName: string, engineArguments: string): string {
  const replicationArguments = `'${zookeeperPath}', '${replicaName}'`;
  return `Replicated${engine}(${engineArguments ? `${replicationArguments}, ${engineArguments}` : replicationArguments})`;
}

/** PARTITION BY / ORDER BY / SETTINGS of the replicated table: SETTINGS comes last in CREATE TABLE. */
function replicatedClauses(parsed: ParsedCreateTable): string {
  const { clauses } = parsed;
  if (!INCREMENT_ENGINES.has(parsed.engine) || /\breplicated_deduplication_window\b/i.test(clauses)) return clauses;
  if (/\bSETTINGS\b/i.test(clauses)) return `${clauses}, ${NO_BLOCK_DEDUPLICATION}`;
  return `${clauses} SETTINGS ${NO_BLOCK_DEDUPLICATION}`.trim();
}

function shardedTable(parsed: ParsedCreateTable, statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  const { cluster, database } = options;
  const shardingKey = shardingKeyFor(parsed.table, statement, options);
  const local = localTableName(parsed.table);
  // {shard} and {replica} are each node's macros: one replica set per shard.
  const engine = replicatedEngine(parsed.engine, `/clickhouse/tables/{shard}/${database}/${local}`, '{replica}', parsed.engineArguments);
  const replicated = replicatedClauses(parsed);
  const clauses = replicated ? ` ${replicated}` : '';
  return [
    { runOn: 'one-node', sql: `${createPrefix(parsed)} ${database}.${local} ON CLUSTER ${cluster} ${parsed.columns} ENGINE = ${engine}${clauses}` },
    {
      runOn: 'one-node',
      sql: `${createPrefix(parsed)} ${database}.${parsed.table} ON CLUSTER ${cluster} AS ${database}.${local} ENGINE = Distributed(${cluster}, ${database}, ${local}, ${shardingKey})`,
    },
  ];
}

function clusterWideLedger(parsed: ParsedCreateTable, statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  if (parsed.engineArguments || parsed.clauses) throw new UnsupportedClusterStatementError('TinyLog takes no arguments or clauses', statement);
  const { cluster, database } = options;
  // One ZooKeeper path for the whole cluster, so the replica name must be unique across shards.
  const engine = replicatedEngine('MergeTree', `/clickhouse/tables/all/${database}/${parsed.table}`, '{shard}-{replica}', '');
  return [{ runOn: 'one-node', sql: `${createPrefix(parsed)} ${database}.${parsed.table} ON CLUSTER ${cluster} ${parsed.columns} ENGINE = ${engine} ORDER BY tuple()` }];
}

function createTable(statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  const parsed = parseCreateTable(statement, options);
  if (MERGE_TREE_FAMILY.has(parsed.engine)) return shardedTable(parsed, statement, options);
  if (parsed.engine === 'TinyLog') return clusterWideLedger(parsed, statement, options);
  throw new UnsupportedClusterStatementError(`engine ${parsed.engine} has no cluster form here`, statement);
}

function createDatabase(statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  const match = CREATE_DATABASE.exec(statement);
  if (!match?.[2]) throw new UnsupportedClusterStatementError('expected CREATE DATABASE [IF NOT EXISTS] name', statement);
  assertOwnDatabase(statement, match[2], options);
  const prefix = match[1] ? 'CREATE DATABASE IF NOT EXISTS' : 'CREATE DATABASE';
  return [{ runOn: 'one-node', sql: `${prefix} ${options.database} ON CLUSTER ${options.cluster}` }];
}

function materializedView(statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  const head = MATERIALIZED_VIEW_HEAD.exec(statement);
  if (!head?.[3] || !head[5]) {
    throw new UnsupportedClusterStatementError('expected CREATE MATERIALIZED VIEW name TO target AS SELECT ... (a view without TO would need its own replicated inner table)', statement);
  }
  assertOwnDatabase(statement, head[2], options);
  assertOwnDatabase(statement, head[4], options);
  const prefix = head[1] ? 'CREATE MATERIALIZED VIEW IF NOT EXISTS' : 'CREATE MATERIALIZED VIEW';
  const { database } = options;
  return [{ runOn: 'each-node', sql: `${prefix} ${database}.${head[3]} TO ${database}.${head[5]} AS ${statement.slice(head[0].length)}` }];
}

function insert(statement: string): ClusterStatement[] {
  return [{ runOn: 'one-node', sql: statement, settings: SYNCHRONOUS_DISTRIBUTED_INSERT }];
}

function alterTable(statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  const head = ALTER_TABLE_HEAD.exec(statement);
  if (!head?.[2]) throw new UnsupportedClusterStatementError('expected ALTER TABLE name <column actions>, without ON CLUSTER', statement);
  assertOwnDatabase(statement, head[1], options);
  const table = head[2];
  if (!Object.hasOwn(options.shardingKeys, table)) {
    throw new UnsupportedClusterStatementError(`only sharded tables (those with a sharding key) can be altered, not ${table}`, statement);
  }
  const actions = splitTopLevel(statement.slice(head[0].length));
  const unsupported = actions.find((action) => !COLUMN_ACTION.test(action));
  if (unsupported !== undefined || actions.length === 0) {
    throw new UnsupportedClusterStatementError(`only ADD/DROP/MODIFY COLUMN can be altered on a sharded table, not "${unsupported ?? ''}"`, statement);
  }
  const { cluster, database } = options;
  const actionList = actions.join(', ');
  return [
    { runOn: 'one-node', sql: `ALTER TABLE ${database}.${localTableName(table)} ON CLUSTER ${cluster} ${actionList}` },
    { runOn: 'each-node', sql: `ALTER TABLE ${database}.${table} ${actionList}` },
  ];
}

/** What cluster mode runs, in order, for one migration statement. */
export function clusterStatements(statement: string, options: ClusterDdlOptions): ClusterStatement[] {
  assertIdentifier('cluster', options.cluster);
  assertIdentifier('database', options.database);
  const normalized = normalizeStatement(statement);
  if (/^CREATE\s+DATABASE\s/i.test(normalized)) return createDatabase(normalized, options);
  if (/^CREATE\s+TABLE\s/i.test(normalized)) return createTable(normalized, options);
  if (/^CREATE\s+MATERIALIZED\s+VIEW\s/i.test(normalized)) return materializedView(normalized, options);
  if (/^ALTER\s+TABLE\s/i.test(normalized)) return alterTable(normalized, options);
  if (/^INSERT\s+INTO\s/i.test(normalized)) return insert(normalized);
  throw new UnsupportedClusterStatementError(
    'not a statement shape cluster DDL handles (CREATE DATABASE, CREATE TABLE, CREATE MATERIALIZED VIEW ... TO, ALTER TABLE, INSERT INTO)',
    normalized,
  );
}
