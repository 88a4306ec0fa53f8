/** ESM entry for bundlers: `const monfri = createMonfri(); monfri.init(writeKey, options)`. */
import { browserPlatform, scriptOrigin } from './browser';
import { createClient, type MonfriApi } from './client';

export type { MonfriApi } from './client';
export type { AutocaptureOptions, MonfriOptions } from './types';
export { SDK_VERSION } from './version';

/** A new SDK instance bound to this window; options.apiHost defaults to this page's origin. */
export function createMonfri(win: Window = window, defaultApiHost = scriptOrigin(win, null)): MonfriApi {
  return createClient((options) => browserPlatform(win, options, defaultApiHost));
}
