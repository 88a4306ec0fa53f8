/** Queue entry point: dispatches a batch to the consumer for its queue. */
import { EVENTS_DLQ, EVENTS_QUEUE, handleEventsDeadLetterBatch, SEGMENTS_DLQ, SEGMENTS_QUEUE, WEBHOOKS_DLQ, WEBHOOKS_QUEUE } from './dead-letters';
import { DELETIONS_QUEUE, handleDeletionBatch } from './deletions';
import { handleEventBatch } from './events/handler';
import { handleSegmentDeadLetterBatch, handleSegmentRetryBatch } from './segment-retries';
import { handleWebhookBatch } from './webhooks';
import type { RedisDegradation } from './redis-degradation';
import type { WorkspaceProfileCache } from './workspace-profiles';

/** What lives as long as the isolate (caches), made once by workers/index.ts and passed down. */
export interface ConsumerServices {
  workspaceProfiles: WorkspaceProfileCache;
  redisDegradation: RedisDegradation;
}

export async function handleQueueBatch(batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext, services: ConsumerServices): Promise<void> {
  switch (batch.queue) {
    case EVENTS_QUEUE:
      await handleEventBatch(batch, env, ctx, services);
      return;
    case EVENTS_DLQ:
      return handleEventsDeadLetterBatch(batch, env);
    case WEBHOOKS_QUEUE:
    case WEBHOOKS_DLQ:
      return handleWebhookBatch(batch, env);
    case SEGMENTS_QUEUE:
      return handleSegmentRetryBatch(batch, env);
    case SEGMENTS_DLQ:
      return handleSegmentDeadLetterBatch(batch, env);
    case DELETIONS_QUEUE:
      return handleDeletionBatch(batch, env);
    default:
      // A queue wired in wrangler.toml without a consumer here: keep the messages, say so loudly.
      console.error(JSON.stringify({ level: 'error', msg: 'no_consumer_for_queue', queue: batch.queue }));
      batch.retryAll({ delaySeconds: 300 });
  }
}
