import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../workers/index';
import { REPLAYED_RETENTION_DAYS, runHousekeeping } from '../../workers/scheduled/housekeeping';
import { STALE_JOB_MS } from '../../consumers/deletions';
import { createDeletionJob, getDeletionJobById } from '../../lib/privacy/store';
import { createTestWorkspace, eventually } from './support';
import { collected, deliver, env, storedCounts } from './pipeline-support';

async function letterState(messageId: string): Promise<{ replayed_at: string | null; replay_count: number } | null> {
  return env.DB.prepare('SELECT replayed_at, replay_count FROM dead_letters WHERE message_id = ?').bind(messageId).first();
}

async function insertLetter(messageId: string, replayedAt: string | null, reason = 'retries_exhausted'): Promise<void> {
  await env.DB.prepare("INSERT INTO dead_letters (id, queue, message_id, body, reason, replayed_at) VALUES (?, 'monfri-events', ?, '{}', ?, ?)")
    .bind(crypto.randomUUID(), messageId, reason, replayedAt)
    .run();
}

describe('scheduled housekeeping', () => {
  it('re-drives events that used up their retries once ClickHouse answers, and leaves poison messages alone', async () => {
    const ws = await createTestWorkspace('housekeeping-redrive');
    const exhausted = [collected(ws.workspaceId), collected(ws.workspaceId)];
    await deliver(exhausted, { queue: 'monfri-events-dlq', attempts: 11 });
    const poison = { workspaceId: ws.workspaceId, messageId: `poison-${crypto.randomUUID()}`, type: 'nonsense' };
    await deliver([poison]);
    expect(await letterState(poison.messageId)).toMatchObject({ replayed_at: null });

    const controller = createScheduledController({ scheduledTime: Date.now(), cron: '*/15 * * * *' });
    const ctx = createExecutionContext();
    await worker.scheduled(controller, env, ctx);
    await waitOnExecutionContext(ctx);

    expect((await eventually(() => storedCounts(ws.workspaceId), (counts) => counts.events === 2)).events).toBe(2);
    for (const event of exhausted) expect(await letterState(event.messageId)).toMatchObject({ replay_count: 1 });
    expect(await letterState(poison.messageId)).toMatchObject({ replayed_at: null, replay_count: 0 });
  });

  it('keeps dead letters pending while ClickHouse does not answer', async () => {
    const ws = await createTestWorkspace('housekeeping-down');
    const event = collected(ws.workspaceId);
    await deliver([event], { queue: 'monfri-events-dlq', attempts: 11 });
    const report = await runHousekeeping({ ...env, CLICKHOUSE_URL: 'http://127.0.0.1:9' });
    expect(report).toMatchObject({ clickhouseUp: false, redriven: 0 });
    expect(report.pending['monfri-events']).toBeGreaterThan(0);
    expect(await letterState(event.messageId)).toMatchObject({ replayed_at: null, replay_count: 0 });
  });

  it(`deletes dead letters replayed more than ${REPLAYED_RETENTION_DAYS} days ago, keeps newer and pending ones`, async () => {
    const day = 86_400_000;
    const old = `old-${crypto.randomUUID()}`;
    const recent = `recent-${crypto.randomUUID()}`;
    const pending = `pending-${crypto.randomUUID()}`;
    await insertLetter(old, new Date(Date.now() - (REPLAYED_RETENTION_DAYS + 1) * day).toISOString());
    await insertLetter(recent, new Date(Date.now() - (REPLAYED_RETENTION_DAYS - 1) * day).toISOString());
    await insertLetter(pending, null, 'invalid_event');
    const report = await runHousekeeping({ ...env, CLICKHOUSE_URL: 'http://127.0.0.1:9' });
    expect(report.purged).toBeGreaterThanOrEqual(1);
    expect(await letterState(old)).toBeNull();
    expect(await letterState(recent)).not.toBeNull();
    expect(await letterState(pending)).not.toBeNull();
  });

  it('queues again a person deletion that has not moved for a while (a lost message), and only that one', async () => {
    const ws = await createTestWorkspace('housekeeping-deletions');
    const stale = await createDeletionJob(env.DB, ws.workspaceId, 'user:stale-subject');
    const fresh = await createDeletionJob(env.DB, ws.workspaceId, 'user:fresh-subject');
    const longAgo = new Date(Date.now() - STALE_JOB_MS - 60_000).toISOString();
    await env.DB.prepare('UPDATE deletion_jobs SET updated_at = ? WHERE id = ?').bind(longAgo, stale.id).run();
    const report = await runHousekeeping({ ...env, CLICKHOUSE_URL: 'http://127.0.0.1:9' });
    expect(report.requeuedDeletions).toBeGreaterThanOrEqual(1);
    expect((await getDeletionJobById(env.DB, stale.id))?.updatedAt).not.toBe(longAgo);
    expect((await getDeletionJobById(env.DB, fresh.id))?.updatedAt).toBe(fresh.updatedAt);
  });
});
