/**
 * Imports a Segment tracking plan in any of its three shapes into Monfri's plan model
 * (schema/tracking-plan.ts), reporting everything that will not be enforced:
 *
 * - `config_api_v7`: Config API / Typewriter v7 plan.json. `rules.events[]`, each with a JSON
 *   Schema of the whole message (the event's own properties at `properties.properties`), plus
 *   single `rules.global` (whole message), `rules.identify` and `rules.group` schemas.
 * - `public_api`: Public API plan with `rules[]` of `{ type, key, version, jsonSchema, deprecatedAt }`,
 *   each `jsonSchema` again a whole-message schema (`key` is null for non-track rules).
 * - `typewriter_v8`: Typewriter v8+ plan.json: Public API shaped, TRACK rules only (newest
 *   version), properties lifted to `jsonSchema.properties` and marked by `jsonSchema.eventMetadata`.
 *
 * Warning paths are JSON Pointers into the imported document.
 */
import { format as supportedFormats } from '@cfworker/json-schema';
import { jsonObjectSchema, type JsonObject, type JsonValue } from '../../schema/event';
import {
  ANNOTATION_KEYWORDS,
  RULE_KEYWORDS,
  UNSUPPORTED_KEYWORDS,
  configApiEventSchema,
  configApiPlanSchema,
  configApiRulesSchema,
  publicApiPlanSchema,
  publicApiRuleSchema,
  trackingPlanSchema,
  typewriterV8RuleSchema,
  type PlanSection,
  type PlannedEvent,
  type RuleMetadata,
  type RuleSchema,
  type TrackingPlan,
} from '../../schema/tracking-plan';

export type SegmentPlanFormat = 'config_api_v7' | 'public_api' | 'typewriter_v8';

export type ImportWarningCode =
  /** Not a JSON Schema keyword (e.g. `x-pii`): kept, not enforced. */
  | 'unknown_keyword'
  /** A JSON Schema keyword Monfri does not enforce (`$ref`, 2019-09+ keywords): kept, not enforced. */
  | 'unsupported_keyword'
  /** A `format` the validator does not know: kept, not enforced. */
  | 'unsupported_format'
  /** A rule keyword with a value that is not valid JSON Schema (or an invalid regex): kept, not enforced. */
  | 'invalid_keyword'
  /** A draft-04 form rewritten to its draft-07 equivalent (boolean `exclusiveMinimum`). */
  | 'converted_keyword'
  /** Whole-message rules outside the event's properties or traits (e.g. `context` rules on one event): kept, not enforced. */
  | 'envelope_not_enforced'
  /** A field of the Segment document that is not part of its shape. */
  | 'unknown_field'
  /** A known field whose content is not kept (e.g. a key on a non-track rule). */
  | 'ignored_field'
  /** A rule that could not be read at all; it is skipped. */
  | 'invalid_rule'
  /** A second rule for the same event name and version (or the same call type); it is skipped. */
  | 'duplicate_rule'
  /** A field Segment always sends was missing and a default was used. */
  | 'missing_field'
  /** A Typewriter v8 lifting artifact that was removed. */
  | 'typewriter_artifact';

export interface ImportWarning {
  code: ImportWarningCode;
  /** JSON Pointer into the imported document. */
  path: string;
  message: string;
}

export interface SegmentPlanImport {
  plan: TrackingPlan;
  format: SegmentPlanFormat;
  warnings: ImportWarning[];
}

export class SegmentPlanImportError extends Error {
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'SegmentPlanImportError';
  }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isRuleSchema(value: JsonValue | undefined): value is RuleSchema {
  return typeof value === 'boolean' || isJsonObject(value);
}

/** Sets an own data property even for `__proto__`: keys here are data, not code. */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

export function escapePointerSegment(segment: string): string {
  if (!segment.includes('~') && !segment.includes('/')) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function unescapePointerSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function childPointer(pointer: string, ...segments: (string | number)[]): string {
  let path = pointer;
  for (const segment of segments) path += `/${typeof segment === 'number' ? segment : escapePointerSegment(segment)}`;
  return path;
}

function isEmptyObject(value: object): boolean {
  return Object.keys(value).length === 0;
}

export const isStringArray = (value: JsonValue): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
const isNonNegativeInteger = (value: JsonValue): boolean => typeof value === 'number' && Number.isInteger(value) && value >= 0;

// ---------------------------------------------------------------------------------------------
// JSON Schema reader: splits a schema into enforced rules, annotations and not-enforced keywords
// ---------------------------------------------------------------------------------------------

export interface SchemaFinding {
  code: ImportWarningCode;
  /** JSON Pointer into the schema that was read. */
  pointer: string;
  message: string;
}

export interface NormalizedRuleSchema {
  /** Only enforced keywords, with valid values. */
  rules: RuleSchema;
  /** Annotations by pointer into `rules` ('' = root). */
  annotations: Record<string, JsonObject>;
  /** Unknown, unsupported and invalid keywords by pointer into `rules`, verbatim. */
  notEnforced: Record<string, JsonObject>;
  findings: SchemaFinding[];
}

const RULE_KEYWORD_SET: ReadonlySet<string> = new Set(RULE_KEYWORDS);
const ANNOTATION_KEYWORD_SET: ReadonlySet<string> = new Set(ANNOTATION_KEYWORDS);
const UNSUPPORTED_KEYWORD_SET: ReadonlySet<string> = new Set(UNSUPPORTED_KEYWORDS);
const JSON_TYPES: ReadonlySet<string> = new Set(['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']);
const SINGLE_SCHEMA_KEYWORDS: ReadonlySet<string> = new Set(['additionalItems', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else']);
const SCHEMA_LIST_KEYWORDS: ReadonlySet<string> = new Set(['allOf', 'anyOf', 'oneOf']);
const COUNT_KEYWORDS: ReadonlySet<string> = new Set(['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']);

export function isSupportedFormat(name: string): boolean {
  return Object.hasOwn(supportedFormats, name);
}

/** Compiles as the validator will (`u` flag): a pattern that cannot compile must never reach it. */
export function compilePattern(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return null;
  }
}

type KeywordCheck = { ok: true } | { ok: false; code: ImportWarningCode; message: string };
const KEYWORD_OK: KeywordCheck = { ok: true };
const invalid = (message: string): KeywordCheck => ({ ok: false, code: 'invalid_keyword', message });

function isValidType(value: JsonValue): boolean {
  if (typeof value === 'string') return JSON_TYPES.has(value);
  return Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && JSON_TYPES.has(item));
}

function checkSchemaMap(value: JsonValue, keysArePatterns: boolean): KeywordCheck {
  if (!isJsonObject(value)) return invalid('must be an object of schemas');
  for (const [key, member] of Object.entries(value)) {
    if (!isRuleSchema(member)) return invalid(`"${key}" is not a schema`);
    if (keysArePatterns && !compilePattern(key)) return invalid(`"${key}" is not a valid regular expression`);
  }
  return KEYWORD_OK;
}

/** Is this keyword's value well-formed? (Subschemas are read separately.) */
function checkKeywordValue(keyword: string, value: JsonValue): KeywordCheck {
  if (SINGLE_SCHEMA_KEYWORDS.has(keyword)) return isRuleSchema(value) ? KEYWORD_OK : invalid('must be a schema');
  if (SCHEMA_LIST_KEYWORDS.has(keyword)) {
    return Array.isArray(value) && value.length > 0 && value.every(isRuleSchema) ? KEYWORD_OK : invalid('must be a non-empty array of schemas');
  }
  if (COUNT_KEYWORDS.has(keyword)) return isNonNegativeInteger(value) ? KEYWORD_OK : invalid('must be a non-negative integer');
  switch (keyword) {
    case 'type':
      return isValidType(value) ? KEYWORD_OK : invalid(`must be one of ${[...JSON_TYPES].join(', ')} or an array of them`);
    case 'enum':
      return Array.isArray(value) ? KEYWORD_OK : invalid('must be an array');
    case 'const':
      return KEYWORD_OK;
    case 'required':
      return isStringArray(value) ? KEYWORD_OK : invalid('must be an array of property names');
    case 'multipleOf':
      return typeof value === 'number' && value > 0 ? KEYWORD_OK : invalid('must be a number greater than 0');
    case 'minimum':
    case 'maximum':
      return typeof value === 'number' ? KEYWORD_OK : invalid('must be a number');
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return typeof value === 'number' || typeof value === 'boolean' ? KEYWORD_OK : invalid('must be a number');
    case 'uniqueItems':
      return typeof value === 'boolean' ? KEYWORD_OK : invalid('must be a boolean');
    case 'pattern':
      if (typeof value !== 'string') return invalid('must be a string');
      return compilePattern(value) ? KEYWORD_OK : invalid(`"${value}" is not a valid regular expression (JavaScript, unicode mode)`);
    case 'format':
      if (typeof value !== 'string') return invalid('must be a string');
      return isSupportedFormat(value)
        ? KEYWORD_OK
        : { ok: false, code: 'unsupported_format', message: `"${value}" is not a supported format (supported: ${Object.keys(supportedFormats).join(', ')})` };
    case 'items':
      return isRuleSchema(value) || (Array.isArray(value) && value.every(isRuleSchema)) ? KEYWORD_OK : invalid('must be a schema or an array of schemas');
    case 'properties':
      return checkSchemaMap(value, false);
    case 'patternProperties':
      return checkSchemaMap(value, true);
    case 'dependencies':
      if (!isJsonObject(value)) return invalid('must be an object');
      return Object.values(value).every((member) => isRuleSchema(member) || isStringArray(member))
        ? KEYWORD_OK
        : invalid('each dependency must be a schema or an array of property names');
    default:
      return invalid('is not a rule keyword');
  }
}

class SchemaReader {
  readonly annotations: Record<string, JsonObject> = {};
  readonly notEnforced: Record<string, JsonObject> = {};
  readonly findings: SchemaFinding[] = [];

  read(node: RuleSchema, pointer: string): RuleSchema {
    if (typeof node === 'boolean') return node;
    const rules: JsonObject = {};
    for (const [keyword, value] of Object.entries(node)) {
      if (ANNOTATION_KEYWORD_SET.has(keyword)) {
        this.keep(this.annotations, pointer, keyword, value);
      } else if (UNSUPPORTED_KEYWORD_SET.has(keyword)) {
        this.skip(pointer, keyword, value, 'unsupported_keyword', `JSON Schema keyword "${keyword}" is not enforced (${keyword.startsWith('$') || keyword === 'definitions' ? 'references are not resolved' : 'not part of draft-07, which Segment validates with'})`);
      } else if (!RULE_KEYWORD_SET.has(keyword)) {
        this.skip(pointer, keyword, value, 'unknown_keyword', `"${keyword}" is not a JSON Schema keyword; kept, not enforced`);
      } else {
        const check = checkKeywordValue(keyword, value);
        if (check.ok) setOwn(rules, keyword, this.readKeyword(keyword, value, pointer));
        else this.skip(pointer, keyword, value, check.code, `"${keyword}" ${check.message}; kept, not enforced`);
      }
    }
    this.convertDraft4Exclusive(rules, pointer, 'exclusiveMinimum', 'minimum');
    this.convertDraft4Exclusive(rules, pointer, 'exclusiveMaximum', 'maximum');
    return rules;
  }

  private readKeyword(keyword: string, value: JsonValue, pointer: string): JsonValue {
    const at = childPointer(pointer, keyword);
    if (SINGLE_SCHEMA_KEYWORDS.has(keyword) && isRuleSchema(value)) return this.read(value, at);
    if ((SCHEMA_LIST_KEYWORDS.has(keyword) || keyword === 'items') && Array.isArray(value)) {
      return value.map((member, index) => (isRuleSchema(member) ? this.read(member, childPointer(at, index)) : member));
    }
    if (keyword === 'items' && isRuleSchema(value)) return this.read(value, at);
    if ((keyword === 'properties' || keyword === 'patternProperties' || keyword === 'dependencies') && isJsonObject(value)) {
      const members: JsonObject = {};
      for (const [name, member] of Object.entries(value)) {
        setOwn(members, name, isRuleSchema(member) ? this.read(member, childPointer(at, name)) : member);
      }
      return members;
    }
    return value;
  }

  /** Draft-04 `exclusiveMinimum: true` + `minimum: n` means draft-07 `exclusiveMinimum: n`. */
  private convertDraft4Exclusive(rules: JsonObject, pointer: string, exclusive: 'exclusiveMinimum' | 'exclusiveMaximum', bound: 'minimum' | 'maximum'): void {
    const flag = rules[exclusive];
    if (typeof flag !== 'boolean') return;
    const limit = rules[bound];
    delete rules[exclusive];
    if (flag && typeof limit !== 'number') {
      this.skip(pointer, exclusive, flag, 'invalid_keyword', `"${exclusive}: true" without "${bound}"; kept, not enforced`);
      return;
    }
    if (flag && typeof limit === 'number') {
      delete rules[bound];
      rules[exclusive] = limit;
    }
    this.findings.push({
      code: 'converted_keyword',
      pointer: childPointer(pointer, exclusive),
      message: `draft-04 boolean "${exclusive}" rewritten in draft-07 form${flag ? ` ("${exclusive}": ${String(limit)})` : ''}`,
    });
  }

  private keep(store: Record<string, JsonObject>, pointer: string, keyword: string, value: JsonValue): void {
    const entry = store[pointer] ?? {};
    setOwn(entry, keyword, value);
    setOwn(store, pointer, entry);
  }

  private skip(pointer: string, keyword: string, value: JsonValue, code: ImportWarningCode, message: string): void {
    this.keep(this.notEnforced, pointer, keyword, value);
    this.findings.push({ code, pointer: childPointer(pointer, keyword), message });
  }
}

/** Reads a JSON Schema into enforced rules plus what is kept beside them. */
export function normalizeRuleSchema(schema: RuleSchema): NormalizedRuleSchema {
  const reader = new SchemaReader();
  const rules = reader.read(schema, '');
  return { rules, annotations: reader.annotations, notEnforced: reader.notEnforced, findings: reader.findings };
}

// ---------------------------------------------------------------------------------------------
// Segment's whole-message schemas
// ---------------------------------------------------------------------------------------------

/** Which part of the message a rule constrains. */
export type RuleField = 'properties' | 'traits';

interface ReadRule {
  rules: RuleSchema;
  metadata: RuleMetadata;
  description?: string;
}

class ImportContext {
  readonly warnings: ImportWarning[] = [];

  warn(code: ImportWarningCode, path: string, message: string): void {
    this.warnings.push({ code, path, message });
  }

  reportUnknownFields(value: JsonObject, known: readonly string[], path: string, what: string): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.warn('unknown_field', childPointer(path, key), `"${key}" is not a field of ${what}; ignored`);
    }
  }

  readSchema(schema: RuleSchema, path: string): NormalizedRuleSchema {
    const normalized = normalizeRuleSchema(schema);
    for (const finding of normalized.findings) this.warn(finding.code, `${path}${finding.pointer}`, finding.message);
    return normalized;
  }
}

const ENVELOPE_FIELDS = ['context', 'traits', 'properties'];

/** `{}` and `{ "type": "object" }`: what Segment writes for the message fields a rule does not constrain. */
function isBoilerplateField(value: JsonValue): boolean {
  if (!isJsonObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 0 || (keys.length === 1 && value['type'] === 'object');
}

export function hasRequiredEntries(rules: RuleSchema): boolean {
  if (!isJsonObject(rules)) return false;
  const required = rules['required'];
  return Array.isArray(required) && required.length > 0;
}

function labelsOf(value: JsonValue, path: string, context: ImportContext): Record<string, string> | undefined {
  if (!isJsonObject(value)) {
    context.warn('ignored_field', path, 'labels must be an object of strings; ignored');
    return undefined;
  }
  const labels: Record<string, string> = {};
  for (const [key, label] of Object.entries(value)) {
    if (typeof label === 'string') setOwn(labels, key, label);
    else context.warn('ignored_field', childPointer(path, key), 'a label value must be a string; ignored');
  }
  return labels;
}

function metadataOf(parts: {
  labels?: Record<string, string> | undefined;
  annotations: JsonObject;
  normalized: NormalizedRuleSchema;
  envelope?: JsonObject;
}): RuleMetadata {
  const metadata: RuleMetadata = {};
  if (parts.labels) metadata.labels = parts.labels;
  if (!isEmptyObject(parts.annotations)) metadata.annotations = parts.annotations;
  if (!isEmptyObject(parts.normalized.annotations)) metadata.propertyAnnotations = parts.normalized.annotations;
  if (!isEmptyObject(parts.normalized.notEnforced)) metadata.notEnforced = parts.normalized.notEnforced;
  if (parts.envelope && !isEmptyObject(parts.envelope)) metadata.envelope = parts.envelope;
  return metadata;
}

/**
 * Reads a whole-message schema (`{ properties: { context, traits, properties } }`): the rule is
 * the schema at `properties[field]`; the rest is labels, annotations and (rarely) an envelope.
 */
function readMessageSchema(message: JsonValue | null, field: RuleField, path: string, context: ImportContext): ReadRule {
  if (message === null || message === true) return { rules: {}, metadata: {} };
  if (!isJsonObject(message)) {
    context.warn('invalid_rule', path, 'expected a JSON Schema object; the rule is empty');
    return { rules: {}, metadata: {} };
  }
  const annotations: JsonObject = {};
  const envelope: JsonObject = {};
  const envelopeProperties: JsonObject = {};
  let labels: Record<string, string> | undefined;
  let description: string | undefined;
  let inner: JsonValue | undefined;
  let rootRequired: string[] = [];

  for (const [key, value] of Object.entries(message)) {
    if (key === 'labels') labels = labelsOf(value, childPointer(path, key), context);
    else if (key === 'description' && typeof value === 'string') description = value;
    else if (ANNOTATION_KEYWORD_SET.has(key)) setOwn(annotations, key, value);
    else if (key === 'type' && value === 'object') continue;
    else if (key === 'required' && isStringArray(value)) rootRequired = value;
    else if (key === 'properties' && isJsonObject(value)) {
      for (const [name, member] of Object.entries(value)) {
        if (name === field) inner = member;
        else if (!(ENVELOPE_FIELDS.includes(name) && isBoilerplateField(member))) setOwn(envelopeProperties, name, member);
      }
    } else setOwn(envelope, key, value);
  }

  const innerPath = childPointer(path, 'properties', field);
  let normalized: NormalizedRuleSchema = { rules: {}, annotations: {}, notEnforced: {}, findings: [] };
  if (inner !== undefined && isRuleSchema(inner)) normalized = context.readSchema(inner, innerPath);
  else if (inner !== undefined) {
    context.warn('invalid_rule', innerPath, 'expected a JSON Schema object; kept, not enforced');
    setOwn(envelopeProperties, field, inner);
  }

  // Segment marks `properties` (or `traits`) required when any of its keys is: derived, so dropped.
  const requiredElsewhere = rootRequired.filter((name) => name !== field || !hasRequiredEntries(normalized.rules));
  if (requiredElsewhere.length > 0) envelope['required'] = requiredElsewhere;
  if (!isEmptyObject(envelopeProperties)) envelope['properties'] = envelopeProperties;
  if (!isEmptyObject(envelope)) {
    const parts = [...Object.keys(envelope).filter((key) => key !== 'properties'), ...Object.keys(envelopeProperties).map((name) => `properties.${name}`)];
    context.warn('envelope_not_enforced', path, `message-level rules outside "${field}" (${parts.join(', ')}) are kept but not enforced; put message-wide rules in the common schema`);
  }
  const rule: ReadRule = { rules: normalized.rules, metadata: metadataOf({ labels, annotations, normalized, envelope }) };
  if (description !== undefined) rule.description = description;
  return rule;
}

/** A section (identify, group, page, screen) has no description field: it stays an annotation. */
function sectionOf(rule: ReadRule): PlanSection {
  if (rule.description === undefined) return { rules: rule.rules, metadata: rule.metadata };
  return { rules: rule.rules, metadata: { ...rule.metadata, annotations: { ...rule.metadata.annotations, description: rule.description } } };
}

/** The common schema constrains the whole message: its root is the rule's root. */
function readCommonSchema(schema: JsonValue | null, path: string, context: ImportContext): PlanSection {
  if (schema === null || schema === true) return { rules: {}, metadata: {} };
  if (!isRuleSchema(schema)) {
    context.warn('invalid_rule', path, 'expected a JSON Schema object; the rule is empty');
    return { rules: {}, metadata: {} };
  }
  let labels: Record<string, string> | undefined;
  let body: RuleSchema = schema;
  if (isJsonObject(schema) && schema['labels'] !== undefined) {
    const { labels: rawLabels, ...rest } = schema;
    labels = rawLabels === undefined ? undefined : labelsOf(rawLabels, childPointer(path, 'labels'), context);
    body = rest;
  }
  const normalized = context.readSchema(body, path);
  const { '': rootAnnotations = {}, ...nestedAnnotations } = normalized.annotations;
  return { rules: normalized.rules, metadata: metadataOf({ labels, annotations: rootAnnotations, normalized: { ...normalized, annotations: nestedAnnotations } }) };
}

// ---------------------------------------------------------------------------------------------
// Plan assembly
// ---------------------------------------------------------------------------------------------

const GO_ZERO_TIME = /^0001-01-01T00:00:00(\.0+)?Z$/;

function deprecationOf(value: string | undefined): string | undefined {
  return value === undefined || GO_ZERO_TIME.test(value) ? undefined : value;
}

class PlanBuilder {
  readonly events: PlannedEvent[] = [];
  readonly sections: Partial<Record<'identify' | 'group' | 'page' | 'screen' | 'common', PlanSection>> = {};
  private readonly seen = new Set<string>();

  constructor(private readonly context: ImportContext) {}

  addEvent(event: PlannedEvent, path: string): void {
    const key = `${event.name}\u0000${event.version}`;
    if (this.seen.has(key)) {
      this.context.warn('duplicate_rule', path, `event "${event.name}" version ${event.version} is defined more than once; the first is kept`);
      return;
    }
    this.seen.add(key);
    this.events.push(event);
  }

  setSection(name: keyof PlanBuilder['sections'], section: PlanSection, path: string): void {
    if (this.sections[name]) {
      this.context.warn('duplicate_rule', path, `more than one ${name} rule; the first is kept`);
      return;
    }
    this.sections[name] = section;
  }

  build(identity: { id?: string | undefined; name: string }): TrackingPlan {
    const plan: TrackingPlan = { name: identity.name, events: this.events, ...this.sections };
    if (identity.id) plan.id = identity.id;
    return trackingPlanSchema.parse(plan);
  }
}

function eventOf(parts: { name: string; version: number; rule: ReadRule; description?: string | undefined; deprecatedAt?: string | undefined }): PlannedEvent {
  const event: PlannedEvent = { name: parts.name, version: parts.version, rules: parts.rule.rules, metadata: parts.rule.metadata };
  if (parts.description !== undefined) event.description = parts.description;
  if (parts.deprecatedAt !== undefined) event.deprecatedAt = parts.deprecatedAt;
  return event;
}

interface ParseIssues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

function issuesOf(error: ParseIssues, base: string): { path: string; message: string }[] {
  return error.issues.map((issue) => ({ path: childPointer(base, ...issue.path.map(String)), message: issue.message }));
}

function skippedBecause(error: ParseIssues | undefined): string {
  const reasons = error?.issues.map((issue) => `${issue.path.map(String).join('.') || 'rule'}: ${issue.message}`) ?? ['not an object'];
  return `skipped (${reasons.join('; ')})`;
}

function planNameOf(candidates: (string | undefined)[], context: ImportContext, path: string): string {
  const name = candidates.find((candidate) => candidate !== undefined && candidate.length > 0);
  if (name !== undefined) return name;
  context.warn('missing_field', path, 'the plan has no name; "Segment tracking plan" is used');
  return 'Segment tracking plan';
}

// ---------------------------------------------------------------------------------------------
// The three shapes
// ---------------------------------------------------------------------------------------------

function importConfigApiPlan(json: JsonObject, context: ImportContext): TrackingPlan {
  const parsed = configApiPlanSchema.safeParse(json);
  if (!parsed.success) throw new SegmentPlanImportError('not a Config API tracking plan', issuesOf(parsed.error, ''));
  const source = parsed.data;
  context.reportUnknownFields(json, Object.keys(configApiPlanSchema.shape), '', 'a Config API tracking plan');
  const rawRules = json['rules'];
  if (isJsonObject(rawRules)) context.reportUnknownFields(rawRules, Object.keys(configApiRulesSchema.shape), '/rules', 'Config API plan rules');

  const builder = new PlanBuilder(context);
  const rawEvents = isJsonObject(rawRules) && Array.isArray(rawRules['events']) ? rawRules['events'] : [];
  rawEvents.forEach((rawEvent, index) => {
    const path = `/rules/events/${index}`;
    const event = configApiEventSchema.safeParse(rawEvent);
    if (!event.success || !isJsonObject(rawEvent)) {
      context.warn('invalid_rule', path, skippedBecause(event.error));
      return;
    }
    context.reportUnknownFields(rawEvent, Object.keys(configApiEventSchema.shape), path, 'a Config API event');
    if (event.data.version === undefined) context.warn('missing_field', childPointer(path, 'version'), 'no version; 1 is used');
    const rule = readMessageSchema(event.data.rules, 'properties', childPointer(path, 'rules'), context);
    if (event.data.description !== undefined && rule.description !== undefined && rule.description !== event.data.description) {
      context.warn('ignored_field', childPointer(path, 'rules', 'description'), "the schema's description differs from the event's; the event's is kept");
    }
    builder.addEvent(
      eventOf({ name: event.data.name, version: event.data.version ?? 1, rule, description: event.data.description ?? rule.description, deprecatedAt: deprecationOf(event.data.deprecatedAt) }),
      path,
    );
  });

  const rules = source.rules;
  if (rules.global !== undefined) builder.setSection('common', readCommonSchema(rules.global, '/rules/global', context), '/rules/global');
  if (rules.identify !== undefined) builder.setSection('identify', sectionOf(readMessageSchema(rules.identify, 'traits', '/rules/identify', context)), '/rules/identify');
  if (rules.group !== undefined) builder.setSection('group', sectionOf(readMessageSchema(rules.group, 'traits', '/rules/group', context)), '/rules/group');
  if (rules.page !== undefined) builder.setSection('page', sectionOf(readMessageSchema(rules.page, 'properties', '/rules/page', context)), '/rules/page');
  if (rules.screen !== undefined) builder.setSection('screen', sectionOf(readMessageSchema(rules.screen, 'properties', '/rules/screen', context)), '/rules/screen');
  for (const legacy of ['identify_traits', 'group_traits'] as const) {
    if ((rules[legacy]?.length ?? 0) > 0) context.warn('ignored_field', `/rules/${legacy}`, `legacy "${legacy}" lists are not read; use rules.${legacy.replace('_traits', '')}`);
  }

  const id = source.name?.split('/').pop();
  return builder.build({ id, name: planNameOf([source.display_name, id], context, '/display_name') });
}

const SECTION_OF_RULE_TYPE = { IDENTIFY: 'identify', GROUP: 'group', PAGE: 'page', SCREEN: 'screen' } as const;
const FIELD_OF_RULE_TYPE = { IDENTIFY: 'traits', GROUP: 'traits', PAGE: 'properties', SCREEN: 'properties' } as const;

function importPublicApiPlan(json: JsonObject, context: ImportContext): TrackingPlan {
  const parsed = publicApiPlanSchema.safeParse(json);
  if (!parsed.success) throw new SegmentPlanImportError('not a Public API tracking plan', issuesOf(parsed.error, ''));
  context.reportUnknownFields(json, Object.keys(publicApiPlanSchema.shape), '', 'a Public API tracking plan');
  const builder = new PlanBuilder(context);

  parsed.data.rules.forEach((rawRule, index) => {
    const path = `/rules/${index}`;
    const rule = publicApiRuleSchema.safeParse(rawRule);
    if (!rule.success || !isJsonObject(rawRule)) {
      context.warn('invalid_rule', path, skippedBecause(rule.error));
      return;
    }
    context.reportUnknownFields(rawRule, Object.keys(publicApiRuleSchema.shape), path, 'a Public API rule');
    const { type, key, jsonSchema, version } = rule.data;
    const schemaPath = childPointer(path, 'jsonSchema');
    if (type === 'TRACK') {
      if (!key) {
        context.warn('invalid_rule', childPointer(path, 'key'), 'a TRACK rule needs the event name as its key; skipped');
        return;
      }
      const read = readMessageSchema(jsonSchema, 'properties', schemaPath, context);
      if (read.metadata.labels === undefined && rule.data.labels !== undefined) {
        const labels = labelsOf(rule.data.labels, childPointer(path, 'labels'), context);
        if (labels) read.metadata.labels = labels;
      }
      builder.addEvent(eventOf({ name: key, version, rule: read, description: read.description ?? rule.data.description, deprecatedAt: deprecationOf(rule.data.deprecatedAt) }), path);
      return;
    }
    if (key) context.warn('ignored_field', childPointer(path, 'key'), `a ${type} rule applies to every ${type.toLowerCase()} call; its key is ignored`);
    if (deprecationOf(rule.data.deprecatedAt) !== undefined) context.warn('ignored_field', childPointer(path, 'deprecatedAt'), `${type} rules are not versioned in Monfri; deprecation ignored`);
    if (type === 'COMMON') builder.setSection('common', readCommonSchema(jsonSchema, schemaPath, context), path);
    else builder.setSection(SECTION_OF_RULE_TYPE[type], sectionOf(readMessageSchema(jsonSchema, FIELD_OF_RULE_TYPE[type], schemaPath, context)), path);
  });

  return builder.build({ id: parsed.data.id, name: planNameOf([parsed.data.name, parsed.data.slug, parsed.data.id], context, '/name') });
}

/** Typewriter v8 lifts the event's properties schema to the root and marks it with eventMetadata. */
function readLiftedSchema(schema: JsonObject, path: string, context: ImportContext): ReadRule & { eventName?: string } {
  let eventName: string | undefined;
  let labels: Record<string, string> | undefined;
  let description: string | undefined;
  const annotations: JsonObject = {};
  const body: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'eventMetadata' && isJsonObject(value)) {
      // Typewriter's own copy of the rule's key and type: read, not kept (see segment-export.ts).
      if (typeof value['name'] === 'string') eventName = value['name'];
      for (const extra of Object.keys(value)) {
        if (extra !== 'name' && extra !== 'type') context.warn('ignored_field', childPointer(path, key, extra), `eventMetadata.${extra} is not kept`);
      }
    } else if (key === 'labels') labels = labelsOf(value, childPointer(path, key), context);
    else if (key === 'description' && typeof value === 'string') description = value;
    else if (ANNOTATION_KEYWORD_SET.has(key)) setOwn(annotations, key, value);
    else setOwn(body, key, value);
  }
  removeLiftArtifact(body, path, context);
  const normalized = context.readSchema(body, path);
  const { '': rootAnnotations = {}, ...nestedAnnotations } = normalized.annotations;
  const rule: ReadRule & { eventName?: string } = {
    rules: normalized.rules,
    metadata: metadataOf({ labels, annotations: { ...annotations, ...rootAnnotations }, normalized: { ...normalized, annotations: nestedAnnotations } }),
  };
  if (description !== undefined) rule.description = description;
  if (eventName !== undefined) rule.eventName = eventName;
  return rule;
}

/** The lift spreads the message root under the properties schema: a leftover `required: ["properties"]` is not the event's. */
function removeLiftArtifact(body: JsonObject, path: string, context: ImportContext): void {
  const required = body['required'];
  const properties = body['properties'];
  if (required === undefined || !isStringArray(required) || !required.includes('properties')) return;
  if (isJsonObject(properties) && Object.hasOwn(properties, 'properties')) return;
  body['required'] = required.filter((name) => name !== 'properties');
  context.warn('typewriter_artifact', childPointer(path, 'required'), '"properties" in required is left over from the message schema Typewriter lifted; removed');
}

function importTypewriterV8Plan(json: JsonObject, context: ImportContext): TrackingPlan {
  const parsed = publicApiPlanSchema.safeParse(json);
  if (!parsed.success) throw new SegmentPlanImportError('not a Typewriter plan', issuesOf(parsed.error, ''));
  context.reportUnknownFields(json, Object.keys(publicApiPlanSchema.shape), '', 'a Typewriter plan');
  const builder = new PlanBuilder(context);

  parsed.data.rules.forEach((rawRule, index) => {
    const path = `/rules/${index}`;
    const rule = typewriterV8RuleSchema.safeParse(rawRule);
    if (!rule.success || !isJsonObject(rawRule)) {
      context.warn('invalid_rule', path, skippedBecause(rule.error));
      return;
    }
    context.reportUnknownFields(rawRule, Object.keys(typewriterV8RuleSchema.shape), path, 'a Typewriter rule');
    const read = readLiftedSchema(rule.data.jsonSchema, childPointer(path, 'jsonSchema'), context);
    const name = read.eventName ?? rule.data.key;
    if (!name) {
      context.warn('invalid_rule', path, 'no event name (eventMetadata.name or key); skipped');
      return;
    }
    builder.addEvent(eventOf({ name, version: rule.data.version, rule: read, description: read.description ?? rule.data.description, deprecatedAt: deprecationOf(rule.data.deprecatedAt) }), path);
  });

  return builder.build({ id: parsed.data.id, name: planNameOf([parsed.data.name, parsed.data.slug, parsed.data.id], context, '/name') });
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

function hasEventMetadata(rule: JsonValue): boolean {
  if (!isJsonObject(rule)) return false;
  const schema = rule['jsonSchema'];
  return isJsonObject(schema) && isJsonObject(schema['eventMetadata']);
}

/** Which Segment shape this is, or null. Typewriter's own test for a lifted rule is `eventMetadata`. */
export function detectSegmentPlanFormat(json: JsonObject): SegmentPlanFormat | null {
  const rules = json['rules'];
  if (isJsonObject(rules)) return 'config_api_v7';
  if (Array.isArray(rules)) return rules.some(hasEventMetadata) ? 'typewriter_v8' : 'public_api';
  return null;
}

const IMPORTERS: Record<SegmentPlanFormat, (json: JsonObject, context: ImportContext) => TrackingPlan> = {
  config_api_v7: importConfigApiPlan,
  public_api: importPublicApiPlan,
  typewriter_v8: importTypewriterV8Plan,
};

/** Imports a Segment plan (any of the three shapes). Throws SegmentPlanImportError when it is none of them. */
export function importSegmentPlan(json: unknown): SegmentPlanImport {
  const document = jsonObjectSchema.safeParse(json);
  if (!document.success) throw new SegmentPlanImportError('a tracking plan must be a JSON object');
  const format = detectSegmentPlanFormat(document.data);
  if (format === null) {
    throw new SegmentPlanImportError('not a Segment tracking plan: expected "rules" to be an object (Config API) or an array (Public API, Typewriter)', [
      { path: '/rules', message: 'missing or of the wrong type' },
    ]);
  }
  const context = new ImportContext();
  const plan = IMPORTERS[format](document.data, context);
  return { plan, format, warnings: context.warnings };
}
