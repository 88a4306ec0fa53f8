/** Request facts added to each event: ip (optionally anonymised), user agent, geo, library. */
import type { CollectedEvent, EventSource, JsonObject } from '../../schema/event';

const MAX_USER_AGENT_LENGTH = 1024;
const MAX_GEO_FIELD_LENGTH = 128;

/** What the request tells us, read once per request; `cf` is injectable so tests set geo. */
export interface RequestFacts {
  connectingIp: string | null;
  userAgent: string | null;
  cf: unknown;
}

export function requestFacts(request: Request): RequestFacts {
  const userAgent = request.headers.get('user-agent')?.trim();
  return {
    connectingIp: request.headers.get('cf-connecting-ip'),
    // An empty or blank header is no user agent at all (bot screening flags it on browser traffic).
    userAgent: userAgent ? userAgent : null,
    cf: (request as Request & { cf?: unknown }).cf ?? null,
  };
}

function stringField(object: unknown, key: string, maxLength: number): string | null {
  if (typeof object !== 'object' || object === null) return null;
  const value: unknown = (object as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value.slice(0, maxLength) : null;
}

/** Keeps the network part: IPv4 /24, IPv6 /48 (the usual analytics practice). */
export function anonymizeIp(ip: string): string {
  if (ip.includes(':')) {
    const [head = '', tail = ''] = ip.split('::', 2);
    const headGroups = head === '' ? [] : head.split(':');
    const tailGroups = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
    const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
    const groups = [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
    return `${groups.slice(0, 3).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::`;
  }
  const octets = ip.split('.');
  return octets.length === 4 ? `${octets.slice(0, 3).join('.')}.0` : ip;
}

/**
 * Browser events: the connecting IP and user agent are the visitor's own. Server events:
 * the connection is the customer's server, so only what it forwards in `context.ip` /
 * `context.userAgent` / `context.location` describes the end user (see traffic.ts).
 */
export function resolveIp(source: EventSource, facts: RequestFacts, context: JsonObject, anonymize: boolean): string | null {
  const forwarded = stringField(context, 'ip', 64);
  const ip = source === 'browser' ? (facts.connectingIp ?? forwarded) : forwarded;
  if (ip === null) return null;
  return anonymize ? anonymizeIp(ip) : ip;
}

export function resolveUserAgent(source: EventSource, facts: RequestFacts, context: JsonObject): string | null {
  const forwarded = stringField(context, 'userAgent', MAX_USER_AGENT_LENGTH);
  const fromRequest = facts.userAgent ? facts.userAgent.slice(0, MAX_USER_AGENT_LENGTH) : null;
  return source === 'browser' ? (fromRequest ?? forwarded) : forwarded;
}

/** Country/region/city of an object: `request.cf`, or a Segment `context.location`. */
export function geoFrom(source: unknown): CollectedEvent['geo'] {
  const country = stringField(source, 'country', MAX_GEO_FIELD_LENGTH);
  const region = stringField(source, 'region', MAX_GEO_FIELD_LENGTH);
  const city = stringField(source, 'city', MAX_GEO_FIELD_LENGTH);
  return country === null && region === null && city === null ? null : { country, region, city };
}

/** Browser events: where the connection comes from (`request.cf`), else what the page forwarded. Server events: `context.location` only. */
export function resolveGeo(source: EventSource, requestGeo: CollectedEvent['geo'], context: JsonObject): CollectedEvent['geo'] {
  const forwarded = context.location === undefined ? null : geoFrom(context.location);
  return source === 'browser' ? (requestGeo ?? forwarded) : forwarded;
}

export function libraryFrom(context: JsonObject): CollectedEvent['library'] {
  const library = context.library;
  return {
    name: stringField(library, 'name', 100) ?? 'unknown',
    version: stringField(library, 'version', 50) ?? 'unknown',
  };
}

/** With anonymisation on, a raw IP must not survive inside the stored context either. */
export function scrubContext(context: JsonObject, anonymize: boolean): JsonObject {
  if (!anonymize || context.ip === undefined) return context;
  const scrubbed: JsonObject = { ...context };
  if (typeof context.ip === 'string') scrubbed.ip = anonymizeIp(context.ip);
  else delete scrubbed.ip;
  return scrubbed;
}
