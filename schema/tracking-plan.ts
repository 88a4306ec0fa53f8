/**
 * Tracking plans: Monfri's own plan model, and the three Segment shapes it is imported from
 * (lib/tracking-plans/segment-import.ts) and exported to (segment-export.ts).
 *
 * In the model, `rules` hold only JSON Schema keywords that are enforced (draft-07
 * validation keywords, the dialect Segment plans use). Everything else found in a Segment
 * rule is kept in `metadata` so an export gives the plan back unchanged: annotations
 * (`$schema`, draft-04 `id`, `description`, ...), labels, keywords that are reported at
 * import and not enforced, and the parts of Segment's whole-message schema that sit outside
 * the event's properties.
 */
import { z } from 'zod';
import { isJsonValue, jsonObjectSchema, type JsonObject, type JsonValue } from './event';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Checked in place, never copied: a copy made by assignment (z.record) would drop an own `__proto__` key. */
const stringRecordSchema = z.custom<Record<string, string>>(
  (value) => isPlainObject(value) && Object.values(value).every((item) => typeof item === 'string'),
  'expected an object of strings',
);

/** JSON objects by JSON Pointer (RFC 6901) into the rule schema; '' is the rule schema's root. */
const objectsByPointerSchema = z.custom<Record<string, JsonObject>>(
  (value) => isPlainObject(value) && Object.values(value).every((item) => isPlainObject(item) && isJsonValue(item)),
  'expected an object of JSON objects keyed by JSON Pointer',
);

export const jsonValueSchema = z.custom<JsonValue>((value) => isJsonValue(value), 'expected a JSON value');

/** A JSON Schema (draft-07): an object, or `true` / `false`. */
export type RuleSchema = boolean | JsonObject;
export const ruleSchemaSchema = z.union([z.boolean(), jsonObjectSchema]);

/** Draft-07 keywords that are enforced (see lib/tracking-plans/validate.ts). */
export const RULE_KEYWORDS = [
  'type', 'enum', 'const',
  'multipleOf', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'pattern', 'format',
  'items', 'additionalItems', 'minItems', 'maxItems', 'uniqueItems', 'contains',
  'properties', 'patternProperties', 'additionalProperties', 'required',
  'minProperties', 'maxProperties', 'propertyNames', 'dependencies',
  'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else',
] as const;
export type RuleKeyword = (typeof RULE_KEYWORDS)[number];

/** Kept as metadata, never enforced (they describe, they do not constrain). */
export const ANNOTATION_KEYWORDS = [
  '$schema', '$id', 'id', '$comment', 'title', 'description', 'default', 'examples',
  'readOnly', 'writeOnly', 'deprecated', 'contentEncoding', 'contentMediaType',
] as const;

/**
 * JSON Schema keywords kept but not enforced, and reported at import: references (not
 * resolved) and keywords from drafts after 07, which Segment's draft-07 validation ignores too.
 */
export const UNSUPPORTED_KEYWORDS = [
  '$ref', 'definitions', '$defs', '$anchor', '$dynamicRef', '$dynamicAnchor', '$recursiveRef',
  '$recursiveAnchor', '$vocabulary', 'dependentRequired', 'dependentSchemas', 'unevaluatedProperties',
  'unevaluatedItems', 'prefixItems', 'minContains', 'maxContains', 'contentSchema',
] as const;

export const ruleMetadataSchema = z.object({
  /** Segment's `key: value` event labels. */
  labels: stringRecordSchema.optional(),
  /** Annotations on the rule's top-level schema (`$schema`, draft-04 `id`, `$id`, `title`, ...). */
  annotations: jsonObjectSchema.optional(),
  /** Annotations inside `rules` (a property's `description`, draft-04 `id`, ...), by pointer into `rules`. */
  propertyAnnotations: objectsByPointerSchema.optional(),
  /** Unknown and unsupported keywords, by pointer into `rules`: reported at import, kept for export, not enforced. */
  notEnforced: objectsByPointerSchema.optional(),
  /**
   * What Segment's whole-message schema says outside the event's properties (or traits)
   * beyond the usual boilerplate, e.g. `context` rules on one event. Reported, kept, not enforced.
   */
  envelope: jsonObjectSchema.optional(),
});
export type RuleMetadata = z.output<typeof ruleMetadataSchema>;

export const plannedEventSchema = z.object({
  name: z.string().min(1),
  version: z.number().int().min(1),
  description: z.string().optional(),
  /** JSON Schema of the event's `properties`. */
  rules: ruleSchemaSchema,
  metadata: ruleMetadataSchema,
  /** ISO-8601; a deprecated version still validates events that ask for it. */
  deprecatedAt: z.string().optional(),
});
export type PlannedEvent = z.output<typeof plannedEventSchema>;

export const planSectionSchema = z.object({ rules: ruleSchemaSchema, metadata: ruleMetadataSchema });
export type PlanSection = z.output<typeof planSectionSchema>;

export const trackingPlanSchema = z
  .object({
    id: z.string().min(1).optional(),
    name: z.string().min(1),
    /** Monfri's revision of the plan (bumped on every change); with `id` it keys the compiled-plan cache. */
    version: z.number().int().min(1).optional(),
    /** Track events; one entry per name and version. */
    events: z.array(plannedEventSchema),
    /** JSON Schema of identify `traits`. */
    identify: planSectionSchema.optional(),
    /** JSON Schema of group `traits`. */
    group: planSectionSchema.optional(),
    /** JSON Schema of page `properties`. */
    page: planSectionSchema.optional(),
    /** JSON Schema of screen `properties`. */
    screen: planSectionSchema.optional(),
    /** JSON Schema of the whole message (context, userId, ...), applied to every event but alias. */
    common: planSectionSchema.optional(),
  })
  .superRefine((plan, ctx) => {
    const seen = new Set<string>();
    plan.events.forEach((event, index) => {
      const key = `${event.name}\u0000${event.version}`;
      if (seen.has(key)) {
        ctx.addIssue({ code: 'custom', path: ['events', index], message: `event "${event.name}" version ${event.version} is defined twice` });
      }
      seen.add(key);
    });
  });
export type TrackingPlan = z.output<typeof trackingPlanSchema>;

// ---------------------------------------------------------------------------------------------
// Segment input shapes. Lenient where Segment is: unknown fields are tolerated (loose objects)
// and reported by the importer; rules are parsed one by one so one bad rule does not sink a plan.
// ---------------------------------------------------------------------------------------------

export const SEGMENT_RULE_TYPES = ['TRACK', 'IDENTIFY', 'GROUP', 'PAGE', 'SCREEN', 'COMMON'] as const;
export type SegmentRuleType = (typeof SEGMENT_RULE_TYPES)[number];

/** An event of a Config API (Typewriter v7) plan; `rules` is a JSON Schema of the whole message. */
export const configApiEventSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  version: z.number().int().min(1).optional(),
  rules: jsonValueSchema,
  /** Monfri extension: the Config API predates rule deprecation. */
  deprecatedAt: z.string().optional(),
});
export type ConfigApiEvent = z.output<typeof configApiEventSchema>;

export const configApiRulesSchema = z.looseObject({
  events: z.array(jsonValueSchema).optional(),
  /** Whole-message schema applied to every call (Segment's "common JSON schema"). */
  global: jsonValueSchema.optional(),
  identify: jsonValueSchema.optional(),
  group: jsonValueSchema.optional(),
  /** Monfri extensions (page and screen rules exist only in the Public API). */
  page: jsonValueSchema.optional(),
  screen: jsonValueSchema.optional(),
  /** Legacy trait lists; Segment sends them empty. */
  identify_traits: z.array(jsonValueSchema).optional(),
  group_traits: z.array(jsonValueSchema).optional(),
});

/** Config API `GET /workspaces/{w}/tracking-plans/{id}`, which is also Typewriter v7's plan.json. */
export const configApiPlanSchema = z.looseObject({
  /** `workspaces/{workspace}/tracking-plans/{rs_id}`. */
  name: z.string().optional(),
  display_name: z.string().optional(),
  create_time: z.string().optional(),
  update_time: z.string().optional(),
  rules: configApiRulesSchema,
});
export type ConfigApiPlan = z.output<typeof configApiPlanSchema>;

/** A Public API rule (RuleV1); Typewriter v8+ adds `description` and `labels` when converting v7 plans. */
export const publicApiRuleSchema = z.looseObject({
  type: z.enum(SEGMENT_RULE_TYPES),
  /** The event name for TRACK rules; null for the others. */
  key: z.string().nullable().optional(),
  jsonSchema: jsonValueSchema.nullable(),
  version: z.number().int().min(1),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
  /** Go's zero time (`0001-01-01T00:00:00Z`) means "not deprecated". */
  deprecatedAt: z.string().optional(),
  description: z.string().optional(),
  labels: jsonValueSchema.optional(),
});
export type PublicApiRule = z.output<typeof publicApiRuleSchema>;

/** A Public API tracking plan (TrackingPlanV1) with its rules, as Typewriter v8+ stores it too. */
export const publicApiPlanSchema = z.looseObject({
  id: z.string().optional(),
  name: z.string().optional(),
  slug: z.string().optional(),
  description: z.string().optional(),
  type: z.string().optional(),
  resourceSchemaId: z.string().optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
  rules: z.array(jsonValueSchema),
});
export type PublicApiPlan = z.output<typeof publicApiPlanSchema>;

/**
 * A rule of Typewriter v8+'s plan.json: TRACK only, newest version only, the event's
 * properties lifted to `jsonSchema.properties`, and `eventMetadata` marking the lift.
 */
export const typewriterV8RuleSchema = publicApiRuleSchema.extend({
  type: z.literal('TRACK'),
  jsonSchema: z.custom<JsonObject & { eventMetadata: JsonObject }>(
    (value) => isPlainObject(value) && isPlainObject(value['eventMetadata']) && isJsonValue(value),
    'expected a JSON Schema with eventMetadata',
  ),
});
export type TypewriterV8Rule = z.output<typeof typewriterV8RuleSchema>;
