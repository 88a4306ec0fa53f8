/**
 * Step 5: store. ONE `INSERT INTO events FORMAT JSONEachRow` for the whole batch, sent
 * together with the batch's new identity links and conflicts (independent tables, so the
 * inserts overlap). What a failure means depends on what ClickHouse said
 * (lib/clickhouse-errors.ts):
 * - unavailable (down, timeout, overload, schema behind): the step throws and the runner
 *   retries every message of the batch with backoff; after the queue's max_retries they reach
 *   the dead-letter queue (nothing is lost; a half-done retry's rows are ReplacingMergeTree
 *   duplicates).
 * - it refused the data: the refused rows are isolated by splitting the batch in halves and
 *   inserting each (bounded: MAX_ISOLATION_INSERTS per batch), the rest is stored at once,
 *   and only the refused rows are dead-lettered with ClickHouse's reason. One bad row never
 *   holds its siblings. If EVERY row of a batch of several is refused, the cause is not in the
 *   rows (e.g. a server setting): that is retried like an outage rather than dead-lettered.
 * Only stored rows are queued to be marked seen (see dedup.ts) and only after their insert
 * succeeded, with the identity links to be cached; the runner writes them when the batch
 * ends, so the live feed is not kept waiting for Redis.
 */
import { insertRetryingQuorum } from '../../../lib/clickhouse';
import { classifyInsertError, clickHouseReason } from '../../../lib/clickhouse-errors';
import { EVENTS_TABLE, IDENTITIES_TABLE, IDENTITY_CONFLICTS_TABLE } from '../../../lib/event-queries';
import { deadLetter, retry, type BatchState, type EventRow, type Outcome, type PipelineDeps, type PipelineItem, type Step } from '../types';
import { SEEN_TTL_SECONDS, seenKey } from './dedup';
import { identityCacheKey } from './resolve-identity';

/** Earliest link wins in ReplacingMergeTree(link_rank): the rank falls as time grows. */
const LINK_RANK_BASE = 2 ** 52;

/** Inserts one table of one batch may spend isolating refused rows: about 2·log2(n/k) per bad row, so several bad rows in 100. */
export const MAX_ISOLATION_INSERTS = 64;
/**
 * A batch of at least this many rows that ClickHouse refuses row by row has a cause outside
 * the rows; smaller ones (a lone poison event at low traffic) are dead-lettered as data.
 */
const SYSTEMIC_REFUSAL_MIN_ROWS = 4;

/** One JSONEachRow INSERT, or nothing when there are no rows. */
function insertRows<Row extends object>(deps: PipelineDeps, table: string, rows: readonly Row[]): Promise<unknown> {
  return rows.length > 0 ? insertRetryingQuorum(deps.clickhouse, { table, format: 'JSONEachRow', values: [...rows] }) : Promise.resolve();
}

/** What inserting a list with refused rows isolated came to. `outage` is set when ClickHouse stopped answering on the way. */
export interface IsolatedInsert<T> {
  stored: T[];
  refused: { item: T; reason: string }[];
  unresolved: T[];
  outage: unknown;
}

/**
 * Inserts `items`; when ClickHouse refuses the data, halves the list and tries each half,
 * down to single rows, until the budget is spent (what is left is `unresolved`, retried later).
 * An outage on the way stops it: whatever was not yet stored is `unresolved`.
 */
export async function insertIsolating<T>(insert: (items: T[]) => Promise<unknown>, items: T[], budget: { left: number }): Promise<IsolatedInsert<T>> {
  const result: IsolatedInsert<T> = { stored: [], refused: [], unresolved: [], outage: null };
  if (items.length === 0) return result;
  try {
    budget.left--;
    await insert(items);
    result.stored.push(...items);
    return result;
  } catch (error) {
    if (classifyInsertError(error) === 'unavailable') return { ...result, unresolved: [...items], outage: error };
    const [only] = items;
    if (items.length === 1 && only !== undefined) return { ...result, refused: [{ item: only, reason: clickHouseReason(error) }] };
    if (budget.left <= 0) return { ...result, unresolved: [...items], outage: null };
  }
  const middle = Math.ceil(items.length / 2);
  for (const half of [items.slice(0, middle), items.slice(middle)]) {
    if (result.outage !== null) {
      result.unresolved.push(...half);
      continue;
    }
    const part = await insertIsolating(insert, half, budget);
    result.stored.push(...part.stored);
    result.refused.push(...part.refused);
    result.unresolved.push(...part.unresolved);
    result.outage = part.outage;
  }
  return result;
}

function identityRows(state: BatchState): { links: object[]; conflicts: object[] } {
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
  return { links, conflicts };
}

/**
 * Identity rows are derived from the batch's events, not messages of their own: a row
 * ClickHouse refuses is logged and left out (its event is dead-lettered or stored on its own
 * merits); an outage fails the batch like an events outage.
 */
async function insertIdentityTable(deps: PipelineDeps, table: string, rows: object[], budget: { left: number }): Promise<void> {
  const result = await insertIsolating((part) => insertRows(deps, table, part), rows, budget);
  if (result.outage !== null) throw result.outage;
  if (result.unresolved.length > 0) throw new Error(`${table}: ${result.unresolved.length} rows left after ${MAX_ISOLATION_INSERTS} inserts`);
  for (const { reason } of result.refused) console.warn(JSON.stringify({ level: 'warn', msg: 'identity_row_refused', table, reason }));
}

type StoredItem = PipelineItem & { row: EventRow };

async function insertEvents(deps: PipelineDeps, state: BatchState, items: StoredItem[], budget: { left: number }): Promise<IsolatedInsert<StoredItem>> {
  let first = true;
  return insertIsolating(
    async (part) => {
      const started = performance.now();
      await insertRows(deps, EVENTS_TABLE, part.map((item) => item.row));
      // The number the benchmark compares with a raw insert: the batch's own, first insert.
      if (first) state.eventsInsertMs = performance.now() - started;
      first = false;
    },
    items,
    budget,
  );
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

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

export const insertBatchStep: Step = {
  name: 'insert_batch',
  async run({ items, state, deps }) {
    const rows = items.filter((item): item is StoredItem => item.row !== undefined);
    const { links, conflicts } = identityRows(state);
    const budget = (): { left: number } => ({ left: MAX_ISOLATION_INSERTS });
    // allSettled, then decide: a failed insert is only retried once its siblings finished (no insert outlives the batch).
    const [linkResult, conflictResult, eventResult] = await Promise.allSettled([
      insertIdentityTable(deps, IDENTITIES_TABLE, links, budget()),
      insertIdentityTable(deps, IDENTITY_CONFLICTS_TABLE, conflicts, budget()),
      insertEvents(deps, state, rows, budget()),
    ]);
    for (const result of [linkResult, conflictResult]) if (result.status === 'rejected') throw asError(result.reason);
    if (eventResult.status === 'rejected') throw asError(eventResult.reason);
    const events = eventResult.value;
    if (events.stored.length === 0 && events.refused.length === 0 && events.outage !== null) throw asError(events.outage);
    if (events.refused.length === rows.length && rows.length >= SYSTEMIC_REFUSAL_MIN_ROWS) {
      throw new Error(`ClickHouse refused every row of the batch, so the cause is not in the rows: ${events.refused[0]?.reason ?? ''}`);
    }
    const outcomes = new Map<PipelineItem, Outcome>();
    for (const { item, reason } of events.refused) outcomes.set(item, deadLetter(`clickhouse_refused: ${reason}`));
    const pending = events.outage === null ? 'clickhouse_isolation_budget_spent' : `clickhouse_unavailable: ${clickHouseReason(events.outage, 200)}`;
    for (const item of events.unresolved) outcomes.set(item, retry(pending));
    state.stored.push(...events.stored);
    queueMarkSeenAndCacheLinks(state, events.stored);
    return outcomes;
  },
};
