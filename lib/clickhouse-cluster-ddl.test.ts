import { describe, expect, it } from 'vitest';
import { clusterStatements, localTableName, UnsupportedClusterStatementError, type ClusterDdlOptions } from './clickhouse-cluster-ddl';

const options: ClusterDdlOptions = {
  cluster: 'monfri',
  database: 'analytics',
  shardingKeys: { events: 'cityHash64(workspace_id, message_id)', identities: 'cityHash64(workspace_id, identity_key)', plain: 'rand()' },
};

const eventsLike = `CREATE TABLE IF NOT EXISTS events
(
    workspace_id String,
    message_id String,
    timestamp DateTime,
    property_keys Array(String),
    inserted_at DateTime
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workspace_id, toDate(timestamp), message_id)`;

const eventsColumns = `(
    workspace_id String,
    message_id String,
    timestamp DateTime,
    property_keys Array(String),
    inserted_at DateTime
)`;

function rejection(statement: string, withOptions: ClusterDdlOptions = options): string {
  try {
    clusterStatements(statement, withOptions);
  } catch (error) {
    if (error instanceof UnsupportedClusterStatementError) return error.message;
    throw error;
  }
  throw new Error(`expected a rejection of: ${statement}`);
}

describe('clusterStatements: CREATE TABLE with a MergeTree-family engine', () => {
  it('makes a ReplicatedReplacingMergeTree events_local and a Distributed events over it, both ON CLUSTER', () => {
    expect(clusterStatements(eventsLike, options)).toEqual([
      {
        runOn: 'one-node',
        sql:
          `CREATE TABLE IF NOT EXISTS analytics.events_local ON CLUSTER monfri ${eventsColumns} ` +
          `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/events_local', '{replica}', inserted_at) ` +
          'PARTITION BY toYYYYMM(timestamp)\nORDER BY (workspace_id, toDate(timestamp), message_id)',
      },
      {
        runOn: 'one-node',
        sql: 'CREATE TABLE IF NOT EXISTS analytics.events ON CLUSTER monfri AS analytics.events_local ENGINE = Distributed(monfri, analytics, events_local, cityHash64(workspace_id, message_id))',
      },
    ]);
  });

  it('gives a plain MergeTree, with or without empty parentheses, only the replication arguments', () => {
    for (const engine of ['MergeTree', 'MergeTree()']) {
      const [local] = clusterStatements(`CREATE TABLE plain (n UInt32) ENGINE = ${engine} ORDER BY n;`, options);
      expect(local?.sql).toBe("CREATE TABLE analytics.plain_local ON CLUSTER monfri (n UInt32) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/plain_local', '{replica}') ORDER BY n");
    }
  });

  it('keeps IF NOT EXISTS only where the migration had it', () => {
    const sql = clusterStatements('CREATE TABLE plain (n UInt32) ENGINE = MergeTree ORDER BY n', options).map((statement) => statement.sql);
    expect(sql.every((statement) => statement.startsWith('CREATE TABLE analytics.plain'))).toBe(true);
  });

  it('accepts the table qualified with its own database', () => {
    const [local] = clusterStatements('CREATE TABLE analytics.plain (n UInt32) ENGINE = MergeTree ORDER BY n', options);
    expect(local?.sql).toContain('CREATE TABLE analytics.plain_local ON CLUSTER monfri (n UInt32)');
  });

  it('copies column lists verbatim, parentheses, commas and quotes inside them included', () => {
    const columns = "(a String DEFAULT 'x)(,', b Array(Tuple(String, UInt8)), `c)` String COMMENT 'it\\'s (')";
    const [local] = clusterStatements(`CREATE TABLE plain ${columns} ENGINE = ReplacingMergeTree((n)) ORDER BY a`, options);
    expect(local?.sql).toBe(
      `CREATE TABLE analytics.plain_local ON CLUSTER monfri ${columns} ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/plain_local', '{replica}', (n)) ORDER BY a`,
    );
  });

  it('turns off block deduplication for tables of increments, keeping their own settings', () => {
    const [summing] = clusterStatements('CREATE TABLE plain (k String, rows UInt64) ENGINE = SummingMergeTree(rows) ORDER BY k', options);
    expect(summing?.sql).toBe(
      "CREATE TABLE analytics.plain_local ON CLUSTER monfri (k String, rows UInt64) ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/analytics/plain_local', '{replica}', rows) ORDER BY k SETTINGS replicated_deduplication_window = 0",
    );
    const [aggregating] = clusterStatements('CREATE TABLE plain (k String, u AggregateFunction(uniq, String)) ENGINE = AggregatingMergeTree ORDER BY k SETTINGS index_granularity = 1024', options);
    expect(aggregating?.sql).toMatch(/ORDER BY k SETTINGS index_granularity = 1024, replicated_deduplication_window = 0$/);
    const [explicit] = clusterStatements('CREATE TABLE plain (k String, n UInt64) ENGINE = SummingMergeTree ORDER BY k SETTINGS replicated_deduplication_window = 10', options);
    expect(explicit?.sql).toMatch(/SETTINGS replicated_deduplication_window = 10$/);
    const [replacing] = clusterStatements(eventsLike, options);
    expect(replacing?.sql).not.toContain('replicated_deduplication_window');
  });

  it('uses the sharding key the caller chose for each table', () => {
    const distributed = clusterStatements('CREATE TABLE identities (workspace_id String, identity_key String, link_rank UInt64) ENGINE = ReplacingMergeTree(link_rank) ORDER BY (workspace_id, identity_key)', options)[1];
    expect(distributed?.sql).toBe(
      'CREATE TABLE analytics.identities ON CLUSTER monfri AS analytics.identities_local ENGINE = Distributed(monfri, analytics, identities_local, cityHash64(workspace_id, identity_key))',
    );
  });

  it('refuses a table without a sharding key rather than picking one', () => {
    expect(rejection('CREATE TABLE orphans (n UInt32) ENGINE = MergeTree ORDER BY n')).toContain('no sharding key given for table orphans');
    expect(rejection('CREATE TABLE plain (n UInt32) ENGINE = MergeTree ORDER BY n', { ...options, shardingKeys: { plain: '  ' } })).toContain('no sharding key');
  });

  it('does not read sharding keys off the object prototype', () => {
    expect(rejection('CREATE TABLE constructor (n UInt32) ENGINE = MergeTree ORDER BY n')).toContain('no sharding key given for table constructor');
  });
});

describe('clusterStatements: the TinyLog migrations ledger', () => {
  it('becomes one unsharded ReplicatedMergeTree copy per node under its own name', () => {
    const bootstrap = 'CREATE TABLE IF NOT EXISTS analytics.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog';
    expect(clusterStatements(bootstrap, options)).toEqual([
      {
        runOn: 'one-node',
        sql:
          'CREATE TABLE IF NOT EXISTS analytics.schema_migrations ON CLUSTER monfri (version UInt32, name String, applied_at DateTime) ' +
          "ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/analytics/schema_migrations', '{shard}-{replica}') ORDER BY tuple()",
      },
    ]);
  });

  it('refuses TinyLog with clauses it cannot carry over', () => {
    expect(rejection('CREATE TABLE ledger (n UInt32) ENGINE = TinyLog ORDER BY n')).toContain('TinyLog takes no arguments or clauses');
  });
});

describe('clusterStatements: CREATE DATABASE', () => {
  it('runs ON CLUSTER, keeping IF NOT EXISTS', () => {
    expect(clusterStatements('CREATE DATABASE IF NOT EXISTS analytics', options)).toEqual([{ runOn: 'one-node', sql: 'CREATE DATABASE IF NOT EXISTS analytics ON CLUSTER monfri' }]);
    expect(clusterStatements('create database analytics', options)).toEqual([{ runOn: 'one-node', sql: 'CREATE DATABASE analytics ON CLUSTER monfri' }]);
  });

  it('refuses another database than the one cluster DDL is for', () => {
    expect(rejection('CREATE DATABASE IF NOT EXISTS other')).toContain('names database other');
  });
});

describe('clusterStatements: ALTER TABLE', () => {
  it('alters the replicated table ON CLUSTER, then asks for the Distributed table on each node', () => {
    expect(clusterStatements("ALTER TABLE events ADD COLUMN plan String DEFAULT 'free' AFTER workspace_id, DROP COLUMN legacy;", options)).toEqual([
      { runOn: 'one-node', sql: "ALTER TABLE analytics.events_local ON CLUSTER monfri ADD COLUMN plan String DEFAULT 'free' AFTER workspace_id, DROP COLUMN legacy" },
      { runOn: 'each-node', sql: "ALTER TABLE analytics.events ADD COLUMN plan String DEFAULT 'free' AFTER workspace_id, DROP COLUMN legacy" },
    ]);
  });

  it('keeps commas inside a column type as part of one action', () => {
    const [local] = clusterStatements('ALTER TABLE analytics.events MODIFY COLUMN pairs Array(Tuple(String, String))', options);
    expect(local?.sql).toBe('ALTER TABLE analytics.events_local ON CLUSTER monfri MODIFY COLUMN pairs Array(Tuple(String, String))');
  });

  it('refuses actions other than column changes, and tables that are not sharded', () => {
    expect(rejection("ALTER TABLE events DELETE WHERE workspace_id = 'w'")).toContain('only ADD/DROP/MODIFY COLUMN');
    expect(rejection('ALTER TABLE events ADD COLUMN a String, DROP PARTITION 201801')).toContain('DROP PARTITION 201801');
    expect(rejection('ALTER TABLE schema_migrations ADD COLUMN note String')).toContain('only sharded tables');
  });
});

describe('clusterStatements: materialized views and backfills', () => {
  const view = `CREATE MATERIALIZED VIEW IF NOT EXISTS usage_inserts_mv TO usage_inserts AS
SELECT workspace_id, toDate(timestamp) AS day, count() AS rows FROM events GROUP BY workspace_id, day`;

  it('creates a view with a TO table on each node, over the Distributed tables, its SELECT verbatim', () => {
    expect(clusterStatements(view, options)).toEqual([
      {
        runOn: 'each-node',
        sql: 'CREATE MATERIALIZED VIEW IF NOT EXISTS analytics.usage_inserts_mv TO analytics.usage_inserts AS SELECT workspace_id, toDate(timestamp) AS day, count() AS rows FROM events GROUP BY workspace_id, day',
      },
    ]);
  });

  it('keeps a view without IF NOT EXISTS as it is, and refuses one naming another database', () => {
    expect(clusterStatements('CREATE MATERIALIZED VIEW analytics.v TO t AS SELECT 1 AS one', options)[0]?.sql).toBe('CREATE MATERIALIZED VIEW analytics.v TO analytics.t AS SELECT 1 AS one');
    expect(rejection('CREATE MATERIALIZED VIEW v TO other.t AS SELECT 1 AS one')).toContain('names database other');
  });

  it('runs an INSERT once, through the Distributed tables, waiting for the shards', () => {
    const backfill = 'INSERT INTO usage_inserts SELECT workspace_id, toDate(timestamp) AS day, count() AS rows FROM events GROUP BY workspace_id, day;';
    expect(clusterStatements(backfill, options)).toEqual([{ runOn: 'one-node', sql: backfill.slice(0, -1), settings: { insert_distributed_sync: 1 } }]);
  });
});

describe('clusterStatements: shapes it does not handle', () => {
  it.each([
    ['a materialized view with its own inner table', 'CREATE MATERIALIZED VIEW daily ENGINE = SummingMergeTree ORDER BY d AS SELECT toDate(timestamp) AS d, count() AS n FROM events GROUP BY d'],
    ['a plain view', 'CREATE VIEW daily AS SELECT count() FROM events'],
    ['a DROP', 'DROP TABLE events'],
    ['a table copied from another', 'CREATE TABLE plain AS events ENGINE = MergeTree ORDER BY n'],
    ['a statement already ON CLUSTER', 'CREATE TABLE plain ON CLUSTER monfri (n UInt32) ENGINE = MergeTree ORDER BY n'],
    ['an ALTER already ON CLUSTER', 'ALTER TABLE events ON CLUSTER monfri ADD COLUMN a String'],
    ['an already replicated engine', "CREATE TABLE plain (n UInt32) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY n"],
    ['a Memory table', 'CREATE TABLE plain (n UInt32) ENGINE = Memory'],
    ['another database', 'CREATE TABLE other.plain (n UInt32) ENGINE = MergeTree ORDER BY n'],
    ['unbalanced parentheses', 'CREATE TABLE plain (n Array(UInt32) ENGINE = MergeTree ORDER BY n'],
  ])('refuses %s with a clear error', (_shape, statement) => {
    expect(rejection(statement)).toMatch(/^cluster DDL: /);
  });

  it('names the offending statement in the error', () => {
    expect(rejection('CREATE TABLE plain (n UInt32) ENGINE = Memory')).toBe('cluster DDL: engine Memory has no cluster form here: CREATE TABLE plain (n UInt32) ENGINE = Memory');
  });

  it('refuses cluster and database names that are not plain identifiers', () => {
    expect(() => clusterStatements('CREATE DATABASE x', { ...options, cluster: 'a;b' })).toThrow(TypeError);
    expect(() => clusterStatements('CREATE DATABASE x', { ...options, database: 'x y' })).toThrow(TypeError);
  });
});

describe('localTableName', () => {
  it('suffixes _local', () => {
    expect(localTableName('events')).toBe('events_local');
  });
});
