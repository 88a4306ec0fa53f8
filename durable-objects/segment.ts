/**
 * One shard of one segment: per-person state and membership in the object's SQLite, updated by
 * the events consumer (one call per batch with this shard's share of the events and identity
 * merges) and by time (alarms), built at creation from ClickHouse history (a back-fill run by
 * shard 0 in alarm steps, handing each shard its persons). The engine (lib/segments/engine.ts)
 * decides; this object keeps state, deduplicates, and reports or queues the changes.
 *
 * - Idempotent: every applied messageId is kept (`seen`, SEEN_RETENTION_MS), so a redelivered
 *   batch, or history the back-fill reads again, changes nothing.
 * - Event time: windows and late, out-of-order events are handled by the engine on effective
 *   times; an alarm fires at the earliest moment a person's membership may change without a new
 *   event (a window dropping an event, "did not do X in N days" coming true).
 * - A redefinition (new version) keeps the old members, rebuilds from history, then reports
 *   the difference (exits and entries, cause `definition`).
 * - Changes are never lost between deciding and telling: each one is written to `outbox` in the
 *   same storage transaction as the membership it reports, then queued as `Segment Entered` /
 *   `Exited` events; what the queue refused stays in the outbox and the alarm sends it again.
 *   What the queue took is announced to the workspace's live room at once (`received`), so the
 *   dashboard shows the change without waiting for the events' own pass through the queue.
 * - Back-fill without a gap: consumers learn of a new segment within their workspace profile
 *   cache TTL, so after reading the history the back-fill waits until `settleMs` after it was
 *   configured and reads again everything stored since then; only then does it go active.
 * - A deleted segment leaves a tombstone, so a late or retried call can never bring it back.
 */
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import { createClickHouse } from '../lib/clickhouse';
import { queryRows, uint64 } from '../lib/event-queries';
import { segmentBackfillQuery, type BackfillCursor } from '../lib/segment-queries';
import { applyEvent, compileSegment, emptyState, isMember, mergeStates, nextChangeAt, type CompiledSegment, type PersonState } from '../lib/segments/engine';
import { queueMembershipEvents } from '../lib/segments/membership-events';
import { announceToLiveFeed } from './live-feed-publish';
import { membershipChangeSchema } from '../lib/segments/routing';
import { segmentObjectName, shardOf } from '../lib/segments/shards';
import type { JsonValue } from '../schema/event';
import type { ActiveSegment, MembershipChange, SegmentEvent, SegmentStatus } from '../schema/segments';

export const SEEN_RETENTION_MS = 8 * 86_400_000;
export const BACKFILL_PAGE = 5000;
const OUTBOX_RETRY_MS = 10_000;
const OUTBOX_BATCH = 500;

export interface SegmentConfig extends ActiveSegment {
  workspaceId: string;
  shard: number;
  /**
   * How long after configuration every consumer is sure to offer this segment its events
   * (their profile cache TTL plus the longest a batch takes): the back-fill reads what was
   * stored until then a second time.
   */
  settleMs: number;
}

/** What configure answers: the shard's status, or that the segment was deleted. */
export type ShardStatus = SegmentStatus | 'deleted';

export interface EvaluateInput {
  config: SegmentConfig;
  events: SegmentEvent[];
  /** Identity merges whose two persons are both held by this shard. */
  merges: { from: string; to: string }[];
  /** Persons moved here from another shard (exported there first). */
  imports: { personId: string; state: PersonState }[];
}

export interface EvaluateResult {
  changes: MembershipChange[];
  status: ShardStatus;
  applied: number;
  duplicates: number;
}

export interface SegmentShardStats {
  version: number | null;
  status: ShardStatus | null;
  persons: number;
  members: number;
  /** Changes decided but not yet queued (the queue refused them; the alarm retries). */
  outbox: number;
}

export interface PersonMembership {
  member: boolean;
  /** When the current membership began (ms), null when the person is not known here. */
  since: number | null;
}

const configSchema = z.custom<SegmentConfig>((value) => typeof value === 'object' && value !== null && 'id' in value && 'condition' in value);
const cursorSchema = z.object({ insertedAt: z.number(), messageId: z.string() });
const backfillRow = z.object({
  person: z.string(),
  message_id: z.string(),
  type: z.string(),
  event: z.string(),
  at: uint64,
  inserted_at: uint64,
  session_id: z.string(),
  property_keys: z.array(z.string()),
  property_values: z.array(z.string()),
  trait_keys: z.array(z.string()),
  trait_values: z.array(z.string()),
});
type BackfillRow = z.output<typeof backfillRow>;

function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** A back-fill row as the consumer would have sent the event (property values are text there). */
export function eventFromRow(row: BackfillRow): SegmentEvent {
  const properties: Record<string, JsonValue> = {};
  row.property_keys.forEach((key, index) => Object.defineProperty(properties, key, { value: row.property_values[index] === 'null' ? null : (row.property_values[index] ?? null), enumerable: true, writable: true, configurable: true }));
  const traits: Record<string, JsonValue> = {};
  row.trait_keys.forEach((key, index) => Object.defineProperty(traits, key, { value: parseJson(row.trait_values[index] ?? 'null'), enumerable: true, writable: true, configurable: true }));
  return { messageId: row.message_id, personId: row.person, type: row.type, event: row.event || null, at: row.at, sessionId: row.session_id || null, properties, traits };
}

type PersonRow = {
  person: string;
  state: string;
  member: number;
};

export class SegmentShard extends DurableObject<Env> {
  private compiled: CompiledSegment | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    sql.exec('CREATE TABLE IF NOT EXISTS persons (person TEXT PRIMARY KEY, state TEXT NOT NULL, member INTEGER NOT NULL DEFAULT 0, changed_at INTEGER, next_change_at INTEGER)');
    sql.exec('CREATE INDEX IF NOT EXISTS persons_next_change ON persons (next_change_at)');
    sql.exec('CREATE INDEX IF NOT EXISTS persons_members ON persons (member, person)');
    sql.exec('CREATE TABLE IF NOT EXISTS seen (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL)');
    sql.exec('CREATE INDEX IF NOT EXISTS seen_at ON seen (at)');
    sql.exec('CREATE TABLE IF NOT EXISTS previous_members (person TEXT PRIMARY KEY)');
    sql.exec('CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT NOT NULL)');
  }

  private meta(key: string): string | null {
    return this.ctx.storage.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0]?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.ctx.storage.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  private config(): SegmentConfig | null {
    const stored = this.meta('config');
    const parsed = stored === null ? null : configSchema.safeParse(JSON.parse(stored));
    return parsed?.success ? parsed.data : null;
  }

  private status(): ShardStatus | null {
    const status = this.meta('status');
    return status === 'active' || status === 'backfilling' || status === 'deleted' ? status : null;
  }

  private compiledFor(config: SegmentConfig): CompiledSegment {
    if (!this.compiled || this.compiled.segment.version !== config.version || this.compiled.segment.id !== config.id) this.compiled = compileSegment(config);
    return this.compiled;
  }

  /**
   * Takes a (newer) definition. The first one, or a new version, starts a back-fill: a new
   * version first keeps today's members to report the difference when the rebuild is done.
   * The same version again only refreshes what does not change membership (the name).
   */
  async configure(config: SegmentConfig): Promise<ShardStatus> {
    if (this.status() === 'deleted') return 'deleted';
    const current = this.config();
    if (current && current.version > config.version) return this.status() ?? 'active';
    if (current && current.version === config.version) {
      if (current.name !== config.name) this.setMeta('config', JSON.stringify({ ...current, name: config.name }));
      return this.status() ?? 'active';
    }
    const sql = this.ctx.storage.sql;
    if (current) {
      sql.exec('DELETE FROM previous_members');
      sql.exec('INSERT INTO previous_members (person) SELECT person FROM persons WHERE member = 1');
      sql.exec('DELETE FROM persons');
      sql.exec('DELETE FROM seen');
    }
    this.setMeta('config', JSON.stringify(config));
    this.setMeta('status', 'backfilling');
    this.setMeta('configured_at', String(Date.now()));
    this.setMeta('backfill_cursor', 'null');
    this.setMeta('backfill_pass', 'history');
    this.compiled = null;
    // Shard 0 reads the history for every shard; its alarm steps through it.
    if (config.shard === 0) await this.ctx.storage.setAlarm(Date.now());
    return 'backfilling';
  }

  private loadPersons(ids: readonly string[]): Map<string, PersonRow> {
    const rows = new Map<string, PersonRow>();
    const sql = this.ctx.storage.sql;
    for (let start = 0; start < ids.length; start += 90) {
      const chunk = ids.slice(start, start + 90);
      for (const row of sql.exec<PersonRow>(`SELECT person, state, member FROM persons WHERE person IN (${chunk.map(() => '?').join(', ')})`, ...chunk)) rows.set(row.person, row);
    }
    return rows;
  }

  private stateOf(rows: Map<string, PersonRow>, states: Map<string, PersonState>, person: string): PersonState {
    let state = states.get(person);
    if (!state) {
      const row = rows.get(person);
      state = row ? (JSON.parse(row.state) as PersonState) : emptyState();
      states.set(person, state);
    }
    return state;
  }

  /** Marks ids applied; returns the ones not applied before. */
  private firstTime(events: readonly SegmentEvent[], now: number): SegmentEvent[] {
    const sql = this.ctx.storage.sql;
    return events.filter((event) => sql.exec('INSERT INTO seen (message_id, at) VALUES (?, ?) ON CONFLICT (message_id) DO NOTHING', event.messageId, now).rowsWritten > 0);
  }

  /** Writes states back and decides membership for `decide` (when active); returns the changes, already in the outbox. */
  private settle(compiled: CompiledSegment, rows: Map<string, PersonRow>, states: Map<string, PersonState>, decide: boolean, deciding: Map<string, string>, cause: MembershipChange['cause'], now: number): MembershipChange[] {
    const sql = this.ctx.storage.sql;
    const changes: MembershipChange[] = [];
    const { segment } = compiled;
    for (const [person, state] of states) {
      const wasMember = (rows.get(person)?.member ?? 0) === 1;
      const member = decide ? isMember(compiled, state, now) : wasMember;
      if (member !== wasMember) changes.push({ segmentId: segment.id, segmentName: segment.name, version: segment.version, personId: person, kind: member ? 'entered' : 'exited', at: now, decidingMessageId: deciding.get(person) ?? null, cause });
      sql.exec(
        'INSERT INTO persons (person, state, member, changed_at, next_change_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (person) DO UPDATE SET state = excluded.state, member = excluded.member, changed_at = CASE WHEN persons.member != excluded.member THEN excluded.changed_at ELSE persons.changed_at END, next_change_at = excluded.next_change_at',
        person,
        JSON.stringify(state),
        member ? 1 : 0,
        now,
        nextChangeAt(compiled, state, now),
      );
    }
    this.toOutbox(changes);
    return changes;
  }

  private toOutbox(changes: readonly MembershipChange[]): void {
    for (const change of changes) this.ctx.storage.sql.exec('INSERT INTO outbox (change) VALUES (?)', JSON.stringify(change));
  }

  /** Queues what the outbox holds as membership events; what the queue refuses waits for the alarm. */
  private async flushOutbox(workspaceId: string): Promise<void> {
    const sql = this.ctx.storage.sql;
    for (;;) {
      const rows = sql.exec<{ id: number; change: string }>('SELECT id, change FROM outbox ORDER BY id LIMIT ?', OUTBOX_BATCH).toArray();
      if (rows.length === 0) return;
      const changes = rows.flatMap((row) => {
        const parsed = membershipChangeSchema.safeParse(JSON.parse(row.change));
        return parsed.success ? [parsed.data] : [];
      });
      try {
        const queued = await queueMembershipEvents(this.env.EVENTS, workspaceId, changes, Date.now());
        // Visible on the live feed now, as the edge does for accepted events; stored after their own pass through the queue.
        this.ctx.waitUntil(announceToLiveFeed(this.env, workspaceId, queued, 'segment_live_announce'));
      } catch (error) {
        console.warn(JSON.stringify({ level: 'warn', msg: 'segment_outbox_queue_failed', workspaceId, pending: rows.length, error: String(error) }));
        const retryAt = Date.now() + OUTBOX_RETRY_MS;
        const current = await this.ctx.storage.getAlarm();
        if (current === null || current > retryAt) await this.ctx.storage.setAlarm(retryAt);
        return;
      }
      const last = rows.at(-1);
      if (last) sql.exec('DELETE FROM outbox WHERE id <= ?', last.id);
      if (rows.length < OUTBOX_BATCH) return;
    }
  }

  private async scheduleAlarm(): Promise<void> {
    const next = this.ctx.storage.sql.exec<{ next: number | null }>('SELECT MIN(next_change_at) AS next FROM persons WHERE next_change_at IS NOT NULL').toArray()[0]?.next ?? null;
    const current = await this.ctx.storage.getAlarm();
    const status = this.status();
    if (status === 'deleted' || (status === 'backfilling' && this.config()?.shard === 0)) return;
    const pending = (this.ctx.storage.sql.exec<{ pending: number }>('SELECT COUNT(*) AS pending FROM outbox').toArray()[0]?.pending ?? 0) > 0;
    const due = pending ? Math.min(next ?? Infinity, Date.now() + OUTBOX_RETRY_MS) : next;
    if (due !== null && Number.isFinite(due) && (current === null || due < current)) await this.ctx.storage.setAlarm(due);
  }

  /** RPC from the consumer: this shard's share of a batch. */
  async evaluate(input: EvaluateInput): Promise<EvaluateResult> {
    if ((await this.configure(input.config)) === 'deleted') return { changes: [], status: 'deleted', applied: 0, duplicates: input.events.length };
    const config = this.config() ?? input.config;
    const compiled = this.compiledFor(config);
    const now = Date.now();
    const status = this.status() ?? 'backfilling';
    const fresh = this.firstTime(input.events, now);
    const persons = [...new Set([...input.merges.flatMap((merge) => [merge.from, merge.to]), ...input.imports.map((entry) => entry.personId), ...fresh.map((event) => event.personId)])];
    const rows = this.loadPersons(persons);
    const states = new Map<string, PersonState>();
    const changes: MembershipChange[] = [];
    for (const { personId, state } of input.imports) states.set(personId, mergeStates(compiled, this.stateOf(rows, states, personId), state, now));
    for (const { from, to } of input.merges) {
      if (from === to || !rows.has(from)) continue;
      const moved = this.stateOf(rows, states, from);
      changes.push(...this.removePerson(compiled, rows, from, status, now));
      states.delete(from);
      states.set(to, mergeStates(compiled, this.stateOf(rows, states, to), moved, now));
    }
    const deciding = new Map<string, string>();
    const byTime = [...fresh].sort((a, b) => a.at - b.at || (a.messageId < b.messageId ? -1 : 1));
    for (const event of byTime) {
      states.set(event.personId, applyEvent(compiled, this.stateOf(rows, states, event.personId), event, now));
      deciding.set(event.personId, event.messageId);
    }
    changes.push(...this.settle(compiled, rows, states, status === 'active', deciding, 'event', now));
    await this.flushOutbox(config.workspaceId);
    await this.scheduleAlarm();
    return { changes, status, applied: fresh.length, duplicates: input.events.length - fresh.length };
  }

  private removePerson(compiled: CompiledSegment, rows: Map<string, PersonRow>, person: string, status: ShardStatus, now: number): MembershipChange[] {
    const wasMember = (rows.get(person)?.member ?? 0) === 1;
    this.ctx.storage.sql.exec('DELETE FROM persons WHERE person = ?', person);
    if (!wasMember || status !== 'active') return [];
    const { segment } = compiled;
    const exit: MembershipChange = { segmentId: segment.id, segmentName: segment.name, version: segment.version, personId: person, kind: 'exited', at: now, decidingMessageId: null, cause: 'merge' };
    this.toOutbox([exit]);
    return [exit];
  }

  /** RPC from the consumer: persons merged into a person of another shard leave here (with their exit) and their state goes there. */
  async exportPersons(config: SegmentConfig, personIds: string[]): Promise<{ exported: { personId: string; state: PersonState }[]; changes: MembershipChange[] }> {
    if ((await this.configure(config)) === 'deleted') return { exported: [], changes: [] };
    const compiled = this.compiledFor(this.config() ?? config);
    const rows = this.loadPersons(personIds);
    const now = Date.now();
    const status = this.status() ?? 'backfilling';
    const exported: { personId: string; state: PersonState }[] = [];
    const changes: MembershipChange[] = [];
    for (const [person, row] of rows) {
      exported.push({ personId: person, state: JSON.parse(row.state) as PersonState });
      changes.push(...this.removePerson(compiled, rows, person, status, now));
    }
    await this.flushOutbox(config.workspaceId);
    await this.scheduleAlarm();
    return { exported, changes };
  }

  /** RPC from shard 0 during a back-fill: history for this shard's persons (applied, not yet decided). */
  async ingestBackfill(config: SegmentConfig, events: SegmentEvent[]): Promise<void> {
    if ((await this.configure(config)) === 'deleted') return;
    const compiled = this.compiledFor(this.config() ?? config);
    const now = Date.now();
    const fresh = this.firstTime(events, now);
    const rows = this.loadPersons([...new Set(fresh.map((event) => event.personId))]);
    const states = new Map<string, PersonState>();
    for (const event of fresh) states.set(event.personId, applyEvent(compiled, this.stateOf(rows, states, event.personId), event, now));
    this.settle(compiled, rows, states, false, new Map(), 'backfill', now);
  }

  /** RPC from shard 0: the history is in; decide every person, report what changed (queued as events), start the alarms. */
  async finishBackfill(config: SegmentConfig): Promise<MembershipChange[]> {
    if ((await this.configure(config)) === 'deleted') return [];
    const current = this.config() ?? config;
    if (current.version !== config.version || this.status() === 'active') return [];
    const compiled = this.compiledFor(current);
    const now = Date.now();
    const sql = this.ctx.storage.sql;
    const rows = new Map<string, PersonRow>();
    for (const row of sql.exec<PersonRow>('SELECT person, state, member FROM persons')) rows.set(row.person, row);
    const previous = new Set(sql.exec<{ person: string }>('SELECT person FROM previous_members').toArray().map((row) => row.person));
    const states = new Map([...rows].map(([person, row]) => [person, JSON.parse(row.state) as PersonState]));
    // Today's members start from the old definition's, so the change is reported as a difference.
    for (const row of rows.values()) row.member = previous.has(row.person) ? 1 : 0;
    const cause: MembershipChange['cause'] = previous.size > 0 || current.version > 1 ? 'definition' : 'backfill';
    const changes = this.settle(compiled, rows, states, true, new Map(), cause, now);
    const gone: MembershipChange[] = [...previous]
      .filter((person) => !rows.has(person))
      .map((person) => ({ segmentId: current.id, segmentName: current.name, version: current.version, personId: person, kind: 'exited', at: now, decidingMessageId: null, cause }));
    this.toOutbox(gone);
    sql.exec('DELETE FROM previous_members');
    this.setMeta('status', 'active');
    await this.flushOutbox(current.workspaceId);
    await this.scheduleAlarm();
    return [...changes, ...gone];
  }

  /**
   * One page of history (shard 0): read, hand each shard its persons. After the last page of
   * the history pass, a second pass (from shortly before configuration) waits until every
   * consumer offers this segment its events, then reads what was stored meanwhile; after its
   * last page every shard decides.
   */
  private async backfillStep(config: SegmentConfig): Promise<void> {
    const configuredAt = Number(this.meta('configured_at') ?? Date.now());
    const pass = this.meta('backfill_pass') === 'catch_up' ? 'catch_up' : 'history';
    const stored = this.meta('backfill_cursor');
    const cursor: BackfillCursor | null = stored && stored !== 'null' ? cursorSchema.parse(JSON.parse(stored)) : null;
    const client = createClickHouse(this.env, { timeoutMs: 30_000 });
    let rows: BackfillRow[];
    try {
      rows = await queryRows(client, segmentBackfillQuery(config.workspaceId, config, configuredAt, cursor, BACKFILL_PAGE), backfillRow);
    } finally {
      await client.close();
    }
    const byShard = new Map<number, SegmentEvent[]>();
    for (const row of rows) {
      const event = eventFromRow(row);
      const shard = shardOf(event.personId, config.shards);
      byShard.set(shard, [...(byShard.get(shard) ?? []), event]);
    }
    await Promise.all([...byShard].map(([shard, events]) => (shard === config.shard ? this.ingestBackfill(config, events) : this.shardStub(config, shard).ingestBackfill({ ...config, shard }, events))));
    const last = rows.at(-1);
    if (last) this.setMeta('backfill_cursor', JSON.stringify({ insertedAt: last.inserted_at, messageId: last.message_id }));
    if (rows.length === BACKFILL_PAGE) {
      await this.ctx.storage.setAlarm(Date.now());
      return;
    }
    if (pass === 'history') {
      // Re-read from a little before configuration: inserted_at has whole seconds, and what is read twice is applied once.
      this.setMeta('backfill_pass', 'catch_up');
      this.setMeta('backfill_cursor', JSON.stringify({ insertedAt: Math.floor(configuredAt / 1000) * 1000 - 2000, messageId: '' }));
      await this.ctx.storage.setAlarm(Math.max(Date.now(), configuredAt + config.settleMs));
      return;
    }
    for (let shard = 0; shard < config.shards; shard++) {
      if (shard === config.shard) await this.finishBackfill(config);
      else await this.shardStub(config, shard).finishBackfill({ ...config, shard });
    }
  }

  private shardStub(config: SegmentConfig, shard: number): DurableObjectStub<SegmentShard> {
    return this.env.SEGMENTS.getByName(segmentObjectName(config.workspaceId, config.id, shard));
  }

  override async alarm(): Promise<void> {
    const config = this.config();
    if (!config || this.status() === 'deleted') return;
    await this.flushOutbox(config.workspaceId);
    if (this.status() === 'backfilling') {
      if (config.shard === 0) await this.backfillStep(config);
      return;
    }
    const now = Date.now();
    const compiled = this.compiledFor(config);
    const sql = this.ctx.storage.sql;
    const rows = new Map<string, PersonRow>();
    for (const row of sql.exec<PersonRow>('SELECT person, state, member FROM persons WHERE next_change_at IS NOT NULL AND next_change_at <= ? LIMIT 5000', now)) rows.set(row.person, row);
    const states = new Map([...rows].map(([person, row]) => [person, JSON.parse(row.state) as PersonState]));
    this.settle(compiled, rows, states, true, new Map(), 'time', now);
    sql.exec('DELETE FROM seen WHERE at < ?', now - SEEN_RETENTION_MS);
    await this.flushOutbox(config.workspaceId);
    await this.scheduleAlarm();
  }

  /** Members of this shard, in person order after `after`. */
  members(after: string | null, limit: number): string[] {
    return this.ctx.storage.sql
      .exec<{ person: string }>('SELECT person FROM persons WHERE member = 1 AND person > ? ORDER BY person LIMIT ?', after ?? '', limit)
      .toArray()
      .map((row) => row.person);
  }

  membership(person: string): PersonMembership {
    const row = this.ctx.storage.sql.exec<{ member: number; changed_at: number | null }>('SELECT member, changed_at FROM persons WHERE person = ?', person).toArray()[0];
    return { member: row?.member === 1, since: row?.changed_at ?? null };
  }

  stats(): SegmentShardStats {
    const sql = this.ctx.storage.sql;
    const counts = sql.exec<{ persons: number; members: number | null }>('SELECT COUNT(*) AS persons, SUM(member) AS members FROM persons').toArray()[0];
    const outbox = sql.exec<{ pending: number }>('SELECT COUNT(*) AS pending FROM outbox').toArray()[0]?.pending ?? 0;
    return { version: this.config()?.version ?? null, status: this.status(), persons: counts?.persons ?? 0, members: counts?.members ?? 0, outbox };
  }

  /**
   * RPC from a person deletion (consumers/deletions.ts): these persons' state and membership are
   * forgotten without an exit event (a `Segment Exited` event would store the person again), and
   * changes about them still waiting in the outbox are dropped. Returns how many persons it held.
   */
  forgetPersons(personIds: string[]): number {
    const sql = this.ctx.storage.sql;
    let forgotten = 0;
    for (const person of new Set(personIds)) {
      forgotten += sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM persons WHERE person = ?', person).one().n;
      sql.exec('DELETE FROM persons WHERE person = ?', person);
      sql.exec('DELETE FROM previous_members WHERE person = ?', person);
    }
    const wanted = new Set(personIds);
    for (const row of sql.exec<{ id: number; change: string }>('SELECT id, change FROM outbox').toArray()) {
      const change = membershipChangeSchema.safeParse(JSON.parse(row.change));
      if (change.success && wanted.has(change.data.personId)) sql.exec('DELETE FROM outbox WHERE id = ?', row.id);
    }
    return forgotten;
  }

  /** The segment was deleted: forget every person, keep a tombstone so no late call revives it. */
  async destroy(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    const sql = this.ctx.storage.sql;
    for (const table of ['persons', 'seen', 'previous_members', 'outbox', 'meta']) sql.exec(`DELETE FROM ${table}`);
    this.setMeta('status', 'deleted');
    this.compiled = null;
  }
}
