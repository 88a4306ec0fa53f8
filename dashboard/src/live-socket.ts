/**
 * The live-feed connection: fetch a short-lived ticket with the session cookie, open the
 * WebSocket, ack every `events` frame (the room's flow control), and reconnect with a
 * fresh ticket after a drop.
 */
import type { LiveItem, LiveServerFrame } from '../../schema/feed';
import { liveTicket } from './api';
import { isRecord } from './dom';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface LiveHandlers {
  onItems(items: LiveItem[], backfill: boolean): void;
  onState(state: ConnectionState): void;
  onDropped(): void;
  onResumed(dropped: number): void;
}

const PING_MS = 25_000;
const MAX_RETRY_MS = 15_000;

function frameOf(data: unknown): LiveServerFrame | null {
  if (typeof data !== 'string') return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null; // e.g. the 'pong' keep-alive answer
  }
  if (!isRecord(json) || typeof json.type !== 'string') return null;
  if ((json.type === 'events' || json.type === 'backfill') && !Array.isArray(json.items)) return null;
  // The shape comes from our own room (schema/feed.ts); only the discriminant is checked here.
  return json as unknown as LiveServerFrame;
}

export class LiveSocket {
  private socket: WebSocket | null = null;
  private retryMs = 1000;
  private retryTimer: number | undefined;
  private pingTimer: number | undefined;
  private stopped = false;

  constructor(private readonly handlers: LiveHandlers, private readonly query = '') {}

  start(): void {
    this.stopped = false;
    void this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    window.clearInterval(this.pingTimer);
    this.socket?.close(1000, 'page closed');
    this.socket = null;
    this.handlers.onState('closed');
  }

  private async open(): Promise<void> {
    this.handlers.onState(this.socket ? 'reconnecting' : 'connecting');
    let ticket: string;
    try {
      ticket = await liveTicket();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/v1/live?ticket=${encodeURIComponent(ticket)}${this.query}`);
    this.socket = socket;
    socket.addEventListener('message', (event) => this.receive(socket, event.data));
    socket.addEventListener('close', () => {
      window.clearInterval(this.pingTimer);
      if (!this.stopped && this.socket === socket) this.scheduleRetry();
    });
  }

  private receive(socket: WebSocket, data: unknown): void {
    const frame = frameOf(data);
    if (!frame) return;
    switch (frame.type) {
      case 'hello':
        this.retryMs = 1000;
        this.handlers.onState('live');
        window.clearInterval(this.pingTimer);
        this.pingTimer = window.setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('ping'), PING_MS);
        break;
      case 'backfill':
        this.handlers.onItems(frame.items, true);
        break;
      case 'events':
        socket.send(JSON.stringify({ type: 'ack' }));
        this.handlers.onItems(frame.items, false);
        break;
      case 'dropped':
        this.handlers.onDropped();
        break;
      case 'resumed':
        this.handlers.onResumed(frame.dropped);
        break;
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    this.handlers.onState('reconnecting');
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => void this.open(), this.retryMs);
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
  }
}
