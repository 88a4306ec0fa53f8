/** Shared shapes of the event pipeline: what flows between steps and what each step may answer. */
import type { LivePublishReport } from '../../durable-objects/live-feed-publish';
import type { ClickHouseClient } from '../../lib/clickhouse';
import type { Redis } from '../../lib/redis';
import type { RedisDegradation } from '../redis-degradation';
import type { CollectedEvent } from '../../schema/event';
import type { WorkspaceProfileLoader } from '../workspace-profiles';
import type { EventRow } from './event-row';

export type { EventRow };

/**
 * What a step decides for one message:
 * - ok: go on to the next step
 * - drop: done on purpose, acknowledged (e.g. a duplicate), reason recorded
 * - retry: transient failure; redelivered later with backoff
 * - dead_letter: can never succeed (poison); stored with the reason, acknowledged
 */
export type Outcome =
  | { kind: 'ok' }
  | { kind: 'drop'; reason: string }
  | { kind: 'retry'; reason: string }
  | { kind: 'dead_letter'; reason: string };

export const ok: Outcome = { kind: 'ok' };
export const drop = (reason: string): Outcome => ({ kind: 'drop', reason });
export const retry = (reason: string): Outcome => ({ kind: 'retry', reason });
export const deadLetter = (reason: string): Outcome => ({ kind: 'dead_letter', reason });

export interface IdentityLink {
  workspaceId: string;
  identityKey: string;
  personId: string;
  source: 'identify' | 'alias' | 'event';
  messageId: string;
  linkedAtMs: number;
}

export interface IdentityConflict {
  workspaceId: string;
  identityKey: string;
  existingPersonId: string;
  claimedPersonId: string;
  messageId: string;
  detectedAtMs: number;
}

/** One queue message on its way through the pipeline; steps fill in the later fields. */
export interface PipelineItem {
  readonly message: Message<unknown>;
  event?: CollectedEvent;
  personId?: string;
  row?: EventRow;
  outcome: Outcome;
}

/** Batch-wide results that are not per message (identity map changes). */
export interface BatchState {
  links: IdentityLink[];
  conflicts: IdentityConflict[];
  /** Items the insert step stored, for the after-insert fan-out. */
  stored: PipelineItem[];
  /** Items dropped on purpose earlier (duplicates), reported to the live feed as `dropped`. */
  dropped: PipelineItem[];
  /** Wall time of the events INSERT alone (the number the benchmark compares with a raw insert). */
  eventsInsertMs: number | null;
  /** One entry per live-feed room published to (timings for the latency breakdown). */
  livePublishes: LivePublishReport[];
  /**
   * Answers of the batch's one Redis read before the insert (the dedup step's MGET): identity
   * cache entries and usage estimates, by key (null = no such key). Only keys Redis answered.
   */
  redisReads: Map<string, string | null>;
  /** Best-effort Redis writes steps queued; the runner sends them in one pipeline when the batch ends. */
  redisWrites: RedisWrite[];
  /** What bot layers 3 and 4 did (for the batch report): why they failed open, if they did, and how many counters crossed. */
  botScreening: { failedOpen: string | null; sandboxed: number } | null;
  /** What the segments hook did (for the batch report): Durable Object calls, events applied, membership changes, work left to the retry queue. */
  segments: SegmentBatchReport | null;
}

export interface SegmentBatchReport {
  offered: number;
  calls: number;
  applied: number;
  changes: number;
  retried: number;
  errors: string[];
}

export type RedisPipeline = ReturnType<Redis['pipeline']>;
/** Adds one or more commands to the batch's closing Redis pipeline. */
export type RedisWrite = (pipeline: RedisPipeline) => void;

/** What a step sees: the items still `ok`, the whole batch state, and its dependencies. */
export interface StepInput {
  items: PipelineItem[];
  state: BatchState;
  deps: PipelineDeps;
}

/**
 * A step returns outcomes for the items that should stop here (missing = ok). Throwing
 * means "retry every item still in flight" (e.g. ClickHouse down).
 */
export interface Step {
  name: StepName;
  run(input: StepInput): Promise<Map<PipelineItem, Outcome> | void>;
}

export const STEP_NAMES = ['parse', 'suppress', 'dedup', 'screen_bots', 'resolve_identity', 'build_rows', 'insert_batch', 'after_insert'] as const;
export type StepName = (typeof STEP_NAMES)[number];


/** Services the steps use; built from env by the handler, replaceable in unit tests. */
export interface PipelineDeps {
  env: Env;
  now(): number;
  /** Hot-path dedup and identity cache. `null` when Redis cannot be reached: the pipeline degrades, never fails on it. */
  redis: Redis | null;
  clickhouse: ClickHouseClient;
  /** Settings and plan history of the batch's workspaces (cached per isolate; defaults when D1 does not answer). */
  workspaces: WorkspaceProfileLoader;
  /** Where Redis failures are counted (per isolate); absent in unit tests that do not look. */
  redisDegradation?: RedisDegradation;
}
