/**
 * Calls into a segment's shards (durable-objects/segment.ts), for the consumers and the API:
 * evaluating a batch's shares (one call per shard), configuring, reading members, counts and a
 * person's membership, deleting. What could not be done now comes back as retry work
 * (lib/segments/routing.ts), never as a thrown error: the events are stored already.
 */
import { membershipChangeSchema, personStateSchema, routeBatch, type Merge, type SegmentShare, type SegmentWork } from '../lib/segments/routing';
import { segmentObjectName, shardOf } from '../lib/segments/shards';
import type { PersonState } from '../lib/segments/engine';
import type { ActiveSegment, MembershipChange, SegmentEvent } from '../schema/segments';
import type { PersonMembership, SegmentConfig, SegmentShard, SegmentShardStats, ShardStatus } from './segment';

/** How long after a segment is saved every consumer offers it events (see SegmentConfig.settleMs). */
export function segmentSettleMs(env: Pick<Env, 'SEGMENT_SETTLE_SECONDS'>): number {
  const seconds = Number(env.SEGMENT_SETTLE_SECONDS);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 60_000;
}

export function shardConfig(env: Env, workspaceId: string, segment: ActiveSegment, shard: number): SegmentConfig {
  return { ...segment, workspaceId, shard, settleMs: segmentSettleMs(env) };
}

function shardStub(env: Env, workspaceId: string, segmentId: string, shard: number): DurableObjectStub<SegmentShard> {
  return env.SEGMENTS.getByName(segmentObjectName(workspaceId, segmentId, shard));
}

export interface SegmentRunReport {
  calls: number;
  applied: number;
  duplicates: number;
  changes: MembershipChange[];
  /** Work to retry later, and why it could not be done now. */
  retries: { work: SegmentWork; error: string }[];
}

function emptyReport(): SegmentRunReport {
  return { calls: 0, applied: 0, duplicates: 0, changes: [], retries: [] };
}

async function runShare(env: Env, workspaceId: string, share: SegmentShare, report: SegmentRunReport): Promise<void> {
  const { segment } = share;
  // Moves first: the receiving shard needs the moved state before it decides.
  const bySource = new Map<number, string[]>();
  for (const move of share.moves) bySource.set(move.fromShard, [...(bySource.get(move.fromShard) ?? []), move.from]);
  const exports = await Promise.allSettled(
    [...bySource].map(async ([shard, persons]) => {
      report.calls += 1;
      return { shard, result: await shardStub(env, workspaceId, segment.id, shard).exportPersons(shardConfig(env, workspaceId, segment, shard), persons) };
    }),
  );
  const moved = new Map<string, PersonState>();
  const failedSources = new Set(bySource.keys());
  const errors: string[] = [];
  for (const outcome of exports) {
    if (outcome.status === 'rejected') {
      errors.push(String(outcome.reason));
      continue;
    }
    failedSources.delete(outcome.value.shard);
    report.changes.push(...outcome.value.result.changes.map((change) => membershipChangeSchema.parse(change)));
    for (const entry of outcome.value.result.exported) moved.set(entry.personId, personStateSchema.parse(entry.state));
  }
  for (const move of share.moves) {
    const state = moved.get(move.from);
    if (state) share.shards.get(move.toShard)?.imports.push({ personId: move.to, state });
  }
  // A move whose export failed is tried again as a whole later; the events go on now (late state merges in).
  const retryMoves = share.moves.filter((move) => failedSources.has(move.fromShard)).map(({ from, to }) => ({ from, to }));
  if (retryMoves.length > 0) report.retries.push({ work: { kind: 'segment', workspaceId, segment, events: [], merges: retryMoves }, error: errors.join('; ') });
  await Promise.all(
    [...share.shards.values()].map(async (entry) => {
      if (entry.events.length === 0 && entry.merges.length === 0 && entry.imports.length === 0) return;
      report.calls += 1;
      try {
        const result = await shardStub(env, workspaceId, segment.id, entry.shard).evaluate({ config: shardConfig(env, workspaceId, segment, entry.shard), events: entry.events, merges: entry.merges, imports: entry.imports });
        report.applied += result.applied;
        report.duplicates += result.duplicates;
        report.changes.push(...result.changes.map((change) => membershipChangeSchema.parse(change)));
      } catch (error) {
        report.retries.push({ work: { kind: 'shard', workspaceId, segment, shard: entry.shard, events: entry.events, merges: entry.merges, imports: entry.imports }, error: String(error) });
      }
    }),
  );
}

/** A workspace's events and merges of one batch, evaluated by every segment they concern. */
export async function evaluateSegments(env: Env, workspaceId: string, segments: readonly ActiveSegment[], events: readonly SegmentEvent[], merges: readonly Merge[]): Promise<SegmentRunReport> {
  const report = emptyReport();
  await Promise.all(routeBatch(segments, events, merges).map((share) => runShare(env, workspaceId, share, report)));
  return report;
}

/** Work from the retry queue: `workspace` work needs the segments (read by the caller), the rest is self-contained. */
export async function runSegmentWork(env: Env, work: SegmentWork, segments: () => Promise<ActiveSegment[]>): Promise<SegmentRunReport> {
  if (work.kind === 'workspace') return evaluateSegments(env, work.workspaceId, await segments(), work.events, work.merges);
  if (work.kind === 'segment') return evaluateSegments(env, work.workspaceId, [work.segment], work.events, work.merges);
  const report = emptyReport();
  const share: SegmentShare = { segment: work.segment, moves: [], shards: new Map([[work.shard, { shard: work.shard, events: work.events, merges: work.merges, imports: work.imports }]]) };
  await runShare(env, work.workspaceId, share, report);
  return report;
}

function shards(segment: ActiveSegment): number[] {
  return Array.from({ length: segment.shards }, (_, shard) => shard);
}

/** Hands every shard the (new) definition; a new version starts the back-fill. */
export async function configureSegment(env: Env, workspaceId: string, segment: ActiveSegment): Promise<ShardStatus[]> {
  return Promise.all(shards(segment).map((shard) => shardStub(env, workspaceId, segment.id, shard).configure(shardConfig(env, workspaceId, segment, shard))));
}

export interface SegmentCounts {
  status: ShardStatus;
  members: number;
  persons: number;
  /** Membership changes decided but not yet queued as events. */
  pendingEvents: number;
  shards: (SegmentShardStats & { shard: number })[];
}

/** Counts over every shard; the segment is back-filling while any shard is. */
export async function segmentCounts(env: Env, workspaceId: string, segment: ActiveSegment): Promise<SegmentCounts> {
  const stats = await Promise.all(shards(segment).map(async (shard) => ({ shard, ...(await shardStub(env, workspaceId, segment.id, shard).stats()) })));
  const status: ShardStatus = stats.some((entry) => entry.status === 'backfilling' || entry.status === null || entry.version !== segment.version) ? 'backfilling' : 'active';
  return {
    status,
    members: stats.reduce((sum, entry) => sum + entry.members, 0),
    persons: stats.reduce((sum, entry) => sum + entry.persons, 0),
    pendingEvents: stats.reduce((sum, entry) => sum + entry.outbox, 0),
    shards: stats,
  };
}

/** One page of members in person-id order across shards: each shard's next page, merged. */
export async function segmentMembersPage(env: Env, workspaceId: string, segment: ActiveSegment, after: string | null, limit: number): Promise<{ members: string[]; next: string | null }> {
  const pages = await Promise.all(shards(segment).map((shard) => shardStub(env, workspaceId, segment.id, shard).members(after, limit + 1)));
  const merged = pages.flat().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const members = merged.slice(0, limit);
  return { members, next: merged.length > limit ? (members.at(-1) ?? null) : null };
}

/** Every member (for `segment verify`), page by page. */
export async function allSegmentMembers(env: Env, workspaceId: string, segment: ActiveSegment): Promise<string[]> {
  const members: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await segmentMembersPage(env, workspaceId, segment, after, 5000);
    members.push(...page.members);
    if (!page.next) return members;
    after = page.next;
  }
}

export async function personMembership(env: Env, workspaceId: string, segment: ActiveSegment, personId: string): Promise<PersonMembership> {
  return shardStub(env, workspaceId, segment.id, shardOf(personId, segment.shards)).membership(personId);
}

export async function destroySegment(env: Env, workspaceId: string, segment: ActiveSegment): Promise<void> {
  await Promise.all(shards(segment).map((shard) => shardStub(env, workspaceId, segment.id, shard).destroy()));
}
