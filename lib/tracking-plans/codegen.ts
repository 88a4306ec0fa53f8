/**
 * Generates a TypeScript module of typed wrappers around the SDK's `track`, one per event of a
 * plan, in the spirit of Segment's Typewriter:
 *
 *   const tracking = createTrackingPlanClient(monfri);      // script-tag global or ESM SDK
 *   tracking.orderCompleted({ order_id: 'ord_12345678', products: [...] });
 *   tracking.track('Order Completed', { ... });              // same check, by name
 *
 * Which version: the SDK's `track(event, properties)` cannot set `context.protocols.event_version`,
 * so the edge checks SDK events against the OLDEST version of each event; the wrappers use that
 * version's type. Newer versions are exported as types (`OrderCompletedV2`) for code that sends
 * `event_version` itself (server-side calls).
 *
 * Types follow the JSON Schema: required vs optional keys, `type` unions (incl. null), enums and
 * consts as literal unions, nested objects, arrays and tuples, anyOf/oneOf as unions, allOf as
 * intersections. Objects accept unknown keys (`[property: string]: unknown`) unless the schema
 * says `additionalProperties: false`, as JSON Schema does. Keywords types cannot express
 * (patterns, bounds, formats, not, if/then/else) are checked at the edge only.
 */
import type { JsonObject, JsonValue } from '../../schema/event';
import type { PlannedEvent, RuleMetadata, RuleSchema, TrackingPlan } from '../../schema/tracking-plan';
import { escapePointerSegment, isJsonObject } from './segment-import';

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Names the generated module declares itself, and global types a declaration must not shadow. */
const RESERVED_TYPE_NAMES = new Set([
  'TrackSink', 'TrackFunction', 'TrackingPlanEvents', 'TrackingPlanEventName', 'TrackingPlanClient',
  'Record', 'Array', 'ReadonlyArray', 'Partial', 'Required', 'Readonly', 'Pick', 'Omit', 'Exclude', 'Extract',
  'NonNullable', 'ReturnType', 'Parameters', 'Promise', 'Date', 'String', 'Number', 'Boolean', 'Object',
  'Function', 'Symbol', 'Error', 'Map', 'Set', 'JSON', 'Math', 'Event',
]);
const RESERVED_METHOD_NAMES = new Set(['track']);

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word.length > 0);
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1).toLowerCase();
}

function pascalCase(name: string): string {
  const joined = words(name).map(capitalize).join('');
  return /^[A-Za-z]/.test(joined) ? joined : `Event${joined}`;
}

function camelCase(name: string): string {
  const pascal = pascalCase(name);
  return pascal.charAt(0).toLowerCase() + pascal.slice(1);
}

/** Hands out identifiers, never the same one twice; a reserved name gets an `Event` suffix. */
class NameAllocator {
  private readonly taken: Set<string>;
  constructor(private readonly reserved: ReadonlySet<string>) {
    this.taken = new Set(reserved);
  }
  allocate(wanted: string): string {
    const base = this.reserved.has(wanted) ? `${wanted}Event` : wanted;
    let candidate = base;
    for (let suffix = 2; this.taken.has(candidate); suffix++) candidate = `${base}${suffix}`;
    this.taken.add(candidate);
    return candidate;
  }
}

function docComment(lines: (string | undefined)[], indent: string): string {
  const text = lines
    .filter((line): line is string => line !== undefined && line.trim().length > 0)
    .flatMap((line) => line.split(/\r?\n/))
    .map((line) => line.replace(/\*\//g, '*\\/'));
  if (text.length === 0) return '';
  if (text.length === 1) return `${indent}/** ${text[0]} */\n`;
  return `${indent}/**\n${text.map((line) => `${indent} * ${line}`).join('\n')}\n${indent} */\n`;
}

function literalType(value: JsonValue): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return 'unknown';
}

function union(members: string[]): string {
  const unique = [...new Set(members)];
  if (unique.includes('unknown')) return 'unknown';
  if (unique.length === 0) return 'never';
  return unique.length === 1 ? (unique[0] as string) : unique.map((member) => (member.includes('&') ? `(${member})` : member)).join(' | ');
}

function intersection(members: string[]): string {
  const useful = [...new Set(members.filter((member) => member !== 'unknown'))];
  if (useful.length === 0) return 'unknown';
  return useful.length === 1 ? (useful[0] as string) : useful.map((member) => (member.includes('|') ? `(${member})` : member)).join(' & ');
}

function matchesType(value: JsonValue, types: Set<string>): boolean {
  if (value === null) return types.has('null');
  if (typeof value === 'number') return types.has('number') || (types.has('integer') && Number.isInteger(value));
  if (typeof value === 'string' || typeof value === 'boolean') return types.has(typeof value);
  return types.has(Array.isArray(value) ? 'array' : 'object');
}

/** TypeScript types from (normalized) rule schemas; descriptions come from the rule's annotations. */
class TypeWriter {
  constructor(private readonly annotations: Record<string, JsonObject>) {}

  typeOf(schema: RuleSchema, pointer: string, indent: string): string {
    if (schema === true) return 'unknown';
    if (schema === false) return 'never';
    const members = [this.baseType(schema, pointer, indent)];
    const allOf = schema['allOf'];
    if (Array.isArray(allOf)) members.push(...allOf.map((member, index) => this.subType(member, `${pointer}/allOf/${index}`, indent)));
    for (const keyword of ['anyOf', 'oneOf']) {
      const alternatives = schema[keyword];
      if (Array.isArray(alternatives)) members.push(union(alternatives.map((member, index) => this.subType(member, `${pointer}/${keyword}/${index}`, indent))));
    }
    return intersection(members);
  }

  private subType(schema: JsonValue, pointer: string, indent: string): string {
    return typeof schema === 'boolean' || isJsonObject(schema) ? this.typeOf(schema, pointer, indent) : 'unknown';
  }

  private baseType(schema: JsonObject, pointer: string, indent: string): string {
    const declared = schema['type'];
    const types = new Set((Array.isArray(declared) ? declared : declared === undefined ? [] : [declared]).filter((type): type is string => typeof type === 'string'));
    const values = schema['const'] !== undefined ? [schema['const']] : Array.isArray(schema['enum']) ? schema['enum'] : null;
    if (values) return union(values.filter((value) => types.size === 0 || matchesType(value, types)).map(literalType));
    if (types.size === 0) {
      if (schema['properties'] !== undefined || schema['required'] !== undefined || schema['additionalProperties'] !== undefined) types.add('object');
      else if (schema['items'] !== undefined) types.add('array');
      else return 'unknown';
    }
    return union(
      [...types].map((type) => {
        switch (type) {
          case 'string':
            return 'string';
          case 'number':
          case 'integer':
            return 'number';
          case 'boolean':
            return 'boolean';
          case 'null':
            return 'null';
          case 'array':
            return this.arrayType(schema, pointer, indent);
          default:
            return this.objectType(schema, pointer, indent);
        }
      }),
    );
  }

  private arrayType(schema: JsonObject, pointer: string, indent: string): string {
    const items = schema['items'];
    if (Array.isArray(items)) {
      const tuple = items.map((item, index) => this.subType(item, `${pointer}/items/${index}`, indent));
      const rest = schema['additionalItems'] === false ? '' : `, ...${this.wrapForArray(schema['additionalItems'] === undefined ? 'unknown' : this.subType(schema['additionalItems'], `${pointer}/additionalItems`, indent))}[]`;
      return `[${tuple.join(', ')}${rest}]`;
    }
    if (items === undefined) return 'unknown[]';
    return `${this.wrapForArray(this.subType(items, `${pointer}/items`, indent))}[]`;
  }

  /** `string | null` needs parentheses before `[]`; `{ a: string | null }` does not. */
  private wrapForArray(type: string): string {
    let depth = 0;
    let quoted = false;
    for (let index = 0; index < type.length; index++) {
      const char = type.charAt(index);
      if (quoted) {
        if (char === '\\') index++;
        else if (char === '"') quoted = false;
      } else if (char === '"') quoted = true;
      else if ('{[('.includes(char)) depth++;
      else if ('}])'.includes(char)) depth--;
      else if (depth === 0 && (char === '|' || char === '&')) return `(${type})`;
    }
    return type;
  }

  private objectType(schema: JsonObject, pointer: string, indent: string): string {
    const properties = isJsonObject(schema['properties']) ? schema['properties'] : {};
    const required = new Set(Array.isArray(schema['required']) ? schema['required'].filter((name): name is string => typeof name === 'string') : []);
    const inner = `${indent}  `;
    const lines: string[] = [];
    for (const [name, member] of Object.entries(properties)) {
      const memberPointer = `${pointer}/properties/${escapePointerSegment(name)}`;
      const description = this.annotations[memberPointer]?.['description'];
      lines.push(
        `${docComment([typeof description === 'string' ? description : undefined], inner)}${inner}${IDENTIFIER.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${this.subType(member, memberPointer, inner)};`,
      );
    }
    for (const name of required) {
      if (!Object.hasOwn(properties, name)) lines.push(`${inner}${IDENTIFIER.test(name) ? name : JSON.stringify(name)}: unknown;`);
    }
    if (schema['additionalProperties'] !== false) lines.push(`${inner}[property: string]: unknown;`);
    // A closed object with no properties: TypeScript's `{}` would accept any value but null.
    return lines.length === 0 ? 'Record<string, never>' : `{\n${lines.join('\n')}\n${indent}}`;
  }
}

function eventPropertiesType(event: PlannedEvent): string {
  const writer = new TypeWriter(event.metadata.propertyAnnotations ?? {});
  const type = writer.typeOf(event.rules, '', '');
  // Properties are always an object: a rule that is not (or cannot be told) gets the loosest object type.
  return type.startsWith('{') || type.startsWith('Record<') ? type : 'Record<string, unknown>';
}

function hasRequiredProperty(rules: RuleSchema): boolean {
  return isJsonObject(rules) && Array.isArray(rules['required']) && rules['required'].length > 0;
}

function deprecation(event: PlannedEvent): string | undefined {
  return event.deprecatedAt === undefined ? undefined : `@deprecated since ${event.deprecatedAt}`;
}

interface GeneratedEvent {
  event: PlannedEvent;
  typeName: string;
  methodName: string;
}

function versionsByName(plan: TrackingPlan): Map<string, PlannedEvent[]> {
  const byName = new Map<string, PlannedEvent[]>();
  for (const event of plan.events) byName.set(event.name, [...(byName.get(event.name) ?? []), event]);
  for (const versions of byName.values()) versions.sort((a, b) => a.version - b.version);
  return byName;
}

function labelLine(metadata: RuleMetadata): string | undefined {
  const labels = Object.entries(metadata.labels ?? {});
  return labels.length === 0 ? undefined : `Labels: ${labels.map(([key, value]) => `${key}:${value}`).join(', ')}`;
}

export function generateTypedClient(plan: TrackingPlan): string {
  const typeNames = new NameAllocator(RESERVED_TYPE_NAMES);
  const methodNames = new NameAllocator(RESERVED_METHOD_NAMES);
  const defaults: GeneratedEvent[] = [];
  const declarations: string[] = [];

  for (const [name, versions] of versionsByName(plan)) {
    versions.forEach((event, index) => {
      const isDefault = index === 0;
      const typeName = typeNames.allocate(`${pascalCase(name)}${isDefault ? '' : `V${event.version}`}`);
      const doc = docComment(
        [
          event.description,
          `Properties of "${name}" version ${event.version}${isDefault ? ' (what the edge checks when no event_version is sent)' : ''}.`,
          labelLine(event.metadata),
          deprecation(event),
        ],
        '',
      );
      declarations.push(`${doc}export type ${typeName} = ${eventPropertiesType(event)};\n`);
      if (isDefault) defaults.push({ event, typeName, methodName: methodNames.allocate(camelCase(name)) });
    });
  }

  const eventMap = defaults.map(({ event, typeName }) => `  ${JSON.stringify(event.name)}: ${typeName};`).join('\n');
  const interfaceMethods = defaults
    .map(({ event, typeName, methodName }) => {
      const optional = hasRequiredProperty(event.rules) ? '' : '?';
      return `${docComment([event.description, `Tracks "${event.name}".`, deprecation(event)], '  ')}  ${methodName}(properties${optional}: ${typeName}): void;`;
    })
    .join('\n');
  const implementations = defaults
    .map(({ event, typeName, methodName }) => {
      const optional = hasRequiredProperty(event.rules) ? '' : '?';
      return `    ${methodName}(properties${optional}: ${typeName}): void {\n      send(${JSON.stringify(event.name)}, properties);\n    },`;
    })
    .join('\n');

  return `/**
 * Typed tracking for the plan ${JSON.stringify(plan.name)}${plan.version === undefined ? '' : ` (revision ${plan.version})`}.
 * Generated by Monfri from the tracking plan: do not edit, regenerate when the plan changes.
 */

/** Anything with the SDK's track: the script-tag global \`monfri\` or the ESM SDK's client. */
export interface TrackSink {
  track(event: string, properties?: Record<string, unknown>): void;
}

/**
 * The SDK's track on its own. Taken from a method signature on purpose: method parameters are
 * compared both ways, so the SDK's \`track(event, properties?: JsonObject)\` fits.
 */
export type TrackFunction = TrackSink['track'];

${declarations.join('\n')}
/** Every event of the plan by name, with the properties the edge checks by default. */
export interface TrackingPlanEvents {
${eventMap}
}

export type TrackingPlanEventName = keyof TrackingPlanEvents;

export interface TrackingPlanClient {
${interfaceMethods}
  /** Tracks any planned event by name. */
  track<Name extends TrackingPlanEventName>(event: Name, properties: TrackingPlanEvents[Name]): void;
}

export function createTrackingPlanClient(sink: TrackSink | TrackFunction): TrackingPlanClient {
  const send: TrackFunction = typeof sink === 'function' ? sink : (event, properties) => sink.track(event, properties);
  return {
${implementations}
    track(event, properties) {
      send(event, properties);
    },
  };
}
`;
}
