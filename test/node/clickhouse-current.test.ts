/**
 * dev/clickhouse-current.ts (chdb's ClickHouse 26.7 behind the HTTP interface), driven by the real
 * @clickhouse/client-web the product uses, plus plain fetch where the wire format itself is the point.
 */
import { ClickHouseError, createClient, type ClickHouseClient } from '@clickhouse/client-web';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCurrentClickHouse, type CurrentClickHouse } from '../../dev/clickhouse-current';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DB_A = 'monfri_current_a';
const DB_B = 'monfri_current_b';

interface EventRow {
  id: string;
  name: string;
  version: number;
}

let dataDir: string;
let ch: CurrentClickHouse;
let admin: ClickHouseClient;
let a: ClickHouseClient;
let b: ClickHouseClient;

const client = (database: string): ClickHouseClient => createClient({ url: ch.url, database, clickhouse_settings: {} });

async function rows<T>(c: ClickHouseClient, query: string): Promise<T[]> {
  return (await c.query({ query, format: 'JSONEachRow' })).json<T>();
}

async function failure(promise: Promise<unknown>): Promise<ClickHouseError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ClickHouseError);
  return err as ClickHouseError;
}

const get = (query: string, params: Record<string, string> = {}): Promise<Response> =>
  fetch(`${ch.url}/?${new URLSearchParams({ query, ...params })}`);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'monfri-chdb-'));
  ch = await startCurrentClickHouse({ port: 0, dataDir });
  admin = client('default');
  for (const db of [DB_A, DB_B]) {
    await admin.command({ query: `CREATE DATABASE ${db}` });
    await admin.command({
      query: `CREATE TABLE ${db}.events (id String, name String, version UInt64)
              ENGINE = ReplacingMergeTree(version) ORDER BY id`,
    });
    // Keeps the unmerged row count deterministic for the FINAL test.
    await admin.command({ query: `SYSTEM STOP MERGES ${db}.events` });
    await admin.command({ query: `CREATE TABLE ${db}.burst (n UInt32) ENGINE = MergeTree ORDER BY n` });
  }
  a = client(DB_A);
  b = client(DB_B);
}, 60_000);

afterAll(async () => {
  await Promise.all([admin, a, b].map((c) => c?.close()));
  await ch?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('clickhouse-current', () => {
  it('answers GET ?query=SELECT version() like a server, with a current engine', async () => {
    expect(ch.version).toMatch(/^26\./);
    const response = await get('SELECT version()');
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^26\.\d+\.\d+\.\d+\n$/);
    expect(text.trim()).toBe(ch.version);
    expect(response.headers.get('content-type')).toBe('text/tab-separated-values; charset=UTF-8');
    expect(response.headers.get('x-clickhouse-format')).toBe('TabSeparated');
    expect(response.headers.get('x-clickhouse-query-id')).toMatch(UUID);
    const summary = JSON.parse(response.headers.get('x-clickhouse-summary') ?? '{}') as Record<string, string>;
    expect(summary.read_rows).toBe('1');
  });

  it('serves ping() and the /ping and / health answers', async () => {
    await expect(admin.ping()).resolves.toEqual({ success: true });
    for (const path of ['/ping', '/']) {
      const response = await fetch(`${ch.url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('Ok.\n');
    }
    expect((await fetch(`${ch.url}/nowhere`)).status).toBe(404);
  });

  it('inserts JSONEachRow, reads it back with .json(), and FINAL collapses ReplacingMergeTree versions', async () => {
    await a.insert({ table: 'events', values: [{ id: 'e1', name: 'first', version: 1 }, { id: 'e2', name: 'other', version: 1 }], format: 'JSONEachRow' });
    await a.insert({ table: 'events', values: [{ id: 'e1', name: 'second', version: 2 }], format: 'JSONEachRow' });

    const all = await rows<EventRow>(a, 'SELECT id, name, version FROM events ORDER BY id, version');
    expect(all).toEqual([
      { id: 'e1', name: 'first', version: 1 },
      { id: 'e1', name: 'second', version: 2 },
      { id: 'e2', name: 'other', version: 1 },
    ]);
    const final = await rows<EventRow>(a, 'SELECT id, name, version FROM events FINAL ORDER BY id');
    expect(final).toEqual([
      { id: 'e1', name: 'second', version: 2 },
      { id: 'e2', name: 'other', version: 1 },
    ]);
  });

  it('prints UInt64 unquoted in JSONEachRow by default (26.7), quoted when the URL setting asks, and puts the setting back', async () => {
    const query = 'SELECT toUInt64(7) AS n';
    expect(await rows<{ n: unknown }>(a, query)).toEqual([{ n: 7 }]);
    const quoted = await a.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
    expect(await quoted.json()).toEqual([{ n: '7' }]);
    expect(await rows<{ n: unknown }>(a, query)).toEqual([{ n: 7 }]);
  });

  it('runs each request in its `database` param: same table name in two databases stays apart', async () => {
    await b.insert({ table: 'events', values: [{ id: 'b1', name: 'only in b', version: 1 }], format: 'JSONEachRow' });
    const inB = await rows<EventRow>(b, 'SELECT id, name, version FROM events ORDER BY id');
    expect(inB).toEqual([{ id: 'b1', name: 'only in b', version: 1 }]);
    const inA = await rows<{ id: string }>(a, 'SELECT DISTINCT id FROM events ORDER BY id');
    expect(inA).toEqual([{ id: 'e1' }, { id: 'e2' }]);
    expect(await rows(a, 'SELECT currentDatabase() AS db')).toEqual([{ db: DB_A }]);
    expect(await rows(b, 'SELECT currentDatabase() AS db')).toEqual([{ db: DB_B }]);
    // No database param (client database 'default' sends none) means the default database.
    expect(await rows(admin, 'SELECT currentDatabase() AS db')).toEqual([{ db: 'default' }]);
  });

  it('echoes query_id in X-ClickHouse-Query-Id, and makes one up when none is sent', async () => {
    const result = await a.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow', query_id: 'monfri-test-query-1' });
    expect(result.response_headers['x-clickhouse-query-id']).toBe('monfri-test-query-1');
    expect(await result.json()).toEqual([{ one: 1 }]);
    const command = await a.command({ query: 'SELECT 1', query_id: 'monfri-test-command-1' });
    expect(command.response_headers['x-clickhouse-query-id']).toBe('monfri-test-command-1');
    const response = await fetch(ch.url, { method: 'POST', body: 'SELECT 1' });
    expect(response.headers.get('x-clickhouse-query-id')).toMatch(UUID);
    expect(await response.text()).toBe('1\n');
  });

  it('uses default_format when the query has no FORMAT clause, and the query FORMAT when it has one', async () => {
    const plain = await get("SELECT 1 AS a, 'x' AS b", { default_format: 'JSONEachRow' });
    expect(await plain.text()).toBe('{"a":1,"b":"x"}\n');
    expect(plain.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(plain.headers.get('content-type')).toBe('application/x-ndjson; charset=UTF-8');

    const own = await get("SELECT 1 AS a, 'x' AS b FORMAT CSV", { default_format: 'JSONEachRow' });
    expect(await own.text()).toBe('1,"x"\n');
    expect(own.headers.get('x-clickhouse-format')).toBe('CSV');

    const empty = await get('SELECT 1 AS a WHERE 0', { default_format: 'JSONEachRow' });
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe('');
  });

  it('refuses an insert holding a lone UTF-16 surrogate escape with ClickHouseError code 25, and stores nothing', async () => {
    const before = await rows<{ c: number }>(a, 'SELECT count() AS c FROM events');
    // client-web JSON.stringify()s the row: a lone surrogate becomes the six characters \ud800.
    const row = { id: 'bad', name: '\ud800x', version: 1 };
    expect(JSON.stringify(row)).toContain('"\\ud800x"');
    const err = await failure(a.insert({ table: 'events', values: [row], format: 'JSONEachRow' }));
    expect(err.code).toBe('25');
    expect(err.type).toBe('CANNOT_PARSE_ESCAPE_SEQUENCE');
    expect(err.message).toContain('surrogate');
    expect(await rows(a, 'SELECT count() AS c FROM events')).toEqual(before);
  });

  it('reports an unknown table as ClickHouseError code 60, over HTTP with the status and headers a server sends', async () => {
    const err = await failure(a.query({ query: 'SELECT * FROM no_such_table', format: 'JSONEachRow' }));
    expect(err.code).toBe('60');
    expect(err.type).toBe('UNKNOWN_TABLE');

    const response = await fetch(`${ch.url}/?database=${DB_A}`, { method: 'POST', body: 'SELECT * FROM no_such_table' });
    // A server maps UNKNOWN_TABLE to 404 (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp; 18.16 does too).
    expect(response.status).toBe(404);
    expect(response.headers.get('x-clickhouse-exception-code')).toBe('60');
    const body = await response.text();
    expect(body).toMatch(/^Code: 60\. DB::Exception: .*no_such_table.*\(UNKNOWN_TABLE\) \(version 26\.[\d.]+\)\n$/s);
  });

  it('answers other engine errors with HTTP 500 and the exception code header', async () => {
    const response = await fetch(ch.url, { method: 'POST', body: 'SELECT throwIf(1)' });
    expect(response.status).toBe(500);
    expect(response.headers.get('x-clickhouse-exception-code')).toBe('395');
    expect(await response.text()).toMatch(/^Code: 395\. DB::Exception: .*\(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO\)/);
    const err = await failure(a.command({ query: 'SELECT throwIf(1)' }));
    expect(err.code).toBe('395');

    // chdb wraps some exceptions in copies of themselves; a server states them once.
    for (const [url, code] of [
      [`${ch.url}/?query=${encodeURIComponent('SELECT 1 FORMAT NoSuchFormat')}`, '73'],
      [`${ch.url}/?database=${DB_A}&query=${encodeURIComponent('INSERT INTO events FORMAT JSONEachRow')}`, '108'],
    ] as const) {
      const wrapped = await fetch(url, { method: 'POST' });
      expect(wrapped.headers.get('x-clickhouse-exception-code')).toBe(code);
      const text = await wrapped.text();
      expect(text.match(/Code: /g)).toHaveLength(1);
      expect(text.match(/\(version /g)).toHaveLength(1);
    }
  });

  it('refuses several statements in one request as a server does, but not a semicolon inside a string', async () => {
    const err = await failure(a.command({ query: 'SELECT 1; SELECT 2' }));
    expect(err.code).toBe('62');
    expect(err.message).toContain('Multi-statements are not allowed');
    expect(await rows(a, "SELECT ';' AS s, 'x; DROP TABLE events' AS t")).toEqual([{ s: ';', t: 'x; DROP TABLE events' }]);
    await a.insert({ table: 'events', values: [{ id: 'semi', name: 'a;b\nc', version: 1 }], format: 'JSONEachRow' });
    expect(await rows(a, "SELECT name FROM events WHERE id = 'semi'")).toEqual([{ name: 'a;b\nc' }]);
  });

  it('binds query_params sent as param_ URL parameters', async () => {
    const result = await a.query({
      query: 'SELECT {s:String} AS s, {n:UInt32} AS n, {xs:Array(String)} AS xs',
      format: 'JSONEachRow',
      query_params: { s: "it's\ta \\ test", n: 42, xs: ["o'k", 'b'] },
    });
    expect(await result.json()).toEqual([{ s: "it's\ta \\ test", n: 42, xs: ["o'k", 'b'] }]);
  });

  it('refuses modifying queries over GET, empty queries, and bad database names', async () => {
    const readonly = await get('CREATE TABLE default.nope (a UInt8) ENGINE = Memory');
    expect(readonly.headers.get('x-clickhouse-exception-code')).toBe('164');
    expect(await fetch(ch.url, { method: 'POST', body: '' }).then((r) => r.headers.get('x-clickhouse-exception-code'))).toBe('62');
    const badName = await fetch(`${ch.url}/?database=${encodeURIComponent('x; DROP')}`, { method: 'POST', body: 'SELECT 1' });
    expect(badName.status).toBe(400);
    expect(badName.headers.get('x-clickhouse-exception-code')).toBe('36');
    const missing = await failure(client('no_such_db').query({ query: 'SELECT 1', format: 'JSONEachRow' }));
    expect(missing.code).toBe('81');
  });

  it('accepts and ignores Basic auth and X-ClickHouse-User/Key', async () => {
    const withAuth = createClient({ url: ch.url, database: DB_A, username: 'someone', password: 'secret', clickhouse_settings: {} });
    expect(await rows(withAuth, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await withAuth.close();
    const response = await fetch(`${ch.url}/?query=SELECT%202`, { headers: { 'X-ClickHouse-User': 'u', 'X-ClickHouse-Key': 'k' } });
    expect(await response.text()).toBe('2\n');
  });

  it('answers 20 concurrent inserts and selects across two databases correctly', async () => {
    const ops = Array.from({ length: 20 }, (_, i) => {
      const [c, db] = i % 4 < 2 ? [a, DB_A] : [b, DB_B];
      if (i % 2 === 0) return c.insert({ table: 'burst', values: [{ n: i }], format: 'JSONEachRow' }).then(() => ({ i, db, kind: 'insert' as const }));
      return rows<{ db: string; ns: number[] }>(c, 'SELECT currentDatabase() AS db, groupArray(n) AS ns FROM burst').then((r) => ({ i, db, kind: 'select' as const, r }));
    });
    const results = await Promise.all(ops);
    const expected: Record<string, number[]> = { [DB_A]: [0, 4, 8, 12, 16], [DB_B]: [2, 6, 10, 14, 18] };
    for (const result of results) {
      if (result.kind !== 'select') continue;
      expect(result.r).toHaveLength(1);
      expect(result.r[0]?.db).toBe(result.db);
      for (const n of result.r[0]?.ns ?? []) expect(expected[result.db]).toContain(n);
    }
    expect(await rows(a, 'SELECT groupArray(n) AS ns FROM (SELECT n FROM burst ORDER BY n)')).toEqual([{ ns: expected[DB_A] }]);
    expect(await rows(b, 'SELECT groupArray(n) AS ns FROM (SELECT n FROM burst ORDER BY n)')).toEqual([{ ns: expected[DB_B] }]);
  });

  it('close() stops the HTTP server and releases the chdb session so another can start', async () => {
    await ch.close();
    await expect(fetch(`${ch.url}/ping`)).rejects.toThrow();
    const again = await startCurrentClickHouse({ port: 0, dataDir });
    try {
      const c = createClient({ url: again.url, database: DB_A, clickhouse_settings: {} });
      // The data survived: chdb persisted it under dataDir.
      expect(await rows(c, "SELECT name FROM events FINAL WHERE id = 'e1'")).toEqual([{ name: 'second' }]);
      await c.close();
    } finally {
      await again.close();
    }
  }, 30_000);
});
