/** Helpers for the consumer and query-API tests inside workerd: CollectedEvents, queue batches, ClickHouse reads. */
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { z } from 'zod';
import worker from '../../workers/index';
import { countStoredQuery, queryRows, uint64 } from '../../lib/event-queries';
import { createClickHouse } from '../../lib/clickhouse';
import type { CollectedEvent } from '../../schema/event';

let sequence = 0;

export function collected(workspaceId: string, overrides: Partial<CollectedEvent> = {}): CollectedEvent {
  sequence++;
  const timestamp = overrides.timestamp ?? new Date(Date.now() - 60_000 + sequence).toISOString();
  return {
    v: 1,
    workspaceId,
    messageId: `msg-${crypto.randomUUID()}`,
    type: 'track',
    event: 'Clicked',
    userId: null,
    anonymousId: `anon-${sequence}`,
    groupId: null,
    previousId: null,
    properties: {},
    traits: {},
    context: {},
    integrations: {},
    timestamp,
    originalTimestamp: timestamp,
    sentAt: timestamp,
    receivedAt: timestamp,
    timestampAdjustment: null,
    source: 'server',
    ip: null,
    userAgent: null,
    geo: null,
    library: { name: 'test', version: '1.0.0' },
    sessionId: null,
    bot: { flagged: false, reason: null },
    ...overrides,
  };
}

/** Delivers `bodies` as one queue batch to the real queue handler; `attempts` simulates redelivery. */
export async function deliver(bodies: unknown[], options: { queue?: string; attempts?: number; env?: Env } = {}) {
  const batch = createMessageBatch(
    options.queue ?? 'monfri-events',
    bodies.map((body, index) => ({ id: `qm-${crypto.randomUUID()}-${index}`, timestamp: new Date(), attempts: options.attempts ?? 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env, ctx);
  return getQueueResult(batch, ctx);
}

export async function storedCounts(workspaceId: string): Promise<{ events: number; rows: number }> {
  const client = createClickHouse(env);
  try {
    const [row] = await queryRows(client, countStoredQuery(workspaceId), z.object({ events: uint64, rows: uint64 }));
    return row ?? { events: 0, rows: 0 };
  } finally {
    await client.close();
  }
}

export async function selectRows<S extends z.ZodType>(query: string, schema: S): Promise<z.output<S>[]> {
  const client = createClickHouse(env);
  try {
    return await queryRows(client, query, schema);
  } finally {
    await client.close();
  }
}

export { env };

/**
 * Runs `body` with background merges of the events table stopped, so duplicate rows stay
 * visible to a raw count() until it ends (a merge would collapse them and hide what the
 * FINAL/uniqExact backstop absorbed). Queries keep working; merges resume afterwards.
 */
export async function withMergesStopped<T>(body: () => Promise<T>): Promise<T> {
  const client = createClickHouse(env);
  await client.command({ query: 'SYSTEM STOP MERGES events' });
  try {
    return await body();
  } finally {
    await client.command({ query: 'SYSTEM START MERGES events' });
    await client.close();
  }
}
