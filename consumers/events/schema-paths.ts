/**
 * Schema discovery, the consumer's part: the paths, value types, value hashes and examples of
 * one event, as `events` columns (schema/clickhouse/005_schema_discovery.sql) that ClickHouse
 * materialized views aggregate per workspace, event, path and type. Computed here, at row build
 * time, because 18.16 cannot walk JSON (no JSONExtract) and because the consumer already holds
 * the parsed event: one walk, no extra round trip. Distinct values are counted by ClickHouse
 * (a uniqCombined sketch fed these hashes) rather than by a sketch the consumer would have to
 * keep across batches and isolates.
 *
 * Bounded per event (MAX_PATHS values, MAX_ITEMS items per array) so a huge array costs the
 * same as a small one. Key names that look like data (ids, UUIDs, emails, timestamps: dynamic
 * keys such as `{"user_123": ...}`) become placeholders, so they show as one path with a
 * warning instead of one path per user. No example is kept from keys or values that look
 * secret or personal.
 */
import { violationKey } from '../../lib/tracking-plans/validate';
import type { CollectedEvent, JsonObject, JsonValue } from '../../schema/event';

export const SCHEMA_LIMITS = { maxPaths: 200, maxItems: 20, maxExampleLength: 80 } as const;

export type DiscoveredType = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'object' | 'array';

export interface SchemaColumns {
  schema_paths: string[];
  schema_types: string[];
  schema_value_hashes: number[];
  schema_examples: string[];
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const EPOCH = /^\d{10}(\d{3})?$/;
const HEX_ID = /^[0-9a-f]{16,}$/i;
const DIGIT_RUN = /\d{3,}/;

/** The placeholder for a key name that looks like data, or null for an ordinary key. */
export function dynamicKeyPlaceholder(key: string): string | null {
  if (UUID.test(key)) return '{uuid}';
  if (EMAIL.test(key)) return '{email}';
  if (ISO_TIME.test(key) || EPOCH.test(key)) return '{timestamp}';
  if (HEX_ID.test(key) || /^\d+$/.test(key)) return '{id}';
  if (DIGIT_RUN.test(key)) {
    let digits = 0;
    for (let index = 0; index < key.length; index++) if (key.charCodeAt(index) >= 48 && key.charCodeAt(index) <= 57) digits++;
    if (digits * 3 >= key.length) return '{id}';
  }
  return null;
}

const SENSITIVE_KEY = /e-?mail|phone|mobile|password|passwd|pwd|secret|token|api[-_]?key|auth|session|cookie|ssn|social|credit|card|cvv|iban|account[-_]?n|birth|dob|address|street|zip|postal|^ip$|^ip[-_]|[-_]ip$|first[-_]?name|last[-_]?name|full[-_]?name|surname/i;
const SENSITIVE_VALUE = /@|^eyJ|^(sk|pk|rk)_|^[A-Za-z0-9+/_-]{32,}={0,2}$|^\+?[\d\s().-]{7,}$/;

/** Keys that look like secrets or personal data never give an example; neither do values that look like emails, tokens or phone numbers. */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

interface KeyFacts {
  placeholder: string | null;
  sensitive: boolean;
}

/**
 * What the key-name regexes say about a key, remembered: the same few hundred keys come back in
 * every event, and the regexes were most of the walk's cost. Pure data, bounded, cleared when full.
 */
const KEY_FACTS_KEPT = 20_000;
const keyFactsCache = new Map<string, KeyFacts>();

function keyFacts(key: string): KeyFacts {
  let facts = keyFactsCache.get(key);
  if (facts === undefined) {
    facts = { placeholder: dynamicKeyPlaceholder(key), sensitive: isSensitiveKey(key) };
    if (keyFactsCache.size >= KEY_FACTS_KEPT) keyFactsCache.clear();
    keyFactsCache.set(key, facts);
  }
  return facts;
}

function exampleOf(facts: KeyFacts, value: JsonValue): string {
  if (value === null || typeof value === 'object') return '';
  const text = String(value);
  if (facts.sensitive || (typeof value === 'string' && SENSITIVE_VALUE.test(text))) return '';
  return text.length > SCHEMA_LIMITS.maxExampleLength ? `${text.slice(0, SCHEMA_LIMITS.maxExampleLength)}…` : text;
}

export function discoveredTypeOf(value: JsonValue): DiscoveredType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    default:
      return 'object';
  }
}

/** cyrb53: a fast 53-bit string hash (exact in a JS number and in JSON), enough for a distinct-count sketch. */
export function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

function valueHash(value: JsonValue): number {
  if (value === null || typeof value === 'object') return 0;
  // The type is part of the value: 1 and "1" are two values.
  return hash53(typeof value === 'string' ? `s${value}` : `${typeof value}${String(value)}`);
}

class PathCollector {
  readonly columns: SchemaColumns = { schema_paths: [], schema_types: [], schema_value_hashes: [], schema_examples: [] };

  get full(): boolean {
    return this.columns.schema_paths.length >= SCHEMA_LIMITS.maxPaths;
  }

  add(path: string, facts: KeyFacts, value: JsonValue): void {
    if (this.full) return;
    this.columns.schema_paths.push(path);
    this.columns.schema_types.push(discoveredTypeOf(value));
    this.columns.schema_value_hashes.push(valueHash(value));
    this.columns.schema_examples.push(exampleOf(facts, value));
    if (Array.isArray(value)) this.items(`${path}[]`, facts, value);
    else if (value !== null && typeof value === 'object') this.object(`${path}.`, value);
  }

  object(prefix: string, object: JsonObject): void {
    for (const key in object) {
      if (this.full) return;
      const value = object[key];
      if (value === undefined) continue;
      const facts = keyFacts(key);
      this.add(`${prefix}${facts.placeholder ?? key}`, facts, value);
    }
  }

  private items(path: string, facts: KeyFacts, items: JsonValue[]): void {
    const count = Math.min(items.length, SCHEMA_LIMITS.maxItems);
    for (let index = 0; index < count; index++) this.add(path, facts, items[index] as JsonValue);
  }
}

/** What discovery reads of an event: traits for identify and group, properties otherwise (alias carries neither). */
export function discoveredFields(event: Pick<CollectedEvent, 'type' | 'properties' | 'traits'>): JsonObject {
  if (event.type === 'identify' || event.type === 'group') return event.traits;
  return event.type === 'alias' ? {} : event.properties;
}

export function schemaColumns(event: Pick<CollectedEvent, 'type' | 'properties' | 'traits'>): SchemaColumns {
  const collector = new PathCollector();
  collector.object('', discoveredFields(event));
  return collector.columns;
}

export function planViolationColumns(plan: CollectedEvent['plan']): { plan_violation: number; violation_reason: string; plan_violation_reasons: string[] } {
  if (!plan) return { plan_violation: 0, violation_reason: '', plan_violation_reasons: [] };
  return {
    plan_violation: plan.flagged ? 1 : 0,
    violation_reason: plan.violations.map((violation) => `${violation.path || '(event)'}: ${violation.message}`).join('; ').slice(0, 2000),
    plan_violation_reasons: [...new Set(plan.violations.map((violation) => violationKey(violation)))],
  };
}
