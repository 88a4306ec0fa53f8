/**
 * lib/sql.ts against the REAL ClickHouse: every string literal we build must parse back
 * to exactly the bytes we meant (18.16 has no server-side parameters, so this escaping is
 * the only thing between user input and the SQL parser).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { identifier, literal, sql } from '../../lib/sql';
import { testStackEnv } from '../support/stack-env';

const stack = testStackEnv();

async function clickhouse(query: string): Promise<string> {
  const response = await fetch(`${stack.CLICKHOUSE_URL}/`, {
    method: 'POST',
    body: query,
    headers: { 'X-ClickHouse-User': stack.CLICKHOUSE_USER, 'X-ClickHouse-Key': stack.CLICKHOUSE_PASSWORD },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse ${response.status}: ${text.slice(0, 300)}\nquery: ${query.slice(0, 300)}`);
  return text;
}

/** The bytes ClickHouse parsed each literal into, as uppercase hex (exact, no output escaping involved). */
async function roundTripHex(values: readonly string[]): Promise<string[]> {
  const text = await clickhouse(`SELECT arrayMap(x -> hex(x), ${literal(values)}) AS v FORMAT JSONEachRow`);
  return z.object({ v: z.array(z.string()) }).parse(JSON.parse(text)).v;
}

const utf8Hex = (value: string): string => Buffer.from(value, 'utf8').toString('hex').toUpperCase();

const NASTY = [
  "'", "''", "\\", "\\'", "'\\", "\\\\'", '\n', '\r\n', '\t', '\0', 'a\0b', '\b', '\f', '\u000b', '\u001b[31m',
  "'; DROP TABLE events; --", "\\'; SELECT 1; --", '`', '"', '{name:String}', '?', '%s', '$1',
  'ünïcødé', '日本語', '🙂', '👨‍👩‍👧‍👦', '\u2028\u2029', '\uFEFF', 'Ω≈ç√∫', '\u0085', '',
];

describe('sql literal escaping (fuzzed against the real ClickHouse)', () => {
  it('round-trips hand-picked nasty strings exactly', async () => {
    expect(await roundTripHex(NASTY)).toEqual(NASTY.map(utf8Hex));
  });

  it('round-trips arbitrary unicode strings (quotes, backslashes, control chars, NUL, emoji)', async () => {
    const tricky = fc.constantFrom("'", '\\', '\n', '\r', '\t', '\0', '\b', '\f', '"', '`', '🙂', 'é', '\u2028');
    const piece = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: tricky, maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }));
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 20 }), async (values) => {
        expect(await roundTripHex(values)).toEqual(values.map(utf8Hex));
      }),
      { numRuns: 150 },
    );
  });

  it('a literal can never end the string early: the injected SQL stays data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: fc.constantFrom("'", '\\', ';', ' ', '-', 'x', '\n'), maxLength: 30 }), async (value) => {
        const text = await clickhouse(sql`SELECT ${value} = ${value} AS same, toString(length(${value})) AS bytes, 'end' AS tail FORMAT JSONEachRow`);
        expect(JSON.parse(text)).toEqual({ same: 1, bytes: String(Buffer.byteLength(value)), tail: 'end' });
      }),
      { numRuns: 100 },
    );
  });

  it('round-trips integers, bigints, booleans, null and dates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), async (int, big) => {
        const text = await clickhouse(`SELECT toString(${literal(int)}) AS i, toString(${literal(big)}) AS b FORMAT JSONEachRow`);
        expect(JSON.parse(text)).toEqual({ i: String(int), b: big.toString() });
      }),
      { numRuns: 50 },
    );
    const text = await clickhouse(`SELECT ${literal(true)} AS t, ${literal(false)} AS f, isNull(${literal(null)}) AS n, toUnixTimestamp(${literal(new Date(1_700_000_000_999))}) AS d FORMAT JSONEachRow`);
    expect(JSON.parse(text)).toEqual({ t: 1, f: 0, n: 1, d: 1_700_000_000 });
    expect(() => literal(Number.NaN)).toThrow(TypeError);
    expect(() => literal(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => literal(new Date(Number.NaN))).toThrow(TypeError);
  });
});

describe('identifier allow-list', () => {
  const allowed = ['event', 'timestamp_ms', 'toStartOfHour'] as const;

  it('returns names that are on the list', () => {
    for (const name of allowed) expect(identifier(name, allowed)).toBe(name);
  });

  it('refuses anything else, including look-alikes and injections', () => {
    for (const name of ['Event', 'event ', ' event', 'event;', 'event--', 'events', 'timestamp_ms, 1', '`event`', '"event"', 'event\0', '']) {
      expect(() => identifier(name, allowed)).toThrow(TypeError);
    }
  });

  it('refuses a listed name that is not a plain identifier (a bad allow-list cannot inject either)', () => {
    const badList = ['ok', 'x; DROP TABLE events', 'a b'] as const;
    expect(identifier('ok', badList)).toBe('ok');
    expect(() => identifier('x; DROP TABLE events', badList)).toThrow(TypeError);
    expect(() => identifier('a b', badList)).toThrow(TypeError);
  });

  it('fuzz: every string not on the list throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (name) => {
        fc.pre(!(allowed as readonly string[]).includes(name));
        expect(() => identifier(name, allowed)).toThrow(TypeError);
      }),
    );
  });
});
