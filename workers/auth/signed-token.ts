/**
 * Compact HMAC-signed tokens: `base64url(JSON payload).base64url(HMAC-SHA256)`. The MAC
 * covers a purpose label too, so a session cookie can never be replayed as a live ticket.
 */
import type { z } from 'zod';
import { hmacSha256, timingSafeEqualStrings } from '../../lib/crypto';

export type TokenPurpose = 'live-ticket' | 'dashboard-session';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64UrlDecode(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}

async function signature(secret: string, purpose: TokenPurpose, encodedPayload: string): Promise<string> {
  return base64UrlEncode(await hmacSha256(secret, `${purpose}.${encodedPayload}`));
}

export async function signToken(secret: string, purpose: TokenPurpose, payload: object): Promise<string> {
  const encodedPayload = base64UrlEncode(encoder.encode(JSON.stringify(payload)));
  return `${encodedPayload}.${await signature(secret, purpose, encodedPayload)}`;
}

export type TokenCheck<T> = { ok: true; payload: T } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

/** Verifies signature, shape and `exp` (seconds since the epoch), in that order. */
export async function verifyToken<T extends { exp: number }>(
  secret: string,
  purpose: TokenPurpose,
  token: string,
  schema: z.ZodType<T>,
  nowMs = Date.now(),
): Promise<TokenCheck<T>> {
  const [encodedPayload, mac, extra] = token.split('.');
  if (!encodedPayload || !mac || extra !== undefined || token.length > 2048) return { ok: false, reason: 'malformed' };
  if (!timingSafeEqualStrings(mac, await signature(secret, purpose, encodedPayload))) return { ok: false, reason: 'bad_signature' };
  const bytes = base64UrlDecode(encodedPayload);
  if (!bytes) return { ok: false, reason: 'malformed' };
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  if (parsed.data.exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, payload: parsed.data };
}
