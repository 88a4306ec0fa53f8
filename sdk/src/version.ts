/** The SDK's version, sent as context.library.version; the served URL path carries its major (/sdk/v1/). */
export const SDK_VERSION = '1.0.0';
export const LIBRARY_NAME = 'monfri.js';
