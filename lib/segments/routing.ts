/**
 * Which segment shard gets what of a consumer batch (pure): each event goes only to the
 * segments whose definition can be moved by it (engine `offers`), to the shard holding its
 * person; identity merges go to every segment (the person merged away may have state in any),
 * as a local merge when both persons live on one shard, else as a move (export from one
 * shard, import into the other). Also the queue messages a piece of work becomes when it
 * could not be done at once (the `monfri-segments` retry queue), split to fit the queue's
 * 128 KB message limit.
 */
import { z } from 'zod';
import type { JsonValue } from '../../schema/event';
import type { ActiveSegment, MembershipChange, SegmentEvent } from '../../schema/segments';
import { compileSegment, offers, type PersonState } from './engine';
import { shardOf } from './shards';

export interface Merge {
  from: string;
  to: string;
}

export interface Move extends Merge {
  fromShard: number;
  toShard: number;
}

export interface ShardShare {
  shard: number;
  events: SegmentEvent[];
  merges: Merge[];
  imports: { personId: string; state: PersonState }[];
}

export interface SegmentShare {
  segment: ActiveSegment;
  shards: Map<number, ShardShare>;
  moves: Move[];
}

function shareOf(shards: Map<number, ShardShare>, shard: number): ShardShare {
  let share = shards.get(shard);
  if (!share) {
    share = { shard, events: [], merges: [], imports: [] };
    shards.set(shard, share);
  }
  return share;
}

/** One segment's part of a batch (null when nothing in it concerns the segment). */
export function segmentShareOf(segment: ActiveSegment, events: readonly SegmentEvent[], merges: readonly Merge[]): SegmentShare | null {
  const compiled = compileSegment(segment);
  const shards = new Map<number, ShardShare>();
  for (const event of events) {
    if (!offers(compiled, { type: event.type, event: event.event, traitKeys: Object.keys(event.traits) })) continue;
    shareOf(shards, shardOf(event.personId, segment.shards)).events.push(event);
  }
  const moves: Move[] = [];
  for (const merge of merges) {
    if (merge.from === merge.to) continue;
    const fromShard = shardOf(merge.from, segment.shards);
    const toShard = shardOf(merge.to, segment.shards);
    if (fromShard === toShard) shareOf(shards, fromShard).merges.push(merge);
    else moves.push({ ...merge, fromShard, toShard });
  }
  // A move still needs a call on the receiving shard, even when no event of the batch goes there.
  for (const move of moves) shareOf(shards, move.toShard);
  return shards.size === 0 && moves.length === 0 ? null : { segment, shards, moves };
}

export function routeBatch(segments: readonly ActiveSegment[], events: readonly SegmentEvent[], merges: readonly Merge[]): SegmentShare[] {
  return segments.flatMap((segment) => segmentShareOf(segment, events, merges) ?? []);
}

const jsonValue: z.ZodType<JsonValue> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]));
export const segmentEventSchema = z.object({
  messageId: z.string(),
  personId: z.string(),
  type: z.string(),
  event: z.string().nullable(),
  at: z.number(),
  sessionId: z.string().nullable(),
  properties: z.record(z.string(), jsonValue),
  traits: z.record(z.string(), jsonValue),
});
const mergeSchema = z.object({ from: z.string(), to: z.string() });
const activeSegmentSchema = z.custom<ActiveSegment>((value) => typeof value === 'object' && value !== null && 'id' in value && 'condition' in value && 'version' in value);
export const membershipChangeSchema = z.custom<MembershipChange>((value) => typeof value === 'object' && value !== null && 'personId' in value && 'kind' in value && 'segmentId' in value);
export const personStateSchema = z.custom<PersonState>((value) => typeof value === 'object' && value !== null && 'lists' in value && 'aggregates' in value);

/**
 * Segment work to do later:
 * - `workspace`: the workspace's segments could not be read; route when they can be.
 * - `segment`: one segment's share, routed again (its moves could not be made).
 * - `shard`: one shard's evaluation, moves already made (the imports carry the moved state).
 */
export const segmentWorkSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('workspace'), workspaceId: z.string(), events: z.array(segmentEventSchema), merges: z.array(mergeSchema) }),
  z.object({ kind: z.literal('segment'), workspaceId: z.string(), segment: activeSegmentSchema, events: z.array(segmentEventSchema), merges: z.array(mergeSchema) }),
  z.object({
    kind: z.literal('shard'),
    workspaceId: z.string(),
    segment: activeSegmentSchema,
    shard: z.number().int().min(0),
    events: z.array(segmentEventSchema),
    merges: z.array(mergeSchema),
    imports: z.array(z.object({ personId: z.string(), state: personStateSchema })),
  }),
]);
export type SegmentWork = z.output<typeof segmentWorkSchema>;

/** Below the queue's 128 KB per message, with room for the envelope. */
export const MAX_WORK_MESSAGE_BYTES = 100_000;

const sizeOf = (value: unknown): number => new TextEncoder().encode(JSON.stringify(value)).byteLength;

/**
 * Splits work into messages under MAX_WORK_MESSAGE_BYTES: merges and imports stay with the
 * first message, events spread over as many as needed (evaluation does not depend on which
 * call an event arrives in). A single event or import too large for one message is reported,
 * not sent: it cannot be queued at all.
 */
export function splitWork(work: SegmentWork): { messages: SegmentWork[]; tooLarge: string[] } {
  if (sizeOf(work) <= MAX_WORK_MESSAGE_BYTES) return { messages: [work], tooLarge: [] };
  const blank = (): SegmentWork => (work.kind === 'shard' ? { ...work, events: [], merges: [], imports: [] } : { ...work, events: [], merges: [] });
  const blankSize = sizeOf(blank());
  const messages: SegmentWork[] = [];
  const tooLarge: string[] = [];
  let current: SegmentWork = { ...blank(), merges: work.merges };
  let size = sizeOf(current);
  const add = (bytes: number, label: string, put: (message: SegmentWork) => void): void => {
    if (blankSize + bytes > MAX_WORK_MESSAGE_BYTES) return void tooLarge.push(label);
    if (size + bytes > MAX_WORK_MESSAGE_BYTES) {
      messages.push(current);
      current = blank();
      size = blankSize;
    }
    put(current);
    size += bytes;
  };
  if (work.kind === 'shard') {
    for (const entry of work.imports) add(sizeOf(entry) + 1, `state of ${entry.personId}`, (message) => message.kind === 'shard' && message.imports.push(entry));
  }
  for (const event of work.events) add(sizeOf(event) + 1, `event ${event.messageId}`, (message) => message.events.push(event));
  messages.push(current);
  return { messages, tooLarge };
}
