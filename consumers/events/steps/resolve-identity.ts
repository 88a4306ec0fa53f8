/**
 * Step 3: identity resolution. Gives every event a `person_id` (best known at ingest time)
 * and collects new identity links for the insert step.
 *
 * Model: an identity is `user:<userId>` or `anonymous:<anonymousId>`; a person's id is the
 * key of its root identity, so an unlinked identity is its own person.
 * Rules (applied in event-time order, links of the whole batch before persons are assigned):
 * - an event carrying both userId and anonymousId (identify, or any other type) links the
 *   anonymous id to the user's person;
 * - `alias` links previousId (as a user id and as an anonymous id) to the userId's person:
 *   the one explicit way to merge two user identities;
 * - a link is written once: an identity already linked to ANOTHER person is never moved
 *   and two identified users are never merged silently. The attempt is recorded in
 *   `identity_conflicts` (shown by GET /v1/persons/:id) and the event keeps its own
 *   user's person.
 * Reads (events by person) resolve through the identity map again, so events from before
 * a link (the anonymous period) belong to the person too.
 * Lookup: Redis cache first (`monfri:identity:<ws>:<key>`, read by the dedup step's MGET for
 * the batch's own keys), ClickHouse `identities FINAL` for misses. Links are cached (no TTL)
 * only after the insert succeeded. Keys ClickHouse does not know are cached as NOT_LINKED
 * for a few minutes (SET NX, so a link written meanwhile is never hidden; a new link
 * overwrites the marker, and the batch's closing pipeline writes markers before links):
 * without it every batch with a new id would query ClickHouse. Worst case (consumer died
 * between the ClickHouse insert of a link and its cache write) events get the unlinked
 * person for NOT_LINKED_TTL; reads resolve through the identity table, so queries still
 * see the right person.
 */
import { z } from 'zod';
import { anonymousKey, lookupIdentitiesQuery, queryRows, userKey } from '../../../lib/event-queries';
import { withRedisDeadline } from '../../../lib/redis';
import type { CollectedEvent } from '../../../schema/event';
import type { BatchState, IdentityLink, PipelineDeps, PipelineItem, Step } from '../types';

const MAX_HOPS = 4;
export const NOT_LINKED = '-';
const NOT_LINKED_TTL_SECONDS = 300;

export function identityCacheKey(workspaceId: string, identityKey: string): string {
  return `monfri:identity:${workspaceId}:${identityKey}`;
}

function identityKeysOf(event: CollectedEvent): string[] {
  const keys: string[] = [];
  if (event.userId) keys.push(userKey(event.userId));
  if (event.anonymousId) keys.push(anonymousKey(event.anonymousId));
  if (event.type === 'alias' && event.previousId) keys.push(userKey(event.previousId), anonymousKey(event.previousId));
  return keys;
}

/** The cache keys this step will look up first for `event` (the dedup step reads them in its MGET). */
export function identityCacheKeysOf(event: CollectedEvent): string[] {
  return identityKeysOf(event).map((key) => identityCacheKey(event.workspaceId, key));
}

/** Cached answers: a person id, or NOT_LINKED (ClickHouse recently had no link). Prefetched answers first, one MGET for the rest. */
async function fromCache(deps: PipelineDeps, state: BatchState, workspaceId: string, keys: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const unread: string[] = [];
  for (const key of keys) {
    const cacheKey = identityCacheKey(workspaceId, key);
    if (!state.redisReads.has(cacheKey)) unread.push(key);
    const person = state.redisReads.get(cacheKey);
    if (typeof person === 'string') found.set(key, person);
  }
  if (!deps.redis || unread.length === 0) return found;
  try {
    const values = await withRedisDeadline(deps.redis.mget<(string | null)[]>(...unread.map((key) => identityCacheKey(workspaceId, key))));
    unread.forEach((key, index) => {
      const person = values[index];
      if (typeof person === 'string') found.set(key, person);
    });
  } catch (error) {
    deps.redisDegradation?.record('identity_read');
    console.warn(JSON.stringify({ level: 'warn', msg: 'identity_cache_unavailable', error: String(error) }));
  }
  return found;
}

/** Queued for the batch's closing pipeline: nothing on the way to the insert waits for it. */
function cacheNotLinked(state: BatchState, workspaceId: string, keys: string[]): void {
  if (keys.length === 0) return;
  state.redisWrites.push((pipeline) => {
    for (const key of keys) pipeline.set(identityCacheKey(workspaceId, key), NOT_LINKED, { nx: true, ex: NOT_LINKED_TTL_SECONDS });
  });
}

async function fromClickHouse(deps: PipelineDeps, workspaceId: string, keys: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (keys.length === 0) return found;
  const rows = await queryRows(deps.clickhouse, lookupIdentitiesQuery(workspaceId, keys), z.object({ identity_key: z.string(), person_id: z.string() }));
  for (const row of rows) found.set(row.identity_key, row.person_id);
  return found;
}

/** Known links for `keys`, plus the links of the persons they point to (alias chains). */
async function loadLinks(deps: PipelineDeps, state: BatchState, workspaceId: string, keys: string[]): Promise<Map<string, string>> {
  const known = new Map<string, string>();
  const asked = new Set<string>();
  let pending = [...new Set(keys)];
  for (let hop = 0; hop < MAX_HOPS && pending.length > 0; hop++) {
    pending.forEach((key) => asked.add(key));
    const cached = await fromCache(deps, state, workspaceId, pending);
    const misses = pending.filter((key) => !cached.has(key));
    const stored = await fromClickHouse(deps, workspaceId, misses);
    cacheNotLinked(state, workspaceId, misses.filter((key) => !stored.has(key)));
    for (const [key, person] of [...cached, ...stored]) if (person !== NOT_LINKED) known.set(key, person);
    pending = [...new Set([...known.values()])].filter((person) => !asked.has(person));
  }
  return known;
}

/** The identity map of one workspace while a batch is resolved: known links plus the batch's own. */
class IdentityMap {
  constructor(
    private readonly workspaceId: string,
    private readonly known: Map<string, string>,
    private readonly state: BatchState,
  ) {}

  resolve(key: string): string {
    let person = key;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const next = this.known.get(person);
      if (next === undefined || next === person) break;
      person = next;
    }
    return person;
  }

  link(key: string, person: string, source: IdentityLink['source'], event: CollectedEvent, nowMs: number): void {
    const current = this.resolve(key);
    if (current === person) return;
    if (current !== key) {
      this.state.conflicts.push({ workspaceId: this.workspaceId, identityKey: key, existingPersonId: current, claimedPersonId: person, messageId: event.messageId, detectedAtMs: nowMs });
      return;
    }
    this.known.set(key, person);
    this.state.links.push({ workspaceId: this.workspaceId, identityKey: key, personId: person, source, messageId: event.messageId, linkedAtMs: nowMs });
  }
}

function applyLinks(map: IdentityMap, event: CollectedEvent, nowMs: number): void {
  if (!event.userId) return;
  const person = map.resolve(userKey(event.userId));
  if (event.type === 'alias' && event.previousId) {
    map.link(userKey(event.previousId), person, 'alias', event, nowMs);
    map.link(anonymousKey(event.previousId), person, 'alias', event, nowMs);
  }
  if (event.anonymousId) map.link(anonymousKey(event.anonymousId), person, event.type === 'identify' ? 'identify' : 'event', event, nowMs);
}

function personOf(map: IdentityMap, event: CollectedEvent): string {
  if (event.userId) return map.resolve(userKey(event.userId));
  if (event.anonymousId) return map.resolve(anonymousKey(event.anonymousId));
  // The edge requires one of the ids; a row without either still gets a stable person.
  return `message:${event.messageId}`;
}

function byEventTime(a: PipelineItem, b: PipelineItem): number {
  return Date.parse(a.event?.timestamp ?? '') - Date.parse(b.event?.timestamp ?? '') || Date.parse(a.event?.receivedAt ?? '') - Date.parse(b.event?.receivedAt ?? '');
}

export const resolveIdentityStep: Step = {
  name: 'resolve_identity',
  async run({ items, state, deps }) {
    const byWorkspace = new Map<string, PipelineItem[]>();
    for (const item of items) {
      if (!item.event) continue;
      const list = byWorkspace.get(item.event.workspaceId) ?? [];
      list.push(item);
      byWorkspace.set(item.event.workspaceId, list);
    }
    for (const [workspaceId, workspaceItems] of byWorkspace) {
      const keys = workspaceItems.flatMap((item) => (item.event ? identityKeysOf(item.event) : []));
      const map = new IdentityMap(workspaceId, await loadLinks(deps, state, workspaceId, keys), state);
      const ordered = [...workspaceItems].sort(byEventTime);
      // Links of the whole batch first, so an anonymous event in the same batch as its identify already gets the user's person.
      for (const item of ordered) if (item.event) applyLinks(map, item.event, deps.now());
      for (const item of ordered) if (item.event) item.personId = personOf(map, item.event);
    }
  },
};
