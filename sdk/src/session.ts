/**
 * Sessions: a session ends after 30 minutes without an event, or 24 hours after it began
 * (a rolling max length measured from the start, not a midnight cut, so a session never
 * splits at a time-zone dependent boundary and an always-open tab cannot grow one forever).
 */
import { parseObject } from './json';

export const SESSION_IDLE_MS = 1_800_000; // 30 minutes (literals: the minifier does not fold products)
export const SESSION_MAX_MS = 86_400_000; // 24 hours

export interface SessionState {
  id: string;
  start: number;
  last: number;
}

export interface SessionTouch {
  state: SessionState;
  /** True for the first event of a new session (sent as context.sessionStart). */
  started: boolean;
}

export function sessionExpired(state: SessionState, now: number): boolean {
  return now - state.last > SESSION_IDLE_MS || now - state.start > SESSION_MAX_MS || now < state.start;
}

/** Extends the current session to `now`, or starts a new one when there is none or it expired. */
export function touchSession(current: SessionState | null, now: number, newId: () => string): SessionTouch {
  if (current && !sessionExpired(current, now)) return { state: { ...current, last: Math.max(current.last, now) }, started: false };
  return { state: { id: newId(), start: now, last: now }, started: true };
}

export function parseSession(raw: string | null): SessionState | null {
  const value = parseObject(raw);
  return value && typeof value.id === 'string' && typeof value.start === 'number' && typeof value.last === 'number'
    ? { id: value.id, start: value.start, last: value.last }
    : null;
}
