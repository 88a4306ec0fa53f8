/**
 * Schema discovery, the read side: what the aggregate tables say (lib/schema-queries.ts), merged
 * with the workspace's tracking plan, as a report (events, keys, types with counts, distinct
 * values, examples, first/last seen, violations, warnings), as Markdown documentation, and as
 * a draft plan. Pure: the API route reads the rows and the plan and calls these.
 *
 * Warnings, each a likely bug in the sending code:
 * - high_cardinality: a key with more than HIGH_CARDINALITY distinct values in an event whose
 *   keys mostly have few (median at most FEW_VALUES), e.g. a timestamp sent as a category;
 * - dynamic_key: key names that look like data (`{"user_123": ...}`), which the consumer
 *   folds into `{id}`, `{uuid}`, `{email}` or `{timestamp}` (consumers/events/schema-paths.ts);
 * - type_changed: one key seen with two types (integer and number count as one; null is not a type change);
 * - similar_event_names: event names equal but for case, spaces, `_` or `-`.
 */
import type { JsonObject, JsonValue } from '../../schema/event';
import type { PlannedEvent, RuleSchema, TrackingPlan } from '../../schema/tracking-plan';
import { escapePointerSegment, isJsonObject, unescapePointerSegment } from './segment-import';

export const HIGH_CARDINALITY = 1_000;
export const FEW_VALUES = 100;
const DYNAMIC_SEGMENT = /(^|\.)\{(id|uuid|email|timestamp)\}(\[\])*(\.|$)/;

export interface SchemaEventRow {
  type: string;
  event: string;
  events: number;
  first_seen_ms: number;
  last_seen_ms: number;
}

export interface SchemaKeyRow {
  type: string;
  event: string;
  path: string;
  value_type: string;
  occurrences: number;
  distinct_values: number;
  first_seen_ms: number;
  last_seen_ms: number;
  example: string;
}

export interface ViolationCountRow {
  type: string;
  event: string;
  rule: string;
  path: string;
  /** Events stored with this violation (allow or flag mode) and, of them, flagged. */
  events: number;
  flagged: number;
  /** Events refused for it (block mode): never stored, so in no other count. */
  blocked: number;
}

export type WarningCode = 'high_cardinality' | 'dynamic_key' | 'type_changed' | 'similar_event_names';

export interface SchemaWarning {
  code: WarningCode;
  type: string;
  event: string;
  path: string | null;
  message: string;
}

export interface DiscoveredType {
  type: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface DiscoveredKey {
  path: string;
  types: DiscoveredType[];
  /** Values seen (an array's items each count). */
  occurrences: number;
  /** Approximate distinct values (a uniqCombined sketch; values of different types never collide). */
  distinctValues: number;
  example: string | null;
  firstSeen: string;
  lastSeen: string;
  /** Whether the plan's rule for this event describes this key. */
  planned: boolean;
  description: string | null;
  violations: { rule: string; events: number; flagged: number; blocked: number }[];
}

/** planned: in the plan and seen; unplanned: a track event the plan does not list; never_seen: in the plan, not received; not_covered: a call type the plan has no rule for; no_plan: the workspace has none. */
export type EventStatus = 'planned' | 'unplanned' | 'never_seen' | 'not_covered' | 'no_plan';

export interface DiscoveredEvent {
  type: string;
  event: string;
  status: EventStatus;
  volume: number;
  firstSeen: string | null;
  lastSeen: string | null;
  description: string | null;
  planVersions: number[];
  keyCount: number;
  /** Stored events with a violation, counted once per broken rule and key. */
  violations: number;
  /** Events the plan refused, counted the same way; an event that was only ever refused has volume 0. */
  blocked: number;
  warnings: SchemaWarning[];
}

export interface SchemaReport {
  plan: { id: string | null; name: string; version: number | null } | null;
  events: DiscoveredEvent[];
  warnings: SchemaWarning[];
  /** True when the workspace has more key rows than one read returns (the report is then partial). */
  truncated: boolean;
}

export interface EventSchemaReport extends DiscoveredEvent {
  keys: DiscoveredKey[];
  /** Violations of rules on the event as a whole (unplanned) or of the common rule, by rule and path. */
  otherViolations: ViolationCountRow[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const keyOf = (type: string, event: string): string => `${type}\u0000${event}`;

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

// ---------------------------------------------------------------------------------------------
// The plan's side
// ---------------------------------------------------------------------------------------------

interface PlanRule {
  rules: RuleSchema;
  propertyAnnotations: Record<string, JsonObject>;
  description: string | null;
  versions: number[];
}

/** The rule that covers an event of this type and name, and its versions; the newest version describes keys. */
function planRuleFor(plan: TrackingPlan, type: string, event: string): PlanRule | null {
  if (type === 'track') {
    const versions = plan.events.filter((entry) => entry.name === event).sort((a, b) => a.version - b.version);
    const newest: PlannedEvent | undefined = versions.at(-1);
    if (!newest) return null;
    return { rules: newest.rules, propertyAnnotations: newest.metadata.propertyAnnotations ?? {}, description: newest.description ?? null, versions: versions.map((entry) => entry.version) };
  }
  const section = type === 'identify' || type === 'group' || type === 'page' || type === 'screen' ? plan[type] : undefined;
  if (!section) return null;
  const description = section.metadata.annotations?.['description'];
  return { rules: section.rules, propertyAnnotations: section.metadata.propertyAnnotations ?? {}, description: typeof description === 'string' ? description : null, versions: [1] };
}

/** `a.b[]` -> the JSON Pointer of its schema in a rule (`/properties/a/properties/b/items`). */
export function pointerOfPath(path: string): string {
  let pointer = '';
  for (const segment of path.split('.')) {
    const name = segment.replace(/(\[\])+$/, '');
    pointer += `/properties/${escapePointerSegment(name)}`;
    for (let depth = (segment.length - name.length) / 2; depth > 0; depth--) pointer += '/items';
  }
  return pointer;
}

/** Whether the rule has a schema at the pointer (an object or a boolean schema). */
function hasSchemaAt(rules: RuleSchema, pointer: string): boolean {
  let node: JsonValue | undefined = rules;
  for (const part of pointer.slice(1).split('/').map(unescapePointerSegment)) {
    if (!isJsonObject(node) || !Object.hasOwn(node, part)) return false;
    node = node[part];
  }
  return isJsonObject(node) || typeof node === 'boolean';
}

function plannedKey(rule: PlanRule | null, path: string): { planned: boolean; description: string | null } {
  if (!rule) return { planned: false, description: null };
  const pointer = pointerOfPath(path);
  const description = rule.propertyAnnotations[pointer]?.['description'];
  return { planned: hasSchemaAt(rule.rules, pointer), description: typeof description === 'string' ? description : null };
}

function statusOf(plan: TrackingPlan | null, type: string, rule: PlanRule | null, volume: number): EventStatus {
  if (!plan) return 'no_plan';
  if (rule) return volume > 0 ? 'planned' : 'never_seen';
  return type === 'track' ? 'unplanned' : 'not_covered';
}

// ---------------------------------------------------------------------------------------------
// Keys and warnings
// ---------------------------------------------------------------------------------------------

function groupKeys(rows: readonly SchemaKeyRow[]): Map<string, Map<string, SchemaKeyRow[]>> {
  const byEvent = new Map<string, Map<string, SchemaKeyRow[]>>();
  for (const row of rows) {
    const eventKey = keyOf(row.type, row.event);
    const paths = byEvent.get(eventKey) ?? new Map<string, SchemaKeyRow[]>();
    paths.set(row.path, [...(paths.get(row.path) ?? []), row]);
    byEvent.set(eventKey, paths);
  }
  return byEvent;
}

function discoveredKey(path: string, rows: readonly SchemaKeyRow[], rule: PlanRule | null, violations: readonly ViolationCountRow[]): DiscoveredKey {
  const sorted = [...rows].sort((a, b) => a.first_seen_ms - b.first_seen_ms);
  const scalar = rows.filter((row) => row.value_type !== 'object' && row.value_type !== 'array');
  const newest = [...rows].filter((row) => row.example !== '').sort((a, b) => b.last_seen_ms - a.last_seen_ms)[0];
  return {
    path,
    types: sorted.map((row) => ({ type: row.value_type, count: row.occurrences, firstSeen: iso(row.first_seen_ms), lastSeen: iso(row.last_seen_ms) })),
    occurrences: rows.reduce((sum, row) => sum + row.occurrences, 0),
    distinctValues: scalar.reduce((sum, row) => sum + row.distinct_values, 0),
    example: newest?.example ?? null,
    firstSeen: iso(Math.min(...rows.map((row) => row.first_seen_ms))),
    lastSeen: iso(Math.max(...rows.map((row) => row.last_seen_ms))),
    ...plannedKey(rule, path),
    violations: violations.map((row) => ({ rule: row.rule, events: row.events, flagged: row.flagged, blocked: row.blocked })),
  };
}

/** Integer and number are one kind for type changes; null is absence, not a type. */
const kindOf = (type: string): string => (type === 'integer' ? 'number' : type);

function keyWarnings(type: string, event: string, keys: readonly DiscoveredKey[]): SchemaWarning[] {
  const warnings: SchemaWarning[] = [];
  const typical = median(keys.filter((key) => key.distinctValues > 0).map((key) => key.distinctValues));
  for (const key of keys) {
    if (key.distinctValues > HIGH_CARDINALITY && typical <= FEW_VALUES) {
      warnings.push({ code: 'high_cardinality', type, event, path: key.path, message: `"${key.path}" has about ${key.distinctValues.toLocaleString('en-US')} distinct values where this event's keys typically have ${typical}: an id or a timestamp sent where a category was meant?` });
    }
    if (DYNAMIC_SEGMENT.test(key.path)) {
      warnings.push({ code: 'dynamic_key', type, event, path: key.path, message: `Key names under "${key.path}" look like data (ids, UUIDs, emails or timestamps): use a fixed key and put the value in it.` });
    }
    const kinds = [...new Set(key.types.map((entry) => kindOf(entry.type)).filter((kind) => kind !== 'null'))];
    if (kinds.length > 1) {
      const described = key.types.filter((entry) => entry.type !== 'null').map((entry) => `${entry.type} ${entry.count}× (first ${entry.firstSeen})`);
      warnings.push({ code: 'type_changed', type, event, path: key.path, message: `"${key.path}" was sent with different types: ${described.join(', ')}.` });
    }
  }
  return warnings;
}

const normalizedName = (name: string): string => name.toLowerCase().replace(/[\s_-]+/g, '');

function similarNameWarnings(events: readonly SchemaEventRow[]): SchemaWarning[] {
  const groups = new Map<string, Set<string>>();
  for (const row of events) {
    if (row.type !== 'track' || row.event === '') continue;
    const key = normalizedName(row.event);
    groups.set(key, (groups.get(key) ?? new Set()).add(row.event));
  }
  const warnings: SchemaWarning[] = [];
  for (const names of groups.values()) {
    if (names.size < 2) continue;
    const listed = [...names].sort();
    for (const name of listed) {
      warnings.push({ code: 'similar_event_names', type: 'track', event: name, path: null, message: `"${name}" differs from ${listed.filter((other) => other !== name).map((other) => `"${other}"`).join(', ')} only by case or spacing: one event sent under several names?` });
    }
  }
  return warnings;
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

export interface DiscoveryInput {
  plan: TrackingPlan | null;
  events: readonly SchemaEventRow[];
  keys: readonly SchemaKeyRow[];
  violations: readonly ViolationCountRow[];
  truncated?: boolean;
}

/** Events received, then planned ones never stored, then ones only ever refused by the plan (seen in the blocked counts alone). */
function eventsOf(input: DiscoveryInput): { row: SchemaEventRow; rule: PlanRule | null }[] {
  const seen = new Map(input.events.map((row) => [keyOf(row.type, row.event), row]));
  const notStored = new Map<string, SchemaEventRow>();
  const add = (type: string, event: string): void => {
    const key = keyOf(type, event);
    if (!seen.has(key) && !notStored.has(key)) notStored.set(key, { type, event, events: 0, first_seen_ms: 0, last_seen_ms: 0 });
  };
  if (input.plan) for (const name of new Set(input.plan.events.map((entry) => entry.name))) add('track', name);
  for (const row of input.violations) if (row.blocked > 0) add(row.type, row.event);
  return [...input.events, ...notStored.values()].map((row) => ({ row, rule: input.plan ? planRuleFor(input.plan, row.type, row.event) : null }));
}

function eventReport(input: DiscoveryInput, row: SchemaEventRow, rule: PlanRule | null, similar: readonly SchemaWarning[], paths: Map<string, SchemaKeyRow[]>): EventSchemaReport {
  const violations = input.violations.filter((entry) => entry.type === row.type && entry.event === row.event);
  const section = row.type === 'identify' || row.type === 'group' ? 'traits.' : 'properties.';
  const keys = [...paths].map(([path, rows]) => discoveredKey(path, rows, rule, violations.filter((entry) => entry.path === `${section}${path}`)));
  const keyed = new Set(keys.map((key) => `${section}${key.path}`));
  return {
    type: row.type,
    event: row.event,
    status: statusOf(input.plan, row.type, rule, row.events),
    volume: row.events,
    firstSeen: row.events > 0 ? iso(row.first_seen_ms) : null,
    lastSeen: row.events > 0 ? iso(row.last_seen_ms) : null,
    description: rule?.description ?? null,
    planVersions: rule?.versions ?? [],
    keyCount: keys.length,
    violations: violations.reduce((sum, entry) => sum + entry.events, 0),
    blocked: violations.reduce((sum, entry) => sum + entry.blocked, 0),
    warnings: [...keyWarnings(row.type, row.event, keys), ...similar.filter((warning) => warning.type === row.type && warning.event === row.event)],
    keys,
    otherViolations: violations.filter((entry) => !keyed.has(entry.path)),
  };
}

export function eventSchemaReports(input: DiscoveryInput): EventSchemaReport[] {
  const similar = similarNameWarnings(input.events);
  const keys = groupKeys(input.keys);
  return eventsOf(input).map(({ row, rule }) => eventReport(input, row, rule, similar, keys.get(keyOf(row.type, row.event)) ?? new Map()));
}

export function schemaReport(input: DiscoveryInput): SchemaReport {
  const events = eventSchemaReports(input).map(({ keys: _keys, otherViolations: _other, ...event }) => event);
  return {
    plan: input.plan ? { id: input.plan.id ?? null, name: input.plan.name, version: input.plan.version ?? null } : null,
    events,
    warnings: events.flatMap((event) => event.warnings),
    truncated: input.truncated ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Markdown documentation
// ---------------------------------------------------------------------------------------------

const cell = (text: string | number | null): string => (text === null || text === '' ? '—' : String(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' '));
/** `rule: 3` for stored events, `rule: 3 (+2 blocked)` when the plan also refused some. */
const violationCell = (entry: { rule: string; events: number; blocked: number }): string => `${entry.rule}: ${entry.events}${entry.blocked > 0 ? ` (+${entry.blocked} blocked)` : ''}`;
const eventTitle = (event: { type: string; event: string }): string => (event.type === 'track' ? event.event : `${event.type}${event.event ? ` "${event.event}"` : ''}`);

export function schemaMarkdown(input: DiscoveryInput, workspaceName: string, generatedAt: number): string {
  const reports = eventSchemaReports(input);
  const lines: string[] = [`# Event schema: ${workspaceName}`, ''];
  lines.push(input.plan ? `Tracking plan **${input.plan.name}** (version ${input.plan.version ?? '?'}), merged with what was received.` : 'No tracking plan: everything below was discovered from the events received.');
  lines.push(`Generated ${iso(generatedAt)}.${input.truncated ? ' Partial: the workspace has more keys than one read returns.' : ''}`, '');
  lines.push('| Event | Call | Status | Volume | Last seen | Violations | Blocked | Warnings |', '| --- | --- | --- | ---: | --- | ---: | ---: | ---: |');
  for (const report of reports) {
    lines.push(`| ${cell(report.event || '(none)')} | ${report.type} | ${report.status.replace('_', ' ')} | ${report.volume} | ${cell(report.lastSeen)} | ${report.violations} | ${report.blocked} | ${report.warnings.length} |`);
  }
  for (const report of reports) {
    lines.push('', `## ${eventTitle(report)}`, '');
    if (report.description) lines.push(report.description, '');
    lines.push(`Status: ${report.status.replace('_', ' ')}${report.planVersions.length > 0 ? ` (plan versions ${report.planVersions.join(', ')})` : ''}. Volume: ${report.volume}${report.firstSeen ? `, first seen ${report.firstSeen}, last seen ${report.lastSeen}` : ''}.`, '');
    if (report.keys.length > 0) {
      lines.push('| Key | Types (values seen) | Distinct | Example | In plan | Description | Violations |', '| --- | --- | ---: | --- | --- | --- | --- |');
      for (const key of report.keys) {
        const types = key.types.map((entry) => `${entry.type} (${entry.count})`).join(', ');
        const violations = key.violations.map(violationCell).join(', ');
        lines.push(`| \`${cell(key.path)}\` | ${types} | ${key.distinctValues} | ${cell(key.example)} | ${key.planned ? 'yes' : 'no'} | ${cell(key.description)} | ${cell(violations)} |`);
      }
    }
    if (report.otherViolations.length > 0) {
      lines.push('', 'Violations of the event as a whole or of keys never stored:', '');
      for (const entry of report.otherViolations) lines.push(`- \`${entry.path}\`: ${violationCell(entry)}`);
    }
    for (const warning of report.warnings) lines.push(`- ⚠ ${warning.code}: ${warning.message}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// A plan drafted from discovery
// ---------------------------------------------------------------------------------------------

interface DraftNode {
  types: Map<string, number>;
  children: Map<string, DraftNode>;
  items: DraftNode | null;
  /** Keys whose names are data (`{id}`, ...): described by `additionalProperties`. */
  dynamic: DraftNode | null;
}

const draftNode = (): DraftNode => ({ types: new Map(), children: new Map(), items: null, dynamic: null });

function addPath(root: DraftNode, path: string, type: string, count: number): void {
  let node = root;
  for (const segment of path.split('.')) {
    const name = segment.replace(/(\[\])+$/, '');
    if (/^\{(id|uuid|email|timestamp)\}$/.test(name)) {
      node.dynamic ??= draftNode();
      node = node.dynamic;
    } else {
      const child = node.children.get(name) ?? draftNode();
      node.children.set(name, child);
      node = child;
    }
    for (let depth = (segment.length - name.length) / 2; depth > 0; depth--) {
      node.items ??= draftNode();
      node = node.items;
    }
  }
  node.types.set(type, (node.types.get(type) ?? 0) + count);
}

function occurrencesOf(node: DraftNode): number {
  let total = 0;
  for (const count of node.types.values()) total += count;
  return total;
}

/** Required: keys every parent value carried (top level: every event of the volume). */
function schemaOfNode(node: DraftNode, parentCount: number): JsonObject {
  const types = new Set([...node.types.keys()]);
  if (types.has('integer') && types.has('number')) types.delete('integer');
  const schema: JsonObject = {};
  if (types.size === 1) schema['type'] = [...types][0] ?? 'string';
  else if (types.size > 1) schema['type'] = [...types].sort();
  if (node.children.size > 0) {
    const objectCount = node.types.get('object') ?? parentCount;
    Object.assign(schema, objectSchema(node.children, objectCount));
  }
  if (node.items) schema['items'] = schemaOfNode(node.items, occurrencesOf(node.items));
  if (node.dynamic) schema['additionalProperties'] = schemaOfNode(node.dynamic, occurrencesOf(node.dynamic));
  return schema;
}

function objectSchema(children: Map<string, DraftNode>, count: number): JsonObject {
  const properties: JsonObject = {};
  const required: string[] = [];
  for (const [name, child] of [...children].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    properties[name] = schemaOfNode(child, count);
    if (count > 0 && occurrencesOf(child) >= count && !child.types.has('null')) required.push(name);
  }
  return required.length > 0 ? { type: 'object', properties, required } : { type: 'object', properties };
}

function draftRules(rows: readonly SchemaKeyRow[], volume: number): JsonObject {
  const root = draftNode();
  for (const row of rows) addPath(root, row.path, row.value_type, row.occurrences);
  return objectSchema(root.children, volume);
}

/** A plan (Monfri's model) describing what was received: every track event, and identify, group, page and screen sections. PUT it to /v1/tracking-plan to adopt it. */
export function draftPlanFromDiscovery(input: Pick<DiscoveryInput, 'events' | 'keys'>, name: string): TrackingPlan {
  const keysOf = (predicate: (row: SchemaKeyRow) => boolean): SchemaKeyRow[] => input.keys.filter(predicate);
  const volumeOf = (predicate: (row: SchemaEventRow) => boolean): number => input.events.filter(predicate).reduce((sum, row) => sum + row.events, 0);
  const plan: TrackingPlan = {
    name,
    events: input.events
      .filter((row) => row.type === 'track' && row.event !== '')
      .map((row) => ({ name: row.event, version: 1, rules: draftRules(keysOf((key) => key.type === 'track' && key.event === row.event), row.events), metadata: {} })),
  };
  for (const type of ['identify', 'group', 'page', 'screen'] as const) {
    const volume = volumeOf((row) => row.type === type);
    if (volume === 0) continue;
    // Page and screen names each have their keys: the section describes them together, so a key is required only if every call carried it.
    plan[type] = { rules: draftRules(keysOf((key) => key.type === type), volume), metadata: {} };
  }
  return plan;
}
