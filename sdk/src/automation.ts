/**
 * Bot layer 1: names of the automation signals this browser shows. The SDK only reports them
 * (context.automation); the edge decides what to do, and the events are still sent.
 */
export interface AutomationProbe {
  webdriver: boolean | undefined;
  userAgent: string;
  globalNames: string[];
  rootAttributes: string[];
}

/** Globals (or their prefixes) that well-known automation tools leave on `window`. */
const GLOBAL_SIGNALS: Record<string, RegExp> = {
  phantom: /^(callPhantom|_phantom)$/,
  nightmare: /^__nightmare$/,
  selenium: /^(_selenium|__(selenium|webdriver|driver|fxdriver)_|_Selenium_IDE_Recorder$)/,
  chromedriver: /^(\$?cdc_|domAutomation)/,
  playwright: /^__(playwright|pw)/,
  puppeteer: /^__puppeteer/,
  cypress: /^Cypress$/,
};

export function automationSignals(probe: AutomationProbe): string[] {
  const found: string[] = [];
  if (probe.webdriver) found.push('webdriver');
  if (/HeadlessChrome|PhantomJS/.test(probe.userAgent)) found.push('headless_ua');
  for (const signal in GLOBAL_SIGNALS) {
    const pattern = GLOBAL_SIGNALS[signal];
    if (pattern && probe.globalNames.some((name) => pattern.test(name))) found.push(signal);
  }
  // Selenium IDE and some drivers mark the document element instead.
  if (!found.includes('selenium') && probe.rootAttributes.some((name) => /^(selenium|webdriver|driver)$/.test(name))) found.push('selenium');
  return found;
}

export function probeWindow(win: Window): AutomationProbe {
  return {
    webdriver: win.navigator.webdriver,
    userAgent: win.navigator.userAgent,
    globalNames: Object.getOwnPropertyNames(win),
    rootAttributes: win.document.documentElement.getAttributeNames(),
  };
}
