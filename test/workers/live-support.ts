/** Helpers for the live-feed tests: feed items, ticket + WebSocket connection, a frame reader. */
import type { FeedItem, LiveServerFrame } from '../../schema/feed';
import { bearer, call } from './support';

let counter = 0;

export function feedItem(workspaceId: string, overrides: Partial<FeedItem> = {}): FeedItem {
  counter++;
  const now = new Date().toISOString();
  return {
    workspaceId,
    messageId: `msg-${counter}-${crypto.randomUUID()}`,
    type: 'track',
    event: 'Order Completed',
    personId: 'person-1',
    userId: 'user-1',
    anonymousId: null,
    timestamp: now,
    receivedAt: now,
    source: 'server',
    status: 'stored',
    reason: null,
    properties: { n: counter },
    traits: {},
    context: {},
    ...overrides,
  };
}

export async function ticketFor(secretKey: string): Promise<string> {
  const response = await call('/v1/live/ticket', { method: 'POST', headers: bearer(secretKey) });
  if (response.status !== 201) throw new Error(`ticket failed: ${response.status} ${await response.text()}`);
  return (await response.json<{ ticket: string }>()).ticket;
}

/** Reads frames in arrival order; `next` waits (bounded) for the next one. */
export class FrameReader {
  private readonly frames: LiveServerFrame[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  constructor(readonly socket: WebSocket, private readonly autoAck = true) {
    socket.addEventListener('message', (event) => {
      const frame = JSON.parse(String(event.data)) as LiveServerFrame;
      this.frames.push(frame);
      if (frame.type === 'events' && this.autoAck) socket.send(JSON.stringify({ type: 'ack' }));
      this.waiter?.();
    });
    socket.addEventListener('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  async next(timeoutMs = 3000): Promise<LiveServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed) throw new Error('socket closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame within timeout');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    const frame = this.frames.shift();
    if (!frame) throw new Error('no frame');
    return frame;
  }

  /** Resolves false if no frame arrives within `ms` (for "must not receive" checks). */
  async nothingWithin(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.frames.length === 0;
  }

  pending(): number {
    return this.frames.length;
  }
}

export async function connectLive(ticket: string, query = '', headers: Record<string, string> = {}, autoAck = true): Promise<{ reader: FrameReader; response: Response }> {
  const response = await call(`/v1/live?ticket=${encodeURIComponent(ticket)}${query}`, { headers: { upgrade: 'websocket', ...headers } });
  const socket = response.webSocket;
  if (!socket) throw new Error(`no WebSocket: ${response.status} ${await response.text()}`);
  socket.accept();
  return { reader: new FrameReader(socket, autoAck), response };
}

/** Connects and consumes hello + backfill; returns the backfill items. */
export async function openFeed(ticket: string, query = ''): Promise<{ reader: FrameReader; backfill: Extract<LiveServerFrame, { type: 'backfill' }>['items'] }> {
  const { reader } = await connectLive(ticket, query);
  const hello = await reader.next();
  if (hello.type !== 'hello') throw new Error(`expected hello, got ${hello.type}`);
  const backfill = await reader.next();
  if (backfill.type !== 'backfill') throw new Error(`expected backfill, got ${backfill.type}`);
  return { reader, backfill: backfill.items };
}

export async function nextEvents(reader: FrameReader): Promise<Extract<LiveServerFrame, { type: 'events' }>['items']> {
  const frame = await reader.next();
  if (frame.type !== 'events') throw new Error(`expected events, got ${JSON.stringify(frame)}`);
  return frame.items;
}
