import { createMiddleware } from 'hono/factory';
import type { KeyKind } from '../../schema/control-plane';
import { timingSafeEqualStrings } from '../../lib/crypto';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { credentialFromHeader } from './credentials';
import type { KeyLookup } from './key-store';

export function keyCacheTtl(env: Env): number {
  const ttl = Number(env.KEY_CACHE_TTL_SECONDS);
  return Number.isFinite(ttl) && ttl >= 0 ? ttl : 30;
}

/** Throws the 401 for a lookup that did not find a usable key. */
export function assertValidKey(lookup: KeyLookup): asserts lookup is Extract<KeyLookup, { status: 'valid' }> {
  if (lookup.status === 'revoked') throw new ApiError(401, 'revoked_key', 'This API key has been revoked.');
  if (lookup.status === 'unknown') throw new ApiError(401, 'invalid_key', 'This API key is not valid.');
}

export function isOperator(env: Env, credential: string): boolean {
  return Boolean(env.OPERATOR_TOKEN) && timingSafeEqualStrings(credential, env.OPERATOR_TOKEN);
}

/** Requires a key of one of `kinds` in the Authorization header and sets `c.var.apiKey`. */
export function requireKey(kinds: readonly KeyKind[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const credential = credentialFromHeader(c.req.header('authorization'));
    if (!credential) throw new ApiError(401, 'missing_key', 'Send your API key as HTTP Basic username or Bearer token.');
    const lookup = await c.var.keyStore.lookup(c.env.DB, credential, keyCacheTtl(c.env));
    assertValidKey(lookup);
    if (!kinds.includes(lookup.key.kind)) {
      throw new ApiError(403, 'wrong_key_kind', `This route needs a ${kinds.join(' or ')} key; a ${lookup.key.kind} key was sent.`);
    }
    c.set('apiKey', lookup.key);
    await next();
  });
}

/** Admin routes: the operator token (any workspace) or a workspace secret key (its own workspace). */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const credential = credentialFromHeader(c.req.header('authorization'));
  if (!credential) throw new ApiError(401, 'missing_key', 'Send the operator token or a secret key as a Bearer token.');
  if (isOperator(c.env, credential)) {
    c.set('adminActor', { kind: 'operator' });
    return next();
  }
  const lookup = await c.var.keyStore.lookup(c.env.DB, credential, keyCacheTtl(c.env));
  assertValidKey(lookup);
  if (lookup.key.kind !== 'secret') throw new ApiError(403, 'wrong_key_kind', 'Admin routes need a secret key; write keys are public.');
  c.set('apiKey', lookup.key);
  c.set('adminActor', { kind: 'workspace', workspaceId: lookup.key.workspace.id });
  return next();
});
