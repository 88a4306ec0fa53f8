/**
 * A consumer step throwing at random (before or after doing its work, so also after the
 * insert) -> the runner retries the messages still in flight -> redelivery converges: every
 * message ends acknowledged, each messageId is stored once as queries see it, and a
 * person's events all carry one person id. Seeded, so a failing seed replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClickHouse } from '../../lib/clickhouse';
import { createRedis } from '../../lib/redis';
import { sql } from '../../lib/sql';
import { EVENT_PIPELINE, runPipeline } from '../../consumers/events/pipeline';
import type { PipelineDeps, Step } from '../../consumers/events/types';
import { defaultProfileLoader } from '../../consumers/workspace-profiles';
import type { CollectedEvent } from '../../schema/event';
import { createTestWorkspace } from './support';
import { collected, env, selectRows, storedCounts } from './pipeline-support';
import { seededRandom } from '../../dev/seeded-random';

const EVENTS = 24;
const MAX_DELIVERIES = 40;

function faulty(random: () => number, faults: string[]): Step[] {
  return EVENT_PIPELINE.map((step) => ({
    name: step.name,
    async run(input) {
      if (random() < 0.15) {
        faults.push(`before ${step.name}`);
        throw new Error(`injected fault before ${step.name}`);
      }
      const outcomes = await step.run(input);
      if (random() < 0.1) {
        faults.push(`after ${step.name}`);
        throw new Error(`injected fault after ${step.name}`);
      }
      return outcomes;
    },
  }));
}

function deps(): PipelineDeps {
  return { env, now: () => Date.now(), redis: createRedis(env), clickhouse: createClickHouse(env), workspaces: defaultProfileLoader };
}

function eventsFor(workspaceId: string): CollectedEvent[] {
  return Array.from({ length: EVENTS }, (_, index) => {
    const user = `user-${index % 4}`;
    // Every fourth event identifies its anonymous id, so identity links are part of what must converge.
    return collected(workspaceId, { type: index % 4 === 0 ? 'identify' : 'track', event: index % 4 === 0 ? null : 'Faulty', userId: index % 3 === 0 ? null : user, anonymousId: `anon-${index % 4}` });
  });
}

describe('random step faults', () => {
  it.each([7, 11, 23])('seed %i: redelivery converges to each messageId stored once and one person per user', async (seed) => {
    const ws = await createTestWorkspace(`faults ${seed}`);
    const events = eventsFor(ws.workspaceId);
    const random = seededRandom(seed);
    const faults: string[] = [];
    let pending: CollectedEvent[] = events;
    let deliveries = 0;
    const settled = new Map<string, string>();
    while (pending.length > 0 && deliveries < MAX_DELIVERIES) {
      deliveries++;
      const messages = pending.map((body, index) => ({ id: `f-${deliveries}-${index}`, timestamp: new Date(), attempts: deliveries, body, ack: () => {}, retry: () => {} }));
      const result = await runPipeline(messages, deps(), faulty(random, faults));
      pending = [];
      for (const item of result.items) {
        const body = item.message.body as CollectedEvent;
        if (item.outcome.kind === 'retry') pending.push(body);
        else settled.set(body.messageId, item.outcome.kind);
      }
    }
    expect(faults.length, 'the seed injected faults').toBeGreaterThan(0);
    expect(pending).toEqual([]);
    expect([...settled.values()].every((kind) => kind === 'ok' || kind === 'drop')).toBe(true);
    expect(settled.size).toBe(EVENTS);

    expect((await storedCounts(ws.workspaceId)).events).toBe(EVENTS);
    const rows = await selectRows(sql`SELECT message_id, user_id, person_id FROM events FINAL WHERE workspace_id = ${ws.workspaceId}`, z.object({ message_id: z.string(), user_id: z.string(), person_id: z.string() }));
    expect(new Set(rows.map((row) => row.message_id))).toEqual(new Set(events.map((event) => event.messageId)));
    const personsOfUser = new Map<string, Set<string>>();
    for (const row of rows.filter((candidate) => candidate.user_id !== '')) personsOfUser.set(row.user_id, (personsOfUser.get(row.user_id) ?? new Set()).add(row.person_id));
    expect([...personsOfUser.values()].map((persons) => persons.size)).toEqual([1, 1, 1, 1]);
  }, 60_000);
});
