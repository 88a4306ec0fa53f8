/**
 * The one event model: Segment-spec shaped events as clients send them (`incoming*`)
 * and as the edge hands them to the queue (`CollectedEvent`). Everything else (edge,
 * consumers, SDK types, dashboard) imports from here.
 */
import { z } from 'zod';

export const EVENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const LIMITS = {
  maxEventBytes: 32 * 1024,
  maxRequestBytes: 500 * 1024,
  maxBatchEvents: 2500,
  maxJsonDepth: 16,
  maxIdLength: 255,
  maxMessageIdLength: 100,
  maxEventNameLength: 200,
  /** Timestamps further in the future than this (after skew correction) are clamped to receivedAt. */
  maxFutureSkewMs: 24 * 60 * 60 * 1000,
  /** Events older than this are accepted but their timestamp is clamped (ClickHouse partitions). */
  maxPastAgeMs: 5 * 365 * 24 * 60 * 60 * 1000,
} as const;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Deeper than any event the edge accepts (LIMITS.maxJsonDepth) plus its own envelope; bounds the walk below on hostile input. */
const MAX_JSON_CHECK_DEPTH = 64;

function isPlainJsonObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A JSON value: finite numbers only (JSON has no Infinity/NaN), plain objects, arrays. */
export function isJsonValue(value: unknown, depth = 1): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth > MAX_JSON_CHECK_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!isJsonValue(item, depth + 1)) return false;
    return true;
  }
  if (!isPlainJsonObject(value)) return false;
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) if (!isJsonValue(object[key], depth + 1)) return false;
  return true;
}

/**
 * A JSON object, checked in place and passed through as the same object. Keys are data: a
 * copy made by assignment (what `z.record` does) silently drops an own `__proto__` key (and
 * sets the copy's prototype instead), so this schema never copies.
 */
export const jsonObjectSchema = z.custom<JsonObject>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && isJsonValue(value),
  'expected a JSON object (finite numbers, plain objects and arrays)',
);

/** Segment clients send ids as strings; some send numbers. Both are stored as strings. */
const identifier = z
  .union([z.string(), z.number().finite()])
  .transform((value) => String(value))
  .pipe(z.string().min(1, 'must not be empty').max(LIMITS.maxIdLength, `at most ${LIMITS.maxIdLength} characters`));

const dateString = z
  .string()
  .max(64)
  .refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO-8601 date');

const baseFields = {
  messageId: z.string().min(1).max(LIMITS.maxMessageIdLength).optional(),
  userId: identifier.optional().nullable(),
  anonymousId: identifier.optional().nullable(),
  timestamp: dateString.optional().nullable(),
  originalTimestamp: dateString.optional().nullable(),
  sentAt: dateString.optional().nullable(),
  context: jsonObjectSchema.optional(),
  integrations: jsonObjectSchema.optional(),
  /** Some clients put the write key in the body instead of Basic auth. */
  writeKey: z.string().optional(),
  version: z.union([z.string(), z.number()]).optional(),
  channel: z.string().max(64).optional(),
};

export const incomingTrackSchema = z.object({
  ...baseFields,
  type: z.literal('track'),
  event: z.string().min(1).max(LIMITS.maxEventNameLength),
  properties: jsonObjectSchema.optional(),
});
export const incomingIdentifySchema = z.object({
  ...baseFields,
  type: z.literal('identify'),
  traits: jsonObjectSchema.optional(),
});
export const incomingPageSchema = z.object({
  ...baseFields,
  type: z.literal('page'),
  name: z.string().max(LIMITS.maxEventNameLength).optional().nullable(),
  category: z.string().max(LIMITS.maxEventNameLength).optional().nullable(),
  properties: jsonObjectSchema.optional(),
});
export const incomingScreenSchema = z.object({
  ...baseFields,
  type: z.literal('screen'),
  name: z.string().max(LIMITS.maxEventNameLength).optional().nullable(),
  category: z.string().max(LIMITS.maxEventNameLength).optional().nullable(),
  properties: jsonObjectSchema.optional(),
});
export const incomingGroupSchema = z.object({
  ...baseFields,
  type: z.literal('group'),
  groupId: identifier,
  traits: jsonObjectSchema.optional(),
});
export const incomingAliasSchema = z.object({
  ...baseFields,
  type: z.literal('alias'),
  previousId: identifier,
  userId: identifier,
});

export const incomingEventSchema = z
  .discriminatedUnion('type', [
    incomingTrackSchema,
    incomingIdentifySchema,
    incomingPageSchema,
    incomingScreenSchema,
    incomingGroupSchema,
    incomingAliasSchema,
  ])
  .superRefine((event, ctx) => {
    if (!event.userId && !event.anonymousId) {
      ctx.addIssue({ code: 'custom', path: ['userId'], message: 'userId or anonymousId is required' });
    }
  });
export type IncomingEvent = z.output<typeof incomingEventSchema>;
/** What a client may send (input side: numbers allowed for ids). The SDK builds these. */
export type IncomingEventInput = z.input<typeof incomingEventSchema>;

/** Where an event came from: a visitor's browser, a customer's server, or Monfri itself (segment and usage notices). */
export const EVENT_SOURCES = ['browser', 'server', 'internal'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

const isoMillis = z.string().refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO-8601 date');

/**
 * An accepted event as the edge hands it to the `events` queue: ids assigned, times
 * skew-corrected, request facts (ip, user agent, geo, library) captured. Consumers
 * re-validate it with this schema before using it.
 */
/** Violations an event carries at most (an array of 1,000 bad items would otherwise say the same 1,000 times). */
export const PLAN_VIOLATIONS_KEPT = 20;

export const collectedEventSchema = z.object({
  v: z.literal(1),
  workspaceId: z.string().min(1),
  messageId: z.string().min(1).max(LIMITS.maxMessageIdLength),
  type: z.enum(EVENT_TYPES),
  /** Track event name, or page/screen name; null for other types. */
  event: z.string().nullable(),
  userId: z.string().nullable(),
  anonymousId: z.string().nullable(),
  groupId: z.string().nullable(),
  previousId: z.string().nullable(),
  properties: jsonObjectSchema,
  traits: jsonObjectSchema,
  context: jsonObjectSchema,
  integrations: jsonObjectSchema,
  /** Skew-corrected event time (ISO-8601, millisecond precision). */
  timestamp: isoMillis,
  originalTimestamp: isoMillis.nullable(),
  sentAt: isoMillis.nullable(),
  receivedAt: isoMillis,
  /** Why the timestamp was changed beyond skew correction, if it was. */
  timestampAdjustment: z.enum(['clamped_future', 'clamped_past']).nullable(),
  source: z.enum(EVENT_SOURCES),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  geo: z
    .object({
      country: z.string().nullable(),
      region: z.string().nullable(),
      city: z.string().nullable(),
    })
    .nullable(),
  library: z.object({ name: z.string(), version: z.string() }),
  sessionId: z.string().nullable(),
  bot: z.object({ flagged: z.boolean(), reason: z.string().nullable() }),
  /**
   * What the workspace's tracking plan said (workers/collect/plan-screen.ts); absent when the
   * event conforms or there is no plan. `flagged`: stored but excluded like a bot (the
   * workspace's `flag` mode); not flagged: recorded only (`allow`).
   */
  plan: z
    .object({
      flagged: z.boolean(),
      unplanned: z.boolean(),
      violations: z.array(z.object({ path: z.string(), rule: z.string(), message: z.string() })).max(PLAN_VIOLATIONS_KEPT),
    })
    .optional(),
});
export type CollectedEvent = z.output<typeof collectedEventSchema>;

/**
 * Edge fast path. Objects straight out of `JSON.parse` are JSON by construction (apart from
 * numbers too large for a double, which parse to Infinity), so walking them again with the
 * recursive `jsonObjectSchema` check only burns CPU (about 25 µs per event in workerd, where zod
 * cannot JIT). These variants check just the top-level kind of the JSON-object fields and
 * everything else exactly as the schemas above; the edge bounds nesting depth and refuses
 * non-finite numbers in its own single walk (workers/collect/validate.ts). Only for values
 * that came from `JSON.parse`.
 */
export const parsedJsonObjectSchema = z.custom<JsonObject>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'expected an object');

const parsedJsonFields = { context: parsedJsonObjectSchema.optional(), integrations: parsedJsonObjectSchema.optional() };

function requireIdentity(event: { userId?: string | null; anonymousId?: string | null }, ctx: z.RefinementCtx): void {
  if (!event.userId && !event.anonymousId) {
    ctx.addIssue({ code: 'custom', path: ['userId'], message: 'userId or anonymousId is required' });
  }
}

/** `incomingEventSchema` for a parsed request body (same output type). */
export const incomingParsedEventSchema = z
  .discriminatedUnion('type', [
    incomingTrackSchema.extend({ ...parsedJsonFields, properties: parsedJsonObjectSchema.optional() }),
    incomingIdentifySchema.extend({ ...parsedJsonFields, traits: parsedJsonObjectSchema.optional() }),
    incomingPageSchema.extend({ ...parsedJsonFields, properties: parsedJsonObjectSchema.optional() }),
    incomingScreenSchema.extend({ ...parsedJsonFields, properties: parsedJsonObjectSchema.optional() }),
    incomingGroupSchema.extend({ ...parsedJsonFields, traits: parsedJsonObjectSchema.optional() }),
    incomingAliasSchema.extend(parsedJsonFields),
  ])
  .superRefine(requireIdentity) satisfies z.ZodType<IncomingEvent>;
