import { describe, expect, it } from 'vitest';
import { loaderScript, snippetHtml, STUB_METHODS } from './snippet';

interface FakeScript {
  async?: boolean;
  src?: string;
}
type Stub = Record<string, unknown> & { q: [string, unknown[]][] };

/** Runs the loader against a minimal window/document that records the script it appends. */
function runLoader(existing?: Record<string, unknown>): { win: { monfri?: Stub }; appended: FakeScript[] } {
  const appended: FakeScript[] = [];
  const win: { monfri?: Stub } = existing ? { monfri: existing as Stub } : {};
  const doc = { createElement: (): FakeScript => ({}), head: { appendChild: (script: FakeScript) => appended.push(script) } };
  new Function('window', 'document', loaderScript('https://edge.example/sdk/v1/monfri.min.js'))(win, doc);
  return { win, appended };
}

describe('snippet', () => {
  it('defines a stub that queues every API call in order and loads the script async', () => {
    const { win, appended } = runLoader();
    const stub = win.monfri as Stub;
    for (const method of STUB_METHODS) expect(typeof stub[method]).toBe('function');
    (stub.init as (...a: unknown[]) => void)('wk_1', { debug: true });
    (stub.track as (...a: unknown[]) => void)('Clicked', { n: 1 });
    (stub.identify as (...a: unknown[]) => void)('user-1');
    expect(stub.q).toEqual([
      ['init', ['wk_1', { debug: true }]],
      ['track', ['Clicked', { n: 1 }]],
      ['identify', ['user-1']],
    ]);
    expect(appended).toEqual([{ async: true, src: 'https://edge.example/sdk/v1/monfri.min.js' }]);
  });

  it('does nothing when the real SDK is already on the page', () => {
    const real = { loaded: true, track: () => 'real' };
    const { win, appended } = runLoader(real);
    expect(win.monfri).toBe(real);
    expect(appended).toEqual([]);
  });

  it('embeds the write key safely inside a script element', () => {
    const html = snippetHtml('https://edge.example/sdk/v1/monfri.min.js', 'wk_</script><script>alert(1)</script>');
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).toContain('monfri.init("wk_\\u003c/script>\\u003cscript>alert(1)\\u003c/script>");');
  });
});
