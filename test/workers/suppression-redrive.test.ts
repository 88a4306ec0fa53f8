/**
 * The consumer's own suppression check (consumers/events/steps/suppress.ts) against a dead letter
 * that is in the D1 store when the person is suppressed: re-driving it must not store the person
 * again, while the other letters of the same re-drive are stored. (The deletion job also removes
 * such letters; this is the check for one it has not removed yet, e.g. stored while it ran.)
 * Real queue, consumer, D1 and ClickHouse inside workerd.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uint64 } from '../../lib/event-queries';
import { createDeletionJob } from '../../lib/privacy/store';
import { sql } from '../../lib/sql';
import { bearer, call, createTestWorkspace, env, eventually } from './support';
import { collected, deliver, selectRows, storedCounts } from './pipeline-support';

describe('dead-letter re-drive after a deletion', () => {
  it('drops the suppressed person\'s re-driven letters (as userId, as anonymousId) and stores the rest', async () => {
    const ws = await createTestWorkspace('suppressed re-drive');
    const gone = collected(ws.workspaceId, { userId: 'gone-user', anonymousId: null });
    const goneAnonymous = collected(ws.workspaceId, { userId: null, anonymousId: 'gone-anon' });
    const keeper = collected(ws.workspaceId, { userId: 'keeper', anonymousId: null });
    await deliver([gone, goneAnonymous, keeper], { queue: 'monfri-events-dlq', attempts: 11 });
    await createDeletionJob(env.DB, ws.workspaceId, 'user:gone-user');
    await createDeletionJob(env.DB, ws.workspaceId, 'anonymous:gone-anon');

    const replay = await call('/admin/dead-letters/replay', { method: 'POST', headers: bearer(ws.secretKey), json: {} });
    expect(await replay.json()).toEqual({ replayed: { 'monfri-events': 3 }, total: 3 });
    expect((await eventually(() => storedCounts(ws.workspaceId), (counts) => counts.events >= 1, 20_000)).events).toBe(1);
    const stored = await selectRows(sql`SELECT message_id FROM events WHERE workspace_id = ${ws.workspaceId}`, z.object({ message_id: z.string() }));
    expect(stored.map((row) => row.message_id)).toEqual([keeper.messageId]);
    const [person] = await selectRows(sql`SELECT count() AS rows FROM events WHERE workspace_id = ${ws.workspaceId} AND (user_id = 'gone-user' OR anonymous_id = 'gone-anon')`, z.object({ rows: uint64 }));
    expect(person?.rows).toBe(0);
  });
});
