/**
 * The after-insert webhooks hook: one `monfri-webhooks` message per (subscription, stored
 * event) that matches, carrying the event as the query API shows it (lib/event-view.ts)
 * and a `webhook-id` derived from both ids, so a re-run of the batch (or a replay) yields the
 * same id and receivers dedupe. Sending is consumers/webhooks.ts's job, never this batch's.
 *
 * Monfri's own events (source `internal`) match only through their own filters: `Segment
 * Entered`/`Exited` through `segments` (by segment id), `usage.threshold` through
 * `usageThreshold`; a `types: ['track']` subscription does not get them all.
 */
import { sha256Hex } from '../../lib/crypto';
import { eventView } from '../../lib/event-view';
import { sendInBatches } from '../../lib/queue-batches';
import { SEGMENT_ENTERED, SEGMENT_EXITED } from '../../schema/segments';
import type { ActiveWebhook, WebhookDelivery } from '../../schema/webhooks';
import { USAGE_THRESHOLD_EVENT } from '../usage-notices';
import type { AfterInsertHook } from './steps/after-insert';
import type { PipelineItem } from './types';

export type WebhookEventView = ReturnType<typeof eventView>;

/** An event whose subscriptions were unknown at insert time, matched by the webhooks consumer instead. */
export interface WebhookMatchLater {
  kind: 'webhook_match';
  workspaceId: string;
  view: WebhookEventView;
}

export function webhookMatches(webhook: ActiveWebhook, view: WebhookEventView): boolean {
  if (view.bot.flagged && !webhook.includeBots) return false;
  const { filter } = webhook;
  if (view.source === 'internal') {
    if (view.event === SEGMENT_ENTERED || view.event === SEGMENT_EXITED) return typeof view.properties.segmentId === 'string' && filter.segments.includes(view.properties.segmentId);
    return view.event === USAGE_THRESHOLD_EVENT && filter.usageThreshold;
  }
  return (view.event !== null && filter.events.includes(view.event)) || filter.types.some((type) => type === view.type);
}

export async function webhookIdOf(subscriptionId: string, messageId: string): Promise<string> {
  return `msg_${(await sha256Hex(`${subscriptionId}\n${messageId}`)).slice(0, 32)}`;
}

function viewOf(item: PipelineItem): WebhookEventView | null {
  if (!item.row || !item.event) return null;
  return eventView({ ...item.row, person_id: item.personId ?? item.row.person_id });
}

/** One delivery per (matching subscription, event); the body is the event view's JSON, as signed. */
export async function webhookDeliveriesOf(workspaceId: string, webhooks: readonly ActiveWebhook[], views: readonly WebhookEventView[]): Promise<WebhookDelivery[]> {
  const deliveries: WebhookDelivery[] = [];
  for (const view of views) {
    const matching = webhooks.filter((webhook) => webhookMatches(webhook, view));
    if (matching.length === 0) continue;
    const body = JSON.stringify(view);
    for (const webhook of matching) {
      deliveries.push({
        kind: 'webhook_delivery',
        workspaceId,
        subscriptionId: webhook.id,
        webhookId: await webhookIdOf(webhook.id, view.messageId),
        messageId: view.messageId,
        event: view.event ?? view.type,
        body,
        attempts: 0,
        firstAttemptAtMs: null,
      });
    }
  }
  return deliveries;
}

export const webhooksHook: AfterInsertHook = {
  name: 'webhooks',
  async run(deps, state) {
    const byWorkspace = new Map<string, PipelineItem[]>();
    for (const item of state.stored) if (item.event) byWorkspace.set(item.event.workspaceId, [...(byWorkspace.get(item.event.workspaceId) ?? []), item]);
    if (byWorkspace.size === 0) return;
    const profiles = await deps.workspaces([...byWorkspace.keys()]);
    const deliveries: WebhookDelivery[] = [];
    const unmatched: WebhookMatchLater[] = [];
    for (const [workspaceId, items] of byWorkspace) {
      const webhooks = profiles.get(workspaceId)?.webhooks;
      const views = items.map(viewOf).filter((view): view is WebhookEventView => view !== null);
      // Subscriptions unknown (D1 did not answer): the webhooks consumer matches them later.
      if (webhooks === null || webhooks === undefined) unmatched.push(...views.map((view) => ({ kind: 'webhook_match' as const, workspaceId, view })));
      else if (webhooks.length > 0) deliveries.push(...(await webhookDeliveriesOf(workspaceId, webhooks, views)));
    }
    // Sized batches: 100 messages or 256 KB, whichever comes first (bodies carry whole events).
    await sendInBatches(deps.env.WEBHOOKS, [...deliveries, ...unmatched]);
  },
};
