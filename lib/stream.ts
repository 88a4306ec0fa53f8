/**
 * The per-workspace Redis Stream mirror of accepted events. The edge XADDs each accepted
 * CollectedEvent (best effort); replay and the live feed's back-fill read it with XRANGE.
 */
export const STREAM_EVENT_FIELD = 'event';

export function eventStreamKey(workspaceId: string): string {
  return `monfri:events:${workspaceId}`;
}

/** How many entries each workspace's stream keeps (approximately, `MAXLEN ~`): STREAM_MAXLEN, default 100,000. */
export function streamMaxLen(env: { STREAM_MAXLEN?: string }): number {
  const value = Number(env.STREAM_MAXLEN);
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 100_000;
}
