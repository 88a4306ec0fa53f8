/**
 * The after-insert segments hook: hands the batch's stored human events and its new identity
 * links to the workspace's segments (durable-objects/segment-calls.ts routes each event only
 * to the segments it can move, one call per shard), so a person enters or leaves in the batch
 * that carries the deciding event. Bot-flagged events and Monfri's own never count.
 *
 * Nothing here may fail the batch (the events are stored), and no event may be skipped: work
 * that could not be done now (the segments could not be read, a Durable Object did not answer)
 * goes to the `monfri-segments` retry queue; Durable Objects apply each messageId once, so
 * doing it again later changes nothing twice.
 */
import { evaluateSegments, type SegmentRunReport } from '../../durable-objects/segment-calls';
import { splitWork, type Merge, type SegmentWork } from '../../lib/segments/routing';
import type { SegmentEvent } from '../../schema/segments';
import type { AfterInsertHook } from './steps/after-insert';
import type { BatchState, PipelineItem, SegmentBatchReport } from './types';

/**
 * An event as segments read it; its person is the one ingest resolved (links of its own batch
 * included). Flagged plan violations stay out unless the workspace lets them in.
 */
export function segmentEventOf(item: PipelineItem, flaggedInSegments = false): SegmentEvent | null {
  const { event, row } = item;
  if (!event || !row || !item.personId || event.bot.flagged || event.source === 'internal') return null;
  if (event.plan?.flagged && !flaggedInSegments) return null;
  return {
    messageId: event.messageId,
    personId: item.personId,
    type: event.type,
    event: event.event,
    // The same effective time ClickHouse recomputes from (lib/segment-queries.ts).
    at: row.received_at_ms > 0 ? Math.min(row.timestamp_ms, row.received_at_ms) : row.timestamp_ms,
    sessionId: row.session_id || null,
    properties: event.properties,
    traits: event.traits,
  };
}

function mergesOf(state: BatchState): Map<string, Merge[]> {
  const merges = new Map<string, Merge[]>();
  for (const link of state.links) {
    if (link.identityKey === link.personId) continue;
    merges.set(link.workspaceId, [...(merges.get(link.workspaceId) ?? []), { from: link.identityKey, to: link.personId }]);
  }
  return merges;
}

/** Queues work for later; what even the queue refuses is logged loudly (`segment verify` shows the difference). */
export async function queueSegmentWork(queue: Queue, work: readonly SegmentWork[]): Promise<number> {
  let queued = 0;
  for (const piece of work) {
    const { messages, tooLarge } = splitWork(piece);
    if (tooLarge.length > 0) console.error(JSON.stringify({ level: 'error', msg: 'segment_work_too_large', workspaceId: piece.workspaceId, items: tooLarge }));
    for (let start = 0; start < messages.length; start += 100) {
      await queue.sendBatch(messages.slice(start, start + 100).map((body) => ({ body, contentType: 'json' as const })));
      queued += Math.min(100, messages.length - start);
    }
  }
  return queued;
}

export const segmentsHook: AfterInsertHook = {
  name: 'segments',
  async run(deps, state) {
    const events = new Map<string, SegmentEvent[]>();
    const flaggedWorkspaces = [...new Set(state.stored.flatMap((item) => (item.event?.plan?.flagged ? [item.event.workspaceId] : [])))];
    // Profiles are cached per isolate: asking twice in a batch costs D1 nothing.
    const flaggedProfiles = await deps.workspaces(flaggedWorkspaces);
    for (const item of state.stored) {
      const event = segmentEventOf(item, item.event ? flaggedProfiles.get(item.event.workspaceId)?.settings.trackingPlan.flaggedInSegments : false);
      if (event && item.event) events.set(item.event.workspaceId, [...(events.get(item.event.workspaceId) ?? []), event]);
    }
    const merges = mergesOf(state);
    const workspaceIds = [...new Set([...events.keys(), ...merges.keys()])];
    if (workspaceIds.length === 0) return;
    const report: SegmentBatchReport = { offered: 0, calls: 0, applied: 0, changes: 0, retried: 0, errors: [] };
    state.segments = report;
    const profiles = await deps.workspaces(workspaceIds);
    const later: SegmentWork[] = [];
    const runs = await Promise.all(
      workspaceIds.map(async (workspaceId): Promise<SegmentRunReport | null> => {
        const segments = profiles.get(workspaceId)?.segments;
        const workspaceEvents = events.get(workspaceId) ?? [];
        const workspaceMerges = merges.get(workspaceId) ?? [];
        if (segments === null || segments === undefined) {
          later.push({ kind: 'workspace', workspaceId, events: workspaceEvents, merges: workspaceMerges });
          report.errors.push(`${workspaceId}: segments unknown`);
          return null;
        }
        if (segments.length === 0) return null;
        report.offered += workspaceEvents.length;
        return evaluateSegments(deps.env, workspaceId, segments, workspaceEvents, workspaceMerges);
      }),
    );
    for (const run of runs) {
      if (!run) continue;
      report.calls += run.calls;
      report.applied += run.applied;
      report.changes += run.changes.length;
      for (const retry of run.retries) {
        later.push(retry.work);
        report.errors.push(retry.error.slice(0, 200));
      }
    }
    if (later.length === 0) return;
    try {
      report.retried = await queueSegmentWork(deps.env.SEGMENT_RETRIES, later);
    } catch (error) {
      console.error(JSON.stringify({ level: 'error', msg: 'segment_work_lost', workspaces: [...new Set(later.map((work) => work.workspaceId))], error: String(error) }));
      throw error;
    }
  },
};
