/**
 * PostgreSQL side of the storage benchmark, in its idiomatic best shape for events:
 * - `events` declaratively partitioned by month on "timestamp" (old months drop as a whole,
 *   queries prune to the months they touch); the primary key (workspace_id, message_id,
 *   "timestamp") is the dedup backstop ClickHouse gets from ReplacingMergeTree (a unique
 *   key on a partitioned table must hold the partition key);
 * - BRIN on "timestamp" (rows arrive in time order, so block ranges are tight and tiny),
 *   btree (workspace_id, person_id, "timestamp") and (workspace_id, event, "timestamp");
 * - jsonb properties/traits/context, NULL for absent values, ids in the "C" collation
 *   (byte order: cheaper comparisons, the same order ClickHouse sorts strings in);
 * - loaded with COPY ... FROM STDIN (text format), one COPY per chunk, into the indexed table.
 * Server settings are the machine's defaults; the query session raises work_mem (below).
 */
import { Client, type Connection, type Submittable } from 'pg';
import { z } from 'zod';
import type { EventRow } from '../../consumers/events/event-row';
import { benchQuery } from './queries';
import { loadMarkerSchema, type Answer, type LoadMarker, type QueryScope, type StorageEngine, type StorageFootprint } from './engine';
import type { DataChunk, IdentityRow } from './synthetic';

/** Per-session memory for sorts and hash aggregates of the analytics session (server default: 4MB). */
export const QUERY_WORK_MEM = '64MB';
const COPY_MESSAGE_BYTES = 1 << 20;

const EVENT_COLUMNS = [
  'workspace_id', 'message_id', 'type', 'event', 'user_id', 'anonymous_id', 'person_id', 'group_id', 'previous_id', '"timestamp"',
  'received_at', 'sent_at', 'original_timestamp', 'timestamp_adjustment', 'properties', 'traits', 'context', 'integrations', 'page_url',
  'page_path', 'page_referrer', 'page_title', 'user_agent', 'ip', 'country', 'region', 'city', 'library_name', 'library_version',
  'session_id', 'source', 'is_bot', 'bot_reason', 'plan_violation', 'violation_reason', 'inserted_at',
] as const;
const IDENTITY_COLUMNS = ['workspace_id', 'identity_key', 'person_id', 'source', 'message_id', 'linked_at'] as const;

type PostgresField = string | null;

function absentAsNull(value: string): PostgresField {
  return value === '' ? null : value;
}

function timeOrNull(epochMs: number): PostgresField {
  return epochMs > 0 ? new Date(epochMs).toISOString() : null;
}

/** The ClickHouse row's data in PostgreSQL's columns (same order as EVENT_COLUMNS). */
function eventFields(row: EventRow): PostgresField[] {
  return [
    row.workspace_id, row.message_id, row.type, absentAsNull(row.event), absentAsNull(row.user_id), absentAsNull(row.anonymous_id), row.person_id,
    absentAsNull(row.group_id), absentAsNull(row.previous_id), timeOrNull(row.timestamp_ms), timeOrNull(row.received_at_ms), timeOrNull(row.sent_at_ms),
    timeOrNull(row.original_timestamp_ms), absentAsNull(row.timestamp_adjustment), row.properties, row.traits, row.context, row.integrations,
    absentAsNull(row.page_url), absentAsNull(row.page_path), absentAsNull(row.page_referrer), absentAsNull(row.page_title), absentAsNull(row.user_agent),
    absentAsNull(row.ip), absentAsNull(row.country), absentAsNull(row.region), absentAsNull(row.city), row.library_name, row.library_version,
    absentAsNull(row.session_id), row.source, row.is_bot ? 't' : 'f', absentAsNull(row.bot_reason), row.plan_violation ? 't' : 'f',
    absentAsNull(row.violation_reason), new Date(row.inserted_at * 1000).toISOString(),
  ];
}

function identityFields(row: IdentityRow): PostgresField[] {
  return [row.workspace_id, row.identity_key, row.person_id, row.source, row.message_id, new Date(row.linked_at_ms).toISOString()];
}

/** COPY text format: tab-separated, \N for NULL, backslash escapes for the four special characters. */
function copyField(value: PostgresField): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (char) => (char === '\\' ? '\\\\' : char === '\t' ? '\\t' : char === '\n' ? '\\n' : '\\r'));
}

function copyText(rows: readonly PostgresField[][]): Buffer {
  return Buffer.from(rows.map((fields) => fields.map(copyField).join('\t')).join('\n') + '\n');
}

/** The CopyIn half of pg's Connection, present at runtime but missing from @types/pg. */
interface CopyInConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

function hasCopyIn(connection: Connection): connection is Connection & CopyInConnection {
  return 'sendCopyFromChunk' in connection && typeof connection.sendCopyFromChunk === 'function' && 'endCopyFrom' in connection && typeof connection.endCopyFrom === 'function';
}

/**
 * `COPY ... FROM STDIN` as a pg Submittable (what pg-copy-streams does, without the package):
 * pg hands the CopyInResponse to the active query, which streams CopyData messages and CopyDone.
 */
class CopyFromStdin implements Submittable {
  readonly done: Promise<void>;
  private resolve: () => void = () => undefined;
  private reject: (error: Error) => void = () => undefined;

  constructor(
    private readonly statement: string,
    private readonly data: Buffer,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: Connection): void {
    connection.query(this.statement);
  }

  handleCopyInResponse(connection: Connection): void {
    if (!hasCopyIn(connection)) throw new Error('this pg version has no sendCopyFromChunk/endCopyFrom on its Connection');
    for (let offset = 0; offset < this.data.length; offset += COPY_MESSAGE_BYTES) connection.sendCopyFromChunk(this.data.subarray(offset, offset + COPY_MESSAGE_BYTES));
    connection.endCopyFrom();
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    this.resolve();
  }

  handleError(error: Error): void {
    this.reject(error);
  }
}

async function copyInto(client: Client, table: string, columns: readonly string[], rows: readonly PostgresField[][]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(new CopyFromStdin(`COPY ${table} (${columns.join(', ')}) FROM STDIN`, copyText(rows))).done;
}

function monthStart(epochMs: number): Date {
  const date = new Date(epochMs);
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

function nextMonth(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1));
}

/** Monthly partitions from the data's first month through the month after its end (pre-created, as operations would). */
function partitionStatements(fromMs: number, toMs: number): string[] {
  const statements: string[] = [];
  for (let month = monthStart(fromMs); month.getTime() <= nextMonth(monthStart(toMs)).getTime(); month = nextMonth(month)) {
    const name = `events_${month.toISOString().slice(0, 7).replace('-', '_')}`;
    statements.push(`CREATE TABLE ${name} PARTITION OF events FOR VALUES FROM ('${month.toISOString()}') TO ('${nextMonth(month).toISOString()}')`);
  }
  return statements;
}

function schemaStatements(fromMs: number, toMs: number): string[] {
  return [
    `CREATE TABLE events (
  workspace_id text COLLATE "C" NOT NULL,
  message_id text COLLATE "C" NOT NULL,
  type text NOT NULL,
  event text COLLATE "C",
  user_id text COLLATE "C",
  anonymous_id text COLLATE "C",
  person_id text COLLATE "C" NOT NULL,
  group_id text,
  previous_id text,
  "timestamp" timestamptz NOT NULL,
  received_at timestamptz NOT NULL,
  sent_at timestamptz,
  original_timestamp timestamptz,
  timestamp_adjustment text,
  properties jsonb NOT NULL,
  traits jsonb NOT NULL,
  context jsonb NOT NULL,
  integrations jsonb NOT NULL,
  page_url text,
  page_path text,
  page_referrer text,
  page_title text,
  user_agent text,
  ip inet,
  country text,
  region text,
  city text,
  library_name text NOT NULL,
  library_version text NOT NULL,
  session_id text,
  source text NOT NULL,
  is_bot boolean NOT NULL,
  bot_reason text,
  plan_violation boolean NOT NULL,
  violation_reason text,
  inserted_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, message_id, "timestamp")
) PARTITION BY RANGE ("timestamp")`,
    ...partitionStatements(fromMs, toMs),
    'CREATE INDEX events_timestamp_brin ON events USING brin ("timestamp")',
    'CREATE INDEX events_person_time ON events (workspace_id, person_id, "timestamp")',
    'CREATE INDEX events_event_time ON events (workspace_id, event, "timestamp")',
    `CREATE TABLE identities (
  workspace_id text COLLATE "C" NOT NULL,
  identity_key text COLLATE "C" NOT NULL,
  person_id text COLLATE "C" NOT NULL,
  source text NOT NULL,
  message_id text NOT NULL,
  linked_at timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, identity_key)
)`,
    'CREATE TABLE bench_storage_meta (marker jsonb NOT NULL, written_at timestamptz NOT NULL DEFAULT now())',
  ];
}

function assertSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new TypeError(`bad schema name: ${schema}`);
  return schema;
}

export interface PostgresOptions {
  schema: string;
  dataFromMs: number;
  dataToMs: number;
}

async function connect(schema: string, settings: Record<string, string> = {}): Promise<Client> {
  const options = Object.entries({ search_path: schema, ...settings }).map(([name, value]) => `-c ${name}=${value}`).join(' ');
  const client = new Client({
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    database: process.env.PGDATABASE ?? 'test',
    user: process.env.PGUSER ?? 'postgres',
    application_name: 'monfri-bench-storage',
    options,
  });
  await client.connect();
  return client;
}

const singleText = z.object({ value: z.string() });
const footprintRow = z.object({ table_bytes: z.coerce.number(), index_bytes: z.coerce.number(), identities_bytes: z.coerce.number() });

export async function postgresSettings(): Promise<string> {
  const client = await connect('public');
  try {
    const result = await client.query("SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) AS value FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'max_parallel_workers_per_gather', 'jit', 'synchronous_commit', 'effective_cache_size', 'max_wal_size', 'random_page_cost')");
    return singleText.parse(result.rows[0]).value;
  } finally {
    await client.end();
  }
}

export async function openPostgres(options: PostgresOptions): Promise<StorageEngine> {
  const schema = assertSchemaName(options.schema);
  // Three sessions: loading/admin, an application-like insert session, an analytics session.
  const admin = await connect('public');
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await admin.query(`SET search_path = ${schema}`);
  const inserts = await connect(schema);
  const analytics = await connect(schema, { work_mem: QUERY_WORK_MEM });
  const version = singleText.parse((await admin.query("SELECT current_setting('server_version') AS value")).rows[0]).value;

  return {
    label: `PostgreSQL ${version.split(' ')[0] ?? version}`,
    kind: 'postgres',
    settleStep: 'VACUUM (ANALYZE) + CHECKPOINT',
    async loadedMarker(): Promise<LoadMarker | null> {
      const exists = await admin.query("SELECT to_regclass('bench_storage_meta') IS NOT NULL AS present");
      if (!z.object({ present: z.boolean() }).parse(exists.rows[0]).present) return null;
      const result = await admin.query('SELECT marker FROM bench_storage_meta ORDER BY written_at DESC LIMIT 1');
      const parsed = z.object({ marker: loadMarkerSchema }).safeParse(result.rows[0]);
      return parsed.success ? parsed.data.marker : null;
    },
    async resetDataset(): Promise<void> {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`CREATE SCHEMA ${schema}`);
      for (const statement of schemaStatements(options.dataFromMs, options.dataToMs)) await admin.query(statement);
    },
    async loadChunk(chunk: DataChunk): Promise<number> {
      const started = performance.now();
      await copyInto(admin, 'events', EVENT_COLUMNS, chunk.events.map(eventFields));
      await copyInto(admin, 'identities', IDENTITY_COLUMNS, chunk.identities.map(identityFields));
      return performance.now() - started;
    },
    async settle(): Promise<number> {
      const started = performance.now();
      await admin.query('VACUUM (ANALYZE) events');
      await admin.query('VACUUM (ANALYZE) identities');
      await admin.query('CHECKPOINT');
      return performance.now() - started;
    },
    async writeMarker(marker: LoadMarker): Promise<void> {
      await admin.query('DELETE FROM bench_storage_meta');
      await admin.query('INSERT INTO bench_storage_meta (marker) VALUES ($1)', [JSON.stringify(marker)]);
    },
    async footprint(): Promise<StorageFootprint> {
      const result = await admin.query(`SELECT coalesce(sum(pg_table_size(c.oid)), 0) AS table_bytes, coalesce(sum(pg_indexes_size(c.oid)), 0) AS index_bytes,
  pg_total_relation_size('identities') AS identities_bytes
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass`);
      const sizes = footprintRow.parse(result.rows[0]);
      const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`;
      return { bytes: sizes.table_bytes + sizes.index_bytes, detail: `events heap+TOAST ${mb(sizes.table_bytes)}, indexes ${mb(sizes.index_bytes)}; identities ${mb(sizes.identities_bytes)}` };
    },
    async runQuery(queryId: string, scope: QueryScope): Promise<Answer> {
      const query = benchQuery(queryId);
      const { text, values } = query.postgres(scope);
      const result = await analytics.query(text, values);
      return z.array(query.postgresRow).parse(result.rows);
    },
    async scanPlan(queryId: string, scope: QueryScope): Promise<string> {
      const { text, values } = benchQuery(queryId).postgres(scope);
      const result = await analytics.query(`EXPLAIN (COSTS OFF) ${text}`, values);
      const lines = z.array(z.object({ 'QUERY PLAN': z.string() })).parse(result.rows).map((row) => row['QUERY PLAN'].trim().replace(/^->\s*/, ''));
      return [...new Set(lines.filter((line) => line.includes(' Scan ')))].join('; ');
    },
    async insertEvents(rows: readonly EventRow[]): Promise<void> {
      const tuples = rows.map((_, row) => `(${EVENT_COLUMNS.map((__, column) => `$${row * EVENT_COLUMNS.length + column + 1}`).join(', ')})`);
      await inserts.query(`INSERT INTO events (${EVENT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, rows.flatMap(eventFields));
    },
    async close(): Promise<void> {
      await Promise.all([admin.end(), inserts.end(), analytics.end()]);
    },
  };
}
