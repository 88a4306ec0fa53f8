/**
 * Step 5: store. ONE `INSERT INTO events FORMAT JSONEachRow` for the whole batch, sent
 * together with the batch's new identity links and conflicts (independent tables, so the
 * inserts overlap). Any failure (ClickHouse down, timeout, 5xx) throws: the runner retries
 * every message of the batch with backoff, and after the queue's max_retries they reach the
 * dead-letter queue (nothing is lost; a half-done retry's rows are ReplacingMergeTree
 * duplicates). Only after all inserts succeeded are the messageIds queued to be marked seen
 * (see dedup.ts) and the identity links to be cached; the runner writes them when the batch
 * ends, so the live feed is not kept waiting for Redis.
 */
import { EVENTS_TABLE, IDENTITIES_TABLE, IDENTITY_CONFLICTS_TABLE } from '../../../lib/event-queries';
import type { BatchState, EventRow, PipelineDeps, PipelineItem, Step } from '../types';
import { SEEN_TTL_SECONDS, seenKey } from './dedup';
import { identityCacheKey } from './resolve-identity';

/** Earliest link wins in ReplacingMergeTree(link_rank): the rank falls as time grows. */
const LINK_RANK_BASE = 2 ** 52;

/** One JSONEachRow INSERT, or nothing when there are no rows. */
function insertRows<Row extends object>(deps: PipelineDeps, table: string, rows: readonly Row[]): Promise<unknown> | null {
  return rows.length > 0 ? deps.clickhouse.insert({ table, format: 'JSONEachRow', values: [...rows] }) : null;
}

function insertIdentityChanges(deps: PipelineDeps, state: BatchState): Promise<unknown>[] {
  const links = state.links.map((link) => ({
    workspace_id: link.workspaceId,
    identity_key: link.identityKey,
    person_id: link.personId,
    source: link.source,
    message_id: link.messageId,
    linked_at_ms: link.linkedAtMs,
    link_rank: LINK_RANK_BASE - link.linkedAtMs,
  }));
  const conflicts = state.conflicts.map((conflict) => ({
    workspace_id: conflict.workspaceId,
    identity_key: conflict.identityKey,
    existing_person_id: conflict.existingPersonId,
    claimed_person_id: conflict.claimedPersonId,
    message_id: conflict.messageId,
    detected_at_ms: conflict.detectedAtMs,
  }));
  return [insertRows(deps, IDENTITIES_TABLE, links), insertRows(deps, IDENTITY_CONFLICTS_TABLE, conflicts)].filter((insert) => insert !== null);
}

async function insertEvents(deps: PipelineDeps, state: BatchState, stored: (PipelineItem & { row: EventRow })[]): Promise<void> {
  const started = performance.now();
  const insert = insertRows(deps, EVENTS_TABLE, stored.map((item) => item.row));
  if (!insert) return;
  await insert;
  state.eventsInsertMs = performance.now() - started;
}

/** Best effort (the runner logs a failed flush): a lost mark only means the ClickHouse backstop handles a later duplicate. */
function queueMarkSeenAndCacheLinks(state: BatchState, stored: PipelineItem[]): void {
  if (stored.length === 0 && state.links.length === 0) return;
  const links = [...state.links];
  state.redisWrites.push((pipeline) => {
    for (const item of stored) {
      if (item.event) pipeline.set(seenKey(item.event.workspaceId, item.event.messageId), '1', { nx: true, ex: SEEN_TTL_SECONDS });
    }
    // Plain SET: replaces a NOT_LINKED marker. Two consumers racing to link the same id to
    // different users may leave the cache on the later one while ClickHouse keeps the earlier;
    // only ingest-time person_id is affected, reads resolve through ClickHouse.
    for (const link of links) pipeline.set(identityCacheKey(link.workspaceId, link.identityKey), link.personId);
  });
}

export const insertBatchStep: Step = {
  name: 'insert_batch',
  async run({ items, state, deps }) {
    const stored = items.filter((item): item is PipelineItem & { row: EventRow } => item.row !== undefined);
    // allSettled, then throw: a failed insert is only retried once its siblings finished (no insert outlives the batch).
    const results = await Promise.allSettled([...insertIdentityChanges(deps, state), insertEvents(deps, state, stored)]);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) {
      const reason: unknown = failed.reason;
      throw reason instanceof Error ? reason : new Error(String(reason));
    }
    state.stored.push(...stored);
    queueMarkSeenAndCacheLinks(state, stored);
  },
};
