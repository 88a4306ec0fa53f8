/**
 * The copy-paste snippet: defines a `monfri` stub that records calls (in `monfri.q`) until
 * the real script, loaded async, replaces it and replays them. Shared by the Worker's
 * snippet route, the demo page build and the README. Plain strings only (no DOM types).
 */
export const STUB_METHODS = ['init', 'track', 'identify', 'page', 'group', 'alias', 'reset', 'optOut', 'optIn', 'flush', 'debug'] as const;

/** A JS string literal that is also safe inside an HTML <script> element. */
const jsString = (value: string): string => JSON.stringify(value).replace(/</g, '\\u003c');

/** The stub loader as one line of JavaScript (without <script> tags). */
export function loaderScript(scriptUrl: string): string {
  return `!function(w,d,u){var m=w.monfri=w.monfri||{q:[]};if(m.loaded)return;m.q=m.q||[];"${STUB_METHODS.join(' ')}".split(" ").forEach(function(n){m[n]=m[n]||function(){m.q.push([n,[].slice.call(arguments)])}});var s=d.createElement("script");s.async=!0;s.src=u;(d.head||d.documentElement).appendChild(s)}(window,document,${jsString(scriptUrl)});`;
}

/** The full snippet to paste into <head>. */
export function snippetHtml(scriptUrl: string, writeKey: string): string {
  const init = `monfri.init(${jsString(writeKey)});`;
  return `<script>\n${loaderScript(scriptUrl)}\n${init}\n</script>`;
}
