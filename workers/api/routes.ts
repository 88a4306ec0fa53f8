/**
 * Query API (`GET /v1/events`, `/v1/stats`, `/v1/persons/:id`), secret keys only. Mounted
 * at /v1 next to the collect routes, so auth is bound to these GET paths, not `/v1/*`.
 * Bot-flagged events are excluded unless `?includeBots=true`. All SQL comes from
 * lib/event-queries.ts; every count is exact under duplicates (see that module).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { createClickHouse, type ClickHouseClient } from '../../lib/clickhouse';
import {
  botEventsQuery,
  botReasonsQuery,
  conflictsOfPersonsQuery,
  listEventsQuery,
  queryRows,
  statsByEventQuery,
  uint64,
  uniquePersonsQuery,
  type EventFilters,
  type PersonMatch,
} from '../../lib/event-queries';
import { personMembership } from '../../durable-objects/segment-calls';
import { eventRowSchema, eventView } from '../../lib/event-view';
import { personComputedTraitsQuery, personStatsQuery, personTraitsQuery } from '../../lib/segment-queries';
import { activeSegmentOf, listComputedTraits, listSegments } from '../../lib/segments/store';
import type { JsonObject, JsonValue } from '../../schema/event';
import type { ComputedTraitDefinition, Segment } from '../../schema/segments';
import { botLayerOf } from '../../schema/workspace-settings';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { identityKeyOf, resolvePerson } from '../../lib/persons';
import { assertStatsRange, decodeCursor, encodeCursor, eventsQuerySchema, parseQuery, personQuerySchema, propertyFilters, statsQuerySchema } from './query-params';

const DAY_MS = 24 * 60 * 60 * 1000;

export async function withClickHouse<T>(env: Env, run: (client: ClickHouseClient) => Promise<T>): Promise<T> {
  const client = createClickHouse(env, { timeoutMs: 15_000 });
  try {
    return await run(client);
  } catch (error) {
    if (error instanceof ApiError || error instanceof z.ZodError) throw error;
    console.error(JSON.stringify({ level: 'error', msg: 'query_failed', error: String(error) }));
    throw new ApiError(503, 'analytics_unavailable', 'The analytics store did not answer; try again shortly.', undefined, { 'retry-after': '5' });
  } finally {
    await client.close();
  }
}

async function personMatchFor(client: ClickHouseClient, workspaceId: string, query: { personId?: string; userId?: string; anonymousId?: string }): Promise<PersonMatch | undefined> {
  if (query.personId) return (await resolvePerson(client, workspaceId, identityKeyOf(query.personId))).match;
  if (query.userId) return (await resolvePerson(client, workspaceId, identityKeyOf(query.userId, 'user'))).match;
  if (query.anonymousId) return (await resolvePerson(client, workspaceId, identityKeyOf(query.anonymousId, 'anonymous'))).match;
  return undefined;
}

/** Identify traits, the latest value per key (materialised in person_traits), values as sent. */
function traitsOf(rows: readonly { key: string; value: string }[]): JsonObject {
  const traits: JsonObject = {};
  for (const row of rows) {
    let value: JsonValue;
    try {
      value = JSON.parse(row.value) as JsonValue;
    } catch {
      value = row.value;
    }
    Object.defineProperty(traits, row.key, { value, enumerable: true, writable: true, configurable: true });
  }
  return traits;
}

function computedTraitsOf(stats: { first_seen_ms: number; last_seen_ms: number; event_count: number; session_count: number } | undefined, definitions: readonly ComputedTraitDefinition[], custom: Record<string, number | string | null> | undefined): JsonObject {
  const known = stats !== undefined && stats.event_count > 0;
  const computed: JsonObject = {
    first_seen: known ? new Date(stats.first_seen_ms).toISOString() : null,
    last_seen: known ? new Date(stats.last_seen_ms).toISOString() : null,
    event_count: stats?.event_count ?? 0,
    session_count: stats?.session_count ?? 0,
  };
  definitions.forEach((definition, index) => {
    const value = custom?.[`t${index}`];
    computed[definition.name] = value === undefined ? null : typeof value === 'string' && definition.kind !== 'last' ? Number(value) : value;
  });
  return computed;
}

/** The segments a person is in now, from the segments' own state (the Durable Objects decide membership). */
async function personSegments(env: Env, workspaceId: string, segments: readonly Segment[], personId: string): Promise<{ id: string; name: string; enteredAt: string | null }[]> {
  const memberships = await Promise.all(
    segments.map(async (segment) => {
      try {
        return { segment, membership: await personMembership(env, workspaceId, activeSegmentOf(segment), personId) };
      } catch (error) {
        console.warn(JSON.stringify({ level: 'warn', msg: 'segment_membership_unavailable', segmentId: segment.id, error: String(error) }));
        return null;
      }
    }),
  );
  return memberships.flatMap((entry) => (entry?.membership.member ? [{ id: entry.segment.id, name: entry.segment.name, enteredAt: entry.membership.since === null ? null : new Date(entry.membership.since).toISOString() }] : []));
}

export const queryApiRoutes = new Hono<AppEnv>()
  .on('GET', ['/events', '/stats', '/persons/:id'], requireSecretKeyOrSession)
  .get('/events', async (c) => {
    const query = parseQuery(c.req.url, eventsQuerySchema);
    const workspaceId = c.var.apiKey.workspace.id;
    const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
    return withClickHouse(c.env, async (client) => {
      const filters: EventFilters = {
        workspaceId,
        event: query.event,
        types: query.type ? [query.type] : undefined,
        person: await personMatchFor(client, workspaceId, query),
        fromMs: query.from,
        toMs: query.to,
        propertyEquals: propertyFilters(c.req.url),
        includeBots: query.includeBots ?? false,
      };
      const rows = await queryRows(client, listEventsQuery(filters, query.limit, cursor), eventRowSchema);
      const last = rows.at(-1);
      return c.json({ events: rows.map(eventView), nextCursor: rows.length === query.limit && last ? encodeCursor(last.timestamp_ms, last.message_id) : null });
    });
  })
  .get('/stats', async (c) => {
    const query = parseQuery(c.req.url, statsQuerySchema);
    const toMs = query.to ?? Date.now();
    const fromMs = query.from ?? toMs - DAY_MS;
    assertStatsRange(fromMs, toMs, query.interval);
    const filters: EventFilters = { workspaceId: c.var.apiKey.workspace.id, event: query.event, fromMs, toMs, includeBots: query.includeBots ?? false };
    return withClickHouse(c.env, async (client) => {
      const [buckets, totals, botReasons, botTotals] = await Promise.all([
        queryRows(client, statsByEventQuery(filters, query.interval), z.object({ bucket: uint64, type: z.string(), event: z.string(), events: uint64 })),
        queryRows(client, uniquePersonsQuery(filters), z.object({ events: uint64, persons: uint64 })),
        queryRows(client, botReasonsQuery(filters), z.object({ reason: z.string(), events: uint64 })),
        queryRows(client, botEventsQuery(filters), z.object({ events: uint64 })),
      ]);
      return c.json({
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        interval: query.interval,
        buckets: buckets.map((row) => ({ bucket: new Date(row.bucket * 1000).toISOString(), type: row.type, event: row.event || null, count: row.events })),
        totals: { events: totals[0]?.events ?? 0, uniquePersons: totals[0]?.persons ?? 0 },
        // Shown, never counted above: bot-flagged events of the same range, by reason and by layer.
        bots: { events: botTotals[0]?.events ?? 0, byReason: botReasons.map((row) => ({ reason: row.reason, layer: botLayerOf(row.reason), events: row.events })) },
      });
    });
  })
  .get('/persons/:id', async (c) => {
    const query = parseQuery(c.req.url, personQuerySchema);
    const workspaceId = c.var.apiKey.workspace.id;
    const [segments, definitions] = await Promise.all([listSegments(c.env.DB, workspaceId), listComputedTraits(c.env.DB, workspaceId)]);
    return withClickHouse(c.env, async (client) => {
      const person = await resolvePerson(client, workspaceId, identityKeyOf(c.req.param('id')));
      const filters: EventFilters = { workspaceId, person: person.match, includeBots: query.includeBots ?? false };
      const ids = person.match.personIds;
      const [events, traitRows, stats, custom, conflicts, memberships] = await Promise.all([
        queryRows(client, listEventsQuery(filters, query.limit), eventRowSchema),
        queryRows(client, personTraitsQuery(workspaceId, ids), z.object({ key: z.string(), value: z.string(), latest_at_ms: uint64 })),
        queryRows(client, personStatsQuery(workspaceId, ids), z.object({ first_seen_ms: uint64, last_seen_ms: uint64, event_count: uint64, session_count: uint64 })),
        definitions.length > 0 ? queryRows(client, personComputedTraitsQuery(workspaceId, ids, definitions, Date.now()), z.record(z.string(), z.union([z.number(), z.string(), z.null()]))) : Promise.resolve([]),
        queryRows(client, conflictsOfPersonsQuery(workspaceId, ids), z.object({ identity_key: z.string(), existing_person_id: z.string(), claimed_person_id: z.string(), message_id: z.string(), detected_at_ms: uint64 })),
        personSegments(c.env, workspaceId, segments, person.personId),
      ]);
      if (events.length === 0 && person.identities.length <= 1 && traitRows.length === 0) {
        throw new ApiError(404, 'person_not_found', 'No events or identities for this person.');
      }
      return c.json({
        person: {
          id: person.personId,
          identities: person.identities,
          traits: traitsOf(traitRows),
          computedTraits: computedTraitsOf(stats[0], definitions, custom[0]),
          segments: memberships,
        },
        conflicts: conflicts.map((row) => ({ identityKey: row.identity_key, existingPersonId: row.existing_person_id, claimedPersonId: row.claimed_person_id, messageId: row.message_id, detectedAt: new Date(row.detected_at_ms).toISOString() })),
        events: events.map(eventView),
      });
    });
  });
