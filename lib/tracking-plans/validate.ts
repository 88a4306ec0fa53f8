/**
 * Checks events against a tracking plan at the edge.
 *
 * Two layers, on purpose. @cfworker/json-schema is an interpreter that allocates as it walks
 * (locations, error lists, per-object bookkeeping): 10-15 µs for a typical order event in
 * Node, half of the edge's whole ~30 µs budget per event. So each rule is compiled once (on
 * first use) into a tree of closures (plain functions: no eval, which Workers forbid) that
 * answers "valid?" without allocating, apart from the one message object a common schema is
 * checked against; that is all a conforming event costs. Only an event that fails is run
 * through @cfworker/json-schema, which stays the reference for what a violation is and where,
 * and its errors become violations. validate.test.ts keeps the two in agreement.
 *
 * Version selection follows Segment Protocols: `context.protocols.event_version` (an integer)
 * picks the event's version; missing, not an integer, or not in the plan means the OLDEST
 * version. Only track events can be unplanned, as in Segment; identify, group, page and screen
 * are checked against their rule when the plan has one, and alias is never checked.
 */
import { Validator, deepCompareStrict, format as formats, ucs2length, type OutputUnit } from '@cfworker/json-schema';
import type { EventType, JsonObject, JsonValue } from '../../schema/event';
import type { PlanSection, RuleSchema, TrackingPlan } from '../../schema/tracking-plan';
import { compilePattern, isJsonObject, normalizeRuleSchema, unescapePointerSegment } from './segment-import';

export interface PlanViolation {
  /** Where, from the message root: `properties.products[0].sku`, `traits.email`, `context.app.version`. */
  path: string;
  /** The JSON Schema keyword that failed: `required`, `type`, `enum`, `pattern`, `maximum`, ... */
  rule: string;
  message: string;
}

/**
 * A violation as the counts key it (plan_violation_counts, plan_blocked_counts): `rule:path`
 * with array indices as `[]`, so a rule broken by every item of an array counts once per event.
 */
export function violationKey(violation: Pick<PlanViolation, 'rule' | 'path'>): string {
  return `${violation.rule}:${violation.path.replace(/\[\d+\]/g, '[]')}`;
}

export interface PlanCheck {
  /** False only for a track event whose name is not in the plan. */
  planned: boolean;
  /** The event version the properties were checked against (track events only). */
  version: number | null;
  violations: PlanViolation[];
}

/** What the check reads from an event; a CollectedEvent fits. */
export interface PlanCheckedEvent {
  type: EventType;
  event?: string | null;
  properties?: JsonObject;
  traits?: JsonObject;
  context?: JsonObject;
  userId?: string | null;
  anonymousId?: string | null;
  groupId?: string | null;
}

// ---------------------------------------------------------------------------------------------
// The fast layer: a schema compiled to closures that answer valid / not valid
// ---------------------------------------------------------------------------------------------

type Check = (value: JsonValue) => boolean;
type ObjectCheck = (value: JsonObject) => boolean;
type ArrayCheck = (value: JsonValue[]) => boolean;
type StringCheck = (value: string) => boolean;
type NumberCheck = (value: number) => boolean;

const ALWAYS: Check = () => true;
const NEVER: Check = () => false;
const hasOwn = (object: JsonObject, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

function conjunction<T>(checks: ((value: T) => boolean)[]): ((value: T) => boolean) | null {
  if (checks.length === 0) return null;
  if (checks.length === 1) return checks[0] ?? null;
  return (value) => {
    for (let index = 0; index < checks.length; index++) if (!(checks[index] as (value: T) => boolean)(value)) return false;
    return true;
  };
}

function numberOr(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function typeCheck(type: JsonValue): Check {
  const types = new Set(Array.isArray(type) ? type : [type]);
  const allowsNumber = types.has('number');
  const allowsInteger = types.has('integer');
  const allowsString = types.has('string');
  const allowsBoolean = types.has('boolean');
  const allowsNull = types.has('null');
  const allowsArray = types.has('array');
  const allowsObject = types.has('object');
  return (value) => {
    if (value === null) return allowsNull;
    switch (typeof value) {
      case 'string':
        return allowsString;
      case 'number':
        return allowsNumber || (allowsInteger && value % 1 === 0);
      case 'boolean':
        return allowsBoolean;
      default:
        return Array.isArray(value) ? allowsArray : allowsObject;
    }
  };
}

/** enum and const: `===` for primitives, deep equality for objects and arrays (as @cfworker does). */
function oneOfValuesCheck(values: JsonValue[]): Check {
  const primitives = new Set<JsonValue>(values.filter((value) => value === null || typeof value !== 'object'));
  const composites = values.filter((value) => value !== null && typeof value === 'object');
  return (value) => {
    if (value === null || typeof value !== 'object') return primitives.has(value);
    for (let index = 0; index < composites.length; index++) if (deepCompareStrict(value, composites[index])) return true;
    return false;
  };
}

/** Hot closures loop by index: a callback that captures the value would be allocated on every call. */
function every(checks: Check[], value: JsonValue): boolean {
  for (let index = 0; index < checks.length; index++) if (!(checks[index] as Check)(value)) return false;
  return true;
}

function some(checks: Check[], value: JsonValue): boolean {
  for (let index = 0; index < checks.length; index++) if ((checks[index] as Check)(value)) return true;
  return false;
}

function hasAll(object: JsonObject, names: string[]): boolean {
  for (let index = 0; index < names.length; index++) if (!hasOwn(object, names[index] as string)) return false;
  return true;
}

function isSchema(value: JsonValue | undefined): value is RuleSchema {
  return typeof value === 'boolean' || isJsonObject(value);
}

function subCheck(value: JsonValue | undefined): Check {
  return isSchema(value) ? compileCheck(value) : ALWAYS;
}

function schemaList(value: JsonValue | undefined): Check[] {
  return Array.isArray(value) ? value.map(subCheck) : [];
}

function combinatorChecks(schema: JsonObject): Check[] {
  const checks: Check[] = [];
  const all = schemaList(schema['allOf']);
  if (all.length > 0) checks.push((value) => every(all, value));
  const any = schemaList(schema['anyOf']);
  if (any.length > 0) checks.push((value) => some(any, value));
  const one = schemaList(schema['oneOf']);
  if (one.length > 0) {
    checks.push((value) => {
      let matches = 0;
      for (let index = 0; index < one.length; index++) if ((one[index] as Check)(value) && ++matches > 1) return false;
      return matches === 1;
    });
  }
  if (schema['not'] !== undefined) {
    const not = subCheck(schema['not']);
    checks.push((value) => !not(value));
  }
  if (schema['if'] !== undefined) {
    const condition = subCheck(schema['if']);
    const then = schema['then'] === undefined ? ALWAYS : subCheck(schema['then']);
    const otherwise = schema['else'] === undefined ? ALWAYS : subCheck(schema['else']);
    checks.push((value) => (condition(value) ? then(value) : otherwise(value)));
  }
  return checks;
}

function objectChecks(schema: JsonObject): ObjectCheck[] {
  const checks: ObjectCheck[] = [];
  const required = schema['required'];
  if (Array.isArray(required) && required.length > 0) {
    const names = required.filter((name): name is string => typeof name === 'string');
    checks.push((object) => hasAll(object, names));
  }
  const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
  const names = Object.keys(properties);
  const propertyChecks = names.map((name) => subCheck(properties[name]));
  if (names.length > 0) {
    checks.push((object) => {
      for (let index = 0; index < names.length; index++) {
        const name = names[index] as string;
        const member = object[name];
        if (member !== undefined && hasOwn(object, name) && !(propertyChecks[index] as Check)(member)) return false;
      }
      return true;
    });
  }
  const patternSchemas = isJsonObject(schema['patternProperties']) ? schema['patternProperties'] : {};
  const patterns = Object.keys(patternSchemas).map((pattern) => ({ regex: compilePattern(pattern), check: subCheck(patternSchemas[pattern]) }));
  const additional = schema['additionalProperties'] === undefined ? null : subCheck(schema['additionalProperties']);
  if (patterns.length > 0 || additional) {
    const declared = new Set(names);
    checks.push((object) => {
      for (const key in object) {
        const member = object[key];
        if (member === undefined) continue;
        let matched = declared.has(key);
        for (let index = 0; index < patterns.length; index++) {
          const pattern = patterns[index] as (typeof patterns)[number];
          if (pattern.regex?.test(key)) {
            matched = true;
            if (!pattern.check(member)) return false;
          }
        }
        if (!matched && additional && !additional(member)) return false;
      }
      return true;
    });
  }
  const minProperties = numberOr(schema['minProperties']);
  const maxProperties = numberOr(schema['maxProperties']);
  if (minProperties !== undefined || maxProperties !== undefined) {
    checks.push((object) => {
      let count = 0;
      for (const key in object) if (hasOwn(object, key)) count++;
      return (minProperties === undefined || count >= minProperties) && (maxProperties === undefined || count <= maxProperties);
    });
  }
  if (schema['propertyNames'] !== undefined) {
    const nameCheck = subCheck(schema['propertyNames']);
    checks.push((object) => {
      for (const key in object) if (!nameCheck(key)) return false;
      return true;
    });
  }
  const dependencies = schema['dependencies'];
  if (isJsonObject(dependencies)) {
    const rules = Object.entries(dependencies).map(([name, dependency]) => ({
      name,
      needs: Array.isArray(dependency) ? dependency.filter((item): item is string => typeof item === 'string') : null,
      check: Array.isArray(dependency) ? ALWAYS : subCheck(dependency),
    }));
    checks.push((object) => {
      for (let index = 0; index < rules.length; index++) {
        const { name, needs, check } = rules[index] as (typeof rules)[number];
        if (hasOwn(object, name) && !(needs ? hasAll(object, needs) : check(object))) return false;
      }
      return true;
    });
  }
  return checks;
}

function uniqueItems(array: JsonValue[]): boolean {
  for (let left = 0; left < array.length; left++) {
    for (let right = left + 1; right < array.length; right++) {
      const a = array[left];
      const b = array[right];
      if (a === b || (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && deepCompareStrict(a, b))) return false;
    }
  }
  return true;
}

function arrayChecks(schema: JsonObject): ArrayCheck[] {
  const checks: ArrayCheck[] = [];
  const minItems = numberOr(schema['minItems']);
  const maxItems = numberOr(schema['maxItems']);
  if (minItems !== undefined) checks.push((array) => array.length >= minItems);
  if (maxItems !== undefined) checks.push((array) => array.length <= maxItems);
  const items = schema['items'];
  if (Array.isArray(items)) {
    const tuple = items.map(subCheck);
    const rest = schema['additionalItems'] === undefined ? ALWAYS : subCheck(schema['additionalItems']);
    checks.push((array) => {
      for (let index = 0; index < array.length; index++) {
        if (!(tuple[index] ?? rest)(array[index] as JsonValue)) return false;
      }
      return true;
    });
  } else if (isSchema(items)) {
    const itemCheck = compileCheck(items);
    checks.push((array) => {
      for (let index = 0; index < array.length; index++) if (!itemCheck(array[index] as JsonValue)) return false;
      return true;
    });
  }
  if (schema['uniqueItems'] === true) checks.push(uniqueItems);
  if (schema['contains'] !== undefined) {
    const contains = subCheck(schema['contains']);
    checks.push((array) => {
      for (let index = 0; index < array.length; index++) if (contains(array[index] as JsonValue)) return true;
      return false;
    });
  }
  return checks;
}

function stringChecks(schema: JsonObject): StringCheck[] {
  const checks: StringCheck[] = [];
  const minLength = numberOr(schema['minLength']);
  const maxLength = numberOr(schema['maxLength']);
  if (minLength !== undefined || maxLength !== undefined) {
    // Code points, not UTF-16 units, as JSON Schema (and @cfworker) count them.
    checks.push((text) => {
      const length = ucs2length(text);
      return (minLength === undefined || length >= minLength) && (maxLength === undefined || length <= maxLength);
    });
  }
  if (typeof schema['pattern'] === 'string') {
    const regex = compilePattern(schema['pattern']);
    if (regex) checks.push((text) => regex.test(text));
  }
  const formatName = schema['format'];
  const formatCheck = typeof formatName === 'string' && Object.hasOwn(formats, formatName) ? formats[formatName] : undefined;
  if (formatCheck) checks.push(formatCheck);
  return checks;
}

function numberChecks(schema: JsonObject): NumberCheck[] {
  const checks: NumberCheck[] = [];
  const minimum = numberOr(schema['minimum']);
  const maximum = numberOr(schema['maximum']);
  const exclusiveMinimum = numberOr(schema['exclusiveMinimum']);
  const exclusiveMaximum = numberOr(schema['exclusiveMaximum']);
  if (minimum !== undefined) checks.push((number) => number >= minimum);
  if (maximum !== undefined) checks.push((number) => number <= maximum);
  if (exclusiveMinimum !== undefined) checks.push((number) => number > exclusiveMinimum);
  if (exclusiveMaximum !== undefined) checks.push((number) => number < exclusiveMaximum);
  const multipleOf = numberOr(schema['multipleOf']);
  if (multipleOf !== undefined) {
    // Decimal-exact as @cfworker does it (0.3 is a multiple of 0.1); rare enough to delegate.
    const validator = new Validator({ multipleOf }, '7');
    checks.push((number) => validator.validate(number).valid);
  }
  return checks;
}

/** Compiles a (normalized) rule schema to a closure that allocates nothing when it runs. */
function compileCheck(schema: RuleSchema): Check {
  if (schema === true) return ALWAYS;
  if (schema === false) return NEVER;
  const general: Check[] = [];
  if (schema['type'] !== undefined) general.push(typeCheck(schema['type']));
  if (Array.isArray(schema['enum'])) general.push(oneOfValuesCheck(schema['enum']));
  if (schema['const'] !== undefined) general.push(oneOfValuesCheck([schema['const']]));
  general.push(...combinatorChecks(schema));
  const anyValue = conjunction(general);
  const onObject = conjunction(objectChecks(schema));
  const onArray = conjunction(arrayChecks(schema));
  const onString = conjunction(stringChecks(schema));
  const onNumber = conjunction(numberChecks(schema));
  if (!anyValue && !onObject && !onArray && !onString && !onNumber) return ALWAYS;
  return (value) => {
    if (anyValue && !anyValue(value)) return false;
    if (typeof value === 'string') return !onString || onString(value);
    if (typeof value === 'number') return !onNumber || onNumber(value);
    if (Array.isArray(value)) return !onArray || onArray(value);
    if (value !== null && typeof value === 'object') return !onObject || onObject(value);
    return true;
  };
}

/** One rule schema compiled to the valid / not valid answer the edge computes for every event. */
export function compileSchemaCheck(schema: RuleSchema): (value: JsonValue) => boolean {
  return compileCheck(normalizeRuleSchema(schema).rules);
}

// ---------------------------------------------------------------------------------------------
// The detailed layer: @cfworker/json-schema errors turned into violations
// ---------------------------------------------------------------------------------------------

/** Their errors only say "a subschema failed"; the errors after them carry the detail. */
const WRAPPER_KEYWORDS: ReadonlySet<string> = new Set(['properties', 'patternProperties', 'additionalProperties', 'items', 'additionalItems', 'if', 'allOf']);
/** Reported themselves; the errors of their branches (which may legitimately fail) are not. */
const SUMMARY_KEYWORDS: ReadonlySet<string> = new Set(['anyOf', 'oneOf', 'contains', 'not', 'propertyNames']);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const REQUIRED_MESSAGE = /^Instance does not have required property "(.*)"\.$/s;

function decodeLocation(location: string): string[] {
  return location === '#' ? [] : location.slice(2).split('/').map((segment) => unescapePointerSegment(decodeURIComponent(segment)));
}

function appendKey(path: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** `#/products/0/sku` inside `properties` → `properties.products[0].sku`: arrays get brackets. */
function pathOf(root: string, instance: JsonValue, location: string): string {
  let path = root;
  let node: JsonValue | undefined = instance;
  for (const segment of decodeLocation(location)) {
    if (Array.isArray(node)) {
      path += `[${segment}]`;
      node = node[Number(segment)];
    } else {
      path = appendKey(path, segment);
      node = isJsonObject(node) ? node[segment] : undefined;
    }
  }
  return path;
}

function schemaValueAt(schema: RuleSchema, location: string): JsonValue | undefined {
  let node: JsonValue | undefined = schema;
  for (const segment of decodeLocation(location)) {
    if (Array.isArray(node)) node = node[Number(segment)];
    else node = isJsonObject(node) ? node[segment] : undefined;
  }
  return node;
}

function isChildOf(error: OutputUnit, parent: OutputUnit): boolean {
  return error.keywordLocation.startsWith(`${parent.keywordLocation}/`);
}

function leafViolation(error: OutputUnit, path: string, schema: RuleSchema): PlanViolation {
  if (error.keyword === 'pattern') {
    return { path, rule: 'pattern', message: `does not match the pattern ${String(schemaValueAt(schema, error.keywordLocation))}` };
  }
  if (error.keyword === 'format') {
    return { path, rule: 'format', message: `is not a valid ${String(schemaValueAt(schema, error.keywordLocation))}` };
  }
  return { path, rule: error.keyword, message: error.error };
}

/** A `false` schema's error belongs to the keyword whose error comes right before it. */
function falseSchemaViolation(owner: OutputUnit | undefined, path: string): PlanViolation {
  if (owner?.keyword === 'additionalProperties') return { path, rule: 'additionalProperties', message: 'is not an allowed property' };
  if (owner?.keyword === 'items' || owner?.keyword === 'additionalItems') return { path, rule: owner.keyword, message: 'is not an allowed item' };
  return { path, rule: 'false', message: 'is not allowed' };
}

function violationsOf(errors: OutputUnit[], instance: JsonValue, schema: RuleSchema, root: string): PlanViolation[] {
  const violations: PlanViolation[] = [];
  const summaries: OutputUnit[] = [];
  const insideSummary = (error: OutputUnit): boolean => summaries.some((summary) => isChildOf(error, summary));
  errors.forEach((error, index) => {
    const previous = errors[index - 1];
    if (error.keyword === 'false') {
      if (previous && (insideSummary(previous) || SUMMARY_KEYWORDS.has(previous.keyword))) return;
      violations.push(falseSchemaViolation(previous, pathOf(root, instance, error.instanceLocation)));
      return;
    }
    if (insideSummary(error) || WRAPPER_KEYWORDS.has(error.keyword)) return;
    const next = errors[index + 1];
    if (error.keyword === 'dependencies' && next && isChildOf(next, error)) return;
    const path = pathOf(root, instance, error.instanceLocation);
    if (SUMMARY_KEYWORDS.has(error.keyword)) summaries.push(error);
    if (error.keyword === 'required') {
      const missing = REQUIRED_MESSAGE.exec(error.error)?.[1];
      violations.push(missing === undefined ? leafViolation(error, path, schema) : { path: appendKey(path, missing), rule: 'required', message: 'is required' });
      return;
    }
    violations.push(leafViolation(error, path, schema));
  });
  return violations;
}

/**
 * One rule, compiled on first use: an isolate usually sees a few of a plan's events, so a cold
 * start does not pay for reading and compiling all of them.
 */
class CompiledRule {
  private normalized: RuleSchema | null = null;
  private fast: Check | null = null;
  private detailed: Validator | null = null;

  constructor(
    readonly version: number | null,
    /** Where the checked value sits in the message: 'properties', 'traits', or '' (the whole message). */
    private readonly root: string,
    private readonly rules: RuleSchema,
  ) {}

  /** Read again so a plan stored by other means than the importer never reaches the validator unread. */
  private get schema(): RuleSchema {
    this.normalized ??= normalizeRuleSchema(this.rules).rules;
    return this.normalized;
  }

  isValid(value: JsonValue): boolean {
    this.fast ??= compileCheck(this.schema);
    return this.fast(value);
  }

  violations(instance: JsonValue): PlanViolation[] {
    // A copy, because @cfworker annotates the schema it is given.
    this.detailed ??= new Validator(structuredClone(this.schema), '7', false);
    const result = this.detailed.validate(instance);
    return result.valid ? [] : violationsOf(result.errors, instance, this.schema, this.root);
  }
}

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

interface EventVersions {
  oldest: CompiledRule;
  byVersion: Map<number, CompiledRule>;
}

export interface CompiledPlan {
  readonly id: string | null;
  readonly version: number | null;
  readonly events: ReadonlyMap<string, EventVersions>;
  readonly identify: CompiledRule | null;
  readonly group: CompiledRule | null;
  readonly page: CompiledRule | null;
  readonly screen: CompiledRule | null;
  readonly common: CompiledRule | null;
}

/** Plans compiled in this isolate. Pure data derived from the plan (no env), bounded, least recently used evicted. */
const MAX_CACHED_PLANS = 64;
const compiledByRevision = new Map<string, CompiledPlan>();
const compiledByObject = new WeakMap<TrackingPlan, CompiledPlan>();

function compileSection(section: PlanSection | undefined, root: string): CompiledRule | null {
  return section ? new CompiledRule(null, root, section.rules) : null;
}

function buildCompiledPlan(plan: TrackingPlan): CompiledPlan {
  const events = new Map<string, EventVersions>();
  for (const event of plan.events) {
    const rule = new CompiledRule(event.version, 'properties', event.rules);
    const entry = events.get(event.name);
    if (!entry) events.set(event.name, { oldest: rule, byVersion: new Map([[event.version, rule]]) });
    else {
      entry.byVersion.set(event.version, rule);
      if (event.version < (entry.oldest.version ?? Infinity)) entry.oldest = rule;
    }
  }
  return {
    id: plan.id ?? null,
    version: plan.version ?? null,
    events,
    identify: compileSection(plan.identify, 'traits'),
    group: compileSection(plan.group, 'traits'),
    page: compileSection(plan.page, 'properties'),
    screen: compileSection(plan.screen, 'properties'),
    common: compileSection(plan.common, ''),
  };
}

/**
 * The compiled plan, built once per isolate (each rule compiled on first use): cached by
 * `id@version` when the plan has both (so bump `version` on every change), else by the plan object.
 */
export function compilePlan(plan: TrackingPlan): CompiledPlan {
  const revision = plan.id !== undefined && plan.version !== undefined ? `${plan.id}@${plan.version}` : null;
  const cached = revision === null ? compiledByObject.get(plan) : compiledByRevision.get(revision);
  if (cached) {
    if (revision !== null) {
      compiledByRevision.delete(revision);
      compiledByRevision.set(revision, cached);
    }
    return cached;
  }
  const compiled = buildCompiledPlan(plan);
  if (revision === null) compiledByObject.set(plan, compiled);
  else {
    compiledByRevision.set(revision, compiled);
    if (compiledByRevision.size > MAX_CACHED_PLANS) {
      const oldest = compiledByRevision.keys().next();
      if (!oldest.done) compiledByRevision.delete(oldest.value);
    }
  }
  return compiled;
}

function requestedVersion(context: JsonObject | undefined): number | null {
  const protocols = context?.['protocols'];
  if (!isJsonObject(protocols)) return null;
  const version = protocols['event_version'];
  return typeof version === 'number' && Number.isInteger(version) ? version : null;
}

function eventRule(versions: EventVersions, context: JsonObject | undefined): CompiledRule {
  const requested = requestedVersion(context);
  return (requested === null ? undefined : versions.byVersion.get(requested)) ?? versions.oldest;
}

const NOTHING: JsonObject = Object.freeze({});

/** The message as Segment's common schema sees it: only the fields this call type carries. */
function messageOf(event: PlanCheckedEvent): JsonObject {
  const message: JsonObject = { type: event.type };
  if (event.type === 'track' && event.event) message['event'] = event.event;
  if (event.userId) message['userId'] = event.userId;
  if (event.anonymousId) message['anonymousId'] = event.anonymousId;
  if (event.type === 'group' && event.groupId) message['groupId'] = event.groupId;
  if (event.type === 'identify' || event.type === 'group') message['traits'] = event.traits ?? NOTHING;
  else message['properties'] = event.properties ?? NOTHING;
  if (event.context) message['context'] = event.context;
  return message;
}

function check(rule: CompiledRule | null, value: JsonValue, violations: PlanViolation[]): void {
  if (rule && !rule.isValid(value)) violations.push(...rule.violations(value));
}

export function validateEventAgainstPlan(compiled: CompiledPlan, event: PlanCheckedEvent): PlanCheck {
  const violations: PlanViolation[] = [];
  if (event.type === 'alias') return { planned: true, version: null, violations };
  let planned = true;
  let version: number | null = null;
  if (event.type === 'track') {
    const versions = event.event ? compiled.events.get(event.event) : undefined;
    if (versions) {
      const rule = eventRule(versions, event.context);
      version = rule.version;
      check(rule, event.properties ?? NOTHING, violations);
    } else planned = false;
  } else if (event.type === 'identify' || event.type === 'group') {
    check(compiled[event.type], event.traits ?? NOTHING, violations);
  } else {
    check(compiled[event.type], event.properties ?? NOTHING, violations);
  }
  if (compiled.common) check(compiled.common, messageOf(event), violations);
  return { planned, version, violations };
}
