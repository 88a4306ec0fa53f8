/**
 * Bot layer 1: names of the automation signals this browser shows. The SDK only reports them
 * (context.automation); the edge decides what to do, and the events are still sent.
 * Every signal is something no human browser (desktop, mobile, in-app webview) shows: weak
 * hints (no plugins, no window.chrome, empty languages, permission mismatches, DevTools
 * tricks) are left out; the README says why.
 */
export interface AutomationProbe {
  webdriver: boolean | undefined;
  /** navigator.webdriver defined on navigator itself: browsers keep it on the prototype, masking scripts do not. */
  webdriverOverridden: boolean;
  /**
   * How the browser names itself: user agent, client-hint brands (headless shell keeps
   * "HeadlessChrome" there when the user agent is overridden) and window.external (Sequentum).
   */
  identity: string;
  /** Own property names of window and of document (drivers leave their caches on the latter). */
  globalNames: string[];
  rootAttributes: string[];
}

type ClientHints = { userAgentData?: { brands: unknown } };

export function automationSignals(probe: AutomationProbe): string[] {
  const named = (pattern: RegExp): boolean => probe.globalNames.some((name) => pattern.test(name));
  const signals: Record<string, boolean | undefined> = {
    webdriver: probe.webdriver,
    webdriver_override: probe.webdriverOverridden,
    headless_ua: /HeadlessChrome|PhantomJS/.test(probe.identity),
    phantom: named(/^(callP|_p)hantom$/),
    nightmare: named(/^__nightmare$/),
    // $wdc_: the Selenium atoms' element cache. Selenium IDE and some drivers mark the document element instead.
    selenium:
      named(/^((_|called)selenium|\$wdc_$|__(webdriver|selenium|fxdriver|driver_))/i) ||
      probe.rootAttributes.some((name) => /^(selenium|(web)?driver)$/.test(name)),
    // ChromeDriver's keys (cdc_ and 22 characters: sites use a bare cdc_ too) and the globals of
    // Chrome's --dom-automation switch (test harnesses, early ChromeDriver).
    chromedriver: named(/^(\$?cdc_[a-z\d]{22}_|domAutomation)/i),
    // Not a bare `__pw` prefix: progressive-web-app globals (`__pwa…`) share it.
    playwright: named(/^__(playwright|pw[A-Z_])/),
    // puppeteer_<name>: the CDP bindings behind page.exposeFunction and Puppeteer's ARIA queries.
    puppeteer: named(/^(__)?puppeteer_/),
    cypress: named(/^Cypress$/),
    sequentum: /Sequentum/.test(probe.identity),
  };
  return Object.keys(signals).filter((signal) => signals[signal]);
}

export function probeWindow(win: Window): AutomationProbe {
  const { navigator: nav, document: doc } = win;
  const ownNames = Object.getOwnPropertyNames;
  return {
    webdriver: nav.webdriver,
    webdriverOverridden: ownNames(nav).includes('webdriver'),
    identity: `${nav.userAgent} ${JSON.stringify((nav as Navigator & ClientHints).userAgentData?.brands)} ${win.external}`,
    globalNames: ownNames(win).concat(ownNames(doc)),
    rootAttributes: doc.documentElement.getAttributeNames(),
  };
}

/** The signals, probed again for each event: drivers add their traces after the page loads. */
export function detectAutomation(win: Window): string[] {
  try {
    return automationSignals(probeWindow(win));
  } catch {
    // A hostile or broken global must not cost the event.
    return [];
  }
}
