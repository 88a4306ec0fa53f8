/**
 * Headers for the dashboard's static pages. The page holds a session that can read every
 * event of a workspace, so it only runs its own script, talks only to this origin (HTTP and
 * the live WebSocket) and cannot be framed.
 */
import { createMiddleware } from 'hono/factory';
import type { AppEnv } from '../context';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const DASHBOARD_HEADERS: Record<string, string> = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

export const dashboardSecurityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  if (!(c.res.headers.get('content-type') ?? '').startsWith('text/html')) return;
  // Asset responses come back with immutable headers; copy before adding ours.
  c.res = new Response(c.res.body, c.res);
  for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) c.res.headers.set(name, value);
});
