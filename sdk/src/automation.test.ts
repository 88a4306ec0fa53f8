import { describe, expect, it } from 'vitest';
import { automationSignals, type AutomationProbe } from './automation';

const human: AutomationProbe = {
  webdriver: false,
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36',
  globalNames: ['window', 'document', 'fetch', 'localStorage', 'monfri', '__REACT_DEVTOOLS_GLOBAL_HOOK__'],
  rootAttributes: ['lang', 'class'],
};

describe('automation signals', () => {
  it('finds nothing in an ordinary browser', () => {
    expect(automationSignals(human)).toEqual([]);
  });

  it('names navigator.webdriver and a headless user agent', () => {
    expect(automationSignals({ ...human, webdriver: true, userAgent: human.userAgent.replace('Chrome/', 'HeadlessChrome/') })).toEqual(['webdriver', 'headless_ua']);
  });

  it.each([
    ['phantom', 'callPhantom'],
    ['nightmare', '__nightmare'],
    ['selenium', '__selenium_unwrapped'],
    ['selenium', '__webdriver_evaluate'],
    ['chromedriver', 'cdc_adoQpoasnfa76pfcZLmcfl_Array'],
    ['playwright', '__playwright__binding__'],
    ['playwright', '__pwInitScripts'],
    ['puppeteer', '__puppeteer_evaluation_script__'],
    ['cypress', 'Cypress'],
  ])('names %s from the global %s', (signal, global) => {
    expect(automationSignals({ ...human, globalNames: [...human.globalNames, global] })).toEqual([signal]);
  });

  it('names selenium once from a marked document element', () => {
    expect(automationSignals({ ...human, rootAttributes: ['webdriver'], globalNames: [...human.globalNames, '_selenium'] })).toEqual(['selenium']);
    expect(automationSignals({ ...human, rootAttributes: ['driver'] })).toEqual(['selenium']);
  });
});
