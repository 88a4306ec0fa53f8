/**
 * Segment definitions, computed-trait definitions and what the segment API answers. A segment
 * is a tree of conditions over a person's events and traits, evaluated incrementally by
 * Durable Objects (durable-objects/segment.ts) and recomputable from ClickHouse
 * (lib/segment-queries.ts); both follow the semantics written here.
 *
 * Semantics (the same in the Durable Object and in SQL):
 * - An event counts from its effective time: its timestamp, or when it was received if its
 *   clock says later. A rolling window of D days at time T is (T - D days, T].
 * - Only human events count (bot-flagged ones never move membership), and never Monfri's own
 *   (`Segment Entered`/`Exited`, usage notices). `performed` matches track events by name.
 * - Property filters and trait comparisons read top-level keys and compare the value's text:
 *   a string as it is, anything else as its JSON (so 50 and "50" compare equal, as the query
 *   API's property filters do). `gt`/`gte`/`lt`/`lte` compare numbers: the text must be a
 *   number (`-1.5e3`), else the condition is false. `exists`: present and not null. `neq`:
 *   present and different. `contains`: the text contains the value (case-sensitive).
 * - Traits are the person's identify traits, the latest (by time, then messageId) per key.
 * - Computed traits: first_seen / last_seen (effective times), event_count (events),
 *   session_count (distinct non-empty session ids), and the workspace's own definitions.
 */
import { z } from 'zod';
import type { JsonValue } from './event';

export const COMPARISONS = ['eq', 'neq', 'contains', 'gt', 'gte', 'lt', 'lte', 'exists', 'in'] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** Bounds that keep per-person state small and evaluation incremental. */
export const SEGMENT_LIMITS = {
  maxDepth: 4,
  maxLeaves: 20,
  maxWindowDays: 365,
  maxCount: 1000,
  maxInValues: 1000,
  maxShards: 16,
  maxSegmentsPerWorkspace: 100,
  maxComputedTraitsPerWorkspace: 50,
  /** Distinct sessions kept per person (session_count comparisons up to this minus one). */
  maxSessions: 1000,
} as const;

const DAY_MS = 86_400_000;
export const dayMs = (days: number): number => days * DAY_MS;

const key = z
  .string()
  .min(1)
  .max(200)
  .refine((value) => !value.includes('[]'), 'arrays cannot be addressed; use a top-level key');

const scalar = z.union([z.string().max(1000), z.number().finite(), z.boolean(), z.null()]);
export type ScalarValue = z.output<typeof scalar>;

function comparisonChecks<T extends { op: Comparison; value?: ScalarValue | ScalarValue[] | undefined }>(filter: T, ctx: z.RefinementCtx): void {
  const { op, value } = filter;
  if (op === 'exists') return;
  if (value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `${op} needs a value` });
  else if (op === 'in' && (!Array.isArray(value) || value.length === 0 || value.length > SEGMENT_LIMITS.maxInValues)) ctx.addIssue({ code: 'custom', path: ['value'], message: `in needs a list of 1 to ${SEGMENT_LIMITS.maxInValues} values` });
  else if (op !== 'in' && Array.isArray(value)) ctx.addIssue({ code: 'custom', path: ['value'], message: `${op} takes one value, not a list` });
  else if (['gt', 'gte', 'lt', 'lte'].includes(op) && typeof value !== 'number') ctx.addIssue({ code: 'custom', path: ['value'], message: `${op} compares numbers` });
  else if (op === 'contains' && typeof value !== 'string') ctx.addIssue({ code: 'custom', path: ['value'], message: 'contains takes a string' });
}

export const propertyFilterSchema = z
  .strictObject({ property: key, op: z.enum(COMPARISONS), value: z.union([scalar, z.array(scalar)]).optional() })
  .superRefine(comparisonChecks);
export type PropertyFilter = z.output<typeof propertyFilterSchema>;

const days = z.number().int().min(1).max(SEGMENT_LIMITS.maxWindowDays);
const eventName = z.string().min(1).max(200);

export const COUNT_OPS = ['at_least', 'at_most', 'exactly'] as const;

const performedSchema = z.strictObject({
  type: z.literal('performed'),
  event: eventName,
  where: z.array(propertyFilterSchema).max(10).default([]),
  count: z.strictObject({ op: z.enum(COUNT_OPS), value: z.number().int().min(0).max(SEGMENT_LIMITS.maxCount) }).default({ op: 'at_least', value: 1 }),
  /** Omitted: ever. */
  withinDays: days.optional(),
});

const notPerformedSchema = z.strictObject({
  type: z.literal('not_performed'),
  event: eventName,
  where: z.array(propertyFilterSchema).max(10).default([]),
  withinDays: days,
});

const traitSchema = z.strictObject({ type: z.literal('trait'), trait: key, op: z.enum(COMPARISONS), value: z.union([scalar, z.array(scalar)]).optional() }).superRefine(comparisonChecks);

export const BUILT_IN_TRAITS = ['first_seen', 'last_seen', 'event_count', 'session_count'] as const;
export const TIME_OPS = ['within_days', 'not_within_days'] as const;

const computedSchema = z.strictObject({
  type: z.literal('computed'),
  /** A built-in trait or the name of one of the workspace's computed traits. */
  trait: z.string().min(1).max(100),
  op: z.enum([...COMPARISONS, ...TIME_OPS]),
  value: z.union([scalar, z.array(scalar)]).optional(),
});

export type PerformedCondition = z.output<typeof performedSchema>;
export type NotPerformedCondition = z.output<typeof notPerformedSchema>;
export type TraitCondition = z.output<typeof traitSchema>;
export type ComputedCondition = z.output<typeof computedSchema>;
export type LeafCondition = PerformedCondition | NotPerformedCondition | TraitCondition | ComputedCondition;
export type Condition = LeafCondition | { type: 'all'; conditions: Condition[] } | { type: 'any'; conditions: Condition[] };
/** A condition as callers may write it (defaults left out: `where: []`, `count: at least 1`). */
type LeafInput = z.input<typeof performedSchema> | z.input<typeof notPerformedSchema> | z.input<typeof traitSchema> | z.input<typeof computedSchema>;
export type ConditionInput = LeafInput | { type: 'all'; conditions: ConditionInput[] } | { type: 'any'; conditions: ConditionInput[] };

export const conditionSchema: z.ZodType<Condition, ConditionInput> = z.lazy(() =>
  z.union([
    performedSchema,
    notPerformedSchema,
    traitSchema,
    computedSchema,
    z.strictObject({ type: z.literal('all'), conditions: z.array(conditionSchema).min(1).max(SEGMENT_LIMITS.maxLeaves) }),
    z.strictObject({ type: z.literal('any'), conditions: z.array(conditionSchema).min(1).max(SEGMENT_LIMITS.maxLeaves) }),
  ]),
);

export const COMPUTED_TRAIT_KINDS = ['count', 'sum', 'min', 'max', 'last'] as const;
export type ComputedTraitKind = (typeof COMPUTED_TRAIT_KINDS)[number];

/** A workspace's own computed trait, e.g. revenue in the last 30 days = sum of `revenue` over `Order Completed`. */
export const computedTraitSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,62}$/, 'lower case letters, digits and _ (starting with a letter)')
      .refine((name) => !(BUILT_IN_TRAITS as readonly string[]).includes(name), 'a built-in trait has this name'),
    kind: z.enum(COMPUTED_TRAIT_KINDS),
    event: eventName,
    /** Required except for count. */
    property: key.optional(),
    withinDays: days.optional(),
  })
  .superRefine((trait, ctx) => {
    if (trait.kind !== 'count' && !trait.property) ctx.addIssue({ code: 'custom', path: ['property'], message: `${trait.kind} needs a property` });
  });
export type ComputedTraitDefinition = z.output<typeof computedTraitSchema>;

export const segmentInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).default(''),
  condition: conditionSchema,
  /** How many Durable Objects share the segment's persons (by person hash), for a hot segment. */
  shards: z.number().int().min(1).max(SEGMENT_LIMITS.maxShards).default(1),
});
export type SegmentInput = z.output<typeof segmentInputSchema>;

/** `shards` is fixed at creation: moving persons between objects would report spurious exits and entries. */
export const segmentPatchSchema = segmentInputSchema
  .omit({ shards: true })
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, 'nothing to update');
export type SegmentPatch = z.output<typeof segmentPatchSchema>;

/** What a segment version is evaluated from: its condition and the computed traits it read when saved. */
export const segmentDefinitionSchema = z.object({ condition: conditionSchema, computedTraits: z.array(computedTraitSchema) });
export type SegmentDefinition = z.output<typeof segmentDefinitionSchema>;

export const SEGMENT_STATUSES = ['backfilling', 'active'] as const;
export type SegmentStatus = (typeof SEGMENT_STATUSES)[number];

export interface Segment {
  id: string;
  workspaceId: string;
  name: string;
  description: string;
  condition: Condition;
  /** The computed traits the condition reads, as they were when this version was saved. */
  computedTraits: ComputedTraitDefinition[];
  version: number;
  shards: number;
  createdAt: string;
  updatedAt: string;
}

/** What the consumer needs of a workspace's segments (and the computed traits they read). */
export interface ActiveSegment {
  id: string;
  name: string;
  version: number;
  shards: number;
  condition: Condition;
  computedTraits: ComputedTraitDefinition[];
}

/** A change of membership a segment decided, as its Durable Object reports it. */
export interface MembershipChange {
  segmentId: string;
  segmentName: string;
  version: number;
  personId: string;
  kind: 'entered' | 'exited';
  /** When the change took effect (ms): the deciding event's effective time, a window's end, or now. */
  at: number;
  /** The event that decided it, when one did (null for time-based changes and back-fills). */
  decidingMessageId: string | null;
  cause: 'event' | 'time' | 'merge' | 'backfill' | 'definition';
}

export const SEGMENT_ENTERED = 'Segment Entered';
export const SEGMENT_EXITED = 'Segment Exited';

/** An event as a segment's Durable Object receives it: only what conditions can read. */
export interface SegmentEvent {
  messageId: string;
  personId: string;
  type: string;
  event: string | null;
  /** Effective time (ms): min(timestamp, receivedAt). */
  at: number;
  sessionId: string | null;
  properties: Record<string, JsonValue>;
  traits: Record<string, JsonValue>;
}
