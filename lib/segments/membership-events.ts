/**
 * Membership changes as events: `Segment Entered` / `Segment Exited`, Monfri's own
 * (`source: internal`, never billable, never fed back into segments), on the person they are
 * about, with the segment's id, name and version and the deciding event's messageId. They go
 * through the events queue like any event: stored, on the live feed, offered to webhooks. The
 * messageId is derived from the change itself, so a change reported twice (a redelivered
 * batch, a retried alarm) is stored once.
 */
import { sha256Hex } from '../crypto';
import { internalEvent } from '../internal-events';
import type { CollectedEvent } from '../../schema/event';
import { SEGMENT_ENTERED, SEGMENT_EXITED, type MembershipChange } from '../../schema/segments';

function identityOf(personId: string): { userId: string | null; anonymousId: string | null } {
  if (personId.startsWith('user:')) return { userId: personId.slice('user:'.length), anonymousId: null };
  if (personId.startsWith('anonymous:')) return { userId: null, anonymousId: personId.slice('anonymous:'.length) };
  return { userId: null, anonymousId: personId };
}

export async function membershipMessageId(change: MembershipChange): Promise<string> {
  const decided = change.decidingMessageId ?? `${change.cause}@${change.at}`;
  const hash = await sha256Hex(`${change.segmentId}\n${change.version}\n${change.personId}\n${change.kind}\n${decided}`);
  return `segment:${hash.slice(0, 40)}`;
}

export async function membershipEvent(workspaceId: string, change: MembershipChange, nowMs: number): Promise<CollectedEvent> {
  return internalEvent({
    workspaceId,
    messageId: await membershipMessageId(change),
    event: change.kind === 'entered' ? SEGMENT_ENTERED : SEGMENT_EXITED,
    ...identityOf(change.personId),
    properties: {
      segmentId: change.segmentId,
      segmentName: change.segmentName,
      version: change.version,
      decidingMessageId: change.decidingMessageId,
      changedAt: new Date(change.at).toISOString(),
      cause: change.cause,
      personId: change.personId,
    },
    nowMs,
  });
}

/** Queues the events of `changes` (the events queue takes at most 100 per call); returns their queue JSON. */
export async function queueMembershipEvents(queue: Queue, workspaceId: string, changes: readonly MembershipChange[], nowMs: number): Promise<string[]> {
  const events = await Promise.all(changes.map((change) => membershipEvent(workspaceId, change, nowMs)));
  const bodies = events.map((event) => JSON.stringify(event));
  for (let start = 0; start < bodies.length; start += 100) {
    await queue.sendBatch(bodies.slice(start, start + 100).map((body) => ({ body, contentType: 'text' as const })));
  }
  return bodies;
}
