import { describe, expect, it } from 'vitest';
import { automationSignals, detectAutomation, probeWindow, type AutomationProbe } from './automation';

/** What the edge keeps (workers/collect/bot-screen.ts): anything else is dropped there. */
const EDGE_SIGNAL = /^[a-z0-9_.-]{1,40}$/i;

interface BrowserShape {
  userAgent: string;
  /** Client-hint brands; none in Firefox and Safari (and on http pages). */
  brands?: string[];
  webdriver?: boolean;
  /** Globals the browser, an in-app webview or the site itself defines. */
  globals?: string[];
  documentKeys?: string[];
  rootAttributes?: string[];
  external?: unknown;
}

const chromeExternal = { [Symbol.toStringTag]: 'External' };
/** Globals any page has, plus ones sites and wallets define that look like driver traces but are not. */
const PAGE_GLOBALS = ['window', 'document', 'location', 'fetch', 'localStorage', 'monfri', '__REACT_DEVTOOLS_GLOBAL_HOOK__', '__NEXT_DATA__', '__pwaInstallPrompt', 'phantom', 'driver', 'cdc_config', 'dataLayer', '_fbq'];

/**
 * A window shaped like a browser's: navigator attributes live on its prototype (as WebIDL
 * puts them), document's only own property is location, the rest are own globals.
 */
function fakeWindow(shape: BrowserShape): Window {
  const navigator: object = Object.create({
    webdriver: shape.webdriver ?? false,
    userAgent: shape.userAgent,
    userAgentData: shape.brands && { brands: shape.brands.map((brand) => ({ brand, version: '150' })) },
  });
  const document: Record<string, unknown> = Object.create({ documentElement: { getAttributeNames: () => shape.rootAttributes ?? ['lang', 'class'] } });
  document.location = {};
  for (const key of shape.documentKeys ?? []) document[key] = {};
  const win: Record<string, unknown> = { navigator, document, external: 'external' in shape ? shape.external : chromeExternal };
  for (const name of [...PAGE_GLOBALS, ...(shape.globals ?? [])]) win[name] ??= {};
  return win as unknown as Window;
}

const CHROME_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36';
const chrome: BrowserShape = { userAgent: CHROME_UA, brands: ['Google Chrome', 'Chromium', 'Not.A/Brand'], globals: ['chrome'] };

const HUMAN_BROWSERS: Record<string, BrowserShape> = {
  'Chrome (desktop)': chrome,
  'Chrome on a http page (no client hints)': { ...chrome, brands: undefined },
  'Chromium (Linux distribution build)': { userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36', brands: ['Chromium', 'Not.A/Brand'], globals: ['chrome'] },
  'Edge (Windows)': { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36 Edg/150.0.0.0', brands: ['Microsoft Edge', 'Chromium', 'Not.A/Brand'], globals: ['chrome'] },
  'Brave': { ...chrome, brands: ['Brave', 'Chromium', 'Not.A/Brand'] },
  'Chrome (Android)': { userAgent: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Mobile Safari/537.36', brands: ['Google Chrome', 'Chromium', 'Not.A/Brand'], globals: ['chrome'] },
  'Firefox (desktop)': { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0', globals: ['mozInnerScreenX'] },
  'Safari (macOS)': { userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15', external: undefined },
  'Safari (iOS)': { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1', globals: ['webkit'], external: undefined },
  'Chrome (iOS)': { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/150.0.0.0 Mobile/15E148 Safari/604.1', globals: ['webkit', '__gCrWeb'], external: undefined },
  'Firefox (iOS)': { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/140.0 Mobile/15E148 Safari/605.1.15', globals: ['webkit', '__firefox__'], external: undefined },
  'Instagram (Android webview)': {
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/150.0.0.0 Mobile Safari/537.36 Instagram 350.0.0.0.0 Android',
    brands: ['Android WebView', 'Chromium', 'Not.A/Brand'],
    globals: ['Android'],
  },
  'Facebook (iOS in-app)': { userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/480.0.0.0;FBBV/1;FBDV/iPhone16,1;FBMD/iPhone;FBSN/iOS;FBSV/18.0;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]', globals: ['webkit'], external: undefined },
  'LinkedIn (Android in-app)': { userAgent: 'Mozilla/5.0 (Linux; Android 13; SM-S911B; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/150.0.0.0 Mobile Safari/537.36 [LinkedInApp]/9.30', brands: ['Android WebView', 'Chromium'] },
};

const human: AutomationProbe = probeWindow(fakeWindow(chrome));
const withNames = (...names: string[]): AutomationProbe => ({ ...human, globalNames: [...human.globalNames, ...names] });

describe('automation signals in human browsers', () => {
  it.each(Object.entries(HUMAN_BROWSERS))('finds nothing in %s', (_name, shape) => {
    expect(detectAutomation(fakeWindow(shape))).toEqual([]);
  });
});

describe('automation signals', () => {
  it('names navigator.webdriver and a headless user agent', () => {
    expect(automationSignals({ ...human, webdriver: true, identity: human.identity.replace('Chrome/', 'HeadlessChrome/') })).toEqual(['webdriver', 'headless_ua']);
  });

  it('names a headless client-hint brand under an overridden user agent (headless shell)', () => {
    const shell = fakeWindow({ ...chrome, brands: ['Not:A-Brand', 'Chromium', 'HeadlessChrome'], globals: [] });
    expect(detectAutomation(shell)).toEqual(['headless_ua']);
  });

  it('names navigator.webdriver masked on navigator itself, whatever value the mask gives', () => {
    for (const masked of [false, undefined]) {
      const win = fakeWindow(chrome);
      Object.defineProperty(win.navigator, 'webdriver', { get: () => masked });
      expect(detectAutomation(win)).toEqual(['webdriver_override']);
    }
  });

  it('names Sequentum from window.external', () => {
    expect(detectAutomation(fakeWindow({ ...chrome, external: { toString: () => 'Sequentum Agent' } }))).toEqual(['sequentum']);
  });

  it.each([
    ['phantom', 'callPhantom'],
    ['phantom', '_phantom'],
    ['nightmare', '__nightmare'],
    ['selenium', '_selenium'],
    ['selenium', 'calledSelenium'],
    ['selenium', '_Selenium_IDE_Recorder'],
    ['selenium', '__webdriverFunc'],
    ['selenium', '__selenium_unwrapped'],
    ['selenium', '__webdriver_evaluate'],
    ['chromedriver', 'cdc_adoQpoasnfa76pfcZLmcfl_Array'],
    ['chromedriver', 'cdc_adoQpoasnfa76pfcZLmcfl_Promise'],
    ['chromedriver', 'domAutomation'],
    ['chromedriver', 'domAutomationController'],
    ['playwright', '__playwright__binding__'],
    ['playwright', '__pwInitScripts'],
    ['playwright', '__pwClock'],
    ['playwright', '__pw_manual'],
    ['puppeteer', '__puppeteer_evaluation_script__'],
    ['puppeteer', 'puppeteer___ariaQuerySelector'],
    ['puppeteer', 'puppeteer_onCustomEvent'],
    ['cypress', 'Cypress'],
  ])('names %s from the global %s', (signal, global) => {
    expect(automationSignals(withNames(global))).toEqual([signal]);
  });

  it.each([
    ['chromedriver', '$cdc_asdjflasutopfhvcZLmcfl_'],
    ['selenium', '$wdc_'],
    ['selenium', '__webdriver_evaluate'],
    ['selenium', '__selenium_evaluate'],
    ['selenium', '__webdriver_script_fn'],
    ['selenium', '__webdriver_script_function'],
    ['selenium', '__fxdriver_unwrapped'],
    ['selenium', '__driver_evaluate'],
    ['selenium', '__selenium_unwrapped'],
  ])('names %s from the document key %s', (signal, key) => {
    expect(detectAutomation(fakeWindow({ ...chrome, documentKeys: [key] }))).toEqual([signal]);
  });

  it('does not take look-alike names for driver traces', () => {
    const lookAlikes = ['__pwa', '__pwaInstallPrompt', 'phantom', 'driver', '__driverjs', 'cdc_config', 'cdc_tracking_consent_banner_', 'puppeteer', 'cypressTheme', 'seleniumDocs'];
    expect(automationSignals(withNames(...lookAlikes))).toEqual([]);
  });

  it('names selenium once from a marked document element', () => {
    expect(automationSignals({ ...human, rootAttributes: ['webdriver'], globalNames: [...human.globalNames, '_selenium'] })).toEqual(['selenium']);
    expect(automationSignals({ ...human, rootAttributes: ['driver'] })).toEqual(['selenium']);
    expect(automationSignals({ ...human, rootAttributes: ['selenium'] })).toEqual(['selenium']);
  });

  it('gives names the edge keeps', () => {
    const everything: AutomationProbe = {
      webdriver: true,
      webdriverOverridden: true,
      identity: 'HeadlessChrome Sequentum',
      globalNames: ['callPhantom', '__nightmare', '_selenium', 'domAutomation', '__pwClock', 'puppeteer_x', 'Cypress'],
      rootAttributes: [],
    };
    const signals = automationSignals(everything);
    expect(signals.length).toBeGreaterThan(5);
    for (const signal of signals) expect(signal).toMatch(EDGE_SIGNAL);
  });
});

describe('probing a window', () => {
  it('looks again for each event: driver caches appear after the page loaded', () => {
    const win = fakeWindow(chrome);
    expect(detectAutomation(win)).toEqual([]);
    (win.document as unknown as Record<string, unknown>).$cdc_asdjflasutopfhvcZLmcfl_ = {};
    expect(detectAutomation(win)).toEqual(['chromedriver']);
  });

  it('reports nothing rather than throwing when a global is hostile', () => {
    const hostile = fakeWindow({ ...chrome, webdriver: true, external: { toString: () => { throw new Error('no'); } } });
    expect(() => detectAutomation(hostile)).not.toThrow();
    expect(detectAutomation(hostile)).toEqual([]);
  });
});
