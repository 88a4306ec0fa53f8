/** Who is sending: the key (header or body), its workspace, and whether its origin is allowed. */
import type { ResolvedKey } from '../../schema/control-plane';
import { REQUEST_REJECTIONS } from '../../schema/rejections';
import { credentialFromHeader } from '../auth/credentials';
import type { KeyStore } from '../auth/key-store';
import { assertValidKey } from '../auth/middleware';
import { ApiError } from '../errors';

/** Who sent the request. Whether it is browser or server traffic is decided per request (traffic.ts), not by the key. */
export interface Sender {
  key: ResolvedKey;
}

/** Segment clients put the write key in the Basic username; some put `writeKey` in the body instead. */
export function credentialFrom(authorization: string | null | undefined, body: unknown): string | null {
  const fromHeader = credentialFromHeader(authorization);
  if (fromHeader) return fromHeader;
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const writeKey: unknown = (body as Record<string, unknown>).writeKey;
    if (typeof writeKey === 'string' && writeKey !== '') return writeKey;
  }
  return null;
}

export interface AuthenticateInput {
  credential: string | null;
  db: D1Database;
  keyStore: KeyStore;
  ttlSeconds: number;
  /** The browser route refuses secret keys: a secret key in a web page is a leaked key. */
  allowSecret: boolean;
}

export async function authenticate(input: AuthenticateInput): Promise<Sender> {
  if (!input.credential) throw new ApiError(401, 'missing_key', REQUEST_REJECTIONS.missing_key);
  const lookup = await input.keyStore.lookup(input.db, input.credential, input.ttlSeconds);
  assertValidKey(lookup);
  const key = lookup.key;
  if (key.kind === 'secret' && !input.allowSecret) {
    throw new ApiError(403, 'wrong_key_kind', 'The browser route takes a write key; never put a secret key in a web page.');
  }
  return { key };
}

/**
 * A restricted write key refuses any other Origin (including the opaque `null`). A request
 * without Origin is not a browser's, and a non-browser client can forge any Origin, so
 * refusing it would add no protection while breaking server-side Segment clients.
 */
export function assertOriginAllowed(key: ResolvedKey, origin: string | null): void {
  if (key.allowedOrigins.length === 0 || origin === null) return;
  if (!key.allowedOrigins.includes(origin)) {
    throw new ApiError(403, 'origin_not_allowed', `${REQUEST_REJECTIONS.origin_not_allowed} (${origin})`);
  }
}
