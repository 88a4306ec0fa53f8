/**
 * CORS for the collect routes. A preflight cannot know the write key (it travels in the
 * body or in the Authorization header the preflight does not carry), so preflights are
 * answered for any origin and the real request enforces the key's allowed origins.
 */
import type { Context } from 'hono';
import type { AppEnv } from '../context';

const ALLOWED_METHODS = 'POST, OPTIONS';
const DEFAULT_ALLOWED_HEADERS = 'content-type, authorization';
const EXPOSED_HEADERS = 'x-request-id, retry-after';
const PREFLIGHT_MAX_AGE_SECONDS = '86400';

export function preflight(c: Context<AppEnv>): Response {
  const headers = new Headers({
    'access-control-allow-origin': c.req.header('origin') ?? '*',
    'access-control-allow-methods': ALLOWED_METHODS,
    'access-control-allow-headers': c.req.header('access-control-request-headers') ?? DEFAULT_ALLOWED_HEADERS,
    'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
    vary: 'Origin, Access-Control-Request-Headers',
  });
  return new Response(null, { status: 204, headers });
}

/**
 * Which origin the response may be read by: always the caller's (`*` without an Origin). A
 * write key's origin restriction is enforced by refusing the request (403
 * origin_not_allowed), not by CORS: collect answers hold nothing secret, and a page on a
 * refused origin must be able to read WHY it was refused (the SDK logs the reason), which a
 * response without this header would hide behind an opaque CORS error.
 */
export function allowedResponseOrigin(origin: string | null): string {
  return origin ?? '*';
}

/**
 * Sets headers on the finished response in place. Hono's `c.header()` after the route copies
 * the whole Response on every call; collect responses are built by the app (`c.json`,
 * `new Response`), so their headers are mutable. Only a fetched Response has immutable ones.
 */
function setResponseHeaders(c: Context<AppEnv>, entries: readonly (readonly [string, string])[]): void {
  try {
    for (const [name, value] of entries) c.res.headers.set(name, value);
  } catch {
    for (const [name, value] of entries) c.header(name, value);
  }
}

/** Runs after the route (or its error) produced a response. */
export async function corsHeaders(c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  await next();
  const allowOrigin = allowedResponseOrigin(c.req.header('origin') ?? null);
  setResponseHeaders(c, [
    ['vary', 'Origin'],
    ['access-control-allow-origin', allowOrigin],
    ['access-control-expose-headers', EXPOSED_HEADERS],
  ]);
}
