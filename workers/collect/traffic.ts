/**
 * Browser or server traffic: a fact about the request, not about the key. Segment's model is
 * one write key for every source, servers included, so a write key says nothing about where
 * an event comes from. The rule, decided here and nowhere else:
 *
 * - browser: the SDK's own route (`/v1/collect`), a CORS request (it carries an `Origin`
 *   header), or an event whose `context.library.name` is a browser library. The request's IP
 *   and User-Agent are the visitor's own.
 * - server: anything else (Segment/RudderStack server libraries, curl, a backend's HTTP
 *   client), and always a request made with a secret key (a secret key in a web page is a
 *   leaked key; the browser route refuses it). The connection is the customer's server, so
 *   only what `context` forwards (`ip`, `userAgent`, `location`) describes the end user, and
 *   a missing one means "no verdict", never "bot".
 */
import type { KeyKind } from '../../schema/control-plane';
import type { EventSource, JsonObject } from '../../schema/event';

/** What the request alone decides; `by_library` leaves it to each event's `context.library`. */
export type RequestTraffic = 'browser' | 'server' | 'by_library';

/**
 * Libraries that run in a web page and post from the visitor's browser (lower case):
 * Segment's analytics.js (classic and analytics-next both report `analytics.js`), RudderStack's
 * JavaScript SDK, and ours. Mobile libraries are not here: their HTTP user agent is the
 * library's own, not a browser's.
 */
export const BROWSER_LIBRARIES: ReadonlySet<string> = new Set(['analytics.js', 'analytics-next', '@segment/analytics-next', 'rudderlabs javascript sdk', 'monfri.js']);

export interface RequestTrafficInput {
  /** The SDK's browser route. */
  browserRoute: boolean;
  origin: string | null;
  keyKind: KeyKind;
}

export function requestTraffic(input: RequestTrafficInput): RequestTraffic {
  if (input.keyKind === 'secret') return 'server';
  if (input.browserRoute || input.origin !== null) return 'browser';
  return 'by_library';
}

function libraryName(context: JsonObject): string | null {
  const library = context.library;
  if (typeof library !== 'object' || library === null || Array.isArray(library)) return null;
  const name = library.name;
  return typeof name === 'string' ? name : null;
}

export function isBrowserLibrary(name: string | null): boolean {
  return name !== null && BROWSER_LIBRARIES.has(name.trim().toLowerCase());
}

/** The source of one event of a request (its context is the event's, batch defaults merged in). */
export function eventSource(traffic: RequestTraffic, context: JsonObject): EventSource {
  if (traffic !== 'by_library') return traffic;
  return isBrowserLibrary(libraryName(context)) ? 'browser' : 'server';
}
