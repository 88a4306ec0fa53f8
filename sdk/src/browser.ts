/** The Platform for a real browser window: storage, cookie, clock, fetch/beacon, page facts, listeners. */
import { startAutocapture } from './autocapture';
import { detectAutomation } from './automation';
import type { Platform } from './client';
import type { SendResult, Transport } from './delivery';
import { cookieStore, webStore } from './storage';
import type { EnvironmentFacts, MonfriOptions } from './types';

const REQUEST_TIMEOUT_MS = 15_000;

/** A v4 UUID; the fallback (older browsers, non-secure contexts) uses Math.random. */
export function uuid(): string {
  return crypto?.randomUUID?.() ?? '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (digit) => (+digit ^ ((Math.random() * 16) >> (+digit / 4))).toString(16));
}

/**
 * fetch with keepalive and a text/plain string body: a "simple" CORS request (no preflight),
 * finishing even if the page unloads meanwhile.
 */
export function browserTransport(win: Window): Transport {
  return {
    async post(url, body): Promise<SendResult> {
      const abort = new AbortController();
      const timer = win.setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
      try {
        const response = await win.fetch(url, { method: 'POST', body, keepalive: true, credentials: 'omit', signal: abort.signal });
        const answer = (await response.json().catch(() => null)) as { rejected?: unknown; error?: { code?: unknown } } | null;
        const rejected = answer?.rejected;
        const reason = answer?.error?.code;
        return { status: response.status, retryAfter: response.headers.get('retry-after'), rejected: Array.isArray(rejected) ? rejected : [], reason: typeof reason === 'string' ? reason : null };
      } finally {
        win.clearTimeout(timer);
      }
    },
    // Offline, a beacon would be accepted and then lost: refuse it so the events stay stored.
    beacon: (url, body) => win.navigator.onLine !== false && !!win.navigator.sendBeacon?.(url, body),
  };
}

export function browserFacts(win: Window): EnvironmentFacts {
  const { location, document: doc, navigator: nav } = win;
  return {
    page: { url: location.href, path: location.pathname, referrer: doc.referrer, title: doc.title, search: location.search },
    userAgent: nav.userAgent,
    locale: nav.language,
    screen: { width: win.screen.width, height: win.screen.height },
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? '',
    automation: detectAutomation(win),
  };
}

/** The origin the SDK script was loaded from: the edge that serves it also collects. */
export function scriptOrigin(win: Window, script: Element | null): string {
  try {
    // No src (inline or no script) resolves to the page itself.
    return new URL(script?.getAttribute('src') ?? '', win.location.href).origin;
  } catch {
    return win.location.origin;
  }
}

export function browserPlatform(win: Window, options: MonfriOptions, defaultApiHost: string): Platform {
  const local = webStore(() => win.localStorage);
  return {
    store: options.cookieless ? webStore(() => win.sessionStorage) : local,
    idCookie: options.cookieless ? null : cookieStore(win.document, options.cookieDomain),
    consent: local,
    clock: {
      now: Date.now,
      setTimeout: (run, ms) => win.setTimeout(run, ms),
      random: Math.random,
    },
    transport: browserTransport(win),
    facts: () => browserFacts(win),
    uuid,
    privacySignal: () => {
      const nav = win.navigator as Navigator & { globalPrivacyControl?: boolean };
      return nav.doNotTrack === '1' || nav.globalPrivacyControl === true;
    },
    defaultApiHost,
    listen(hooks) {
      win.addEventListener('pagehide', () => hooks.hidden(true));
      win.document.addEventListener('visibilitychange', () => {
        if (win.document.visibilityState === 'hidden') hooks.hidden(false);
      });
      win.addEventListener('pageshow', (event) => {
        if (event.persisted) hooks.resumed();
      });
      win.addEventListener('online', () => hooks.online());
    },
    startCapture: (settings, sink) => startAutocapture(win, settings, sink),
    log: (level, message, detail) => console[level](`[monfri] ${message}`, ...(detail === undefined ? [] : [detail])),
  };
}
