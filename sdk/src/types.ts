/** Public and internal SDK types. Event shapes come from the one event model in schema/ (types only: no zod ships). */
import type { IncomingEventInput, JsonObject, JsonValue } from '../../schema/event';

export type { JsonObject, JsonValue };

/** An event as the SDK queues and sends it: always carries the ids and times the edge relies on. */
export type SdkEvent = IncomingEventInput & {
  messageId: string;
  anonymousId: string;
  originalTimestamp: string;
  context: JsonObject;
};

export interface AutocaptureOptions {
  /** Page view on load and on SPA navigation (pushState, replaceState, popstate, hashchange). */
  pageview?: boolean;
  /** Clicks on links, buttons and [data-monfri-event] elements. */
  click?: boolean;
  /** Form submissions (field names only). */
  form?: boolean;
}

export interface MonfriOptions {
  /** Origin of the Monfri edge; defaults to the origin the script was loaded from. */
  apiHost?: string;
  /** Send as soon as this many events are waiting. */
  flushAt?: number;
  /** ...or after this many milliseconds. */
  flushInterval?: number;
  /** Most events kept waiting (memory and storage); the oldest are dropped first. */
  maxQueue?: number;
  autocapture?: boolean | AutocaptureOptions;
  /** No cookie and no localStorage: ids and the retry queue live in sessionStorage only. */
  cookieless?: boolean;
  /** Treat Do-Not-Track or Global Privacy Control as an opt-out (not persisted). */
  respectDnt?: boolean;
  cookieDomain?: string;
  debug?: boolean;
}

/** What the host page's environment contributes to each event's context. */
export interface PageFacts {
  url: string;
  path: string;
  referrer: string;
  title: string;
  search: string;
}

export interface EnvironmentFacts {
  page: PageFacts;
  userAgent: string;
  locale: string;
  screen: { width: number; height: number };
  timezone: string;
  automation: string[];
}
