import { Validator } from '@cfworker/json-schema';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CollectedEvent, JsonObject, JsonValue } from '../../schema/event';
import type { RuleSchema, TrackingPlan } from '../../schema/tracking-plan';
import configApiFixture from './fixtures/config-api-v7.json';
import publicApiFixture from './fixtures/public-api.json';
import typewriterFixture from './fixtures/typewriter-v8.json';
import { importSegmentPlan, isJsonObject } from './segment-import';
import { compilePlan, compileSchemaCheck, validateEventAgainstPlan, type PlanCheckedEvent, type PlanViolation } from './validate';

const plans = {
  configApi: importSegmentPlan(configApiFixture).plan,
  publicApi: importSegmentPlan(publicApiFixture).plan,
  typewriter: importSegmentPlan(typewriterFixture).plan,
};
const ALL_PLANS = [
  { name: 'Config API v7', plan: plans.configApi },
  { name: 'Public API', plan: plans.publicApi },
  { name: 'Typewriter v8', plan: plans.typewriter },
];

const goodContext: JsonObject = { app: { version: '2.14.0' }, locale: 'en-GB' };

function orderProperties(overrides: JsonObject = {}): JsonObject {
  return {
    order_id: 'ord_9f3k2m1x',
    revenue: 59.9,
    subtotal: 55,
    tax: 4.9,
    currency: 'EUR',
    coupon: null,
    products: [
      { product_id: 'p-1', sku: 'TSHIRT-M', price: 25, quantity: 2 },
      { product_id: 'p-2', price: 9.9 },
    ],
    shipping: { method: 'express', address: { country: 'DE', postal_code: '10115' } },
    ...overrides,
  };
}

const VALID_TRACKS: Record<string, JsonObject> = {
  'Order Completed': orderProperties(),
  'Product Viewed': { product_id: 'p-1', name: 'T-shirt', category: null, price: 25, position: 3, url: 'https://shop.example/p/1', tags: ['cotton', 'summer'] },
  'Checkout Step Viewed': { checkout_id: 'c-1', step: 2, discount_rate: 0.1, payment_method: null },
  'Signed Up': { method: 'email', email: 'ada@example.com', platform: 'web', marketing_opt_in: true },
  'Products Searched': { query: 'shoes', filters: [{ field: 'price', min: 10, max: 90 }, { field: 'brand', values: ['acme'] }], sort: 'price_asc', page: 2 },
};

function track(event: string, properties: JsonObject, context: JsonObject = goodContext): PlanCheckedEvent {
  return { type: 'track', event, properties, context, userId: 'u-1', anonymousId: null };
}

function check(plan: TrackingPlan, event: PlanCheckedEvent) {
  return validateEventAgainstPlan(compilePlan(plan), event);
}

type Found = Pick<PlanViolation, 'path' | 'rule'>;

/** Violations come in the schema's key order, which differs between shapes (Typewriter sorts keys): compared as sets. */
function inOrder(violations: Found[]): Found[] {
  return [...violations].sort((a, b) => `${a.path} ${a.rule}`.localeCompare(`${b.path} ${b.rule}`));
}

function violationsOf(plan: TrackingPlan, event: PlanCheckedEvent): Found[] {
  return inOrder(check(plan, event).violations.map(({ path, rule }) => ({ path, rule })));
}

describe.each(ALL_PLANS)('the $name plan', ({ plan }) => {
  it('passes conforming events of every planned event', () => {
    const planned = new Set(plan.events.map((event) => event.name));
    for (const [name, properties] of Object.entries(VALID_TRACKS).filter(([name]) => planned.has(name))) {
      expect(check(plan, track(name, properties)), name).toEqual({ planned: true, version: expect.any(Number), violations: [] });
    }
  });

  it('names the key and the rule of each violation', () => {
    const properties = orderProperties({
      order_id: 'ORD-1',
      currency: 'JPY',
      coupon: 5,
      products: [{ sku: 'lower-case', price: -1, quantity: 1.5 }],
      shipping: { method: 'drone', address: { postal_code: '12345678901' } },
    });
    expect(violationsOf(plan, track('Order Completed', properties, { ...goodContext, protocols: { event_version: 2 } }))).toEqual(inOrder([
      { path: 'properties.order_id', rule: 'pattern' },
      { path: 'properties.currency', rule: 'enum' },
      { path: 'properties.coupon', rule: 'type' },
      { path: 'properties.products[0].product_id', rule: 'required' },
      { path: 'properties.products[0].sku', rule: 'pattern' },
      { path: 'properties.products[0].price', rule: 'minimum' },
      { path: 'properties.products[0].quantity', rule: 'type' },
      { path: 'properties.shipping.method', rule: 'enum' },
      { path: 'properties.shipping.address.country', rule: 'required' },
      { path: 'properties.shipping.address.postal_code', rule: 'maxLength' },
    ]));
  });

  it('reports bounds, lengths, formats, uniqueness and closed objects', () => {
    expect(violationsOf(plan, track('Checkout Step Viewed', { checkout_id: 'c-1', step: 5, discount_rate: 1, payment_method: 'cash', note: 'x' }))).toEqual(inOrder([
      { path: 'properties.step', rule: 'maximum' },
      { path: 'properties.discount_rate', rule: 'exclusiveMaximum' },
      { path: 'properties.payment_method', rule: 'enum' },
      { path: 'properties.note', rule: 'additionalProperties' },
    ]));
    expect(violationsOf(plan, track('Product Viewed', { product_id: 'p', name: '', price: 0, position: 0, url: 'not a uri', tags: ['a', 'a'] }))).toEqual(inOrder([
      { path: 'properties.name', rule: 'minLength' },
      { path: 'properties.price', rule: 'exclusiveMinimum' },
      { path: 'properties.position', rule: 'minimum' },
      { path: 'properties.url', rule: 'format' },
      { path: 'properties.tags', rule: 'uniqueItems' },
    ]));
    expect(violationsOf(plan, track('Signed Up', { method: 'email', email: 'not-an-email', platform: 'ios' }))).toEqual(inOrder([
      { path: 'properties.email', rule: 'format' },
      { path: 'properties.platform', rule: 'const' },
    ]));
  });

  it('reports an empty array below minItems and a missing required array', () => {
    expect(violationsOf(plan, track('Order Completed', orderProperties({ products: [] })))).toEqual(inOrder([{ path: 'properties.products', rule: 'minItems' }]));
    const { products: _products, ...withoutProducts } = orderProperties();
    expect(violationsOf(plan, track('Order Completed', withoutProducts))).toEqual(inOrder([{ path: 'properties.products', rule: 'required' }]));
  });

  it('does not enforce what the import reported as not enforced', () => {
    expect(check(plan, track('Signed Up', { method: 'apple', referrer: 42, signup_week: 'any text', email: 'ada@example.com' })).violations).toEqual([]);
  });

  it('reports an unplanned track event as unplanned, without violations of its own', () => {
    expect(check(plan, track('Order Shipped', { anything: true }))).toEqual({ planned: false, version: null, violations: [] });
    expect(check(plan, { type: 'track', event: null, properties: {} }).planned).toBe(false);
  });
});

describe('version selection', () => {
  const { subtotal: _subtotal, ...orderV1Only } = orderProperties();

  it.each([
    ['no context.protocols', 1, undefined],
    ['event_version 2', 2, 2],
    ['event_version 1', 1, 1],
    ['a version the plan does not have', 1, 3],
    ['a non-integer version', 1, 2.5],
    ['a version sent as a string', 1, '2'],
  ] as const)('%s selects version %i', (_label, expected, requested) => {
    for (const plan of [plans.configApi, plans.publicApi]) {
      const context = requested === undefined ? goodContext : { ...goodContext, protocols: { event_version: requested } };
      const result = check(plan, track('Order Completed', orderV1Only, context));
      expect(result.version).toBe(expected);
      // Version 2 requires a subtotal; version 1 does not.
      expect(result.violations).toEqual(expected === 2 ? [expect.objectContaining({ path: 'properties.subtotal', rule: 'required' })] : []);
    }
  });

  it('falls back to the oldest version the plan has, even when that is not 1', () => {
    const result = check(plans.typewriter, track('Order Completed', orderV1Only));
    expect(result.version).toBe(2);
    expect(result.violations).toEqual([expect.objectContaining({ path: 'properties.subtotal', rule: 'required' })]);
  });
});

describe('the other call types and the common schema', () => {
  it('checks identify and group traits', () => {
    const identify = (traits: JsonObject): PlanCheckedEvent => ({ type: 'identify', traits, context: goodContext, userId: 'u-1' });
    expect(check(plans.publicApi, identify({ email: 'ada@example.com', plan: 'pro', age: 36, company: { name: 'Acme', size: null } })).violations).toEqual([]);
    expect(violationsOf(plans.publicApi, identify({ plan: 'gold', age: 12, company: { size: 'big' } }))).toEqual(inOrder([
      { path: 'traits.email', rule: 'required' },
      { path: 'traits.plan', rule: 'enum' },
      { path: 'traits.age', rule: 'minimum' },
      { path: 'traits.company.size', rule: 'type' },
    ]));
    expect(violationsOf(plans.configApi, { type: 'group', groupId: 'g-1', traits: { employees: 0 }, context: goodContext })).toEqual(inOrder([
      { path: 'traits.name', rule: 'required' },
      { path: 'traits.employees', rule: 'minimum' },
    ]));
  });

  it('checks page and screen properties when the plan has rules for them', () => {
    expect(violationsOf(plans.publicApi, { type: 'page', properties: { path: 'home', title: 3 }, context: goodContext })).toEqual(inOrder([
      { path: 'properties.path', rule: 'pattern' },
      { path: 'properties.title', rule: 'type' },
    ]));
    expect(violationsOf(plans.publicApi, { type: 'screen', properties: { screen_class: 7 }, context: goodContext })).toEqual(inOrder([{ path: 'properties.screen_class', rule: 'type' }]));
    expect(check(plans.configApi, { type: 'page', properties: { path: 'home' }, context: goodContext })).toEqual({ planned: true, version: null, violations: [] });
  });

  it('applies the common schema to the whole message of every call but alias, planned or not', () => {
    const badContext = { app: { version: 'v2' }, locale: 'english' };
    for (const plan of [plans.configApi, plans.publicApi]) {
      expect(violationsOf(plan, track('Order Shipped', {}, badContext))).toEqual(inOrder([
        { path: 'context.app.version', rule: 'pattern' },
        { path: 'context.locale', rule: 'pattern' },
      ]));
      expect(violationsOf(plan, { type: 'identify', traits: { email: 'a@b.co' }, context: badContext })).toHaveLength(2);
      expect(check(plan, { type: 'alias', context: badContext })).toEqual({ planned: true, version: null, violations: [] });
    }
    expect(check(plans.typewriter, track('Order Shipped', {}, badContext)).violations).toEqual([]);
  });

  it('reports which alternative failed for anyOf, oneOf and allOf', () => {
    const result = violationsOf(plans.publicApi, track('Products Searched', { query: 'x', filters: [{ field: 'brand' }, { field: 'price', min: 'low' }], sort: 'cheapest', page: 0 }));
    expect(result).toEqual(
      inOrder([
        { path: 'properties.filters[0]', rule: 'oneOf' },
        { path: 'properties.filters[1]', rule: 'oneOf' },
        { path: 'properties.sort', rule: 'anyOf' },
        { path: 'properties.page', rule: 'minimum' },
      ]),
    );
  });

  it('quotes keys that are not identifiers', () => {
    const plan: TrackingPlan = {
      name: 'Quoted',
      events: [{ name: 'Odd Keys', version: 1, metadata: {}, rules: { type: 'object', properties: { 'regex property': { type: 'string', pattern: 'Lawyer Morty|Evil Morty' }, 'a/b': { type: 'array', items: { required: ['~x'] } } } } }],
    };
    expect(violationsOf(plan, track('Odd Keys', { 'regex property': 'Rick', 'a/b': [{}] }))).toEqual(inOrder([
      { path: 'properties["regex property"]', rule: 'pattern' },
      { path: 'properties["a/b"][0]["~x"]', rule: 'required' },
    ]));
  });
});

describe('checking the edge\'s own events', () => {
  it('takes a CollectedEvent as it is', () => {
    const collected: CollectedEvent = {
      v: 1,
      workspaceId: 'ws-1',
      messageId: 'm-1',
      type: 'track',
      event: 'Signed Up',
      userId: 'u-1',
      anonymousId: null,
      groupId: null,
      previousId: null,
      properties: { method: 'fax' },
      traits: {},
      context: goodContext,
      integrations: {},
      timestamp: '2025-01-01T00:00:00.000Z',
      originalTimestamp: null,
      sentAt: null,
      receivedAt: '2025-01-01T00:00:00.000Z',
      timestampAdjustment: null,
      source: 'server',
      ip: null,
      userAgent: null,
      geo: null,
      library: { name: 'analytics-node', version: '3.1.0' },
      sessionId: null,
      bot: { flagged: false, reason: null },
    };
    expect(violationsOf(plans.publicApi, collected)).toEqual([{ path: 'properties.method', rule: 'enum' }]);
  });
});

describe('compiling', () => {
  it('compiles a plan once: by object, and by id and version', () => {
    expect(compilePlan(plans.publicApi)).toBe(compilePlan(plans.publicApi));
    const revision3 = { ...plans.publicApi, version: 3 };
    expect(compilePlan({ ...revision3 })).toBe(compilePlan({ ...revision3 }));
    expect(compilePlan({ ...plans.publicApi, version: 4 })).not.toBe(compilePlan(revision3));
  });

  it('checks a plan stored without the importer against its enforceable rules only', () => {
    const plan: TrackingPlan = {
      name: 'Hand-written',
      events: [{ name: 'Raw', version: 1, metadata: {}, rules: { type: 'object', properties: { a: { type: 'string', pattern: '([', 'x-note': 1 }, b: { $ref: '#/nowhere' } }, required: ['a'] } }],
    };
    expect(check(plan, track('Raw', { a: 'anything', b: 1 })).violations).toEqual([]);
    expect(violationsOf(plan, track('Raw', {}))).toEqual(inOrder([{ path: 'properties.a', rule: 'required' }]));
  });
});

/** Values shaped by a schema (so most land near its rules), with plain noise mixed in. */
function valuesFor(schema: JsonValue | undefined, depth = 0): fc.Arbitrary<JsonValue> {
  const noise = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>;
  if (!isJsonObject(schema) || depth > 4) return noise;
  const options: fc.Arbitrary<JsonValue>[] = [noise];
  const values = Array.isArray(schema['enum']) ? schema['enum'] : schema['const'] !== undefined ? [schema['const']] : [];
  if (values.length > 0) options.push(fc.constantFrom(...values));
  const types = Array.isArray(schema['type']) ? schema['type'] : schema['type'] === undefined ? [] : [schema['type']];
  if (types.includes('string') || typeof schema['pattern'] === 'string') {
    options.push(fc.string(), fc.constantFrom('', 'ord_9f3k2m1x', 'ORD-1', 'TSHIRT-M', 'DE', '/home', 'ada@example.com', 'https://shop.example/p', 'price_asc', '2.14.0', 'en-GB', 'x'.repeat(121)));
  }
  if (types.includes('number') || types.includes('integer')) options.push(fc.integer({ min: -2, max: 60 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 0.5, 1, 1.5, 4, 5));
  if (types.includes('array') || schema['items'] !== undefined) options.push(fc.array(valuesFor(schema['items'], depth + 1), { maxLength: 4 }));
  const properties = schema['properties'];
  if (isJsonObject(properties)) {
    const shape: Record<string, fc.Arbitrary<JsonValue>> = {};
    for (const [name, member] of Object.entries(properties)) shape[name] = valuesFor(member, depth + 1);
    options.push(
      fc.tuple(fc.record(shape, { requiredKeys: [] }), fc.dictionary(fc.constantFrom('extra', 'field', 'min'), noise, { maxKeys: 1 })).map(([known, extra]) => ({ ...extra, ...known }) as JsonValue),
    );
  }
  for (const keyword of ['anyOf', 'oneOf', 'allOf']) {
    const branches = schema[keyword];
    if (Array.isArray(branches)) options.push(...branches.map((branch) => valuesFor(branch, depth + 1)));
  }
  return fc.oneof(...options);
}

describe('the fast check agrees with @cfworker/json-schema', () => {
  const schemas: { label: string; schema: RuleSchema }[] = ALL_PLANS.flatMap(({ name, plan }) => [
    ...plan.events.map((event) => ({ label: `${name} ${event.name}@${event.version}`, schema: event.rules })),
    ...(['identify', 'group', 'page', 'screen', 'common'] as const).flatMap((section) => {
      const rules = plan[section]?.rules;
      return rules === undefined ? [] : [{ label: `${name} ${section}`, schema: rules }];
    }),
  ]);

  it.each(schemas)('on values shaped by $label', ({ schema }) => {
    const fast = compileSchemaCheck(schema);
    const reference = new Validator(structuredClone(schema), '7', false);
    fc.assert(
      fc.property(valuesFor(schema), (value) => {
        expect(fast(value)).toBe(reference.validate(value).valid);
      }),
      { numRuns: 400 },
    );
  });

  it('on every keyword it enforces', () => {
    const cases: [RuleSchema, JsonValue[]][] = [
      [{ type: 'integer' }, [1, 1.5, '1', null]],
      [{ multipleOf: 0.1 }, [0.3, 0.35, 'x']],
      [{ minProperties: 1, maxProperties: 2 }, [{}, { a: 1 }, { a: 1, b: 2, c: 3 }, []]],
      [{ propertyNames: { pattern: '^[a-z]+$' } }, [{ ok: 1 }, { 'Not OK': 1 }]],
      [{ patternProperties: { '^x-': { type: 'string' } }, additionalProperties: false }, [{ 'x-a': 'b' }, { 'x-a': 1 }, { other: 1 }]],
      [{ dependencies: { card: ['billing'], coupon: { required: ['code'] } } }, [{ card: 1, billing: 2 }, { card: 1 }, { coupon: 1 }, { coupon: 1, code: 2 }]],
      [{ items: [{ type: 'string' }, { type: 'number' }], additionalItems: false }, [['a', 1], ['a', 'b'], ['a', 1, true]]],
      [{ contains: { const: 'gift' } }, [['gift'], ['x'], []]],
      [{ not: { type: 'null' } }, [null, 1]],
      [{ if: { properties: { kind: { const: 'card' } } }, then: { required: ['last4'] }, else: { required: ['iban'] } }, [{ kind: 'card', last4: '1' }, { kind: 'card' }, { iban: 'x' }, {}]],
      [{ type: 'string', maxLength: 2 }, ['😀😀', '😀😀😀']],
      [{ enum: [{ a: 1 }, [1, 2], 'x', null] }, [{ a: 1 }, { a: 2 }, [1, 2], [2, 1], 'x', null, 'y']],
      [{ format: 'date-time' }, ['2024-06-01T00:00:00Z', '2024-13-01T00:00:00Z', 5]],
    ];
    for (const [schema, values] of cases) {
      const fast = compileSchemaCheck(schema);
      const reference = new Validator(structuredClone(schema), '7', false);
      for (const value of values) expect(fast(value), `${JSON.stringify(schema)} on ${JSON.stringify(value)}`).toBe(reference.validate(value).valid);
    }
  });
});
