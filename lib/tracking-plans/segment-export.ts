/**
 * Exports a plan back to Segment's shapes, putting every annotation, not-enforced keyword and
 * envelope kept at import back where it was, so `importSegmentPlan(exportSegmentPlan(plan, f)).plan`
 * equals `plan` for both shapes.
 *
 * Where the Config API has no slot, Monfri writes an extension: `rules.page`, `rules.screen`
 * and per-event `deprecatedAt` (the Config API predates page/screen rules and deprecation).
 * Typewriter's `eventMetadata` is never written: Typewriter reads it as "this schema is already
 * lifted", which a whole-message schema is not. The plan's own `version` (Monfri's revision
 * counter) has no Segment field and is not exported.
 */
import type { JsonObject, JsonValue } from '../../schema/event';
import type { PlanSection, PlannedEvent, RuleMetadata, RuleSchema, TrackingPlan } from '../../schema/tracking-plan';
import { hasRequiredEntries, isJsonObject, isStringArray, setOwn, unescapePointerSegment, type RuleField } from './segment-import';

export type SegmentExportFormat = 'config_api_v7' | 'public_api';

/** The node `pointer` designates inside `schema`, if it is an object. */
function objectAt(schema: JsonValue, pointer: string): JsonObject | undefined {
  let node: JsonValue | undefined = schema;
  for (const segment of pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointerSegment)) {
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (isJsonObject(node) && Object.hasOwn(node, segment)) node = node[segment];
    else return undefined;
  }
  return isJsonObject(node) ? node : undefined;
}

function mergeAtPointers(schema: RuleSchema, byPointer: Record<string, JsonObject> | undefined): void {
  for (const [pointer, entries] of Object.entries(byPointer ?? {})) {
    const node = objectAt(schema, pointer);
    if (!node) continue;
    for (const [keyword, value] of Object.entries(entries)) setOwn(node, keyword, structuredClone(value));
  }
}

/** The rule schema with its annotations and not-enforced keywords put back. */
export function restoreRuleSchema(rules: RuleSchema, metadata: RuleMetadata): RuleSchema {
  const schema = structuredClone(rules);
  mergeAtPointers(schema, metadata.propertyAnnotations);
  mergeAtPointers(schema, metadata.notEnforced);
  return schema;
}

function rootOf(metadata: RuleMetadata, description: string | undefined): JsonObject {
  const root: JsonObject = structuredClone(metadata.annotations ?? {});
  if (description !== undefined) root['description'] = description;
  if (metadata.labels) root['labels'] = { ...metadata.labels };
  return root;
}

/** Segment's whole-message schema around a rule on `properties` (track, page, screen) or `traits` (identify, group). */
function messageSchemaOf(field: RuleField, rules: RuleSchema, metadata: RuleMetadata, description?: string): JsonObject {
  const schema = rootOf(metadata, description);
  schema['type'] = 'object';
  const { properties: envelopeProperties, required: envelopeRequired, ...envelopeRest } = structuredClone(metadata.envelope ?? {});
  for (const [keyword, value] of Object.entries(envelopeRest)) setOwn(schema, keyword, value);

  if (envelopeProperties === undefined || isJsonObject(envelopeProperties)) {
    const properties: JsonObject = { context: {}, properties: {}, traits: {} };
    for (const [name, value] of Object.entries(envelopeProperties ?? {})) setOwn(properties, name, value);
    properties[field] = restoreRuleSchema(rules, metadata);
    schema['properties'] = properties;
  } else {
    schema['properties'] = envelopeProperties;
  }

  const required = new Set(envelopeRequired !== undefined && isStringArray(envelopeRequired) ? envelopeRequired : []);
  if (hasRequiredEntries(rules)) required.add(field);
  if (required.size > 0) schema['required'] = [...required];
  return schema;
}

/** The common schema is a whole-message schema already. */
function commonSchemaOf(section: PlanSection): RuleSchema {
  const schema = restoreRuleSchema(section.rules, section.metadata);
  if (typeof schema === 'boolean') return schema;
  return { ...rootOf(section.metadata, undefined), ...schema };
}

const sectionSchemaOf = (field: RuleField, section: PlanSection): JsonObject => messageSchemaOf(field, section.rules, section.metadata);

function configApiEventOf(event: PlannedEvent): JsonObject {
  const exported: JsonObject = { name: event.name };
  if (event.description !== undefined) exported['description'] = event.description;
  exported['version'] = event.version;
  exported['rules'] = messageSchemaOf('properties', event.rules, event.metadata);
  if (event.deprecatedAt !== undefined) exported['deprecatedAt'] = event.deprecatedAt;
  return exported;
}

function toConfigApi(plan: TrackingPlan): JsonObject {
  const rules: JsonObject = { events: plan.events.map(configApiEventOf) };
  if (plan.common) rules['global'] = commonSchemaOf(plan.common);
  if (plan.identify) rules['identify'] = sectionSchemaOf('traits', plan.identify);
  if (plan.group) rules['group'] = sectionSchemaOf('traits', plan.group);
  if (plan.page) rules['page'] = sectionSchemaOf('properties', plan.page);
  if (plan.screen) rules['screen'] = sectionSchemaOf('properties', plan.screen);
  rules['identify_traits'] = [];
  rules['group_traits'] = [];
  const exported: JsonObject = {};
  // The importer takes the id from the last segment of the resource name, so a bare id reads back.
  if (plan.id !== undefined) exported['name'] = plan.id;
  exported['display_name'] = plan.name;
  exported['rules'] = rules;
  return exported;
}

function publicApiRule(type: string, key: string | null, version: number, jsonSchema: RuleSchema, deprecatedAt?: string): JsonObject {
  const rule: JsonObject = { type, key, version, jsonSchema };
  if (deprecatedAt !== undefined) rule['deprecatedAt'] = deprecatedAt;
  return rule;
}

function toPublicApi(plan: TrackingPlan): JsonObject {
  const rules: JsonObject[] = [];
  if (plan.common) rules.push(publicApiRule('COMMON', null, 1, commonSchemaOf(plan.common)));
  for (const event of plan.events) {
    rules.push(publicApiRule('TRACK', event.name, event.version, messageSchemaOf('properties', event.rules, event.metadata, event.description), event.deprecatedAt));
  }
  if (plan.identify) rules.push(publicApiRule('IDENTIFY', null, 1, sectionSchemaOf('traits', plan.identify)));
  if (plan.group) rules.push(publicApiRule('GROUP', null, 1, sectionSchemaOf('traits', plan.group)));
  if (plan.page) rules.push(publicApiRule('PAGE', null, 1, sectionSchemaOf('properties', plan.page)));
  if (plan.screen) rules.push(publicApiRule('SCREEN', null, 1, sectionSchemaOf('properties', plan.screen)));
  const exported: JsonObject = {};
  if (plan.id !== undefined) exported['id'] = plan.id;
  exported['name'] = plan.name;
  exported['rules'] = rules;
  return exported;
}

export function exportSegmentPlan(plan: TrackingPlan, format: SegmentExportFormat): JsonObject {
  return format === 'config_api_v7' ? toConfigApi(plan) : toPublicApi(plan);
}
