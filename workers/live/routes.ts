/**
 * POST /v1/live/ticket  (secret key or dashboard session) -> { ticket, expiresAt, url }
 * GET  /v1/live?ticket=...[&event=...][&person=...][&backfill=N]  WebSocket upgrade to the
 * ticket's workspace room, after checking the ticket and the Origin.
 */
import { Hono } from 'hono';
import { TICKET_EXPIRES_HEADER, TICKET_KEY_HEADER, TICKET_NONCE_HEADER, WORKSPACE_HEADER } from '../../durable-objects/live-feed';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { checkTicket, issueTicket } from './ticket';

/**
 * Browsers always send Origin on a WebSocket upgrade; it must be this Worker's own origin or
 * one listed in LIVE_ALLOWED_ORIGINS (comma separated). A request without Origin is not a
 * browser (so not cross-site hijacking) and is let through on the strength of its ticket.
 */
export function isAllowedOrigin(origin: string | undefined, requestUrl: string, configured: string | undefined): boolean {
  if (origin === undefined) return true;
  if (origin === new URL(requestUrl).origin) return true;
  const allowed = (configured ?? '').split(',').map((value) => value.trim()).filter(Boolean);
  return allowed.includes(origin);
}

const TICKET_ERRORS = {
  malformed: ['invalid_ticket', 'This live-feed ticket is not valid.'],
  bad_signature: ['invalid_ticket', 'This live-feed ticket is not valid.'],
  expired: ['ticket_expired', 'This live-feed ticket has expired; request a new one.'],
} as const;

export const liveRoutes = new Hono<AppEnv>()
  .post('/ticket', requireSecretKeyOrSession, async (c) => {
    const { ticket, expiresAt } = await issueTicket(c.env, c.var.apiKey.workspace.id, c.var.apiKey.keyId);
    c.header('cache-control', 'no-store');
    return c.json({ ticket, expiresAt, workspaceId: c.var.apiKey.workspace.id, url: `/v1/live?ticket=${encodeURIComponent(ticket)}` }, 201);
  })
  .get('/', async (c) => {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new ApiError(426, 'upgrade_required', 'Connect with a WebSocket upgrade.');
    const ticket = c.req.query('ticket');
    if (!ticket) throw new ApiError(401, 'missing_ticket', 'Add ?ticket=... from POST /v1/live/ticket.');
    if (!isAllowedOrigin(c.req.header('origin'), c.req.url, c.env.LIVE_ALLOWED_ORIGINS)) {
      throw new ApiError(403, 'origin_not_allowed', 'This Origin may not open the live feed.');
    }
    const check = await checkTicket(c.env, ticket);
    if (!check.ok) {
      const [code, message] = TICKET_ERRORS[check.reason];
      throw new ApiError(401, code, message);
    }
    const workspaceId = check.payload.w;
    const target = new URL('https://live-feed.internal/connect');
    for (const name of ['event', 'person', 'backfill']) {
      const value = c.req.query(name);
      if (value) target.searchParams.set(name, value);
    }
    const upgrade = new Request(target, {
      headers: { upgrade: 'websocket', [WORKSPACE_HEADER]: workspaceId, [TICKET_NONCE_HEADER]: check.payload.n, [TICKET_EXPIRES_HEADER]: String(check.payload.exp), [TICKET_KEY_HEADER]: check.payload.k },
    });
    return c.env.LIVE_FEED.getByName(workspaceId).fetch(upgrade);
  });
