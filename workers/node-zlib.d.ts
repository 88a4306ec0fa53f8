/**
 * The part of `node:zlib` the edge uses (workerd provides it under `nodejs_compat`). Declared
 * here rather than pulling @types/node into the Worker's types, which would bring Node
 * globals (`process`, `Buffer`) into code that must not use them.
 */
declare module 'node:zlib' {
  interface ZlibOptions {
    /** Inflating stops, with a RangeError, as soon as the output would exceed this many bytes. */
    maxOutputLength?: number;
  }
  export function gunzipSync(buffer: Uint8Array, options?: ZlibOptions): Uint8Array;
  export function inflateSync(buffer: Uint8Array, options?: ZlibOptions): Uint8Array;
  export function inflateRawSync(buffer: Uint8Array, options?: ZlibOptions): Uint8Array;
}
