/**
 * Schema discovery API (secret key or dashboard session), mounted at /v1:
 * - GET /schema: every event received (and every planned one never received) with volume,
 *   first/last seen, plan status, violations and warnings
 * - GET /schema/events/:name?type=track: one event's keys: types with counts, distinct values,
 *   examples, first/last seen, whether the plan describes them, violations per rule
 * - GET /schema/docs.md: the plan merged with discovery as Markdown
 * - GET /schema/draft-plan: a tracking plan (Monfri's model) describing what was received;
 *   PUT it to /v1/tracking-plan to adopt it
 * `days` (default 30) bounds the violation counts; discovery covers everything received.
 * Reads only the aggregate tables (lib/schema-queries.ts); the report is lib/tracking-plans/discovery.ts.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { queryRows, uint64 } from '../../lib/event-queries';
import { MAX_SCHEMA_KEY_ROWS, planViolationCountsQuery, schemaEventsQuery, schemaKeysQuery, type SchemaEventKey } from '../../lib/schema-queries';
import { draftPlanFromDiscovery, eventSchemaReports, schemaMarkdown, schemaReport, type DiscoveryInput } from '../../lib/tracking-plans/discovery';
import { getTrackingPlan } from '../../lib/tracking-plans/store';
import { EVENT_TYPES } from '../../schema/event';
import { getWorkspace } from '../admin/control-plane';
import { requireSecretKeyOrSession } from '../auth/session';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';
import { parseQuery } from './query-params';
import { withClickHouse } from './routes';

const DAY_MS = 86_400_000;

const eventRow = z.object({ type: z.string(), event: z.string(), events: uint64, first_seen_ms: uint64, last_seen_ms: uint64 });
const keyRow = z.object({ type: z.string(), event: z.string(), path: z.string(), value_type: z.string(), occurrences: uint64, distinct_values: uint64, first_seen_ms: uint64, last_seen_ms: uint64, example: z.string() });
const violationRow = z.object({ type: z.string(), event: z.string(), rule: z.string(), path: z.string(), events: uint64, flagged: uint64, blocked: uint64 });

const reportQuery = z.object({ days: z.coerce.number().int().min(1).max(3650).default(30) });
const eventQuery = reportQuery.extend({ type: z.enum(EVENT_TYPES).default('track') });

/** Whose schema a request reads: a workspace's own key or session (/v1), or the admin API for a chosen workspace. */
export type SchemaScope = (c: Context<AppEnv>) => { workspaceId: string };

async function workspaceName(c: Context<AppEnv>, workspaceId: string): Promise<string> {
  return (await getWorkspace(c.env.DB, workspaceId))?.name ?? workspaceId;
}

async function discoveryInput(c: Context<AppEnv>, workspaceId: string, days: number, only: SchemaEventKey | null): Promise<DiscoveryInput> {
  const fromDay = new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);
  const [stored, rows] = await Promise.all([
    getTrackingPlan(c.env.DB, workspaceId),
    withClickHouse(c.env, (client) =>
      Promise.all([queryRows(client, schemaEventsQuery(workspaceId), eventRow), queryRows(client, schemaKeysQuery(workspaceId, only), keyRow), queryRows(client, planViolationCountsQuery(workspaceId, fromDay, only), violationRow)]),
    ),
  ]);
  const [events, keys, violations] = rows;
  return {
    plan: stored?.plan ?? null,
    events: only ? events.filter((row) => row.type === only.type && row.event === only.event) : events,
    keys: keys.slice(0, MAX_SCHEMA_KEY_ROWS),
    violations,
    truncated: keys.length > MAX_SCHEMA_KEY_ROWS,
  };
}

export function schemaApi(scope: SchemaScope): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get('/schema', async (c) => {
      const { days } = parseQuery(c.req.url, reportQuery);
      return c.json(schemaReport(await discoveryInput(c, scope(c).workspaceId, days, null)));
    })
    .get('/schema/events/:name', async (c) => {
      const { days, type } = parseQuery(c.req.url, eventQuery);
      const only = { type, event: type === 'identify' || type === 'group' || type === 'alias' ? '' : c.req.param('name') };
      const input = await discoveryInput(c, scope(c).workspaceId, days, only);
      const report = eventSchemaReports(input).find((entry) => entry.type === only.type && entry.event === only.event);
      if (!report) throw new ApiError(404, 'event_not_found', 'No such event was received, and the tracking plan does not list it.');
      return c.json({ ...report, plan: input.plan ? { id: input.plan.id ?? null, name: input.plan.name, version: input.plan.version ?? null } : null });
    })
    .get('/schema/docs.md', async (c) => {
      const { days } = parseQuery(c.req.url, reportQuery);
      const { workspaceId } = scope(c);
      const markdown = schemaMarkdown(await discoveryInput(c, workspaceId, days, null), await workspaceName(c, workspaceId), Date.now());
      return c.body(markdown, 200, { 'content-type': 'text/markdown; charset=utf-8' });
    })
    .get('/schema/draft-plan', async (c) => {
      const { workspaceId } = scope(c);
      const input = await discoveryInput(c, workspaceId, 1, null);
      return c.json({ plan: draftPlanFromDiscovery(input, `${await workspaceName(c, workspaceId)} (drafted from discovery)`), truncated: input.truncated ?? false });
    });
}

export const schemaRoutes = new Hono<AppEnv>()
  .use('/schema', requireSecretKeyOrSession)
  .use('/schema/*', requireSecretKeyOrSession)
  .route('/', schemaApi((c) => ({ workspaceId: c.var.apiKey.workspace.id })));
