/** Calls to the Worker. The session cookie travels by itself (same origin); the secret key never sits in the page. */
import { isRecord } from './dom';

export class ApiFailure extends Error {
  /** `details`: what the API adds to some errors, e.g. `[{path, message}]` for a body that does not match. */
  constructor(readonly status: number, readonly code: string, message: string, readonly details: unknown = undefined) {
    super(message);
  }
}

const SESSION_ENDED = new Set(['session_expired', 'invalid_session', 'session_revoked']);

export async function api(path: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(path, { credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers } });
  const body: unknown = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = isRecord(body) && isRecord(body.error) ? body.error : {};
    // An expired or revoked session sends the page back to sign-in instead of retrying forever.
    if (typeof error.code === 'string' && SESSION_ENDED.has(error.code)) location.hash = '#/signin';
    throw new ApiFailure(response.status, typeof error.code === 'string' ? error.code : `http_${response.status}`, typeof error.message === 'string' ? error.message : response.statusText, error.details);
  }
  return body;
}

export interface SessionInfo {
  workspaceId: string;
  workspaceName: string;
}

export function sessionFrom(body: unknown): SessionInfo | null {
  if (!isRecord(body) || !isRecord(body.workspace)) return null;
  const { id, name } = body.workspace;
  return typeof id === 'string' ? { workspaceId: id, workspaceName: typeof name === 'string' ? name : id } : null;
}

export async function currentSession(): Promise<SessionInfo | null> {
  try {
    return sessionFrom(await api('/dashboard/session'));
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 401) return null;
    throw error;
  }
}

export async function signIn(secretKey: string): Promise<SessionInfo> {
  const session = sessionFrom(await api('/dashboard/session', { method: 'POST', body: JSON.stringify({ secretKey }) }));
  if (!session) throw new ApiFailure(500, 'bad_response', 'Unexpected sign-in response.');
  return session;
}

export async function signOut(): Promise<void> {
  await api('/dashboard/session', { method: 'DELETE' });
}

export async function liveTicket(): Promise<string> {
  const body = await api('/v1/live/ticket', { method: 'POST' });
  if (!isRecord(body) || typeof body.ticket !== 'string') throw new ApiFailure(500, 'bad_response', 'Unexpected ticket response.');
  return body.ticket;
}
