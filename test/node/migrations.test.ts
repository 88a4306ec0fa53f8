import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateClickHouse, readClickHouseMigrations } from '../../dev/migrate';
import { applyD1Migrations } from '../../dev/wrangler-dev';
import { REPO_ROOT } from '../../dev/process';
import { createClickHouse } from '../../lib/clickhouse';
import { splitStatements } from '../../lib/clickhouse-migrations';
import { testClickHouseEngines, testStackEnv } from '../support/stack-env';

const stack = testStackEnv();
const database = `monfri_migrations_${Date.now()}`;

describe.each(testClickHouseEngines())('ClickHouse migrations on $version ($engine)', ({ url, version }) => {
  const admin = createClickHouse({ ...stack, CLICKHOUSE_URL: url, CLICKHOUSE_DATABASE: 'default' });

  async function schemaSnapshot(): Promise<string> {
    const result = await admin.query({ query: `SELECT name, engine, create_table_query FROM system.tables WHERE database = '${database}' ORDER BY name`, format: 'JSONEachRow' });
    return JSON.stringify(await result.json());
  }

  afterAll(async () => {
    await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await admin.close();
  });

  it('apply every schema/clickhouse file once, and change nothing the second time', async () => {
    const files = readClickHouseMigrations();
    expect(files.length).toBeGreaterThan(0);
    const first = await migrateClickHouse({ url, database });
    expect(first.map((m) => m.version)).toEqual(files.map((m) => m.version));
    const afterFirst = await schemaSnapshot();
    expect(afterFirst).toContain('"events"');

    const second = await migrateClickHouse({ url, database });
    expect(second).toEqual([]);
    expect(await schemaSnapshot()).toBe(afterFirst);
    const recorded = await admin.query({ query: `SELECT count() AS n FROM ${database}.schema_migrations`, format: 'JSONEachRow' });
    expect(Number((await recorded.json<{ n: string | number }>())[0]?.n)).toBe(files.length);
  });

  it('runs on the version the test stack says it started', async () => {
    const result = await admin.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
    expect((await result.json<{ v: string }>())[0]?.v).toBe(version);
  });
});

describe('ClickHouse migration files', () => {
  it('splits statements on semicolons at line ends and drops comment lines', () => {
    expect(splitStatements("-- note; not a statement\nCREATE TABLE a (x String);\nINSERT INTO a VALUES ('a;b');\n")).toEqual(['CREATE TABLE a (x String)', "INSERT INTO a VALUES ('a;b')"]);
  });
});

describe('D1 migrations', () => {
  const persistTo = mkdtempSync(join(tmpdir(), 'monfri-d1-'));
  afterAll(() => rmSync(persistTo, { recursive: true, force: true }));

  it('apply with wrangler once, and find nothing to apply the second time', () => {
    applyD1Migrations(persistTo);
    const again = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'd1', 'migrations', 'list', 'DB', '--local', '--persist-to', persistTo], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true' },
    });
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/No migrations to apply/i);
    expect(() => applyD1Migrations(persistTo)).not.toThrow();
    // Three wrangler CLI runs, each a few seconds on a loaded 2-core machine.
  }, 60_000);
});
