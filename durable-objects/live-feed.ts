/**
 * One live-event room per workspace (WebSocket Hibernation API). The edge calls `announce`
 * with the events the queue took (shown `received`); the consumer calls `broadcast` after the
 * ClickHouse insert with each event's outcome, which replaces the `received` item in place
 * (same seq), so the feed never waits for the queue or the insert. The room keeps the last
 * RING_SIZE outcomes in its own SQLite (received items wait in memory) so a new page is never
 * empty, and fans each batch out to the sockets whose filter matches. Everything between
 * reading the batch and the last `send` is synchronous, so the input gate keeps concurrent
 * batches in `seq` order on every socket.
 */
import { DurableObject } from 'cloudflare:workers';
import { z } from 'zod';
import { collectedEventSchema } from '../schema/event';
import { feedItemSchema, type FeedItem, type LiveFilter, type LiveItem, type LiveServerFrame } from '../schema/feed';
import { createRedis } from '../lib/redis';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../lib/stream';
import { receivedItemOf } from './live-feed-publish';

export const RING_SIZE = 1000;
export const DEFAULT_BACKFILL = 50;
export const MAX_BACKFILL = 200;
/**
 * What a socket may have un-acknowledged before it is skipped. workerd exposes no
 * `bufferedAmount`, so the client acks frames and the room counts bytes and frames in flight.
 */
export const MAX_UNACKED_BYTES = 1024 * 1024;
export const MAX_UNACKED_FRAMES = 1000;
/** Workspace id header the /v1/live route sets when it forwards an upgrade here. */
export const WORKSPACE_HEADER = 'x-monfri-workspace';
/** The verified ticket's nonce and expiry (epoch seconds), forwarded by the upgrade route. */
export const TICKET_NONCE_HEADER = 'x-monfri-ticket-nonce';
export const TICKET_EXPIRES_HEADER = 'x-monfri-ticket-expires';
/** The key the ticket was issued from, so revoking that key can close the socket (closeKeySockets). */
export const TICKET_KEY_HEADER = 'x-monfri-ticket-key';
/** Close code sent when the key behind a socket's ticket is revoked (4000-4999: application codes). */
export const KEY_REVOKED_CLOSE_CODE = 4001;
const TAG_ALL = 'all';
/** Tags are capped at 256 characters; the full filter is re-checked from the attachment. */
const TAG_VALUE_LENGTH = 200;

export interface BroadcastResult {
  seqFrom: number | null;
  seqTo: number | null;
  delivered: number;
  at: number;
}

interface SocketAttachment {
  id: string;
  filter: LiveFilter;
}

/** In-memory flow control; lost on hibernation, which only happens after the client went idle (so it has caught up). */
interface SocketFlow {
  /** Byte size of each sent, not yet acked frame, oldest first. */
  unackedSizes: number[];
  unackedBytes: number;
  dropping: boolean;
  dropped: number;
}

const attachmentSchema = z.object({
  id: z.string(),
  filter: z.object({ event: z.string().nullable(), person: z.string().nullable() }),
});

const clientFrameSchema = z.object({ type: z.literal('ack'), frames: z.number().int().min(1).max(10_000).optional() });

const streamEntriesSchema = z.array(z.tuple([z.string(), z.array(z.string())]));

export function eventTag(event: string): string {
  return `e:${event.slice(0, TAG_VALUE_LENGTH)}`;
}

export function personTag(person: string): string {
  return `p:${person.slice(0, TAG_VALUE_LENGTH)}`;
}

function keyTag(keyId: string): string {
  return `k:${keyId.slice(0, TAG_VALUE_LENGTH)}`;
}

function tagForFilter(filter: LiveFilter): string {
  if (filter.event !== null) return eventTag(filter.event);
  if (filter.person !== null) return personTag(filter.person);
  return TAG_ALL;
}

function personIdsOf(item: FeedItem): string[] {
  return [...new Set([item.personId, item.userId, item.anonymousId].filter((id): id is string => id !== null))];
}

export function matchesFilter(item: FeedItem, filter: LiveFilter): boolean {
  if (filter.event !== null && item.event !== filter.event) return false;
  if (filter.person !== null && !personIdsOf(item).includes(filter.person)) return false;
  return true;
}

export function filterFromUrl(url: URL): LiveFilter {
  const event = url.searchParams.get('event');
  const person = url.searchParams.get('person');
  return { event: event ? event : null, person: person ? person : null };
}

export function backfillLimitFromUrl(url: URL): number {
  const requested = Number(url.searchParams.get('backfill') ?? DEFAULT_BACKFILL);
  return Number.isInteger(requested) ? Math.min(MAX_BACKFILL, Math.max(0, requested)) : DEFAULT_BACKFILL;
}

export class LiveFeed extends DurableObject<Env> {
  private readonly flows = new Map<string, SocketFlow>();
  /**
   * `received` items waiting for their outcome, by messageId, in memory only: a storage write
   * would hold every frame of the broadcast until it is durable (the output gate), which is
   * the latency this step exists to avoid. Lost on eviction; the outcome then gets a seq of
   * its own. Bounded: an outage of the consumer cannot grow it past RING_SIZE.
   */
  private readonly awaitingOutcome = new Map<string, LiveItem>();
  private lastSeq: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(
      `CREATE TABLE IF NOT EXISTS feed_ring (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         event TEXT,
         user_id TEXT,
         anonymous_id TEXT,
         person_id TEXT,
         item TEXT NOT NULL
       )`,
    );
    // Rooms created before events arrived in two steps lack these; a received item is found by messageId.
    const columns = new Set(sql.exec<{ name: string }>('PRAGMA table_info(feed_ring)').toArray().map((column) => column.name));
    if (!columns.has('message_id')) sql.exec('ALTER TABLE feed_ring ADD COLUMN message_id TEXT');
    if (!columns.has('status')) sql.exec('ALTER TABLE feed_ring ADD COLUMN status TEXT');
    sql.exec('CREATE INDEX IF NOT EXISTS feed_ring_message ON feed_ring (message_id)');
    this.lastSeq = sql.exec<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM feed_ring').one().seq ?? 0;
    // Keep-alive pings are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS used_tickets (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)');
  }

  /**
   * A ticket opens one socket: its nonce is recorded until the ticket expires, and a second
   * upgrade with it is refused. Kept in the room's own storage, so it holds across isolates.
   */
  private consumeTicket(nonce: string, expiresAt: number): boolean {
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM used_tickets WHERE expires_at < ?', Math.floor(Date.now() / 1000));
    return sql.exec('INSERT INTO used_tickets (nonce, expires_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING', nonce, expiresAt).rowsWritten > 0;
  }

  /**
   * RPC from the consumer (outcomes; `announce` brings the edge's `received` items here too):
   * give each item its seq, then fan the batch out. A `received` item for a messageId the room
   * already knows is skipped (the outcome won the race, or a client retry); an outcome replaces
   * its pending `received` item and keeps its seq, so the dashboard updates the row instead of
   * adding one. Returns the seq range, how many sockets got a frame and when the room ran it
   * (epoch ms, for latency breakdowns).
   */
  broadcast(items: FeedItem[]): BroadcastResult {
    const at = Date.now();
    if (items.length === 0) return { seqFrom: null, seqTo: null, delivered: 0, at };
    const live = this.writeToRing(items);
    if (live.length === 0) return { seqFrom: null, seqTo: null, delivered: 0, at };
    // Sockets that match the same items share one encoded frame (with many viewers, most match everything).
    const frames = new Map<string, string>();
    let delivered = 0;
    for (const [socket, { attachment, items: socketItems }] of this.routeToSockets(live)) {
      const frame = (): string => {
        const key = socketItems.length === live.length ? '*' : socketItems.map((item) => item.seq).join(',');
        const text = frames.get(key) ?? JSON.stringify({ type: 'events', items: socketItems, at } satisfies LiveServerFrame);
        frames.set(key, text);
        return text;
      };
      if (this.sendEvents(socket, attachment, socketItems.length, frame)) delivered++;
    }
    return { seqFrom: live[0]?.seq ?? null, seqTo: live[live.length - 1]?.seq ?? null, delivered, at };
  }

  /** RPC from the admin API when a key is revoked: closes every socket opened with a ticket from it; returns how many. */
  closeKeySockets(keyId: string): number {
    const sockets = this.ctx.getWebSockets(keyTag(keyId));
    for (const socket of sockets) {
      this.forget(socket);
      try {
        socket.close(KEY_REVOKED_CLOSE_CODE, 'key_revoked');
      } catch {
        // Already closing.
      }
    }
    return sockets.length;
  }

  /**
   * RPC from the edge: the accepted events as the JSON it queued them with (a list of strings
   * costs the request a copy; objects would cost it a structured clone of every event),
   * shown as `received`. Events of another workspace are left out.
   */
  announce(workspaceId: string, events: string[]): BroadcastResult {
    const items: FeedItem[] = [];
    for (const json of events) {
      const parsed = collectedEventSchema.safeParse(parseJson(json));
      if (parsed.success && parsed.data.workspaceId === workspaceId) items.push(receivedItemOf(parsed.data));
    }
    return this.broadcast(items);
  }

  /** Number of open sockets, for tests and health. */
  connectionCount(): number {
    return this.ctx.getWebSockets().length;
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('expected a WebSocket upgrade', { status: 426 });
    const nonce = request.headers.get(TICKET_NONCE_HEADER);
    const expiresAt = Number(request.headers.get(TICKET_EXPIRES_HEADER));
    if (!nonce || !Number.isInteger(expiresAt) || !this.consumeTicket(nonce, expiresAt)) {
      return Response.json({ error: { code: 'ticket_used', message: 'This live-feed ticket has already opened a connection; request a new one.' } }, { status: 401 });
    }
    const url = new URL(request.url);
    const filter = filterFromUrl(url);
    const limit = backfillLimitFromUrl(url);
    let backfill = this.readRing(filter, limit);
    const workspaceId = request.headers.get(WORKSPACE_HEADER);
    if (backfill.length === 0 && limit > 0 && workspaceId) {
      const mirrored = await this.readStreamMirror(workspaceId, filter, limit);
      // A batch broadcast while Redis answered is in the ring now and must not be missed.
      const ringNow = this.readRing(filter, limit);
      backfill = ringNow.length > 0 ? ringNow : mirrored;
    }

    const { 0: client, 1: server } = new WebSocketPair();
    const attachment: SocketAttachment = { id: crypto.randomUUID(), filter };
    const keyId = request.headers.get(TICKET_KEY_HEADER);
    this.ctx.acceptWebSocket(server, keyId ? [tagForFilter(filter), keyTag(keyId)] : [tagForFilter(filter)]);
    server.serializeAttachment(attachment);
    this.send(server, { type: 'hello', workspaceId: workspaceId ?? '', filter, serverTime: new Date().toISOString() });
    this.send(server, { type: 'backfill', items: backfill });
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== 'string') return;
    const frame = clientFrameSchema.safeParse(parseJson(message));
    if (!frame.success) return;
    const attachment = this.attachmentOf(socket);
    if (!attachment) return;
    const flow = this.flowOf(attachment.id);
    for (const size of flow.unackedSizes.splice(0, frame.data.frames ?? 1)) flow.unackedBytes -= size;
    if (flow.dropping && flow.unackedBytes <= MAX_UNACKED_BYTES / 2 && flow.unackedSizes.length <= MAX_UNACKED_FRAMES / 2) {
      this.send(socket, { type: 'resumed', dropped: flow.dropped });
      flow.dropping = false;
      flow.dropped = 0;
    }
  }

  override webSocketClose(socket: WebSocket, code: number): void {
    this.forget(socket);
    try {
      socket.close(code === 1005 || code === 1006 ? 1000 : code, 'closed');
    } catch {
      // Already closed by the other side.
    }
  }

  override webSocketError(socket: WebSocket): void {
    this.forget(socket);
  }

  private forget(socket: WebSocket): void {
    const attachment = this.attachmentOf(socket);
    if (attachment) this.flows.delete(attachment.id);
  }

  private attachmentOf(socket: WebSocket): SocketAttachment | null {
    const parsed = attachmentSchema.safeParse(socket.deserializeAttachment());
    return parsed.success ? parsed.data : null;
  }

  private flowOf(id: string): SocketFlow {
    let flow = this.flows.get(id);
    if (!flow) {
      flow = { unackedSizes: [], unackedBytes: 0, dropping: false, dropped: 0 };
      this.flows.set(id, flow);
    }
    return flow;
  }

  /**
   * RPC from a person deletion (consumers/deletions.ts): removes the ring's items (and those
   * waiting for their outcome) whose userId, anonymousId or personId is one of `ids`. Returns how
   * many it removed. Sockets that already received them keep what they were sent.
   */
  forgetPersons(ids: string[]): number {
    const wanted = new Set(ids);
    const sql = this.ctx.storage.sql;
    let removed = 0;
    for (const id of wanted) {
      removed += sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM feed_ring WHERE user_id = ?1 OR anonymous_id = ?1 OR person_id = ?1', id).one().n;
      sql.exec('DELETE FROM feed_ring WHERE user_id = ?1 OR anonymous_id = ?1 OR person_id = ?1', id);
    }
    for (const [messageId, item] of this.awaitingOutcome) {
      if (personIdsOf(item).some((id) => wanted.has(id))) {
        this.awaitingOutcome.delete(messageId);
        removed++;
      }
    }
    return removed;
  }

  /**
   * Assigns each item its seq: a `received` one is held in memory (skipped when the ring already
   * has its messageId), an outcome is written to the ring under its received item's seq (or a
   * new one) and ends the wait.
   */
  private writeToRing(items: FeedItem[]): LiveItem[] {
    const sql = this.ctx.storage.sql;
    const live: LiveItem[] = [];
    for (const item of items) {
      if (item.status === 'received') {
        if (this.awaitingOutcome.has(item.messageId)) continue;
        if (sql.exec('SELECT 1 FROM feed_ring WHERE message_id = ? LIMIT 1', item.messageId).toArray().length > 0) continue;
        const received = { ...item, seq: ++this.lastSeq };
        this.awaitingOutcome.set(item.messageId, received);
        if (this.awaitingOutcome.size > RING_SIZE) this.awaitingOutcome.delete(this.awaitingOutcome.keys().next().value ?? '');
        live.push(received);
        continue;
      }
      const seq = this.awaitingOutcome.get(item.messageId)?.seq ?? ++this.lastSeq;
      this.awaitingOutcome.delete(item.messageId);
      sql.exec(
        'INSERT INTO feed_ring (seq, event, user_id, anonymous_id, person_id, message_id, status, item) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING',
        seq,
        item.event,
        item.userId,
        item.anonymousId,
        item.personId,
        item.messageId,
        item.status,
        JSON.stringify(item),
      );
      live.push({ ...item, seq });
    }
    // By count, not by seq: an outcome may carry the seq of a received item from long ago (a busy, lagging consumer).
    if (live.some((item) => item.status !== 'received')) sql.exec('DELETE FROM feed_ring WHERE seq <= (SELECT seq FROM feed_ring ORDER BY seq DESC LIMIT 1 OFFSET ?)', RING_SIZE);
    return live;
  }

  private readRing(filter: LiveFilter, limit: number): LiveItem[] {
    if (limit === 0) return [];
    const rows = this.ctx.storage.sql
      .exec<{ seq: number; item: string }>(
        `SELECT seq, item FROM feed_ring
          WHERE (?1 IS NULL OR event = ?1)
            AND (?2 IS NULL OR user_id = ?2 OR anonymous_id = ?2 OR person_id = ?2)
          ORDER BY seq DESC LIMIT ?3`,
        filter.event,
        filter.person,
        limit,
      )
      .toArray();
    const items: LiveItem[] = [];
    for (const row of rows) {
      const parsed = feedItemSchema.safeParse(parseJson(row.item));
      if (parsed.success) items.push({ ...parsed.data, seq: row.seq });
    }
    for (const item of this.awaitingOutcome.values()) if (matchesFilter(item, filter)) items.push(item);
    return items.sort((a, b) => a.seq - b.seq).slice(-limit);
  }

  /** A room with an empty ring (new, or never published to) back-fills from the edge's Redis Stream mirror: accepted events, shown as received. */
  private async readStreamMirror(workspaceId: string, filter: LiveFilter, limit: number): Promise<LiveItem[]> {
    try {
      const redis = createRedis(this.env);
      // Read more than needed when filtered: most mirror entries will not match.
      const count = filter.event === null && filter.person === null ? limit : MAX_BACKFILL * 5;
      const raw: unknown = await redis.xrevrange(eventStreamKey(workspaceId), '+', '-', count);
      const entries = streamEntriesSchema.safeParse(raw);
      if (!entries.success) return [];
      const items: LiveItem[] = [];
      for (const [, fields] of entries.data) {
        const item = feedItemFromStreamFields(fields, workspaceId);
        if (item && matchesFilter(item, filter)) items.push({ ...item, seq: 0 });
        if (items.length >= limit) break;
      }
      return items.reverse();
    } catch (error) {
      console.warn(JSON.stringify({ level: 'warn', message: 'live feed back-fill from Redis failed', error: String(error) }));
      return [];
    }
  }

  private routeToSockets(items: LiveItem[]): Map<WebSocket, { attachment: SocketAttachment; items: LiveItem[] }> {
    const candidates = new Map<WebSocket, SocketAttachment>();
    const addTag = (tag: string): void => {
      for (const socket of this.ctx.getWebSockets(tag)) {
        if (candidates.has(socket)) continue;
        const attachment = this.attachmentOf(socket);
        if (attachment) candidates.set(socket, attachment);
      }
    };
    addTag(TAG_ALL);
    for (const item of items) {
      if (item.event !== null) addTag(eventTag(item.event));
      for (const person of personIdsOf(item)) addTag(personTag(person));
    }
    const perSocket = new Map<WebSocket, { attachment: SocketAttachment; items: LiveItem[] }>();
    for (const [socket, attachment] of candidates) {
      const matching = items.filter((item) => matchesFilter(item, attachment.filter));
      if (matching.length > 0) perSocket.set(socket, { attachment, items: matching });
    }
    return perSocket;
  }

  /** Sends one `events` frame (`frame()`, carrying `count` items) unless the socket is too far behind; then it gets one `dropped` notice instead. */
  private sendEvents(socket: WebSocket, attachment: SocketAttachment, count: number, frame: () => string): boolean {
    const flow = this.flowOf(attachment.id);
    if (flow.dropping) {
      flow.dropped += count;
      return false;
    }
    const text = frame();
    // One frame always goes out (even a large one), so a caught-up client is never stuck.
    const overBudget = flow.unackedSizes.length > 0 && (flow.unackedBytes + text.length > MAX_UNACKED_BYTES || flow.unackedSizes.length >= MAX_UNACKED_FRAMES);
    if (overBudget) {
      flow.dropping = true;
      flow.dropped += count;
      this.send(socket, { type: 'dropped', reason: 'slow_client' });
      return false;
    }
    if (!this.sendText(socket, text)) return false;
    flow.unackedSizes.push(text.length);
    flow.unackedBytes += text.length;
    return true;
  }

  private send(socket: WebSocket, frame: LiveServerFrame): boolean {
    return this.sendText(socket, JSON.stringify(frame));
  }

  private sendText(socket: WebSocket, text: string): boolean {
    try {
      socket.send(text);
      return true;
    } catch {
      // The socket is closing; its close handler cleans up.
      return false;
    }
  }
}

function feedItemFromStreamFields(fields: string[], workspaceId: string): FeedItem | null {
  const index = fields.indexOf(STREAM_EVENT_FIELD);
  const value = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (value === undefined) return null;
  const parsed = collectedEventSchema.safeParse(parseJson(value));
  if (!parsed.success || parsed.data.workspaceId !== workspaceId) return null;
  return receivedItemOf(parsed.data);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
