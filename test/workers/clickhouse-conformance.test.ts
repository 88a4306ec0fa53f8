/// <reference types="vite/client" />
/**
 * Two engines and a cluster, one truth. Every ClickHouse `npm test` started (18.16, the current
 * engine, 26.x through chdb, and a 2 shards x 2 replicas 18.16 cluster in cluster mode) gets the
 * same migrations (twice: they must be idempotent) and the same rows, written by the real
 * consumer pipeline from realistic events (conformance-fixture.ts). Then every query text the
 * code can build runs on each and the results must be equal: one SQL text, and a cluster gives
 * what one server gives (sharded identities joined to sharded events included).
 *
 * The builders are enumerated, not listed by hand: every function named `...Query` exported by
 * a `lib/*-queries.ts` module must have an entry in QUERY_CASES, or this test fails naming it.
 * A later query module (segments, schema, usage, deletes) is covered by adding its cases here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EVENT_PIPELINE, runPipeline } from '../../consumers/events/pipeline';
import { defaultProfileLoader } from '../../consumers/workspace-profiles';
import { createClickHouse, type ClickHouseClient } from '../../lib/clickhouse';
import { applyClickHouseMigrations, parseMigrationFileName, type ClickHouseMigration } from '../../lib/clickhouse-migrations';
import { STATS_INTERVALS, type EventFilters, type PersonMatch } from '../../lib/event-queries';
import { readUsageDays } from '../../lib/usage';
import type { ActiveSegment, ComputedTraitDefinition, Condition } from '../../schema/segments';
import { identityKeyOf, resolvePerson } from '../../lib/persons';
import { storePlanBlockedTallies } from '../../consumers/plan-blocked';
import { FIXTURE_NOW, FIXTURE_TIMES, fixtureBatches, fixturePlanBlockedTallies, OTHER_WORKSPACE, WORKSPACE } from './conformance-fixture';
import { env } from './support';

const QUERY_MODULES = import.meta.glob<Record<string, unknown>>('../../lib/*-queries.ts', { eager: true });
const MIGRATION_FILES = import.meta.glob<string>('../../schema/clickhouse/*.sql', { query: '?raw', import: 'default', eager: true });

const engineSchema = z.object({ engine: z.string(), url: z.string(), version: z.string(), cluster: z.object({ name: z.string(), nodeUrls: z.array(z.string()) }).optional() });
const ENGINES = z.array(engineSchema).parse(JSON.parse(env.TEST_CLICKHOUSE_ENGINES));
const DATABASE = `monfri_conformance_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;

/** A query function as exported by a query module; each case calls it with arguments of its own. */
type QueryBuilder = (...args: never[]) => string;

interface CaseContext {
  /** Person matches as the query API resolves them (equal on every engine: checked below). */
  persons: Record<'u1' | 'u2' | 'a1' | 'u3', PersonMatch>;
}

/** Filter variations: each dimension alone, then every pair, so each condition meets every other once. */
function filterVariants(context: CaseContext): EventFilters[] {
  const base: EventFilters = { workspaceId: WORKSPACE, includeBots: false };
  const dimensions: Partial<EventFilters>[][] = [
    [{ event: 'Order Completed' }, { event: 'Product Viewed' }, { event: 'No Such Event' }],
    [{ types: ['track'] }, { types: ['identify', 'page', 'screen', 'group', 'alias'] }],
    [{ person: context.persons.u1 }, { person: context.persons.u2 }, { person: context.persons.a1 }],
    [{ fromMs: FIXTURE_TIMES.thirtyDaysAgo }, { fromMs: FIXTURE_TIMES.oneHourAgo }],
    [{ toMs: FIXTURE_TIMES.oneDayAgo }, { toMs: FIXTURE_TIMES.now }],
    [{ propertyEquals: [['currency', 'EUR']] }, { propertyEquals: [['total', '120']] }, { propertyEquals: [['key.with.dots', 'x'], ['', 'empty key']] }],
    [{ includeBots: true }],
  ];
  const variants: EventFilters[] = [base, { ...base, workspaceId: OTHER_WORKSPACE }];
  dimensions.forEach((options, i) => {
    for (const option of options) variants.push({ ...base, ...option });
    dimensions.slice(i + 1).forEach((others) => {
      for (const option of options) for (const other of others) variants.push({ ...base, ...option, ...other });
    });
  });
  return variants;
}

const personIds = (context: CaseContext): string[][] => [context.persons.u1.personIds, context.persons.u2.personIds, context.persons.u3.personIds, ['user:u4'], ['user:nobody']];

/** Every query builder's cases: the SQL texts to run on each engine. */
const QUERY_CASES: Record<string, (context: CaseContext) => string[]> = {
  lookupIdentitiesQuery: (context) =>
    [['anonymous:a1', 'anonymous:a2', 'user:u2-old', 'anonymous:a3'], ['user:nobody'], []].map((keys) => call('lookupIdentitiesQuery', WORKSPACE, keys)).concat(personIds(context).map((ids) => call('lookupIdentitiesQuery', WORKSPACE, ids))),
  identitiesOfPersonsQuery: (context) => personIds(context).map((ids) => call('identitiesOfPersonsQuery', WORKSPACE, ids)),
  conflictsOfPersonsQuery: (context) => personIds(context).map((ids) => call('conflictsOfPersonsQuery', WORKSPACE, ids)),
  listEventsQuery: (context) => [
    ...filterVariants(context).map((filters) => call('listEventsQuery', filters, 100)),
    call('listEventsQuery', { workspaceId: WORKSPACE, includeBots: true }, 3),
    call('listEventsQuery', { workspaceId: WORKSPACE, includeBots: true }, 3, { timestampMs: FIXTURE_NOW - 6 * 86_400_000, messageId: 'm-identify-a3-u3' }),
  ],
  statsByEventQuery: (context) => STATS_INTERVALS.flatMap((interval) => filterVariants(context).map((filters) => call('statsByEventQuery', filters, interval))),
  uniquePersonsQuery: (context) => filterVariants(context).map((filters) => call('uniquePersonsQuery', filters)),
  countStoredQuery: () => [call('countStoredQuery', WORKSPACE), call('countStoredQuery', OTHER_WORKSPACE)],
  usageInsertsQuery: () => [call('usageInsertsQuery', WORKSPACE, FIXTURE_TIMES.fortyFiveDaysAgo, FIXTURE_NOW + 86_400_000), call('usageInsertsQuery', OTHER_WORKSPACE, FIXTURE_TIMES.thirtyDaysAgo, FIXTURE_NOW + 86_400_000), call('usageInsertsQuery', WORKSPACE, FIXTURE_TIMES.oneDayAgo, FIXTURE_NOW)],
  usageDaysQuery: () => [call('usageDaysQuery', WORKSPACE, FIXTURE_TIMES.fortyFiveDaysAgo, FIXTURE_NOW + 86_400_000), call('usageDaysQuery', WORKSPACE, FIXTURE_TIMES.thirtyDaysAgo, FIXTURE_TIMES.oneDayAgo)],
  countUsageDaysQuery: () => [call('countUsageDaysQuery', WORKSPACE, usageDays()), call('countUsageDaysQuery', WORKSPACE, usageDays().slice(0, 2)), call('countUsageDaysQuery', OTHER_WORKSPACE, usageDays())],
  billableBetweenQuery: () => [call('billableBetweenQuery', WORKSPACE, FIXTURE_TIMES.fortyFiveDaysAgo, FIXTURE_NOW + 1), call('billableBetweenQuery', WORKSPACE, FIXTURE_TIMES.thirtyDaysAgo, FIXTURE_TIMES.oneDayAgo + 12_345)],
  activeUsageWorkspacesQuery: () => [call('activeUsageWorkspacesQuery', FIXTURE_TIMES.fortyFiveDaysAgo), call('activeUsageWorkspacesQuery', FIXTURE_TIMES.oneDayAgo)],
  botReasonsQuery: (context) => filterVariants(context).map((filters) => call('botReasonsQuery', filters)),
  botEventsQuery: (context) => filterVariants(context).map((filters) => call('botEventsQuery', filters)),
  segmentMembersQuery: () => CONFORMANCE_SEGMENTS.flatMap((segment) => [FIXTURE_NOW, FIXTURE_TIMES.oneDayAgo, FIXTURE_TIMES.thirtyDaysAgo].map((atMs) => call('segmentMembersQuery', WORKSPACE, segment, atMs))),
  segmentBackfillQuery: () =>
    CONFORMANCE_SEGMENTS.flatMap((segment) => [
      call('segmentBackfillQuery', WORKSPACE, segment, FIXTURE_NOW, null, 1000),
      call('segmentBackfillQuery', WORKSPACE, segment, FIXTURE_NOW, null, 2),
      call('segmentBackfillQuery', WORKSPACE, segment, FIXTURE_NOW, { insertedAt: 0, messageId: 'm-order-u1' }, 1000),
    ]),
  personTraitsQuery: (context) => personIds(context).map((ids) => call('personTraitsQuery', WORKSPACE, ids)),
  personStatsQuery: (context) => personIds(context).map((ids) => call('personStatsQuery', WORKSPACE, ids)),
  schemaEventsQuery: () => [call('schemaEventsQuery', WORKSPACE), call('schemaEventsQuery', OTHER_WORKSPACE)],
  schemaKeysQuery: () => [
    call('schemaKeysQuery', WORKSPACE),
    call('schemaKeysQuery', WORKSPACE, { type: 'track', event: 'Product Viewed' }),
    call('schemaKeysQuery', WORKSPACE, { type: 'track', event: 'Order Completed' }),
    call('schemaKeysQuery', WORKSPACE, { type: 'identify', event: '' }),
    call('schemaKeysQuery', OTHER_WORKSPACE),
  ],
  planViolationCountsQuery: () => [
    call('planViolationCountsQuery', WORKSPACE, '2026-10-01'),
    call('planViolationCountsQuery', WORKSPACE, '2026-11-29'),
    call('planViolationCountsQuery', WORKSPACE, '2026-10-01', { type: 'track', event: 'Order Completed' }),
    call('planViolationCountsQuery', OTHER_WORKSPACE, '2026-10-01'),
  ],
  personComputedTraitsQuery: (context) => personIds(context).flatMap((ids) => [call('personComputedTraitsQuery', WORKSPACE, ids, CONFORMANCE_TRAITS, FIXTURE_NOW), call('personComputedTraitsQuery', WORKSPACE, ids, [], FIXTURE_NOW)]),
};

const CONFORMANCE_TRAITS: ComputedTraitDefinition[] = [
  { name: 'revenue_30d', kind: 'sum', event: 'Order Completed', property: 'total', withinDays: 30 },
  { name: 'orders', kind: 'count', event: 'Order Completed' },
  { name: 'largest_order', kind: 'max', event: 'Order Completed', property: 'total' },
  { name: 'smallest_order', kind: 'min', event: 'Order Completed', property: 'total' },
  { name: 'last_currency', kind: 'last', event: 'Order Completed', property: 'currency' },
];

/** Segments reading every kind of condition; each is also recomputed at three instants. */
const CONFORMANCE_SEGMENTS: ActiveSegment[] = (
  [
    { type: 'performed', event: 'Order Completed', where: [{ property: 'total', op: 'gt', value: 50 }], count: { op: 'at_least', value: 1 }, withinDays: 30 },
    { type: 'all', conditions: [{ type: 'performed', event: 'Product Viewed', where: [], count: { op: 'at_least', value: 1 } }, { type: 'not_performed', event: 'Order Completed', where: [], withinDays: 7 }] },
    { type: 'any', conditions: [{ type: 'trait', trait: 'plan', op: 'eq', value: 'scale' }, { type: 'trait', trait: 'seats', op: 'gte', value: 3 }] },
    { type: 'all', conditions: [{ type: 'computed', trait: 'event_count', op: 'gte', value: 2 }, { type: 'computed', trait: 'last_seen', op: 'within_days', value: 7 }] },
    { type: 'computed', trait: 'first_seen', op: 'not_within_days', value: 30 },
    { type: 'performed', event: 'Order Completed', where: [{ property: 'currency', op: 'in', value: ['EUR', 'GBP'] }, { property: 'coupon', op: 'exists' }], count: { op: 'at_most', value: 1 } },
    { type: 'any', conditions: [{ type: 'computed', trait: 'revenue_30d', op: 'gte', value: 100 }, { type: 'computed', trait: 'last_currency', op: 'eq', value: 'EUR' }, { type: 'computed', trait: 'session_count', op: 'gt', value: 0 }] },
    { type: 'all', conditions: [{ type: 'computed', trait: 'orders', op: 'eq', value: 1 }, { type: 'computed', trait: 'largest_order', op: 'lt', value: 100 }, { type: 'computed', trait: 'smallest_order', op: 'neq', value: 50 }] },
    { type: 'trait', trait: 'email', op: 'contains', value: '@shop.test' },
  ] satisfies Condition[]
).map((condition, index) => ({ id: `seg_conformance_${index}`, name: `Conformance ${index}`, version: 1, shards: 1, condition, computedTraits: CONFORMANCE_TRAITS }));

/** The days (UTC) the fixture's events of WORKSPACE fall on. */
function usageDays(): string[] {
  return [...new Set(fixtureBatches().flat().filter((event) => event.workspaceId === WORKSPACE).map((event) => event.timestamp.slice(0, 10)))].sort();
}

/** Every `...Query` export of every lib/*-queries.ts module, by name. */
function queryBuilders(): Map<string, QueryBuilder> {
  const builders = new Map<string, QueryBuilder>();
  for (const [path, module] of Object.entries(QUERY_MODULES)) {
    for (const [name, value] of Object.entries(module)) {
      if (!name.endsWith('Query') || typeof value !== 'function') continue;
      if (builders.has(name)) throw new Error(`${name} is exported by two query modules (${path})`);
      builders.set(name, value as QueryBuilder);
    }
  }
  return builders;
}

const BUILDERS = queryBuilders();

function call(name: string, ...args: unknown[]): string {
  const builder = BUILDERS.get(name);
  if (!builder) throw new Error(`no query builder ${name}`);
  return (builder as (...values: unknown[]) => string)(...args);
}

function migrations(): ClickHouseMigration[] {
  return Object.entries(MIGRATION_FILES).flatMap(([path, sql]) => {
    const parsed = parseMigrationFileName(path.split('/').at(-1) ?? '');
    return parsed ? [{ ...parsed, sql }] : [];
  });
}

interface Target {
  engine: string;
  version: string;
  client: ClickHouseClient;
}

/** In cluster mode (`cluster` named), inserts are quorum inserts, as the consumer's are there. */
function clientFor(url: string, database: string, cluster = ''): ClickHouseClient {
  return createClickHouse({ CLICKHOUSE_URL: url, CLICKHOUSE_USER: 'default', CLICKHOUSE_PASSWORD: '', CLICKHOUSE_DATABASE: database, CLICKHOUSE_CLUSTER: cluster }, { timeoutMs: 60_000 });
}

/** Rows as JSON values, 64-bit integers quoted on every engine (chdb's default is unquoted). */
async function rowsOf(client: ClickHouseClient, query: string): Promise<Record<string, unknown>[]> {
  const result = await client.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 1 } });
  return z.array(z.record(z.string(), z.unknown())).parse(await result.json());
}

/**
 * A dropped keep-alive connection (workerd: "Network connection lost") says nothing about the
 * answer; on a loaded machine it happens now and then with four more servers. One more try for
 * that alone; any ClickHouse error (it has a Code) counts at once.
 */
async function rowsOfRetryingTransport(client: ClickHouseClient, query: string): Promise<Record<string, unknown>[]> {
  try {
    return await rowsOf(client, query);
  } catch (error) {
    if (!/Network connection lost/.test(error instanceof Error ? error.message : String(error))) throw error;
    return await rowsOf(client, query);
  }
}

const canonical = (value: unknown): unknown => (typeof value === 'number' ? Number(value.toPrecision(15)) : Array.isArray(value) ? value.map(canonical) : value);

/** Rows in a comparable form: the query's own order when its outermost clause orders, else sorted. */
function comparable(rows: Record<string, unknown>[], query: string): string[] {
  const texts = rows.map((row) => JSON.stringify(Object.fromEntries(Object.entries(row).map(([key, value]) => [key, canonical(value)]))));
  const ordered = /\bORDER BY\b[^()]*$/.test(query.replace(/\s+/g, ' ').replace(/\([^()]*\)/g, ''));
  return ordered ? texts : [...texts].sort();
}

/**
 * Where a cluster may hold fewer physical copies of a row than one server: a replicated table
 * drops an inserted block equal to one it already holds (the fixture redelivers a whole batch),
 * one server keeps both. Only queries that read without FINAL, or count physical rows, can see
 * that; their readers count each messageId once. For these, the cluster's answer is compared
 * with distinct rows and without the physical counts; everything else must match exactly.
 */
const PHYSICAL_COPIES: Readonly<Record<string, readonly string[]>> = { countStoredQuery: ['rows'], segmentBackfillQuery: [] };

function logicalRows(rows: string[], physicalCounts: readonly string[]): string[] {
  const logical = rows.map((row) => JSON.stringify(Object.fromEntries(Object.entries(z.record(z.string(), z.unknown()).parse(JSON.parse(row))).filter(([key]) => !physicalCounts.includes(key)))));
  return [...new Set(logical)];
}

function messages(bodies: unknown[]): Message<unknown>[] {
  return bodies.map((body, index) => ({ id: `c${index}`, timestamp: new Date(FIXTURE_NOW), attempts: 1, body, ack: () => {}, retry: () => {} }));
}

const targets: Target[] = [];
/** The cluster's node clients, for statements that act on each node's local tables. */
const clusterNodes: ClickHouseClient[] = [];
let context: CaseContext;

beforeAll(async () => {
  expect(ENGINES.map((engine) => engine.engine).sort(), 'npm test starts both engines and the cluster').toEqual(['cluster', 'current', 'server']);
  for (const engine of ENGINES) {
    const admin = clientFor(engine.url, 'default');
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${DATABASE}` });
    await admin.close();
    const client = clientFor(engine.url, DATABASE, engine.cluster?.name);
    const nodes = (engine.cluster?.nodeUrls ?? []).map((url) => clientFor(url, DATABASE));
    clusterNodes.push(...nodes);
    const cluster = engine.cluster ? { name: engine.cluster.name, nodes } : undefined;
    const applied = await applyClickHouseMigrations(client, DATABASE, migrations(), { cluster });
    expect(applied.length, `${engine.engine}: migrations applied`).toBe(migrations().length);
    expect(await applyClickHouseMigrations(client, DATABASE, migrations(), { cluster }), `${engine.engine}: a second run applies nothing`).toEqual([]);
    // Parts stay apart, so duplicates across inserts are really on disk twice when queried (on a cluster: on every node).
    if (cluster) for (const node of nodes) await node.command({ query: 'SYSTEM STOP MERGES events_local' });
    else await client.command({ query: 'SYSTEM STOP MERGES events' });
    const steps = EVENT_PIPELINE.filter((step) => step.name !== 'after_insert');
    for (const batch of fixtureBatches()) {
      const result = await runPipeline(messages(batch), { env, now: () => FIXTURE_NOW, redis: null, clickhouse: client, workspaces: defaultProfileLoader }, steps);
      expect(result.timings.filter((timing) => timing.error), `${engine.engine}: pipeline errors`).toEqual([]);
    }
    // The consumer's own code stores the edge's tallies of blocked events (no Redis: dedup within a batch only).
    for (const tallies of fixturePlanBlockedTallies()) {
      expect(await storePlanBlockedTallies(messages(tallies), { env, clickhouse: client, redis: null }), `${engine.engine}: tallies stored`).toBe(new Set(tallies.map((tally) => tally.messageId)).size);
    }
    // Counting the usage days writes usage_days, which its own query then reads.
    const counted = await readUsageDays(client, WORKSPACE, FIXTURE_TIMES.fortyFiveDaysAgo, FIXTURE_NOW + 86_400_000, FIXTURE_NOW);
    expect(counted.recounted, `${engine.engine}: every day counted once`).toEqual(usageDays());
    expect((await readUsageDays(client, WORKSPACE, FIXTURE_TIMES.fortyFiveDaysAgo, FIXTURE_NOW + 86_400_000, FIXTURE_NOW)).recounted, `${engine.engine}: nothing to recount`).toEqual([]);
    targets.push({ engine: engine.engine, version: engine.version, client });
  }
  const resolved = await Promise.all(
    targets.map(async ({ client }) => {
      const match = async (id: string): Promise<PersonMatch> => (await resolvePerson(client, WORKSPACE, identityKeyOf(id))).match;
      return { u1: await match('u1'), u2: await match('u2'), a1: await match('anonymous:a1'), u3: await match('u3') };
    }),
  );
  for (const each of resolved.slice(1)) expect(each, 'person resolution is the same on every engine').toEqual(resolved[0]);
  const [first] = resolved;
  if (!first) throw new Error('no engine');
  context = { persons: first };
}, 120_000);

afterAll(async () => {
  // A cluster's database is on every node (the ON CLUSTER create made it there).
  await Promise.all(
    [...targets.map((target) => target.client), ...clusterNodes].map(async (client) => {
      await client.command({ query: `DROP DATABASE IF EXISTS ${DATABASE}` }).catch(() => undefined);
      await client.close();
    }),
  );
}, 120_000);

describe('ClickHouse conformance: 18.16, the current engine and a 2x2 cluster', () => {
  it('every query builder in lib/*-queries.ts has cases here (and no case names a builder that is gone)', () => {
    expect([...BUILDERS.keys()].filter((name) => !(name in QUERY_CASES)), 'builders without a case').toEqual([]);
    expect(Object.keys(QUERY_CASES).filter((name) => !BUILDERS.has(name)), 'cases without a builder').toEqual([]);
  });

  it('the rows really hold duplicates in several parts, and the dedup backstop counts each event once', async () => {
    const expectedEvents = new Set(fixtureBatches().flat().filter((event) => event.workspaceId === WORKSPACE).map((event) => event.messageId)).size;
    for (const { engine, client } of targets) {
      const [stored] = await rowsOf(client, call('countStoredQuery', WORKSPACE));
      expect(stored?.events, engine).toBe(String(expectedEvents));
      // A cluster's replicated table may drop a redelivered block equal to one it holds (PHYSICAL_COPIES), never all duplicates.
      const duplicates = Number(stored?.rows) - expectedEvents;
      if (engine === 'cluster') expect(duplicates, engine).toBeGreaterThanOrEqual(1);
      else expect(duplicates, engine).toBe(2);
      expect(duplicates, engine).toBeLessThanOrEqual(2);
      // One server holds a part per batch; a cluster node (one replica of one shard) at least one.
      const [parts] = await rowsOf(client, `SELECT count() AS parts FROM system.parts WHERE database = '${DATABASE}' AND table IN ('events', 'events_local') AND active`);
      expect(Number(parts?.parts), engine).toBeGreaterThanOrEqual(engine === 'cluster' ? 1 : fixtureBatches().length);
      const listed = await rowsOf(client, call('listEventsQuery', { workspaceId: WORKSPACE, includeBots: true }, 1000));
      expect(listed.length, engine).toBe(expectedEvents);
    }
  });

  for (const name of Object.keys(QUERY_CASES)) {
    it(`${name}: every case gives the same rows on every engine`, async () => {
      const queries = QUERY_CASES[name]?.(context) ?? [];
      expect(queries.length).toBeGreaterThan(0);
      const differences: string[] = [];
      let nonEmpty = 0;
      for (const query of queries) {
        const answers = await Promise.all(
          targets.map(async ({ engine, client }) => {
            try {
              return { engine, rows: comparable(await rowsOfRetryingTransport(client, query), query) };
            } catch (error) {
              return { engine, error: error instanceof Error ? error.message.slice(0, 300) : String(error) };
            }
          }),
        );
        const [reference, ...others] = answers;
        if (!reference) continue;
        if (reference.rows && reference.rows.length > 0) nonEmpty++;
        for (const other of [reference, ...others]) {
          if ('error' in other) differences.push(`${other.engine} failed: ${other.error}\n${query}`);
        }
        const physicalCounts = PHYSICAL_COPIES[name];
        for (const other of others) {
          const [expected, actual] =
            other.engine === 'cluster' && physicalCounts && reference.rows && other.rows
              ? [logicalRows(reference.rows, physicalCounts), logicalRows(other.rows, physicalCounts)]
              : [reference.rows, other.rows];
          if (expected && actual && JSON.stringify(actual) !== JSON.stringify(expected)) {
            differences.push(`${reference.engine} vs ${other.engine} differ:\n${query}\n${reference.engine}: ${expected.join('\n')}\n${other.engine}: ${actual.join('\n')}`);
          }
        }
      }
      expect(differences).toEqual([]);
      // Not vacuous: many cases find rows (some filters are meant to find none).
      expect(nonEmpty / queries.length).toBeGreaterThan(0.3);
      // statsByEventQuery has hundreds of cases, each on three targets: 31 s at a quiet moment, past 120 s at a load of 28 on 2 cores.
    }, 300_000);
  }
});
