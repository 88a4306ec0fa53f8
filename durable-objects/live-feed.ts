import { DurableObject } from 'cloudflare:workers';

/** One live-event room per workspace (WebSocket Hibernation API). */
export class LiveFeed extends DurableObject<Env> {}
