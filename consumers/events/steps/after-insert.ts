/**
 * Step 6: after-insert fan-out. Runs only for a batch whose insert succeeded. Every hook is
 * best effort: a failing hook is logged and never fails (or retries) the batch, because
 * the events are already stored and a retry would only produce duplicates.
 *
 * Hooks: the live feed, usage thresholds (consumers/events/usage-check.ts), segments
 * (consumers/events/segments-hook.ts), webhooks (consumers/events/webhooks-hook.ts: enqueue
 * matching subscriptions on WEBHOOKS). Later ones add an entry to AFTER_INSERT_HOOKS, nothing
 * else changes.
 * Schema discovery needs no hook: the row carries its paths and types (schema-paths.ts) and
 * ClickHouse materialized views aggregate them as the rows are inserted.
 */
import { feedItemOf, flagReasonOf, publishToLiveFeed } from '../../../durable-objects/live-feed-publish';
import type { FeedItem, FeedOutcome } from '../../../schema/feed';
import type { BatchState, PipelineDeps, PipelineItem, Step } from '../types';
import { segmentsHook } from '../segments-hook';
import { SUPPRESSED_DROP_REASON } from './suppress';
import { usageHook } from '../usage-check';
import { webhooksHook } from '../webhooks-hook';

export type AfterInsertHookName = 'live_feed' | 'usage' | 'segments' | 'webhooks' | 'schema_registry';

export interface AfterInsertHook {
  name: AfterInsertHookName;
  run(deps: PipelineDeps, state: BatchState): Promise<void>;
}

function feedItem(item: PipelineItem, status: FeedOutcome, reason: string | null): FeedItem | null {
  return item.event ? feedItemOf(item.event, status, reason, item.personId ?? null) : null;
}

export function feedItemsOf(state: BatchState): FeedItem[] {
  const stored = state.stored.map((item) => {
    const reason = item.event ? flagReasonOf(item.event) : null;
    return reason === null ? feedItem(item, 'stored', null) : feedItem(item, 'flagged', reason);
  });
  // A suppressed person's event is not announced as dropped either: the feed would show them again.
  const dropped = state.dropped.filter((item) => !(item.outcome.kind === 'drop' && item.outcome.reason === SUPPRESSED_DROP_REASON)).map((item) => feedItem(item, 'dropped', item.outcome.kind === 'drop' ? item.outcome.reason : null));
  return [...stored, ...dropped].filter((item): item is FeedItem => item !== null);
}

const liveFeedHook: AfterInsertHook = {
  name: 'live_feed',
  async run(deps, state) {
    const byWorkspace = new Map<string, FeedItem[]>();
    for (const item of feedItemsOf(state)) byWorkspace.set(item.workspaceId, [...(byWorkspace.get(item.workspaceId) ?? []), item]);
    const reports = await Promise.all([...byWorkspace].map(([workspaceId, items]) => publishToLiveFeed(deps.env, workspaceId, items)));
    for (const report of reports) if (report) state.livePublishes.push(report);
  },
};

export const AFTER_INSERT_HOOKS: readonly AfterInsertHook[] = [liveFeedHook, usageHook, segmentsHook, webhooksHook];

export function afterInsertStep(hooks: readonly AfterInsertHook[] = AFTER_INSERT_HOOKS): Step {
  return {
    name: 'after_insert',
    async run({ state, deps }) {
      const results = await Promise.allSettled(hooks.map((hook) => hook.run(deps, state)));
      results.forEach((result, index) => {
        if (result.status === 'rejected') {
          console.warn(JSON.stringify({ level: 'warn', msg: 'after_insert_hook_failed', hook: hooks[index]?.name, error: String(result.reason) }));
        }
      });
    },
  };
}
