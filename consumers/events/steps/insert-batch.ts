/**
 * Step 5: store. New identity links and conflicts first, then ONE
 * `INSERT INTO events FORMAT JSONEachRow` for the whole batch. Any failure (ClickHouse
 * down, timeout, 5xx) throws: the runner retries every message of the batch with backoff,
 * and after the queue's max_retries they reach the dead-letter queue (nothing is lost).
 * Only after the insert succeeded are the messageIds marked seen in Redis (see dedup.ts)
 * and the identity links cached.
 */
import { EVENTS_TABLE, IDENTITIES_TABLE, IDENTITY_CONFLICTS_TABLE } from '../../../lib/event-queries';
import type { BatchState, EventRow, PipelineDeps, PipelineItem, Step } from '../types';
import { SEEN_TTL_SECONDS, seenKey } from './dedup';
import { identityCacheKey } from './resolve-identity';

/** Earliest link wins in ReplacingMergeTree(link_rank): the rank falls as time grows. */
const LINK_RANK_BASE = 2 ** 52;

async function insertIdentityChanges(deps: PipelineDeps, state: BatchState): Promise<void> {
  if (state.links.length > 0) {
    await deps.clickhouse.insert({
      table: IDENTITIES_TABLE,
      format: 'JSONEachRow',
      values: state.links.map((link) => ({
        workspace_id: link.workspaceId,
        identity_key: link.identityKey,
        person_id: link.personId,
        source: link.source,
        message_id: link.messageId,
        linked_at_ms: link.linkedAtMs,
        link_rank: LINK_RANK_BASE - link.linkedAtMs,
      })),
    });
  }
  if (state.conflicts.length > 0) {
    await deps.clickhouse.insert({
      table: IDENTITY_CONFLICTS_TABLE,
      format: 'JSONEachRow',
      values: state.conflicts.map((conflict) => ({
        workspace_id: conflict.workspaceId,
        identity_key: conflict.identityKey,
        existing_person_id: conflict.existingPersonId,
        claimed_person_id: conflict.claimedPersonId,
        message_id: conflict.messageId,
        detected_at_ms: conflict.detectedAtMs,
      })),
    });
  }
}

/** Best effort: a lost mark only means the ClickHouse backstop handles a later duplicate. */
async function markSeenAndCacheLinks(deps: PipelineDeps, state: BatchState, stored: PipelineItem[]): Promise<void> {
  if (!deps.redis || (stored.length === 0 && state.links.length === 0)) return;
  const pipeline = deps.redis.pipeline();
  for (const item of stored) {
    if (item.event) pipeline.set(seenKey(item.event.workspaceId, item.event.messageId), '1', { nx: true, ex: SEEN_TTL_SECONDS });
  }
  // Plain SET: replaces a NOT_LINKED marker. Two consumers racing to link the same id to
  // different users may leave the cache on the later one while ClickHouse keeps the earlier;
  // only ingest-time person_id is affected, reads resolve through ClickHouse.
  for (const link of state.links) pipeline.set(identityCacheKey(link.workspaceId, link.identityKey), link.personId);
  try {
    await pipeline.exec();
  } catch (error) {
    console.warn(JSON.stringify({ level: 'warn', msg: 'mark_seen_failed', error: String(error) }));
  }
}

export const insertBatchStep: Step = {
  name: 'insert_batch',
  async run({ items, state, deps }) {
    const stored = items.filter((item): item is PipelineItem & { row: EventRow } => item.row !== undefined);
    await insertIdentityChanges(deps, state);
    if (stored.length > 0) {
      const started = performance.now();
      await deps.clickhouse.insert({ table: EVENTS_TABLE, format: 'JSONEachRow', values: stored.map((item) => item.row) });
      state.eventsInsertMs = performance.now() - started;
    }
    state.stored.push(...stored);
    await markSeenAndCacheLinks(deps, state, stored);
  },
};
