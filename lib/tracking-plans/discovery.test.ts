/** Discovery, both halves without ClickHouse: the consumer's per-event columns, and the report, Markdown and draft plan built from aggregate rows. */
import { describe, expect, it } from 'vitest';
import { dynamicKeyPlaceholder, hash53, planViolationColumns, schemaColumns, SCHEMA_LIMITS } from '../../consumers/events/schema-paths';
import type { TrackingPlan } from '../../schema/tracking-plan';
import { draftPlanFromDiscovery, eventSchemaReports, pointerOfPath, schemaMarkdown, schemaReport, type SchemaEventRow, type SchemaKeyRow } from './discovery';
import { compilePlan, validateEventAgainstPlan } from './validate';

const T0 = Date.parse('2026-11-01T00:00:00Z');

function key(event: string, path: string, valueType: string, occurrences: number, distinct: number, example = '', at = T0, type = 'track'): SchemaKeyRow {
  return { type, event, path, value_type: valueType, occurrences, distinct_values: distinct, first_seen_ms: at, last_seen_ms: at + 1000, example };
}

function eventRow(event: string, events: number, type = 'track'): SchemaEventRow {
  return { type, event, events, first_seen_ms: T0, last_seen_ms: T0 + 5000 };
}

describe('the consumer columns', () => {
  it('flattens nested objects as a.b and arrays as a[], with JSON Schema type names and one entry per value', () => {
    const columns = schemaColumns({ type: 'track', properties: { total: 12.5, count: 2, ok: true, none: null, address: { city: 'Berlin' }, items: [{ sku: 'A' }, { sku: 'B', tags: ['x'] }] }, traits: {} });
    const pairs = columns.schema_paths.map((path, index) => `${path}:${columns.schema_types[index]}`);
    expect(pairs).toEqual(['total:number', 'count:integer', 'ok:boolean', 'none:null', 'address:object', 'address.city:string', 'items:array', 'items[]:object', 'items[].sku:string', 'items[]:object', 'items[].sku:string', 'items[].tags:array', 'items[].tags[]:string']);
    expect(columns.schema_value_hashes[columns.schema_paths.indexOf('address')]).toBe(0);
    expect(new Set(columns.schema_value_hashes.filter((_, index) => columns.schema_paths[index] === 'items[].sku')).size).toBe(2);
    expect(columns.schema_examples[0]).toBe('12.5');
  });

  it('reads traits for identify and group, nothing for alias', () => {
    expect(schemaColumns({ type: 'identify', properties: { p: 1 }, traits: { plan: 'pro' } }).schema_paths).toEqual(['plan']);
    expect(schemaColumns({ type: 'alias', properties: { p: 1 }, traits: {} }).schema_paths).toEqual([]);
  });

  it('folds key names that look like data into placeholders, and never keeps an example from personal or secret-looking keys or values', () => {
    expect(['user_123', '2b7e1516-28ae-4d2a-a6d2-3f1c2b4d5e6f', 'ann@example.com', '2026-11-30', '1700000000000', '42', 'deadbeefdeadbeef00'].map(dynamicKeyPlaceholder)).toEqual(['{id}', '{uuid}', '{email}', '{timestamp}', '{timestamp}', '{id}', '{id}']);
    expect(['plan', 'address2', 'h264_codec', 'utm_source', 'step_1'].map(dynamicKeyPlaceholder)).toEqual([null, null, null, null, null]);
    const columns = schemaColumns({ type: 'track', properties: { email: 'x', password: 'hunter2', apiKey: 'k', note: 'ann@example.com', phone_number: 5551234, token: 'abc', plan: 'pro', users: { user_123: 1, user_456: 2 } }, traits: {} });
    expect(Object.fromEntries(columns.schema_paths.map((path, index) => [path, columns.schema_examples[index]]))).toEqual({ email: '', password: '', apiKey: '', note: '', phone_number: '', token: '', plan: 'pro', users: '', 'users.{id}': '2' });
  });

  it('bounds the work per event however large the arrays', () => {
    const columns = schemaColumns({ type: 'track', properties: { big: Array.from({ length: 5000 }, (_, index) => ({ index })), long: 'a long sentence '.repeat(40) }, traits: {} });
    expect(columns.schema_paths.filter((path) => path === 'big[]')).toHaveLength(SCHEMA_LIMITS.maxItems);
    const many = schemaColumns({ type: 'track', properties: Object.fromEntries(Array.from({ length: 500 }, (_, index) => [`k${index}`, index])), traits: {} });
    expect(many.schema_paths).toHaveLength(SCHEMA_LIMITS.maxPaths);
    expect(columns.schema_examples[columns.schema_paths.indexOf('long')]?.length).toBe(SCHEMA_LIMITS.maxExampleLength + 1);
  });

  it('hashes types apart (1 and "1" are two values) within 53 bits', () => {
    const numberOne = schemaColumns({ type: 'track', properties: { v: 1 }, traits: {} }).schema_value_hashes[0];
    const stringOne = schemaColumns({ type: 'track', properties: { v: '1' }, traits: {} }).schema_value_hashes[0];
    expect(numberOne).not.toBe(stringOne);
    for (const text of ['', 'a', 'grüße 😀', 'x'.repeat(1000)]) expect(Number.isSafeInteger(hash53(text))).toBe(true);
  });

  it('turns plan verdicts into one reason per rule and key, array items folded', () => {
    const columns = planViolationColumns({ flagged: true, unplanned: false, violations: [{ path: 'properties.items[0].qty', rule: 'minimum', message: 'must be >= 1' }, { path: 'properties.items[1].qty', rule: 'minimum', message: 'must be >= 1' }, { path: '', rule: 'required', message: 'needs userId' }] });
    expect(columns).toEqual({ plan_violation: 1, violation_reason: 'properties.items[0].qty: must be >= 1; properties.items[1].qty: must be >= 1; (event): needs userId', plan_violation_reasons: ['minimum:properties.items[].qty', 'required:'] });
    expect(planViolationColumns(undefined)).toEqual({ plan_violation: 0, violation_reason: '', plan_violation_reasons: [] });
  });
});

const PLAN: TrackingPlan = {
  id: 'tp_test',
  version: 3,
  name: 'Shop',
  events: [
    { name: 'Order Completed', version: 1, description: 'Paid.', rules: { type: 'object', properties: { total: { type: 'number' }, items: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } } } } } }, metadata: { propertyAnnotations: { '/properties/total': { description: 'Order total.' } } } },
    { name: 'Never Sent', version: 1, rules: { type: 'object' }, metadata: {} },
  ],
  identify: { rules: { type: 'object', properties: { plan: { enum: ['free', 'pro'] } } }, metadata: {} },
};

const EVENTS = [eventRow('Order Completed', 100), eventRow('order completed', 3), eventRow('Signup Clicked', 40), eventRow('', 20, 'identify'), eventRow('', 5, 'alias')];
const KEYS = [
  key('Order Completed', 'total', 'number', 90, 80, '12.5', T0),
  key('Order Completed', 'total', 'string', 10, 9, '12', T0 + 86_400_000),
  key('Order Completed', 'items', 'array', 100, 1),
  key('Order Completed', 'items[]', 'object', 180, 1),
  key('Order Completed', 'items[].sku', 'string', 180, 30, 'A-1'),
  key('Order Completed', 'currency', 'string', 100, 2, 'EUR'),
  key('Order Completed', 'coupon', 'null', 60, 1),
  key('Order Completed', 'coupon', 'string', 40, 5, 'WINTER'),
  key('Signup Clicked', 'clicked_at', 'string', 40, 5000, '2026-11-01T10:00:00Z'),
  key('Signup Clicked', 'button', 'string', 40, 3, 'hero'),
  key('Signup Clicked', 'page', 'string', 40, 8, '/'),
  key('Signup Clicked', 'experiments.{uuid}', 'boolean', 40, 2, 'true'),
  key('', 'plan', 'string', 20, 2, 'pro', T0, 'identify'),
];
const VIOLATIONS = [
  { type: 'track', event: 'Order Completed', rule: 'type', path: 'properties.total', events: 10, flagged: 10, blocked: 4 },
  { type: 'track', event: 'Order Completed', rule: 'required', path: 'properties.currency', events: 0, flagged: 0, blocked: 2 },
  { type: 'track', event: 'Signup Clicked', rule: 'unplanned', path: 'event', events: 40, flagged: 0, blocked: 0 },
  // Only ever refused: in no discovery table, only in the blocked counts.
  { type: 'track', event: 'Coupon Spammed', rule: 'unplanned', path: 'event', events: 0, flagged: 0, blocked: 7 },
];
const INPUT = { plan: PLAN, events: EVENTS, keys: KEYS, violations: VIOLATIONS };

describe('the report', () => {
  it('lists events with volume and plan status, planned-never-seen ones included', () => {
    const report = schemaReport(INPUT);
    expect(report.plan).toEqual({ id: 'tp_test', name: 'Shop', version: 3 });
    expect(report.events.map((event) => [event.type, event.event, event.status, event.volume])).toEqual([
      ['track', 'Order Completed', 'planned', 100],
      ['track', 'order completed', 'unplanned', 3],
      ['track', 'Signup Clicked', 'unplanned', 40],
      ['identify', '', 'planned', 20],
      ['alias', '', 'not_covered', 5],
      ['track', 'Never Sent', 'never_seen', 0],
      ['track', 'Coupon Spammed', 'unplanned', 0],
    ]);
  });

  it('counts blocked events next to stored ones, per event and per key', () => {
    const events = schemaReport(INPUT).events;
    expect(events.find((event) => event.event === 'Order Completed')).toMatchObject({ violations: 10, blocked: 6 });
    expect(events.find((event) => event.event === 'Coupon Spammed')).toMatchObject({ volume: 0, violations: 0, blocked: 7 });
    const [order] = eventSchemaReports(INPUT);
    expect(order?.keys.find((entry) => entry.path === 'currency')?.violations).toEqual([{ rule: 'required', events: 0, flagged: 0, blocked: 2 }]);
    const spammed = eventSchemaReports(INPUT).find((entry) => entry.event === 'Coupon Spammed');
    expect(spammed?.otherViolations).toEqual([VIOLATIONS[3]]);
  });

  it('reports a key sent as number then string with both types and counts, its distinct values summed, and the type change', () => {
    const [order] = eventSchemaReports(INPUT);
    const total = order?.keys.find((entry) => entry.path === 'total');
    expect(total).toMatchObject({ occurrences: 100, distinctValues: 89, planned: true, description: 'Order total.', example: '12', violations: [{ rule: 'type', events: 10, flagged: 10, blocked: 4 }] });
    expect(total?.types.map((entry) => [entry.type, entry.count])).toEqual([['number', 90], ['string', 10]]);
    expect(order?.keys.find((entry) => entry.path === 'items[].sku')?.planned).toBe(true);
    expect(order?.keys.find((entry) => entry.path === 'currency')?.planned).toBe(false);
    const codes = order?.warnings.map((warning) => `${warning.code}:${warning.path ?? ''}`);
    expect(codes).toContain('type_changed:total');
    expect(codes).toContain('similar_event_names:');
    // null next to string is an optional key, not a type change.
    expect(codes).not.toContain('type_changed:coupon');
  });

  it('flags a high-cardinality key among keys with few values, and dynamic keys', () => {
    const signup = eventSchemaReports(INPUT).find((entry) => entry.event === 'Signup Clicked');
    expect(signup?.warnings.map((warning) => `${warning.code}:${warning.path}`).sort()).toEqual(['dynamic_key:experiments.{uuid}', 'high_cardinality:clicked_at']);
  });

  it('writes Markdown with every event, key, description and warning', () => {
    const markdown = schemaMarkdown(INPUT, 'Acme | Shop', T0);
    expect(markdown).toContain('# Event schema: Acme | Shop');
    expect(markdown).toContain('| Order Completed | track | planned | 100 |');
    expect(markdown).toContain('| `total` | number (90), string (10) | 89 | 12 | yes | Order total. | type: 10 (+4 blocked) |');
    expect(markdown).toContain('| Coupon Spammed | track | unplanned | 0 | — | 0 | 7 | 0 |');
    expect(markdown).toContain('- `event`: unplanned: 0 (+7 blocked)');
    expect(markdown).toContain('## Never Sent');
    expect(markdown).toContain('⚠ high_cardinality');
  });

  it('maps key paths to schema pointers', () => {
    expect(pointerOfPath('items[].sku')).toBe('/properties/items/items/properties/sku');
    expect(pointerOfPath('a/b~c')).toBe('/properties/a~1b~0c');
  });
});

describe('a plan drafted from discovery', () => {
  it('describes what was received, and events like those validate against it', () => {
    const plan = draftPlanFromDiscovery(INPUT, 'Drafted');
    const order = plan.events.find((event) => event.name === 'Order Completed');
    expect(order?.rules).toEqual({
      type: 'object',
      properties: {
        coupon: { type: ['null', 'string'] },
        currency: { type: 'string' },
        items: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] } },
        total: { type: ['number', 'string'] },
      },
      required: ['currency', 'items', 'total'],
    });
    expect(plan.events.find((event) => event.name === 'Signup Clicked')?.rules).toMatchObject({ properties: { experiments: { additionalProperties: { type: 'boolean' } } } });
    expect(plan.identify?.rules).toEqual({ type: 'object', properties: { plan: { type: 'string' } }, required: ['plan'] });
    const compiled = compilePlan(plan);
    expect(validateEventAgainstPlan(compiled, { type: 'track', event: 'Order Completed', properties: { total: 5, currency: 'EUR', items: [{ sku: 'A' }], coupon: null } }).violations).toEqual([]);
    expect(validateEventAgainstPlan(compiled, { type: 'track', event: 'Order Completed', properties: { total: 5, items: [] } }).violations.map((violation) => violation.rule)).toEqual(['required']);
  });
});
