/**
 * The incremental segment engine: per-person state built from events one at a time, merged
 * when identities merge, and membership at any instant T computed from that state alone. The
 * segment's Durable Object runs it; lib/segment-queries.ts computes the same membership from
 * ClickHouse for `segment verify`. Semantics: schema/segments.ts.
 *
 * What a person's state keeps is bounded by the definition, not by their history: for a
 * `performed ... N times` condition the N+1 most recent matching events (enough to tell
 * at least / at most / exactly N, and when the window drops one), for `not_performed` the most
 * recent one, windowed computed traits the matching events inside their window, and running
 * aggregates for the rest. Deduplication by messageId is the caller's (the Durable Object keeps
 * the ids it has applied), so applying an event is never idempotent by itself.
 */
import type { JsonValue } from '../../schema/event';
import {
  BUILT_IN_TRAITS,
  dayMs,
  SEGMENT_LIMITS,
  type ActiveSegment,
  type Comparison,
  type ComputedCondition,
  type ComputedTraitDefinition,
  type Condition,
  type LeafCondition,
  type PropertyFilter,
  type ScalarValue,
  type SegmentEvent,
} from '../../schema/segments';

/** [effective time, messageId, value text or number or null]. Sorted newest first. */
export type Item = [number, string, string | number | null];

export interface Aggregate {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  /** [text, at, messageId] of the latest event that had the property. */
  last: [string, number, string] | null;
}

export interface PersonState {
  first: number | null;
  last: number | null;
  events: number;
  sessions: string[];
  /** By leaf id (`l0`, `l1`, ... in condition order) and computed trait (`t:<name>`). */
  lists: Record<string, Item[]>;
  aggregates: Record<string, Aggregate>;
  /** Identify traits the segment reads: [value JSON, at, messageId], the latest per key. */
  traits: Record<string, [string, number, string]>;
}

export function emptyState(): PersonState {
  return { first: null, last: null, events: 0, sessions: [], lists: {}, aggregates: {}, traits: {} };
}

interface CompiledLeaf {
  id: string;
  condition: LeafCondition;
}

export interface CompiledSegment {
  segment: ActiveSegment;
  leaves: CompiledLeaf[];
  /** Leaf id by condition object, for evaluation. */
  leafIds: Map<LeafCondition, string>;
  traitsByName: Map<string, ComputedTraitDefinition>;
  /** The computed traits the condition reads. */
  usedTraits: ComputedTraitDefinition[];
  eventNames: Set<string>;
  traitKeys: Set<string>;
  propertyKeys: Set<string>;
  /**
   * Every event of a person is offered: some condition can hold for a person with no matching
   * event (not_performed, at most N, a sum below a value) or reads built-in traits, so every
   * person must be known (the SQL side's universe: anyone with an event).
   */
  needsAllEvents: boolean;
  usesBuiltIns: boolean;
}

export function leafConditions(condition: Condition, into: LeafCondition[] = []): LeafCondition[] {
  if (condition.type === 'all' || condition.type === 'any') for (const child of condition.conditions) leafConditions(child, into);
  else into.push(condition);
  return into;
}

export function depthOf(condition: Condition): number {
  return condition.type === 'all' || condition.type === 'any' ? 1 + Math.max(...condition.conditions.map(depthOf)) : 1;
}

const isBuiltIn = (name: string): boolean => (BUILT_IN_TRAITS as readonly string[]).includes(name);

/** A leaf that can only hold once the person has a matching event (or the trait). */
function needsMatch(condition: LeafCondition): boolean {
  if (condition.type === 'trait') return true;
  if (condition.type === 'performed') return condition.count.value >= 1 && condition.count.op !== 'at_most';
  return false;
}
const TIME_TRAITS = new Set(['first_seen', 'last_seen']);

/** What makes a definition unusable (beyond its schema), with where: empty when it can be evaluated incrementally. */
export function definitionProblems(condition: Condition, computedTraits: readonly ComputedTraitDefinition[]): string[] {
  const problems: string[] = [];
  if (depthOf(condition) > SEGMENT_LIMITS.maxDepth) problems.push(`conditions nest deeper than ${SEGMENT_LIMITS.maxDepth} levels`);
  const leaves = leafConditions(condition);
  if (leaves.length > SEGMENT_LIMITS.maxLeaves) problems.push(`more than ${SEGMENT_LIMITS.maxLeaves} conditions`);
  const traits = new Map(computedTraits.map((trait) => [trait.name, trait]));
  leaves.forEach((leaf, index) => {
    if (leaf.type !== 'computed') return;
    const where = `condition ${index + 1} (${leaf.trait})`;
    const custom = traits.get(leaf.trait);
    if (!isBuiltIn(leaf.trait) && !custom) return void problems.push(`${where}: no computed trait named ${leaf.trait}`);
    const timeOp = leaf.op === 'within_days' || leaf.op === 'not_within_days';
    if (TIME_TRAITS.has(leaf.trait) !== timeOp) return void problems.push(`${where}: ${TIME_TRAITS.has(leaf.trait) ? 'times compare with within_days / not_within_days' : `${leaf.op} only applies to first_seen and last_seen`}`);
    if (timeOp && !(typeof leaf.value === 'number' && Number.isInteger(leaf.value) && leaf.value >= 1 && leaf.value <= SEGMENT_LIMITS.maxWindowDays)) problems.push(`${where}: ${leaf.op} takes a number of days (1-${SEGMENT_LIMITS.maxWindowDays})`);
    const numeric = leaf.trait === 'event_count' || leaf.trait === 'session_count' || (custom !== undefined && custom.kind !== 'last');
    if (numeric && !timeOp && ['contains', 'in'].includes(leaf.op)) problems.push(`${where}: a number cannot be compared with ${leaf.op}`);
    if (!timeOp && leaf.op !== 'exists' && leaf.value === undefined) problems.push(`${where}: ${leaf.op} needs a value`);
    if (leaf.trait === 'session_count' && typeof leaf.value === 'number' && leaf.value >= SEGMENT_LIMITS.maxSessions) problems.push(`${where}: session_count is kept up to ${SEGMENT_LIMITS.maxSessions - 1}`);
  });
  return problems;
}

export function compileSegment(segment: ActiveSegment): CompiledSegment {
  const leaves = leafConditions(segment.condition).map((condition, index) => ({ id: `l${index}`, condition }));
  const traitsByName = new Map(segment.computedTraits.map((trait) => [trait.name, trait]));
  const eventNames = new Set<string>();
  const traitKeys = new Set<string>();
  const propertyKeys = new Set<string>();
  const used = new Map<string, ComputedTraitDefinition>();
  let needsAllEvents = false;
  let usesBuiltIns = false;
  for (const { condition } of leaves) {
    if (condition.type === 'performed' || condition.type === 'not_performed') {
      eventNames.add(condition.event);
      for (const filter of condition.where) propertyKeys.add(filter.property);
      if (condition.type === 'not_performed') needsAllEvents = true;
    } else if (condition.type === 'trait') traitKeys.add(condition.trait);
    else if (isBuiltIn(condition.trait)) {
      usesBuiltIns = true;
      needsAllEvents = true;
    } else {
      const trait = traitsByName.get(condition.trait);
      if (trait) {
        used.set(trait.name, trait);
        eventNames.add(trait.event);
        if (trait.property) propertyKeys.add(trait.property);
      }
    }
  }
  if (!leaves.every(({ condition }) => needsMatch(condition))) needsAllEvents = true;
  return { segment, leaves, leafIds: new Map(leaves.map((leaf) => [leaf.condition, leaf.id])), traitsByName, usedTraits: [...used.values()], eventNames, traitKeys, propertyKeys, needsAllEvents, usesBuiltIns };
}

/** Whether an event can change anything for this segment (the consumer offers only those). */
export function offers(compiled: CompiledSegment, event: { type: string; event: string | null; traitKeys: readonly string[] }): boolean {
  if (compiled.needsAllEvents) return true;
  if (event.type === 'track' && event.event !== null && compiled.eventNames.has(event.event)) return true;
  return event.type === 'identify' && event.traitKeys.some((key) => compiled.traitKeys.has(key));
}

/** A value's text, as ClickHouse's property_values keeps it: a string as it is, else its JSON. */
export function textOf(value: JsonValue | ScalarValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const NUMBER = /^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

export function numberOf(text: string): number | null {
  return NUMBER.test(text) ? Number(text) : null;
}

/** One comparison on a value's text (null: the key is missing or null). */
export function compares(op: Comparison, text: string | null, expected: ScalarValue | ScalarValue[] | undefined): boolean {
  if (text === null) return false;
  if (op === 'exists') return true;
  if (op === 'in') return Array.isArray(expected) && expected.some((value) => textOf(value) === text);
  if (expected === undefined || Array.isArray(expected)) return false;
  if (op === 'eq') return text === textOf(expected);
  if (op === 'neq') return text !== textOf(expected);
  if (op === 'contains') return typeof expected === 'string' && text.includes(expected);
  const number = numberOf(text);
  if (number === null || typeof expected !== 'number') return false;
  if (op === 'gt') return number > expected;
  if (op === 'gte') return number >= expected;
  if (op === 'lt') return number < expected;
  return number <= expected;
}

function compareNumber(op: Comparison, value: number | null, expected: ScalarValue | ScalarValue[] | undefined): boolean {
  return value === null ? false : compares(op, textOf(value), expected);
}

/**
 * The text of a top-level key, or null when it is missing or null. ClickHouse keeps property
 * values as text, where null and the string "null" are the same `null`: both count as absent
 * here too, so live evaluation and recomputation from history agree.
 */
function propertyText(properties: Record<string, JsonValue>, key: string): string | null {
  const value = Object.hasOwn(properties, key) ? properties[key] : undefined;
  if (value === undefined || value === null) return null;
  const text = textOf(value);
  return text === 'null' ? null : text;
}

function filtersMatch(filters: readonly PropertyFilter[], properties: Record<string, JsonValue>): boolean {
  return filters.every((filter) => compares(filter.op, propertyText(properties, filter.property), filter.value));
}

/** Newest first; ties by messageId, larger first (the same order as ClickHouse's argMax over (time, messageId)). */
function newerFirst(a: Item, b: Item): number {
  return b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0);
}

const MAX_WINDOWED_ITEMS = 10_000;

function insertItem(list: Item[], item: Item, keep: number, oldestAt: number): Item[] {
  if (item[0] <= oldestAt || list.some((existing) => existing[1] === item[1])) return list;
  const next = [...list, item].sort(newerFirst).filter((entry) => entry[0] > oldestAt);
  return next.length > keep ? next.slice(0, keep) : next;
}

function windowStart(withinDays: number | undefined, now: number): number {
  return withinDays === undefined ? -Infinity : now - dayMs(withinDays);
}

/** How many most recent matching events a leaf needs. */
function keepFor(condition: LeafCondition): number {
  if (condition.type === 'performed') return condition.count.value + 1;
  return 1;
}

function emptyAggregate(): Aggregate {
  return { count: 0, sum: 0, min: null, max: null, last: null };
}

function addToAggregate(aggregate: Aggregate, text: string | null, at: number, messageId: string): Aggregate {
  const number = text === null ? null : numberOf(text);
  const newer = text !== null && (aggregate.last === null || at > aggregate.last[1] || (at === aggregate.last[1] && messageId > aggregate.last[2]));
  return {
    count: aggregate.count + 1,
    sum: aggregate.sum + (number ?? 0),
    min: number === null ? aggregate.min : aggregate.min === null ? number : Math.min(aggregate.min, number),
    max: number === null ? aggregate.max : aggregate.max === null ? number : Math.max(aggregate.max, number),
    last: newer && text !== null ? [text, at, messageId] : aggregate.last,
  };
}

function mergeAggregates(a: Aggregate, b: Aggregate): Aggregate {
  const last = a.last === null ? b.last : b.last === null ? a.last : b.last[1] > a.last[1] || (b.last[1] === a.last[1] && b.last[2] > a.last[2]) ? b.last : a.last;
  const pick = (x: number | null, y: number | null, choose: (p: number, q: number) => number): number | null => (x === null ? y : y === null ? x : choose(x, y));
  return { count: a.count + b.count, sum: a.sum + b.sum, min: pick(a.min, b.min, Math.min), max: pick(a.max, b.max, Math.max), last };
}

const traitListKey = (name: string): string => `t:${name}`;

/** Applies one (not yet applied) event of this person. `now` trims windows. */
export function applyEvent(compiled: CompiledSegment, state: PersonState, event: SegmentEvent, now: number): PersonState {
  const next: PersonState = { ...state, lists: { ...state.lists }, aggregates: { ...state.aggregates }, traits: { ...state.traits } };
  if (compiled.needsAllEvents) {
    next.first = next.first === null ? event.at : Math.min(next.first, event.at);
    next.last = next.last === null ? event.at : Math.max(next.last, event.at);
    next.events += 1;
    if (compiled.usesBuiltIns && event.sessionId && !next.sessions.includes(event.sessionId) && next.sessions.length < SEGMENT_LIMITS.maxSessions) next.sessions = [...next.sessions, event.sessionId];
  }
  if (event.type === 'identify') {
    for (const key of compiled.traitKeys) {
      const value = event.traits[key];
      if (value === undefined) continue;
      const current = next.traits[key];
      if (!current || event.at > current[1] || (event.at === current[1] && event.messageId > current[2])) next.traits[key] = [JSON.stringify(value), event.at, event.messageId];
    }
  }
  if (event.type !== 'track' || event.event === null) return next;
  for (const { id, condition } of compiled.leaves) {
    if ((condition.type !== 'performed' && condition.type !== 'not_performed') || condition.event !== event.event || !filtersMatch(condition.where, event.properties)) continue;
    next.lists[id] = insertItem(next.lists[id] ?? [], [event.at, event.messageId, null], keepFor(condition), windowStart(condition.withinDays, now));
  }
  for (const trait of compiled.usedTraits) {
    if (trait.event !== event.event) continue;
    const text = trait.property ? propertyText(event.properties, trait.property) : null;
    const listKey = traitListKey(trait.name);
    if (trait.withinDays === undefined) next.aggregates[listKey] = addToAggregate(next.aggregates[listKey] ?? emptyAggregate(), text, event.at, event.messageId);
    else next.lists[listKey] = insertItem(next.lists[listKey] ?? [], [event.at, event.messageId, text], MAX_WINDOWED_ITEMS, windowStart(trait.withinDays, now));
  }
  return next;
}

/** `source`'s state moved into `target` (an identity merge): the union, re-trimmed. */
export function mergeStates(compiled: CompiledSegment, target: PersonState, source: PersonState, now: number): PersonState {
  const merged: PersonState = {
    first: target.first === null ? source.first : source.first === null ? target.first : Math.min(target.first, source.first),
    last: target.last === null ? source.last : source.last === null ? target.last : Math.max(target.last, source.last),
    events: target.events + source.events,
    sessions: [...new Set([...target.sessions, ...source.sessions])].slice(0, SEGMENT_LIMITS.maxSessions),
    lists: { ...target.lists },
    aggregates: { ...target.aggregates },
    traits: { ...target.traits },
  };
  const keepById = new Map<string, { keep: number; oldestAt: number }>();
  for (const { id, condition } of compiled.leaves) {
    if (condition.type === 'performed' || condition.type === 'not_performed') keepById.set(id, { keep: keepFor(condition), oldestAt: windowStart(condition.withinDays, now) });
  }
  for (const trait of compiled.usedTraits) if (trait.withinDays !== undefined) keepById.set(traitListKey(trait.name), { keep: MAX_WINDOWED_ITEMS, oldestAt: windowStart(trait.withinDays, now) });
  for (const [id, items] of Object.entries(source.lists)) {
    const bounds = keepById.get(id);
    if (!bounds) continue;
    merged.lists[id] = items.reduce((list, item) => insertItem(list, item, bounds.keep, bounds.oldestAt), merged.lists[id] ?? []);
  }
  for (const [id, aggregate] of Object.entries(source.aggregates)) merged.aggregates[id] = mergeAggregates(merged.aggregates[id] ?? emptyAggregate(), aggregate);
  for (const [key, value] of Object.entries(source.traits)) {
    const current = merged.traits[key];
    if (!current || value[1] > current[1] || (value[1] === current[1] && value[2] > current[2])) merged.traits[key] = value;
  }
  return merged;
}

function countInWindow(items: readonly Item[] | undefined, withinDays: number | undefined, at: number): number {
  const from = windowStart(withinDays, at);
  return (items ?? []).filter((item) => item[0] > from && item[0] <= at).length;
}

function countMatches(op: 'at_least' | 'at_most' | 'exactly', count: number, value: number): boolean {
  if (op === 'at_least') return count >= value;
  if (op === 'at_most') return count <= value;
  return count === value;
}

/** A computed trait's value at `at`: a number, a text (`last`), or null when there is none. */
function computedValue(compiled: CompiledSegment, state: PersonState, name: string, at: number): number | string | null {
  if (name === 'first_seen') return state.first;
  if (name === 'last_seen') return state.last;
  if (name === 'event_count') return state.events;
  if (name === 'session_count') return state.sessions.length;
  const trait = compiled.traitsByName.get(name);
  if (!trait) return null;
  const listKey = traitListKey(name);
  let aggregate: Aggregate;
  if (trait.withinDays === undefined) aggregate = state.aggregates[listKey] ?? emptyAggregate();
  else {
    const from = windowStart(trait.withinDays, at);
    aggregate = (state.lists[listKey] ?? []).filter((item) => item[0] > from && item[0] <= at).reduce((sum, item) => addToAggregate(sum, typeof item[2] === 'string' ? item[2] : null, item[0], item[1]), emptyAggregate());
  }
  if (trait.kind === 'count') return aggregate.count;
  if (trait.kind === 'sum') return aggregate.sum;
  if (trait.kind === 'min') return aggregate.min;
  if (trait.kind === 'max') return aggregate.max;
  return aggregate.last?.[0] ?? null;
}

function computedMatches(compiled: CompiledSegment, state: PersonState, condition: ComputedCondition, at: number): boolean {
  const value = computedValue(compiled, state, condition.trait, at);
  if (condition.op === 'within_days' || condition.op === 'not_within_days') {
    if (typeof value !== 'number' || typeof condition.value !== 'number') return false;
    const recent = value > at - dayMs(condition.value);
    return condition.op === 'within_days' ? recent : !recent;
  }
  if (typeof value === 'string') return compares(condition.op, value, condition.value);
  return compareNumber(condition.op, value, condition.value);
}

function leafMatches(compiled: CompiledSegment, state: PersonState, condition: LeafCondition, at: number): boolean {
  const id = compiled.leafIds.get(condition) ?? '';
  if (condition.type === 'performed') return countMatches(condition.count.op, countInWindow(state.lists[id], condition.withinDays, at), condition.count.value);
  if (condition.type === 'not_performed') return countInWindow(state.lists[id], condition.withinDays, at) === 0;
  if (condition.type === 'trait') {
    const trait = state.traits[condition.trait];
    const value = trait ? (JSON.parse(trait[0]) as JsonValue) : null;
    return compares(condition.op, value === null ? null : textOf(value), condition.value);
  }
  return computedMatches(compiled, state, condition, at);
}

function conditionMatches(compiled: CompiledSegment, state: PersonState, condition: Condition, at: number): boolean {
  if (condition.type === 'all') return condition.conditions.every((child) => conditionMatches(compiled, state, child, at));
  if (condition.type === 'any') return condition.conditions.some((child) => conditionMatches(compiled, state, child, at));
  return leafMatches(compiled, state, condition, at);
}

/** Membership at `at` (a known person: one with state). */
export function isMember(compiled: CompiledSegment, state: PersonState, at: number): boolean {
  return conditionMatches(compiled, state, compiled.segment.condition, at);
}

/** The next instant after `at` at which membership may change without a new event (a window dropping an event), or null. */
export function nextChangeAt(compiled: CompiledSegment, state: PersonState, at: number): number | null {
  let next = Infinity;
  const consider = (when: number): void => {
    if (when > at && when < next) next = when;
  };
  for (const { id, condition } of compiled.leaves) {
    if ((condition.type === 'performed' || condition.type === 'not_performed') && condition.withinDays !== undefined) {
      for (const item of state.lists[id] ?? []) consider(item[0] + dayMs(condition.withinDays));
    }
    if (condition.type === 'computed' && (condition.op === 'within_days' || condition.op === 'not_within_days') && typeof condition.value === 'number') {
      const value = computedValue(compiled, state, condition.trait, at);
      if (typeof value === 'number') consider(value + dayMs(condition.value));
    }
  }
  for (const trait of compiled.usedTraits) {
    if (trait.withinDays === undefined) continue;
    for (const item of state.lists[traitListKey(trait.name)] ?? []) consider(item[0] + dayMs(trait.withinDays));
  }
  return Number.isFinite(next) ? next : null;
}
