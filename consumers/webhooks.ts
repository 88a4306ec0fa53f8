/**
 * `monfri-webhooks` and its DLQ: webhook delivery is a later issue. Until it exists,
 * nothing should be on these queues; anything that is gets parked in the dead-letter
 * store (queue = monfri-webhooks) instead of being retried into oblivion, so it can be
 * replayed once delivery is implemented.
 */
import { storeDeadLetters, WEBHOOKS_QUEUE } from './dead-letters';

export async function handleWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  try {
    await storeDeadLetters(env.DB, batch.messages.map((message) => ({ queue: WEBHOOKS_QUEUE, body: message.body, reason: 'webhook_delivery_not_implemented', attempts: message.attempts })));
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', queue: batch.queue, error: String(error) }));
    batch.retryAll({ delaySeconds: 60 });
  }
}
