import { describe, expect, it } from 'vitest';
import type { JsonObject, JsonValue } from '../../schema/event';
import { configApiPlanSchema, publicApiPlanSchema, type TrackingPlan } from '../../schema/tracking-plan';
import configApiFixture from './fixtures/config-api-v7.json';
import publicApiFixture from './fixtures/public-api.json';
import typewriterFixture from './fixtures/typewriter-v8.json';
import { exportSegmentPlan, type SegmentExportFormat } from './segment-export';
import { importSegmentPlan, isJsonObject, type ImportWarning } from './segment-import';
import { compilePlan, validateEventAgainstPlan } from './validate';

const FIXTURES = [
  { fixture: 'Config API v7', json: configApiFixture },
  { fixture: 'Public API', json: publicApiFixture },
  { fixture: 'Typewriter v8', json: typewriterFixture },
];
const FORMATS: SegmentExportFormat[] = ['config_api_v7', 'public_api'];
const ROUND_TRIPS = FIXTURES.flatMap((fixture) => FORMATS.map((format) => ({ ...fixture, format })));

/** What was reported as not enforced, by kind and keyword: the same whatever the document's layout. */
function notEnforcedKeywords(warnings: ImportWarning[]): string[] {
  const kinds = new Set(['unknown_keyword', 'unsupported_keyword', 'unsupported_format', 'invalid_keyword', 'envelope_not_enforced']);
  return warnings
    .filter((warning) => kinds.has(warning.code))
    .map((warning) => `${warning.code} ${warning.code === 'envelope_not_enforced' ? '' : warning.path.split('/').pop()}`)
    .sort();
}

function at(value: JsonValue | undefined, ...path: (string | number)[]): JsonValue | undefined {
  return path.reduce<JsonValue | undefined>((node, key) => (Array.isArray(node) && typeof key === 'number' ? node[key] : isJsonObject(node) ? node[String(key)] : undefined), value);
}

describe.each(ROUND_TRIPS)('the $fixture fixture exported as $format', ({ json, format }) => {
  const imported = importSegmentPlan(json);
  const exported = exportSegmentPlan(imported.plan, format);
  const reimported = importSegmentPlan(exported);

  it('imports back to an equal plan', () => {
    expect(reimported.plan).toEqual(imported.plan);
    expect(reimported.format).toBe(format);
  });

  it('is plain JSON in the Segment shape', () => {
    expect(JSON.parse(JSON.stringify(exported))).toEqual(exported);
    const shape = format === 'config_api_v7' ? configApiPlanSchema : publicApiPlanSchema;
    expect(shape.safeParse(exported).success).toBe(true);
  });

  it('still reports every keyword it does not enforce', () => {
    expect(notEnforcedKeywords(reimported.warnings)).toEqual(notEnforcedKeywords(imported.warnings));
  });

  it('validates events the same way after the round trip', () => {
    const event = { type: 'track' as const, event: 'Checkout Step Viewed', properties: { checkout_id: 'c', step: 9, extra: 1 }, context: {} };
    expect(validateEventAgainstPlan(compilePlan(reimported.plan), event)).toEqual(validateEventAgainstPlan(compilePlan(imported.plan), event));
  });
});

describe('the exported shapes', () => {
  const plan = importSegmentPlan(publicApiFixture).plan;

  it('writes Public API rules: key is the event name for TRACK and null for the others', () => {
    const exported = exportSegmentPlan(plan, 'public_api');
    const rules = at(exported, 'rules');
    expect(Array.isArray(rules) ? rules.map((rule) => `${String(at(rule, 'type'))}:${String(at(rule, 'key'))}@${String(at(rule, 'version'))}`) : []).toEqual([
      'COMMON:null@1',
      'TRACK:Order Completed@1',
      'TRACK:Order Completed@2',
      'TRACK:Product Viewed@1',
      'TRACK:Checkout Step Viewed@1',
      'TRACK:Signed Up@1',
      'TRACK:Products Searched@1',
      'IDENTIFY:null@1',
      'GROUP:null@1',
      'PAGE:null@1',
      'SCREEN:null@1',
    ]);
    expect(at(exported, 'id')).toBe('tp_2Ckq8Vb3nPz4sT0wLm5eRr1Hk9A');
    expect(at(exported, 'rules', 1, 'deprecatedAt')).toBe('2024-06-01T00:00:00.000Z');
  });

  it("wraps properties in Segment's whole-message schema, annotations back in place", () => {
    const rule = at(exportSegmentPlan(plan, 'public_api'), 'rules', 3);
    expect(at(rule, 'jsonSchema', 'required')).toEqual(['properties']);
    expect(at(rule, 'jsonSchema', 'labels')).toEqual({ area: 'catalog' });
    expect(at(rule, 'jsonSchema', 'description')).toBe('Fired when a product page is shown.');
    expect(at(rule, 'jsonSchema', 'properties', 'context')).toEqual({});
    expect(at(rule, 'jsonSchema', 'properties', 'properties', 'properties', 'name')).toEqual({
      type: 'string',
      minLength: 1,
      maxLength: 120,
      id: '/properties/properties/properties/name',
      description: 'Display name.',
    });
    const identify = at(exportSegmentPlan(plan, 'public_api'), 'rules', 7);
    expect(at(identify, 'jsonSchema', 'properties', 'traits', 'required')).toEqual(['email']);
    expect(at(identify, 'jsonSchema', 'required')).toEqual(['traits']);
  });

  it('writes Config API events with the properties at rules.properties.properties, and the common schema as global', () => {
    const exported = exportSegmentPlan(plan, 'config_api_v7');
    expect(at(exported, 'name')).toBe('tp_2Ckq8Vb3nPz4sT0wLm5eRr1Hk9A');
    expect(at(exported, 'display_name')).toBe('Acme Shop');
    expect(at(exported, 'rules', 'events', 0, 'name')).toBe('Order Completed');
    expect(at(exported, 'rules', 'events', 0, 'description')).toBe('Fired when an order is paid.');
    expect(at(exported, 'rules', 'events', 0, 'rules', 'properties', 'properties', 'required')).toEqual(['order_id', 'products']);
    expect(at(exported, 'rules', 'global', 'properties', 'context', 'properties', 'locale', 'pattern')).toBe('^[a-z]{2}(-[A-Z]{2})?$');
    expect(at(exported, 'rules', 'identify', 'properties', 'traits', 'properties', 'email', 'format')).toBe('email');
    expect(at(exported, 'rules', 'identify_traits')).toEqual([]);
  });

  it('never writes eventMetadata, which would make a whole-message schema look lifted', () => {
    const fromTypewriter = importSegmentPlan(typewriterFixture).plan;
    expect(JSON.stringify(exportSegmentPlan(fromTypewriter, 'public_api'))).not.toContain('eventMetadata');
  });

  it('leaves the plan untouched', () => {
    const before = structuredClone(plan);
    exportSegmentPlan(plan, 'public_api');
    exportSegmentPlan(plan, 'config_api_v7');
    expect(plan).toEqual(before);
  });

  it('round-trips a plan built by hand, with boolean schemas and an envelope', () => {
    const handmade: TrackingPlan = {
      id: 'tp_hand',
      name: 'Hand-made',
      events: [
        {
          name: 'Anything Goes',
          version: 3,
          rules: true,
          metadata: { envelope: { properties: { context: { required: ['ip'] } } } },
          deprecatedAt: '2025-01-01T00:00:00.000Z',
        },
        { name: 'Closed', version: 1, rules: { type: 'object', additionalProperties: false, properties: { a: false } }, metadata: { labels: {} } },
      ],
      page: { rules: { type: 'object', properties: { path: { type: 'string' } } }, metadata: { annotations: { description: 'Pages' } } },
    };
    for (const format of FORMATS) expect(importSegmentPlan(exportSegmentPlan(handmade, format)).plan).toEqual(handmade);
  });
});

describe('exported JSON objects', () => {
  it('are readable by the importer after a trip through text', () => {
    const exported: JsonObject = exportSegmentPlan(importSegmentPlan(configApiFixture).plan, 'public_api');
    const text = JSON.stringify(exported, null, 2);
    const parsed: unknown = JSON.parse(text);
    expect(importSegmentPlan(parsed).plan).toEqual(importSegmentPlan(configApiFixture).plan);
  });
});
