/** Queue entry point: dispatches a batch to the consumer for its queue. */
export async function handleQueueBatch(batch: MessageBatch<unknown>, _env: Env, _ctx: ExecutionContext): Promise<void> {
  // Filled in by the consumer pipeline; until then messages are retried, never acknowledged unread.
  batch.retryAll();
}
