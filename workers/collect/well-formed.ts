/**
 * Well-formed strings before anything is queued. `"\ud800x"` is legal JSON, but a lone UTF-16
 * surrogate is not text: ClickHouse (18.16 and current) refuses the row, Redis and the live
 * feed would carry it on. Every string of a request, keys included, becomes well-formed the
 * way `String.prototype.toWellFormed` does it (U+FFFD for each lone surrogate), so the event is
 * stored rather than lost.
 *
 * Cheap on the common path: `TextDecoder` never produces a lone surrogate from bytes (invalid
 * UTF-8 becomes U+FFFD), so one can only come from a `\uD800`-`\uDFFF` escape in the JSON
 * text. The walk runs only for a body whose text has such an escape.
 */
import { LIMITS } from '../../schema/event';

/**
 * Past this depth nothing is fixed: the event nesting limit (plus the batch envelope) refuses
 * such events anyway, and hostile bodies of nested brackets must not exhaust the stack here.
 */
const MAX_WALK_DEPTH = LIMITS.maxJsonDepth + 4;

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/;

/** True when the JSON text may hold a lone surrogate (a surrogate escape; paired ones too, which is fine). */
export function mayHoldLoneSurrogates(jsonText: string): boolean {
  return SURROGATE_ESCAPE.test(jsonText);
}

function wellFormedString(value: string): string {
  return value.isWellFormed() ? value : value.toWellFormed();
}

function wellFormedObject(object: Record<string, unknown>, depth: number): Record<string, unknown> {
  const keys = Object.keys(object);
  if (keys.every((key) => key.isWellFormed())) {
    // Own keys only, each already present: assignment here only replaces a value (an own `__proto__` data property included).
    for (const key of keys) object[key] = wellFormedJson(object[key], depth + 1);
    return object;
  }
  // A key changes: rebuild, keeping the order and every other key (defineProperty, never
  // assignment, so a `__proto__` key stays data). Two keys that differ only in their lone
  // surrogates collapse into one, the later value winning, as duplicate keys do in JSON.
  const rebuilt: Record<string, unknown> = {};
  for (const key of keys) {
    Object.defineProperty(rebuilt, wellFormedString(key), { value: wellFormedJson(object[key], depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return rebuilt;
}

/** The same JSON value with every string and key well-formed (objects and arrays fixed in place where possible). */
export function wellFormedJson(value: unknown, depth = 1): unknown {
  if (typeof value === 'string') return wellFormedString(value);
  if (depth > MAX_WALK_DEPTH) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = wellFormedJson(value[i], depth + 1);
    return value;
  }
  if (typeof value === 'object' && value !== null) return wellFormedObject(value as Record<string, unknown>, depth);
  return value;
}
