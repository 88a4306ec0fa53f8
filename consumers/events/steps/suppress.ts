/**
 * Right after parse: events for a deleted person are not stored. The edge already refuses or drops them
 * (workers/collect/suppression-screen.ts); this step is what makes a deletion final against
 * what was in flight when it was asked for: messages in the queue or its retries, a dead-letter
 * re-drive, a replay of the Redis Stream mirror. The suppression list comes with the workspace
 * profile (one D1 round trip per batch, cached for WORKSPACE_PROFILE_TTL_SECONDS); the deletion
 * job waits that long (plus the longest batch) after suppressing before it deletes, so an event
 * that passed an older copy of the list is stored before the delete and removed by it.
 */
import { suppressedIdentity } from '../../../lib/privacy/store';
import { drop, type Outcome, type PipelineItem, type Step } from '../types';

/** The drop reason; such drops are not shown on the live feed (it would show the person again). */
export const SUPPRESSED_DROP_REASON = 'suppressed_identity';

export const suppressStep: Step = {
  name: 'suppress',
  async run({ items, deps }) {
    const workspaceIds = [...new Set(items.flatMap((item) => (item.event ? [item.event.workspaceId] : [])))];
    if (workspaceIds.length === 0) return;
    const profiles = await deps.workspaces(workspaceIds);
    const outcomes = new Map<PipelineItem, Outcome>();
    for (const item of items) {
      const event = item.event;
      const suppressed = event ? profiles.get(event.workspaceId)?.suppressed : undefined;
      if (!event || !suppressed) continue;
      if (suppressedIdentity(event, suppressed) !== null) outcomes.set(item, drop(SUPPRESSED_DROP_REASON));
    }
    return outcomes;
  },
};
