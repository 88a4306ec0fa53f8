/**
 * The SDK core: identity, sessions, event building and the public API, over an injected
 * Platform (storage, clock, transport, page facts), so it runs in Node tests without a DOM.
 * Every public call is guarded: a bad argument or an SDK bug never throws into the host page
 * (debug mode logs it). Calls made before init() are kept and replayed by init().
 */
import { createDelivery, type Clock, type Delivery, type Transport } from './delivery';
import { isObject } from './json';
import { QUEUE_KEY_PREFIX, takeDropped } from './outbox';
import { parseSession, touchSession } from './session';
import type { Store } from './storage';
import type { AutocaptureOptions, EnvironmentFacts, JsonObject, MonfriOptions, SdkEvent } from './types';
import { LIBRARY_NAME, SDK_VERSION } from './version';

/** Storage keys (plain constants rather than an object: their names minify). */
export const ANONYMOUS_ID_KEY = 'monfri_aid';
export const USER_ID_KEY = 'monfri_uid';
export const SESSION_KEY = 'monfri_session';
export const OPT_OUT_KEY = 'monfri_optout';

export interface PageHooks {
  /** Page hidden; `leaving` when it is being unloaded (pagehide). */
  hidden(leaving: boolean): void;
  /** Page shown again from the back/forward cache. */
  resumed(): void;
  online(): void;
}

/** Its calls never throw (the client guards them): autocapture makes them inside the page's own history calls. */
export interface CaptureSink {
  page(): void;
  track(event: string, properties: JsonObject): void;
}

export interface Platform {
  /** Ids, session and retry queue: localStorage, or sessionStorage when cookieless. */
  store: Store;
  /** The anonymous-id cookie; null when cookieless. */
  idCookie: Pick<Store, 'get' | 'set' | 'del'> | null;
  /** Where the opt-out choice lives: always durable (a preference, not an identifier). */
  consent: Store;
  clock: Clock;
  transport: Transport;
  facts(): EnvironmentFacts;
  uuid(): string;
  /** Do-Not-Track or Global Privacy Control is on. */
  privacySignal(): boolean;
  /** Default edge origin (where the script came from). */
  defaultApiHost: string;
  listen(hooks: PageHooks): void;
  startCapture(settings: Required<AutocaptureOptions>, sink: CaptureSink): void;
  log(level: 'log' | 'warn', message: string, detail?: unknown): void;
}

export interface MonfriApi {
  /** Tells the snippet's stub that the real SDK is here. */
  loaded: true;
  init(writeKey: string, options?: MonfriOptions): void;
  track(event: string, properties?: JsonObject): void;
  identify(userId?: string | number | JsonObject | null, traits?: JsonObject): void;
  page(name?: string | JsonObject | null, properties?: JsonObject): void;
  group(groupId: string | number, traits?: JsonObject): void;
  alias(newId: string | number, previousId?: string | number): void;
  /** Logs out: forgets the user id, starts a new anonymous id and a new session. */
  reset(): void;
  /** Persisted: nothing is sent, and nothing waiting is kept, until optIn(). */
  optOut(): void;
  optIn(): void;
  flush(): Promise<void>;
  debug(on?: boolean): void;
}

type EventBody =
  | { type: 'track'; event: string; properties: JsonObject }
  | { type: 'identify'; traits: JsonObject }
  | { type: 'page'; name?: string; properties: JsonObject }
  | { type: 'group'; groupId: string; traits: JsonObject }
  | { type: 'alias'; previousId: string; userId: string };

/** A shallow copy of caller-given properties or traits; anything that is not an object becomes {}. */
const copy = (value: unknown): JsonObject => (isObject(value) ? { ...value } : {});

function captureSettings(option: MonfriOptions['autocapture']): Required<AutocaptureOptions> {
  const all = option !== false;
  const chosen: AutocaptureOptions = isObject(option) ? option : {};
  return { pageview: chosen.pageview ?? all, click: chosen.click ?? all, form: chosen.form ?? all };
}

export function createClient(platformFor: (options: MonfriOptions) => Platform): MonfriApi {
  let platform: Platform | null = null;
  let delivery: Delivery | null = null;
  let options: MonfriOptions = {};
  let verbose = false;
  let anonymousId: string | null = null;
  let pageUrl: string | null = null;
  let referrer: string | null = null;
  const deferred: (() => void)[] = [];

  const report = (error: unknown): void => {
    if (verbose) console.warn('[monfri]', error);
  };

  /** Guards a public call; before init() it is kept for init() to replay. */
  const guarded =
    <A extends unknown[]>(run: (...args: A) => void, deferrable = true) =>
    (...args: A): void => {
      try {
        if (deferrable && !platform) deferred.push(() => run(...args));
        else run(...args);
      } catch (error) {
        report(error);
      }
    };

  const active = (): boolean =>
    !!platform && platform.consent.get(OPT_OUT_KEY) !== '1' && !(options.respectDnt && platform.privacySignal());

  const userId = (): string | null | undefined => platform?.store.get(USER_ID_KEY);

  /** Never rejects: the executor runs now, and whatever it throws becomes the rejection report() takes. */
  const flush = (): Promise<void> => new Promise<void>((resolve) => resolve(delivery?.flush())).catch(report);

  /** Resolved once per page (cookie first: it outlives a cleared localStorage), then written back to both. */
  function anonymous(on: Platform): string {
    if (anonymousId) return anonymousId;
    const id = on.idCookie?.get(ANONYMOUS_ID_KEY) ?? on.store.get(ANONYMOUS_ID_KEY) ?? on.uuid();
    on.idCookie?.set(ANONYMOUS_ID_KEY, id);
    on.store.set(ANONYMOUS_ID_KEY, id);
    anonymousId = id;
    return id;
  }

  function forgetIdentity(): void {
    for (const key of [USER_ID_KEY, ANONYMOUS_ID_KEY, SESSION_KEY]) platform?.store.del(key);
    platform?.idCookie?.del(ANONYMOUS_ID_KEY);
    anonymousId = null;
  }

  const pageFacts = (env: EnvironmentFacts): JsonObject => ({ ...env.page, referrer: referrer ?? env.page.referrer });

  /**
   * sessionStart is a flag on the session's first event, not a separate event: it cannot be
   * lost or reordered apart from that event, costs no extra event against plans and billing,
   * and "sessions started" is a count of the flag.
   */
  function context(on: Platform, env: EnvironmentFacts, now: number): JsonObject {
    const touched = touchSession(parseSession(on.store.get(SESSION_KEY)), now, on.uuid);
    on.store.set(SESSION_KEY, JSON.stringify(touched.state));
    // Every environment fact goes on the wire as it is; automation only when there is some.
    const { automation, ...environment } = env;
    const result: JsonObject = { library: { name: LIBRARY_NAME, version: SDK_VERSION }, ...environment, page: pageFacts(env), sessionId: touched.state.id };
    if (touched.started) result.sessionStart = true;
    if (automation.length) result.automation = automation;
    const dropped = takeDropped(on.store);
    if (dropped) result.droppedEvents = dropped;
    return result;
  }

  function emit(body: EventBody, facts?: EnvironmentFacts): void {
    if (!platform || !delivery || !active()) return;
    const now = platform.clock.now();
    const event: SdkEvent = {
      userId: userId() ?? undefined,
      ...body,
      messageId: platform.uuid(),
      anonymousId: anonymous(platform),
      originalTimestamp: new Date(now).toISOString(),
      context: context(platform, facts ?? platform.facts(), now),
    };
    delivery.add(event);
    if (verbose) platform.log('log', event.type, event);
  }

  function track(event: string, properties?: JsonObject): void {
    if (typeof event !== 'string' || !event) throw new TypeError('track needs an event name');
    emit({ type: 'track', event, properties: copy(properties) });
  }

  function identify(id?: string | number | JsonObject | null, traits?: JsonObject): void {
    if (isObject(id)) return identify(null, id);
    if (id !== null && id !== undefined && id !== '' && active()) platform?.store.set(USER_ID_KEY, String(id));
    emit({ type: 'identify', traits: copy(traits) });
  }

  function page(name?: string | JsonObject | null, properties?: JsonObject): void {
    if (isObject(name)) return page(null, name);
    const facts = platform?.facts();
    if (!facts) return;
    if (facts.page.url !== pageUrl) {
      // After a single-page navigation the previous URL is the referrer, not document.referrer.
      referrer = pageUrl;
      pageUrl = facts.page.url;
    }
    const body: EventBody = { type: 'page', properties: { ...pageFacts(facts), ...copy(properties) } };
    if (name) body.name = name;
    emit(body, facts);
  }

  function init(writeKey: string, chosen: MonfriOptions = {}): void {
    if (platform) return;
    if (typeof writeKey !== 'string' || !writeKey) throw new TypeError('init needs a write key');
    const on = platformFor(chosen);
    const apiHost = (chosen.apiHost ?? on.defaultApiHost).replace(/\/+$/, '');
    const sending = createDelivery(
      {
        url: `${apiHost}/v1/collect`,
        writeKey,
        flushAt: chosen.flushAt ?? 20,
        flushInterval: chosen.flushInterval ?? 2000,
        maxQueue: chosen.maxQueue ?? 500,
        store: on.store,
        queueKey: QUEUE_KEY_PREFIX + on.uuid(),
        warn: (message, detail) => on.log('warn', message, detail),
      },
      on.transport,
      on.clock,
    );
    platform = on;
    delivery = sending;
    options = chosen;
    verbose ||= !!chosen.debug;
    on.listen({
      hidden: guarded(sending.hide),
      resumed: guarded(sending.resume),
      online: () => void flush(),
    });
    const capture = captureSettings(chosen.autocapture);
    on.startCapture(capture, { page: guarded(() => page()), track: guarded(track) });
    for (const call of deferred.splice(0)) guarded(call)();
    if (capture.pageview) page();
  }

  return {
    loaded: true,
    init: guarded(init, false),
    track: guarded(track),
    identify: guarded(identify),
    page: guarded(page),
    group: guarded((groupId: string | number, traits?: JsonObject) => emit({ type: 'group', groupId: String(groupId), traits: copy(traits) })),
    alias: guarded((newId: string | number, previousId?: string | number) => {
      if (!platform || !active()) return;
      emit({ type: 'alias', previousId: String(previousId ?? userId() ?? anonymous(platform)), userId: String(newId) });
    }),
    reset: guarded(forgetIdentity),
    optOut: guarded(() => {
      platform?.consent.set(OPT_OUT_KEY, '1');
      delivery?.clear();
      forgetIdentity();
    }),
    optIn: guarded(() => platform?.consent.del(OPT_OUT_KEY)),
    flush,
    debug: guarded((on = true) => {
      verbose = on;
    }, false),
  };
}
