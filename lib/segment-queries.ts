/**
 * SQL for segments and traits, built with lib/sql.ts only: a segment's membership recomputed
 * from ClickHouse at an instant (what `segment verify` compares the live state with), the
 * history a new segment back-fills from, a person's traits and computed traits.
 * The semantics are schema/segments.ts's, the same the Durable Object's engine follows
 * (lib/segments/engine.ts): effective times, top-level keys compared as text, numbers parsed
 * from text, deduplicated events (FINAL), persons resolved through the identity map.
 */
import { dayMs, type ActiveSegment, type Comparison, type ComputedCondition, type ComputedTraitDefinition, type Condition, type LeafCondition, type PropertyFilter, type ScalarValue } from '../schema/segments';
import { compileSegment, textOf, type CompiledSegment } from './segments/engine';
import { literal, raw, sql, type RawSql } from './sql';

const NUMBER_PATTERN = '^-?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$';
const EFFECTIVE_AT = 'if(received_at_ms > 0, least(timestamp_ms, received_at_ms), timestamp_ms)';

/** The text of a top-level key of `keys`/`values` arrays (properties: values are text already). */
function propertyText(key: string): { present: string; text: string } {
  const index = `indexOf(property_keys, ${literal(key)})`;
  return { present: `(${index} > 0 AND property_values[${index}] != 'null')`, text: `property_values[${index}]` };
}

/** A JSON value's text as textOf gives it: a JSON string decoded, anything else its JSON. */
function jsonText(json: string): string {
  return `if(startsWith(${json}, '"'), visitParamExtractString(concat('{"v":', ${json}, '}'), 'v'), ${json})`;
}

function comparison(op: Comparison, present: string, text: string, value: ScalarValue | ScalarValue[] | undefined): string {
  if (op === 'exists') return present;
  if (op === 'in') return `(${present} AND ${text} IN (${(Array.isArray(value) ? value : []).map((entry) => literal(textOf(entry))).join(', ') || "''"}) )`;
  if (value === undefined || Array.isArray(value)) return '0';
  if (op === 'eq') return `(${present} AND ${text} = ${literal(textOf(value))})`;
  if (op === 'neq') return `(${present} AND ${text} != ${literal(textOf(value))})`;
  if (op === 'contains') return typeof value === 'string' ? `(${present} AND position(${text}, ${literal(value)}) > 0)` : '0';
  if (typeof value !== 'number') return '0';
  const symbol = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[op];
  return `(${present} AND match(${text}, ${literal(NUMBER_PATTERN)}) AND toFloat64OrZero(${text}) ${symbol} ${literal(value)})`;
}

function filterSql(filter: PropertyFilter): string {
  const { present, text } = propertyText(filter.property);
  return comparison(filter.op, present, text, filter.value);
}

function windowSql(withinDays: number | undefined, atMs: number): string {
  return withinDays === undefined ? '1' : `at > ${atMs - dayMs(withinDays)}`;
}

function trackedSql(event: string, filters: readonly PropertyFilter[], withinDays: number | undefined, atMs: number): string {
  return [`type = 'track'`, `event = ${literal(event)}`, ...filters.map(filterSql), windowSql(withinDays, atMs)].join(' AND ');
}

function traitSql(key: string): { present: string; text: string } {
  const index = `indexOf(trait_keys, ${literal(key)})`;
  const has = `type = 'identify' AND ${index} > 0`;
  const latest = `argMaxIf(trait_values[${index}], tuple(at, message_id), ${has})`;
  return { present: `(countIf(${has}) > 0 AND ${latest} != 'null')`, text: jsonText(latest) };
}

/** A computed trait's value: a numeric expression, a text one (`last`), and when it exists. */
function computedValueSql(trait: string, definitions: ReadonlyMap<string, ComputedTraitDefinition>, atMs: number): { value: string; present: string; numeric: boolean } {
  if (trait === 'first_seen') return { value: 'min(at)', present: '1', numeric: true };
  if (trait === 'last_seen') return { value: 'max(at)', present: '1', numeric: true };
  if (trait === 'event_count') return { value: 'count()', present: '1', numeric: true };
  if (trait === 'session_count') return { value: "uniqExactIf(session_id, session_id != '')", present: '1', numeric: true };
  const definition = definitions.get(trait);
  if (!definition) return { value: '0', present: '0', numeric: true };
  const matches = trackedSql(definition.event, [], definition.withinDays, atMs);
  if (definition.kind === 'count') return { value: `countIf(${matches})`, present: '1', numeric: true };
  const { present, text } = propertyText(definition.property ?? '');
  const numbered = `${matches} AND ${present} AND match(${text}, ${literal(NUMBER_PATTERN)})`;
  if (definition.kind === 'sum') return { value: `sumIf(toFloat64OrZero(${text}), ${numbered})`, present: '1', numeric: true };
  if (definition.kind === 'min' || definition.kind === 'max') return { value: `${definition.kind}If(toFloat64OrZero(${text}), ${numbered})`, present: `countIf(${numbered}) > 0`, numeric: true };
  return { value: `argMaxIf(${text}, tuple(at, message_id), ${matches} AND ${present})`, present: `countIf(${matches} AND ${present}) > 0`, numeric: false };
}

function computedSql(condition: ComputedCondition, definitions: ReadonlyMap<string, ComputedTraitDefinition>, atMs: number): string {
  const { value, present, numeric } = computedValueSql(condition.trait, definitions, atMs);
  if (condition.op === 'within_days' || condition.op === 'not_within_days') {
    if (typeof condition.value !== 'number') return '0';
    const recent = `${value} > ${atMs - dayMs(condition.value)}`;
    return condition.op === 'within_days' ? `(${recent})` : `(NOT (${recent}))`;
  }
  if (!numeric) return comparison(condition.op, present, value, condition.value);
  // Numbers compare as the engine compares them: through their text (toString of an integer or a float).
  return comparison(condition.op, present, `toString(${value})`, condition.value);
}

function leafSql(leaf: LeafCondition, definitions: ReadonlyMap<string, ComputedTraitDefinition>, atMs: number): string {
  if (leaf.type === 'performed') {
    const count = `countIf(${trackedSql(leaf.event, leaf.where, leaf.withinDays, atMs)})`;
    const symbol = { at_least: '>=', at_most: '<=', exactly: '=' }[leaf.count.op];
    return `(${count} ${symbol} ${leaf.count.value})`;
  }
  if (leaf.type === 'not_performed') return `(countIf(${trackedSql(leaf.event, leaf.where, leaf.withinDays, atMs)}) = 0)`;
  if (leaf.type === 'trait') {
    const { present, text } = traitSql(leaf.trait);
    return comparison(leaf.op, present, text, leaf.value);
  }
  return computedSql(leaf, definitions, atMs);
}

function conditionSql(condition: Condition, definitions: ReadonlyMap<string, ComputedTraitDefinition>, atMs: number): string {
  if (condition.type === 'all') return `(${condition.conditions.map((child) => conditionSql(child, definitions, atMs)).join(' AND ')})`;
  if (condition.type === 'any') return `(${condition.conditions.map((child) => conditionSql(child, definitions, atMs)).join(' OR ')})`;
  return leafSql(condition, definitions, atMs);
}

/**
 * A workspace's human events, each with its person resolved through the identity map (its
 * identity: the user id, else the anonymous id). `deduplicated` reads FINAL (exact counts);
 * the back-fill does without, as its Durable Objects apply each messageId once anyway.
 */
function resolvedEvents(workspaceId: string, scope: RawSql, deduplicated: boolean): RawSql {
  return raw(sql`SELECT if(linked.linked_person != '', linked.linked_person, scoped.person_id) AS person, message_id, type, event, at, inserted_at, session_id, property_keys, property_values, trait_keys, trait_values
FROM (
  SELECT message_id, person_id, type, event, ${raw(EFFECTIVE_AT)} AS at, toUInt64(inserted_at) * 1000 AS inserted_at, session_id, property_keys, property_values, trait_keys, trait_values,
    if(user_id != '', concat('user:', user_id), concat('anonymous:', anonymous_id)) AS identity_key
  FROM events ${raw(deduplicated ? 'FINAL' : '')}
  WHERE workspace_id = ${workspaceId} AND is_bot = 0 AND source != 'internal' AND ${scope}
) AS scoped
ANY LEFT JOIN (
  SELECT identity_key, person_id AS linked_person FROM identities FINAL WHERE workspace_id = ${workspaceId}
) AS linked USING identity_key`);
}

/** The persons a segment has at `atMs`, recomputed from every event (`segment verify`). */
export function segmentMembersQuery(workspaceId: string, segment: ActiveSegment, atMs: number): string {
  const definitions = new Map(segment.computedTraits.map((trait) => [trait.name, trait]));
  return sql`SELECT person FROM (
  SELECT person, ${raw(conditionSql(segment.condition, definitions, atMs))} AS member
  FROM (${resolvedEvents(workspaceId, raw(`${EFFECTIVE_AT} <= ${atMs}`), true)})
  GROUP BY person
)
WHERE member = 1
ORDER BY person`;
}

/** Which events a segment's history is made of, and from when (its longest window, or all time). */
function backfillScope(compiled: CompiledSegment, atMs: number): RawSql {
  const conditions: string[] = [];
  if (!compiled.needsAllEvents) {
    const parts: string[] = [];
    if (compiled.eventNames.size > 0) parts.push(`(type = 'track' AND event IN (${[...compiled.eventNames].map((name) => literal(name)).join(', ')}))`);
    if (compiled.traitKeys.size > 0) parts.push(`type = 'identify'`);
    conditions.push(parts.length > 0 ? `(${parts.join(' OR ')})` : '0');
  }
  const windows = compiled.leaves.map(({ condition }) => (condition.type === 'performed' || condition.type === 'not_performed' ? condition.withinDays : undefined));
  const windowed = !compiled.needsAllEvents && compiled.traitKeys.size === 0 && compiled.usedTraits.every((trait) => trait.withinDays !== undefined) && windows.every((days) => days !== undefined);
  if (windowed) {
    const from = atMs - dayMs(Math.max(...windows.filter((days): days is number => days !== undefined), ...compiled.usedTraits.map((trait) => trait.withinDays ?? 0)));
    // The effective time is at most the timestamp, so the timestamp bound (which the sort key and partitions prune by) loses nothing.
    conditions.push(`timestamp >= toDateTime(${Math.floor(from / 1000)})`, `${EFFECTIVE_AT} > ${from}`);
  }
  return raw(conditions.length > 0 ? conditions.join(' AND ') : '1');
}

/** Where a back-fill is in the history: the last row it read, in the order rows were stored. */
export interface BackfillCursor {
  insertedAt: number;
  messageId: string;
}

/**
 * One page of the history a new (or redefined) segment configured at `atMs` is built from,
 * in the order it was stored (so a second pass from a point in time reads exactly what was
 * stored since, whatever the events' own times).
 */
export function segmentBackfillQuery(workspaceId: string, segment: ActiveSegment, atMs: number, after: BackfillCursor | null, limit: number): string {
  const compiled = compileSegment(segment);
  const resume = after ? raw(sql` WHERE inserted_at > ${after.insertedAt} OR (inserted_at = ${after.insertedAt} AND message_id > ${after.messageId})`) : raw('');
  return sql`SELECT person, message_id, type, event, at, inserted_at, session_id, property_keys, property_values, trait_keys, trait_values
FROM (${resolvedEvents(workspaceId, backfillScope(compiled, atMs), false)})${resume}
ORDER BY inserted_at, message_id
LIMIT ${limit}`;
}

/** A person's identify traits: the latest value (by time, then messageId) per key, across all their ids. */
export function personTraitsQuery(workspaceId: string, personIds: readonly string[]): string {
  const ids = raw(personIds.length > 0 ? personIds.map((id) => literal(id)).join(', ') : "''");
  return sql`SELECT key, argMax(value, tuple(at_ms, message_id)) AS value, max(at_ms) AS latest_at_ms
FROM person_traits
WHERE workspace_id = ${workspaceId} AND person_id IN (${ids})
GROUP BY key
ORDER BY key`;
}

/** A person's built-in computed traits, across all their ids. */
export function personStatsQuery(workspaceId: string, personIds: readonly string[]): string {
  const ids = raw(personIds.length > 0 ? personIds.map((id) => literal(id)).join(', ') : "''");
  return sql`SELECT minMerge(first_seen_ms) AS first_seen_ms, maxMerge(last_seen_ms) AS last_seen_ms, uniqExactMerge(events) AS event_count, uniqExactIfMerge(sessions) AS session_count
FROM person_stats
WHERE workspace_id = ${workspaceId} AND person_id IN (${ids})`;
}

/** A person's values of the workspace's computed traits at `atMs` (one column per trait, in order). */
export function personComputedTraitsQuery(workspaceId: string, personIds: readonly string[], definitions: readonly ComputedTraitDefinition[], atMs: number): string {
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const columns = definitions.length > 0 ? definitions.map((definition, index) => `${computedValueSql(definition.name, byName, atMs).value} AS t${index}`).join(', ') : '0 AS none';
  const ids = raw(personIds.length > 0 ? personIds.map((id) => literal(id)).join(', ') : "''");
  return sql`SELECT ${raw(columns)}
FROM (${resolvedEvents(workspaceId, raw(`${EFFECTIVE_AT} <= ${atMs}`), true)})
WHERE person IN (${ids})`;
}
