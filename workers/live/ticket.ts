/**
 * Live-feed tickets: short-lived, workspace-scoped, HMAC-signed with LIVE_TICKET_SECRET.
 * A browser cannot set headers on a WebSocket upgrade, so the page trades its session (or a
 * server its secret key) for a ticket and puts it in the upgrade URL. A ticket only ever
 * names one workspace and the upgrade route connects to that workspace's room alone.
 * Each ticket carries a random nonce `n`; the room accepts a nonce once (see LiveFeed), so a
 * ticket that leaks from a URL (logs, history, a proxy) cannot open a second socket.
 */
import { z } from 'zod';
import { ApiError } from '../errors';
import { base64UrlEncode, signToken, verifyToken, type TokenCheck } from '../auth/signed-token';

const DEFAULT_TTL_SECONDS = 300;
const MAX_TTL_SECONDS = 3600;

const ticketSchema = z.object({ w: z.string().min(1), k: z.string().min(1), n: z.string().min(16).max(64), exp: z.number().int() });
export type LiveTicket = z.infer<typeof ticketSchema>;

export function ticketTtlSeconds(env: Env): number {
  const ttl = Number(env.LIVE_TICKET_TTL_SECONDS);
  return Number.isInteger(ttl) && ttl > 0 ? Math.min(ttl, MAX_TTL_SECONDS) : DEFAULT_TTL_SECONDS;
}

function ticketSecret(env: Env): string {
  if (!env.LIVE_TICKET_SECRET) throw new ApiError(503, 'live_not_configured', 'LIVE_TICKET_SECRET is not set on this deployment.');
  return env.LIVE_TICKET_SECRET;
}

export async function issueTicket(env: Env, workspaceId: string, keyId: string, nowMs = Date.now()): Promise<{ ticket: string; expiresAt: string }> {
  const exp = Math.floor(nowMs / 1000) + ticketTtlSeconds(env);
  const ticket = await signToken(ticketSecret(env), 'live-ticket', { w: workspaceId, k: keyId, n: base64UrlEncode(crypto.getRandomValues(new Uint8Array(16))), exp } satisfies LiveTicket);
  return { ticket, expiresAt: new Date(exp * 1000).toISOString() };
}

export async function checkTicket(env: Env, ticket: string, nowMs = Date.now()): Promise<TokenCheck<LiveTicket>> {
  return verifyToken(ticketSecret(env), 'live-ticket', ticket, ticketSchema, nowMs);
}
