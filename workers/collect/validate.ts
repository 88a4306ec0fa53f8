/**
 * One incoming event: merge the batch defaults, check nesting, validate with the event
 * schema. Returns either the validated event or the reason it was refused. (The 32 KB limit
 * is checked on the event as queued, once it is serialised: see ingest.ts.)
 */
import type { z } from 'zod';
import { incomingParsedEventSchema, incomingTrackSchema, LIMITS, type EventType, type IncomingEvent, type JsonObject } from '../../schema/event';
import { EVENT_REJECTIONS, type EventRejectionCode, type PlanViolationReason } from '../../schema/rejections';

export interface Refusal {
  code: EventRejectionCode;
  message: string;
  path: string;
  violations?: PlanViolationReason[];
}

export type Validated = { ok: true; event: IncomingEvent } | { ok: false; refusal: Refusal };

/** Batch-level fields Segment merges into every event of the batch. */
export interface BatchDefaults {
  context?: JsonObject;
  integrations?: JsonObject;
  sentAt?: string;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function refuse(code: EventRejectionCode, path = '', detail?: string): { ok: false; refusal: Refusal } {
  return { ok: false, refusal: { code, message: detail ? `${EVENT_REJECTIONS[code]} ${detail}` : EVENT_REJECTIONS[code], path } };
}

/** The client's own messageId, for reporting a refused event back to it. */
export function clientMessageId(raw: unknown): string | null {
  if (!isPlainObject(raw)) return null;
  const id = raw.messageId;
  return typeof id === 'string' && id.length <= LIMITS.maxMessageIdLength ? id : null;
}

/** Top-level merge: the event's own keys win, as in Segment's batch API. */
function mergeDefault(own: unknown, fallback: JsonObject | undefined): unknown {
  if (!fallback) return own;
  if (own === undefined) return fallback;
  return isPlainObject(own) ? { ...fallback, ...own } : own;
}

export function applyDefaults(raw: Record<string, unknown>, defaults: BatchDefaults, routeType: EventType | null): Record<string, unknown> {
  const needsType = routeType !== null && raw.type === undefined;
  const needsSentAt = defaults.sentAt !== undefined && raw.sentAt == null;
  // The common case (a batch without defaults) needs no copy: validation never mutates its input.
  if (!needsType && !needsSentAt && !defaults.context && !defaults.integrations) return raw;
  const merged: Record<string, unknown> = { ...raw };
  if (needsType) merged.type = routeType;
  if (defaults.context) merged.context = mergeDefault(raw.context, defaults.context);
  if (defaults.integrations) merged.integrations = mergeDefault(raw.integrations, defaults.integrations);
  if (needsSentAt) merged.sentAt = defaults.sentAt;
  return merged;
}

const ASCII_RUNS = /[\x00-\x7f]+/g;

/** UTF-8 length of a string without encoding it; the native regex strips the ASCII runs first. */
export function utf8Length(text: string): number {
  const nonAscii = text.replace(ASCII_RUNS, '');
  let bytes = text.length;
  for (let i = 0; i < nonAscii.length; i++) {
    const unit = nonAscii.charCodeAt(i);
    // 2-byte chars add 1; 3-byte chars add 2; a surrogate pair (4 bytes) adds 1 per half.
    bytes += unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/** What one walk over an event found wrong with it as JSON, if anything. */
export type JsonProblem = { kind: 'too_deep' } | { kind: 'not_finite'; path: string[] };

/**
 * One walk per event: objects/arrays nesting deeper than `limit` (the event object itself is
 * level 1), and numbers JSON.parse turned into Infinity (`1e400`: JSON has no such number, and
 * storing it would silently turn it into null). Stops at the first level past the limit, so
 * hostile input cannot make it recurse deeply; the path is only built for a finding.
 */
export function jsonProblem(value: unknown, limit: number, level = 1): JsonProblem | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : { kind: 'not_finite', path: [] };
  if (typeof value !== 'object' || value === null) return null;
  if (level > limit) return { kind: 'too_deep' };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], limit, level + 1);
      if (problem) return problem.kind === 'not_finite' ? { kind: 'not_finite', path: [String(i), ...problem.path] } : problem;
    }
    return null;
  }
  // for...in instead of Object.values: no array allocated per nested object.
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const problem = jsonProblem(object[key], limit, level + 1);
    if (problem) return problem.kind === 'not_finite' ? { kind: 'not_finite', path: [key, ...problem.path] } : problem;
  }
  return null;
}

function refusalFromIssue(issue: z.core.$ZodIssue, event: Record<string, unknown>): Validated {
  const path = issue.path.map(String).join('.');
  if (issue.path[0] === 'type') return refuse('unknown_type', 'type');
  if (issue.code === 'custom' && issue.message.includes('userId or anonymousId')) return refuse('missing_identity', 'userId');
  const topLevel = issue.path.length === 1 ? event[String(issue.path[0])] : null;
  if (issue.path.length === 1 && topLevel === undefined) return refuse('missing_field', path, `(${path})`);
  return refuse('invalid_field', path, `(${path}: ${issue.message})`);
}

function validateMerged(merged: Record<string, unknown>): Validated {
  const problem = jsonProblem(merged, LIMITS.maxJsonDepth);
  if (problem?.kind === 'too_deep') return refuse('too_deep', '', `(${LIMITS.maxJsonDepth} levels)`);
  if (problem) {
    const path = problem.path.join('.');
    return refuse('invalid_field', path, `(${path}: a number too large for JSON's range)`);
  }
  const parsed = incomingParsedEventSchema.safeParse(merged);
  if (parsed.success) return { ok: true, event: parsed.data };
  const firstIssue = parsed.error.issues[0];
  return firstIssue ? refusalFromIssue(firstIssue, merged) : refuse('invalid_field');
}

/** The event schema's own rule for `sentAt` (the same in every event type). */
const sentAtRule = incomingTrackSchema.shape.sentAt;
const sentAtVerdicts = new WeakMap<BatchDefaults, boolean>();

/** Whether the batch-level sentAt passes that rule; worked out once per batch. */
function batchSentAtValid(defaults: BatchDefaults): boolean {
  let valid = sentAtVerdicts.get(defaults);
  if (valid === undefined) {
    valid = sentAtRule.safeParse(defaults.sentAt).success;
    sentAtVerdicts.set(defaults, valid);
  }
  return valid;
}

export function validateEvent(raw: unknown, defaults: BatchDefaults, routeType: EventType | null): Validated {
  if (!isPlainObject(raw)) return refuse('not_an_object');
  if (routeType && raw.type !== undefined && raw.type !== routeType) {
    return refuse('type_mismatch', 'type', `(route takes ${routeType}, event says ${String(raw.type)})`);
  }
  // The SDK and analytics-node send one batch-level sentAt and nothing else to merge. Copying
  // every event to merge it in made validation twice as slow (copies get slower object shapes),
  // so the event is validated as sent and given the (valid) batch sentAt afterwards. The result
  // is the same: sentAt's rule is independent of the other fields, and the event has none of its own.
  const onlySentAt = defaults.sentAt !== undefined && raw.sentAt == null && !defaults.context && !defaults.integrations && !(routeType !== null && raw.type === undefined);
  if (onlySentAt && batchSentAtValid(defaults)) {
    const validated = validateMerged(raw);
    if (validated.ok) validated.event.sentAt = defaults.sentAt;
    return validated;
  }
  return validateMerged(applyDefaults(raw, defaults, routeType));
}
