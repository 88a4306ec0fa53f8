/** Query-string parsing for the query API: every bad value is a 400 with a machine-readable reason. */
import { z } from 'zod';
import { STATS_INTERVALS, type StatsInterval } from '../../lib/event-queries';
import { LIMITS } from '../../schema/event';
import { ApiError } from '../errors';

const PROPERTY_PREFIX = 'property.';
const MAX_PROPERTY_FILTERS = 10;

/** An ISO-8601 date or epoch milliseconds. */
const instant = z
  .string()
  .max(64)
  .transform((value, ctx) => {
    const ms = /^\d{1,16}$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

const booleanFlag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

export function parseQuery<S extends z.ZodType>(url: string, schema: S): z.output<S> {
  const params = Object.fromEntries([...new URL(url).searchParams].filter(([name]) => !name.startsWith(PROPERTY_PREFIX)));
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    throw new ApiError(400, 'invalid_query', 'The query string is not valid.', parsed.error.issues.map((issue) => ({ param: issue.path.join('.'), message: issue.message })));
  }
  return parsed.data;
}

/** `?property.plan=pro&property.count=3`: property equals filters (values compared as sent: strings as-is, others as JSON). */
export function propertyFilters(url: string): [string, string][] {
  const filters = [...new URL(url).searchParams].filter(([name]) => name.startsWith(PROPERTY_PREFIX)).map(([name, value]): [string, string] => [name.slice(PROPERTY_PREFIX.length), value]);
  if (filters.length > MAX_PROPERTY_FILTERS) throw new ApiError(400, 'too_many_property_filters', `At most ${MAX_PROPERTY_FILTERS} property filters.`);
  if (filters.some(([key]) => key.length === 0)) throw new ApiError(400, 'invalid_query', 'A property filter needs a key: property.<key>=<value>.');
  return filters;
}

const id = z.string().min(1).max(LIMITS.maxIdLength + 10);

export const eventsQuerySchema = z.object({
  event: z.string().min(1).max(LIMITS.maxEventNameLength).optional(),
  type: z.enum(['track', 'identify', 'page', 'screen', 'group', 'alias']).optional(),
  personId: id.optional(),
  userId: id.optional(),
  anonymousId: id.optional(),
  from: instant.optional(),
  to: instant.optional(),
  includeBots: booleanFlag.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(500).optional(),
});

export const statsQuerySchema = z.object({
  event: z.string().min(1).max(LIMITS.maxEventNameLength).optional(),
  from: instant.optional(),
  to: instant.optional(),
  interval: z.enum(STATS_INTERVALS).default('hour'),
  includeBots: booleanFlag.optional(),
});

export const personQuerySchema = z.object({
  includeBots: booleanFlag.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const cursorSchema = z.object({ t: z.number().int().nonnegative(), m: z.string() });

export function encodeCursor(timestampMs: number, messageId: string): string {
  return btoa(JSON.stringify({ t: timestampMs, m: messageId })).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeCursor(cursor: string): { timestampMs: number; messageId: string } {
  try {
    const json: unknown = JSON.parse(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
    const parsed = cursorSchema.parse(json);
    return { timestampMs: parsed.t, messageId: parsed.m };
  } catch {
    throw new ApiError(400, 'invalid_cursor', 'The cursor is not one this API returned.');
  }
}

export const MAX_RANGE_MS = 366 * 24 * 60 * 60 * 1000;

export function assertRange(fromMs: number, toMs: number): void {
  if (toMs <= fromMs) throw new ApiError(400, 'invalid_range', '`to` must be after `from`.');
  if (toMs - fromMs > MAX_RANGE_MS) throw new ApiError(400, 'range_too_large', 'The range may span at most 366 days.');
}

/** Per-minute buckets are for recent activity; a week of them is already 10,080 points per event. */
export const MAX_MINUTE_RANGE_MS = 7 * 24 * 60 * 60 * 1000;

export function assertStatsRange(fromMs: number, toMs: number, interval: StatsInterval): void {
  assertRange(fromMs, toMs);
  if (interval === 'minute' && toMs - fromMs > MAX_MINUTE_RANGE_MS) {
    throw new ApiError(400, 'range_too_large', 'With interval=minute the range may span at most 7 days; use hour or day.');
  }
}
