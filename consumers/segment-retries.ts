/**
 * `monfri-segments`: segment work a consumer batch could not finish at once (the workspace's
 * segments could not be read, a shard did not answer). Each message is done again until it
 * succeeds; what still fails is split off as finer work (a shard's evaluation with the state it
 * carries), so nothing done is undone and nothing moved is dropped. After `max_retries` the
 * queue hands a message to `monfri-segments-dlq`, parked in the dead-letter store for
 * `npm run admin -- dlq replay`.
 */
import { runSegmentWork } from '../durable-objects/segment-calls';
import { segmentWorkSchema } from '../lib/segments/routing';
import { activeSegmentsOf } from '../lib/segments/store';
import { retryBaseSeconds, retryDelaySeconds } from './backoff';
import { RETRIES_EXHAUSTED, SEGMENTS_QUEUE, storeDeadLetters } from './dead-letters';
import { queueSegmentWork } from './events/segments-hook';

const KIND_RANK = { workspace: 0, segment: 1, shard: 2 } as const;

export async function handleSegmentRetryBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const base = retryBaseSeconds(env);
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = segmentWorkSchema.safeParse(message.body);
      if (!parsed.success) {
        await storeDeadLetters(env.DB, [{ queue: SEGMENTS_QUEUE, body: message.body, reason: `invalid_segment_work: ${parsed.error.issues[0]?.message ?? 'unreadable'}`, attempts: message.attempts }]).then(
          () => message.ack(),
          () => message.retry({ delaySeconds: retryDelaySeconds(message.attempts, base) }),
        );
        return;
      }
      const work = parsed.data;
      try {
        const report = await runSegmentWork(env, work, async () => (await activeSegmentsOf(env.DB, [work.workspaceId])).get(work.workspaceId) ?? []);
        // Finer work (a shard's evaluation carrying moved state) is queued on its own; work as coarse as this message means the message itself is retried, so it still reaches the dead-letter queue in the end.
        const finer = report.retries.filter((retry) => KIND_RANK[retry.work.kind] > KIND_RANK[work.kind]);
        if (finer.length > 0) await queueSegmentWork(env.SEGMENT_RETRIES, finer.map((retry) => retry.work));
        const failed = report.retries.find((retry) => KIND_RANK[retry.work.kind] <= KIND_RANK[work.kind]);
        if (failed) throw new Error(failed.error);
        message.ack();
      } catch (error) {
        console.warn(JSON.stringify({ level: 'warn', msg: 'segment_work_retry', workspaceId: work.workspaceId, kind: work.kind, attempts: message.attempts, error: String(error) }));
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts, base) });
      }
    }),
  );
}

export async function handleSegmentDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  try {
    await storeDeadLetters(env.DB, batch.messages.map((message) => ({ queue: SEGMENTS_QUEUE, body: message.body, reason: RETRIES_EXHAUSTED, attempts: message.attempts })));
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', queue: batch.queue, error: String(error) }));
    batch.retryAll({ delaySeconds: 60 });
  }
}
