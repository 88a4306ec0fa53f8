/**
 * The script-tag build (IIFE). The snippet defined `window.monfri` as a stub recording calls
 * in `monfri.q`; this replaces it with the real SDK and replays those calls in order.
 */
import { createMonfri } from './index';
import { scriptOrigin } from './browser';

interface Stub {
  q?: unknown;
  loaded?: boolean;
}

function install(win: Window & { monfri?: Stub }): void {
  const stub = win.monfri;
  if (stub?.loaded) return;
  const api = createMonfri(win, scriptOrigin(win, win.document.currentScript));
  win.monfri = api;
  for (const call of Array.isArray(stub?.q) ? stub.q : []) {
    const [method, args]: unknown[] = Array.isArray(call) ? call : [];
    const target = typeof method === 'string' ? (api as unknown as Record<string, unknown>)[method] : null;
    if (typeof target === 'function') target(...(Array.isArray(args) ? args : []));
  }
}

try {
  install(window);
} catch (error) {
  // The host page must never see our failure.
  console.warn('[monfri] failed to start', error);
}
