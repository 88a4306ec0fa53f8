import { describe, expect, it } from 'vitest';
import type { PlannedEvent, TrackingPlan } from '../../schema/tracking-plan';
import configApiFixture from './fixtures/config-api-v7.json';
import publicApiFixture from './fixtures/public-api.json';
import typewriterFixture from './fixtures/typewriter-v8.json';
import { SegmentPlanImportError, importSegmentPlan, normalizeRuleSchema, type ImportWarning } from './segment-import';

const FIXTURES = [
  { name: 'Config API v7', json: configApiFixture, format: 'config_api_v7' },
  { name: 'Public API', json: publicApiFixture, format: 'public_api' },
  { name: 'Typewriter v8', json: typewriterFixture, format: 'typewriter_v8' },
] as const;

function eventOf(plan: TrackingPlan, name: string, version = 1): PlannedEvent {
  const event = plan.events.find((candidate) => candidate.name === name && candidate.version === version);
  if (!event) throw new Error(`no ${name}@${version} in ${plan.name}`);
  return event;
}

function warningAt(warnings: ImportWarning[], code: ImportWarning['code'], pathEnd: string): ImportWarning | undefined {
  return warnings.find((warning) => warning.code === code && warning.path.endsWith(pathEnd));
}

describe.each(FIXTURES)('importing the $name fixture', ({ json, format }) => {
  const { plan, format: detected, warnings } = importSegmentPlan(json);

  it('detects its shape', () => {
    expect(detected).toBe(format);
  });

  it('keys events by name and version', () => {
    const keys = plan.events.map((event) => `${event.name}@${event.version}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('Order Completed@2');
    // Typewriter v8 keeps only the newest version of each event.
    expect(keys.includes('Order Completed@1')).toBe(format !== 'typewriter_v8');
  });

  it("keeps only the event's properties schema as rules, whatever the shape", () => {
    const orderV2 = eventOf(plan, 'Order Completed', 2);
    expect(orderV2.rules).toMatchObject({
      type: 'object',
      required: ['order_id', 'products', 'subtotal'],
      properties: { products: { type: 'array', maxItems: 50, items: { required: ['product_id', 'price'] } } },
    });
    expect(orderV2.rules).not.toHaveProperty('properties.properties');
    expect(orderV2.rules).not.toHaveProperty('properties.context');
  });

  it('keeps annotations as metadata, not rules', () => {
    const productViewed = eventOf(plan, 'Product Viewed');
    expect(JSON.stringify(productViewed.rules)).not.toMatch(/"(id|\$id|description|\$schema)"/);
    expect(productViewed.metadata.propertyAnnotations?.['/properties/name']).toMatchObject({ description: 'Display name.' });
    expect(productViewed.metadata.annotations?.['$schema']).toBe('http://json-schema.org/draft-07/schema#');
    expect(productViewed.description).toBe('Fired when a product page is shown.');
    if (format !== 'typewriter_v8') expect(productViewed.metadata.labels).toEqual({ area: 'catalog' });
  });

  it('reports unknown and unsupported keywords with their path and keeps them, not enforced', () => {
    const signedUp = eventOf(plan, 'Signed Up');
    expect(warningAt(warnings, 'unknown_keyword', '/properties/email/x-pii')).toBeDefined();
    expect(warningAt(warnings, 'unsupported_keyword', '/properties/referrer/$ref')).toBeDefined();
    expect(warningAt(warnings, 'unsupported_keyword', '/definitions')).toBeDefined();
    expect(warningAt(warnings, 'unsupported_format', '/properties/signup_week/format')).toBeDefined();
    expect(signedUp.rules).not.toHaveProperty('definitions');
    expect(signedUp.rules).toMatchObject({ properties: { email: { type: 'string', format: 'email' }, referrer: {}, signup_week: { type: 'string' } } });
    expect(signedUp.rules).not.toHaveProperty('properties.signup_week.format');
    expect(signedUp.metadata.notEnforced).toMatchObject({
      '/properties/email': { 'x-pii': true },
      '/properties/referrer': { $ref: '#/definitions/referrer' },
      '/properties/signup_week': { format: 'iso-week' },
      '': { definitions: { referrer: { type: 'string', maxLength: 200 } } },
    });
  });

  it('rewrites draft-04 boolean exclusiveMaximum in draft-07 form, and says so', () => {
    expect(eventOf(plan, 'Checkout Step Viewed').rules).toMatchObject({ properties: { discount_rate: { minimum: 0, exclusiveMaximum: 1 } } });
    expect(eventOf(plan, 'Checkout Step Viewed').rules).not.toHaveProperty('properties.discount_rate.maximum');
    expect(warningAt(warnings, 'converted_keyword', '/properties/discount_rate/exclusiveMaximum')).toBeDefined();
  });

  it('reads the plan identity', () => {
    expect(plan.name).toBe('Acme Shop');
    expect(plan.id).toBe(format === 'config_api_v7' ? 'rs_2Ckq8WnS1aQ3kz7ZfYp0aYbXc1D' : 'tp_2Ckq8Vb3nPz4sT0wLm5eRr1Hk9A');
  });
});

describe('shape-specific parts', () => {
  it('reads the Config API global, identify and group schemas', () => {
    const { plan, warnings } = importSegmentPlan(configApiFixture);
    expect(plan.common?.rules).toMatchObject({ properties: { context: { properties: { app: { properties: { version: { pattern: '^\\d+\\.\\d+\\.\\d+$' } } } } } } });
    expect(plan.common?.metadata.annotations).toEqual({ $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(plan.identify?.rules).toMatchObject({ required: ['email'], properties: { email: { format: 'email' }, age: { type: 'integer', minimum: 13 } } });
    expect(plan.group?.rules).toMatchObject({ required: ['name'] });
    expect(plan.page).toBeUndefined();
    expect(warningAt(warnings, 'unknown_field', '/rules/events/4/owner')).toBeDefined();
  });

  it('reports message-level rules on one event (the envelope) as kept but not enforced', () => {
    const { plan, warnings } = importSegmentPlan(configApiFixture);
    const appOpened = eventOf(plan, 'App Opened');
    expect(appOpened.metadata.envelope).toEqual({
      properties: { context: { type: 'object', properties: { device: { type: 'object', required: ['id'] } }, required: ['device'] } },
    });
    expect(warnings).toContainEqual(expect.objectContaining({ code: 'envelope_not_enforced', path: '/rules/events/5/rules', message: expect.stringContaining('properties.context') }));
    expect(eventOf(plan, 'Order Completed').metadata.envelope).toBeUndefined();
  });

  it('reads every Public API rule type; key is null off track rules; Go zero time is no deprecation', () => {
    const { plan, warnings } = importSegmentPlan(publicApiFixture);
    expect(plan.common).toBeDefined();
    expect(plan.identify?.rules).toMatchObject({ required: ['email'] });
    expect(plan.group?.rules).toMatchObject({ required: ['name'] });
    expect(plan.page?.rules).toMatchObject({ required: ['path'], properties: { path: { pattern: '^/' } } });
    expect(plan.screen?.rules).toMatchObject({ properties: { screen_class: { type: 'string' } } });
    expect(eventOf(plan, 'Order Completed', 1).deprecatedAt).toBe('2024-06-01T00:00:00.000Z');
    expect(eventOf(plan, 'Order Completed', 2).deprecatedAt).toBeUndefined();
    expect(warningAt(warnings, 'unknown_field', '/rules/5/owner')).toBeDefined();
    expect(warnings.some((warning) => warning.code === 'ignored_field')).toBe(false);
  });

  it('reads Typewriter v8 lifted schemas, names from eventMetadata, and removes the lift artifact', () => {
    const { plan, warnings } = importSegmentPlan(typewriterFixture);
    const cartViewed = eventOf(plan, 'Cart Viewed');
    expect(cartViewed.rules).toEqual({ type: 'object', properties: { cart_id: { type: 'string' }, item_count: { type: 'integer', minimum: 0 } }, required: [] });
    expect(cartViewed.metadata.propertyAnnotations).toEqual({ '/properties/cart_id': { $id: '/properties/cart_id' }, '/properties/item_count': { $id: '/properties/item_count' } });
    expect(cartViewed.metadata.annotations).toEqual({ $id: 'Cart_Viewed', $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(cartViewed.metadata).not.toHaveProperty('eventMetadata');
    expect(warningAt(warnings, 'typewriter_artifact', '/rules/5/jsonSchema/required')).toBeDefined();
    expect(plan.identify).toBeUndefined();
  });

  it('gives the same rules for the same event in all three shapes', () => {
    const rulesOf = (json: unknown, name: string, version: number) => eventOf(importSegmentPlan(json).plan, name, version).rules;
    for (const [name, version] of [['Order Completed', 2], ['Product Viewed', 1], ['Checkout Step Viewed', 1], ['Signed Up', 1]] as const) {
      expect(rulesOf(configApiFixture, name, version)).toEqual(rulesOf(publicApiFixture, name, version));
      expect(rulesOf(typewriterFixture, name, version)).toEqual(rulesOf(publicApiFixture, name, version));
    }
  });
});

describe('leniency and errors', () => {
  const publicPlan = (rules: unknown[]) => ({ id: 'tp_1', name: 'Plan', rules });
  const trackRule = (key: string, properties: unknown, version = 1) => ({
    type: 'TRACK',
    key,
    version,
    jsonSchema: { type: 'object', properties: { context: {}, traits: {}, properties } },
  });

  it('refuses what is not a Segment plan', () => {
    expect(() => importSegmentPlan('plan')).toThrow(SegmentPlanImportError);
    expect(() => importSegmentPlan({ name: 'no rules' })).toThrow(/not a Segment tracking plan/);
    expect(() => importSegmentPlan({ rules: { events: 'nope' } })).toThrow(SegmentPlanImportError);
  });

  it('skips a rule it cannot read, reports it, and keeps the rest', () => {
    const { plan, warnings } = importSegmentPlan(publicPlan([{ type: 'TRACK', key: 'Broken' }, trackRule('Fine', { type: 'object' })]));
    expect(plan.events.map((event) => event.name)).toEqual(['Fine']);
    expect(warnings).toContainEqual(expect.objectContaining({ code: 'invalid_rule', path: '/rules/0' }));
  });

  it('keeps the first of two rules for the same event and version', () => {
    const { plan, warnings } = importSegmentPlan(publicPlan([trackRule('Twice', { type: 'object', required: ['a'] }), trackRule('Twice', { type: 'object' })]));
    expect(plan.events).toHaveLength(1);
    expect(plan.events[0]?.rules).toEqual({ type: 'object', required: ['a'] });
    expect(warnings).toContainEqual(expect.objectContaining({ code: 'duplicate_rule', path: '/rules/1' }));
  });

  it('never lets an invalid regular expression or a malformed keyword reach the validator', () => {
    const { plan, warnings } = importSegmentPlan(
      publicPlan([trackRule('Odd', { type: 'object', properties: { a: { type: 'string', pattern: '([a-z' }, b: { type: 'strnig' }, c: { required: true } } })]),
    );
    expect(plan.events[0]?.rules).toEqual({ type: 'object', properties: { a: { type: 'string' }, b: {}, c: {} } });
    expect(warningAt(warnings, 'invalid_keyword', '/properties/a/pattern')).toBeDefined();
    expect(warningAt(warnings, 'invalid_keyword', '/properties/b/type')).toBeDefined();
    expect(warningAt(warnings, 'invalid_keyword', '/properties/c/required')).toBeDefined();
  });

  it('finds unknown keywords at any depth, inside items and combinators', () => {
    const { findings } = normalizeRuleSchema({
      type: 'object',
      properties: { list: { type: 'array', items: { type: 'object', properties: { sku: { type: 'string', 'x-owner': 'ops' } } } } },
      anyOf: [{ required: ['list'], sensitive: true }],
    });
    expect(findings.map((finding) => `${finding.code} ${finding.pointer}`)).toEqual([
      'unknown_keyword /properties/list/items/properties/sku/x-owner',
      'unknown_keyword /anyOf/0/sensitive',
    ]);
  });

  it('treats property names as data, even "__proto__"', () => {
    const json: unknown = JSON.parse('{"rules":[{"type":"TRACK","key":"Proto","version":1,"jsonSchema":{"properties":{"properties":{"type":"object","properties":{"__proto__":{"type":"string"}},"required":["__proto__"]}}}}]}');
    const rules = importSegmentPlan(json).plan.events[0]?.rules;
    expect(rules !== undefined && typeof rules === 'object' && Object.hasOwn(rules['properties'] as object, '__proto__')).toBe(true);
  });

  it('defaults a missing plan name and a missing Config API version, and says so', () => {
    const { plan, warnings } = importSegmentPlan({ rules: { events: [{ name: 'Unversioned', rules: {} }] } });
    expect(plan.name).toBe('Segment tracking plan');
    expect(plan.events[0]?.version).toBe(1);
    expect(warnings.map((warning) => warning.code)).toEqual(['missing_field', 'missing_field']);
  });
});
