import { describe, expect, it } from 'vitest';
import { parseSession, SESSION_IDLE_MS, SESSION_MAX_MS, touchSession, type SessionState } from './session';

const start = Date.parse('2026-03-01T23:50:00Z');
let ids = 0;
const newId = (): string => `s${++ids}`;

describe('session rotation', () => {
  it('starts a session when there is none and flags it as started', () => {
    const touched = touchSession(null, start, newId);
    expect(touched.started).toBe(true);
    expect(touched.state).toEqual({ id: touched.state.id, start, last: start });
  });

  it('keeps the session while events come less than 30 minutes apart, across midnight', () => {
    let state: SessionState = touchSession(null, start, newId).state;
    const firstId = state.id;
    // Eight events 29 minutes apart: almost 4 hours, crossing midnight, one session.
    for (let step = 1; step <= 8; step++) {
      const touched = touchSession(state, start + step * 29 * 60 * 1000, newId);
      expect(touched.started).toBe(false);
      state = touched.state;
    }
    expect(state.id).toBe(firstId);
    expect(state.last).toBe(start + 8 * 29 * 60 * 1000);
  });

  it('rotates after more than 30 minutes without an event', () => {
    const first = touchSession(null, start, newId).state;
    expect(touchSession(first, start + SESSION_IDLE_MS, newId).started).toBe(false);
    const after = touchSession(first, start + SESSION_IDLE_MS + 1, newId);
    expect(after.started).toBe(true);
    expect(after.state.id).not.toBe(first.id);
    expect(after.state.start).toBe(start + SESSION_IDLE_MS + 1);
  });

  it('rotates a constantly active session after 24 hours from its start', () => {
    let state = touchSession(null, start, newId).state;
    const firstId = state.id;
    let now = start;
    while (now + 10 * 60 * 1000 <= start + SESSION_MAX_MS) {
      now += 10 * 60 * 1000;
      state = touchSession(state, now, newId).state;
    }
    expect(state.id).toBe(firstId);
    const next = touchSession(state, start + SESSION_MAX_MS + 1, newId);
    expect(next.started).toBe(true);
    expect(next.state.id).not.toBe(firstId);
  });

  it('starts a new session when the clock went backwards past the session start', () => {
    const first = touchSession(null, start, newId).state;
    expect(touchSession(first, start - 1000, newId).started).toBe(true);
  });

  it('reads only well-formed stored sessions', () => {
    expect(parseSession(JSON.stringify({ id: 'a', start: 1, last: 2 }))).toEqual({ id: 'a', start: 1, last: 2 });
    for (const raw of [null, '', 'not json', '[]', '{"id":1,"start":1,"last":2}', '{"id":"a","start":"1","last":2}']) {
      expect(parseSession(raw)).toBeNull();
    }
  });
});
