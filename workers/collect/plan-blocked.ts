/**
 * What the edge does with the events a tracking plan blocked, after the response (waitUntil):
 * - one tally per request (never one message per event) on the `events` queue, which the
 *   consumer adds to `plan_blocked_counts` (consumers/plan-blocked.ts): a refused event is never
 *   stored, so the materialized view behind the other violation counts never sees it;
 * - each event on the live feed as `blocked`, with its reasons.
 * Both are best effort: the client already has every reason in its answer, so a failure is
 * logged and never fails the request.
 *
 * Counted by the UTC day of the event's (skew-corrected) timestamp, as plan_violation_counts
 * counts stored events (`toDate(timestamp)`): an event's flagged and blocked counts fall on
 * the same day, and one `days` window bounds both.
 */
import { feedItemOf, publishToLiveFeed } from '../../durable-objects/live-feed-publish';
import { sha256Hex } from '../../lib/crypto';
import { violationKey } from '../../lib/tracking-plans/validate';
import type { CollectedEvent } from '../../schema/event';
import { PLAN_BLOCKED_KIND, type PlanBlockedCount, type PlanBlockedTally } from '../../schema/plan-blocked';
import type { EventRejectionCode } from '../../schema/rejections';
import { utf8Length } from './validate';

/** An event the plan refused, as built (its `plan` says why), with the refusal's code. */
export interface BlockedEvent {
  event: CollectedEvent;
  code: EventRejectionCode;
}

/** Room for a tally under the 128 KB a queue message may take; a request past it (thousands of distinct names or paths) leaves its rarest rows out, logged. */
export const MAX_TALLY_BYTES = 100 * 1024;

export interface Tally {
  tally: PlanBlockedTally;
  /** Rows left out to stay under MAX_TALLY_BYTES. */
  omitted: number;
}

/** Counts per day, event, rule and path; an event counts once per rule and path (however many array items broke it), a messageId once per request. */
export async function tallyBlocked(workspaceId: string, blocked: readonly CollectedEvent[]): Promise<Tally | null> {
  const counts = new Map<string, PlanBlockedCount>();
  const messageIds = new Set<string>();
  for (const event of blocked) {
    if (event.workspaceId !== workspaceId || messageIds.has(event.messageId)) continue;
    messageIds.add(event.messageId);
    const day = event.timestamp.slice(0, 10);
    for (const key of new Set((event.plan?.violations ?? []).map(violationKey))) {
      const colon = key.indexOf(':');
      const row = { day, type: event.type, event: event.event ?? '', rule: key.slice(0, colon), path: key.slice(colon + 1) };
      const id = JSON.stringify([row.day, row.type, row.event, row.rule, row.path]);
      const counted = counts.get(id);
      if (counted) counted.blocked++;
      else counts.set(id, { ...row, blocked: 1 });
    }
  }
  if (counts.size === 0) return null;
  const kept: PlanBlockedCount[] = [];
  let bytes = 0;
  for (const row of [...counts.values()].sort((a, b) => b.blocked - a.blocked)) {
    bytes += utf8Length(JSON.stringify(row)) + 1;
    if (bytes > MAX_TALLY_BYTES) break;
    kept.push(row);
  }
  const messageId = `blocked_${(await sha256Hex([workspaceId, ...[...messageIds].sort()].join('\n'))).slice(0, 32)}`;
  return { tally: { kind: PLAN_BLOCKED_KIND, workspaceId, messageId, counts: kept }, omitted: counts.size - kept.length };
}

async function sendTally(queue: Queue, workspaceId: string, blocked: readonly CollectedEvent[]): Promise<void> {
  try {
    const counted = await tallyBlocked(workspaceId, blocked);
    if (!counted) return;
    if (counted.omitted > 0) console.warn(JSON.stringify({ level: 'warn', step: 'plan_blocked_tally', workspaceId, omittedRows: counted.omitted }));
    await queue.send(counted.tally, { contentType: 'json' });
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', step: 'plan_blocked_tally', workspaceId, events: blocked.length, error: error instanceof Error ? error.message.slice(0, 300) : String(error) }));
  }
}

/** Tallies the request's blocked events onto the queue and shows them on the live feed; never throws. */
export async function reportBlocked(env: Pick<Env, 'EVENTS' | 'LIVE_FEED'>, workspaceId: string, blocked: readonly BlockedEvent[]): Promise<void> {
  if (blocked.length === 0) return;
  const events = blocked.map(({ event }) => event);
  await Promise.all([sendTally(env.EVENTS, workspaceId, events), publishToLiveFeed(env, workspaceId, blocked.map(({ event, code }) => feedItemOf(event, 'blocked', code, null)))]);
}
