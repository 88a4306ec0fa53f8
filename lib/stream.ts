/**
 * The per-workspace Redis Stream mirror of accepted events. The edge XADDs each accepted
 * CollectedEvent (best effort); replay and the live feed's back-fill read it with XRANGE.
 */
export const STREAM_EVENT_FIELD = 'event';

export function eventStreamKey(workspaceId: string): string {
  return `monfri:events:${workspaceId}`;
}
