/**
 * Reads a collect request body: content type, content encoding, size limit, charset, JSON,
 * well-formed strings. Every failure is a clear 4xx. One mechanism for every collect route.
 *
 * - Content types: a body that is JSON is accepted as `application/json` (or any `+json`
 *   type), `text/plain` (how browsers send JSON without a CORS preflight: fetch keepalive,
 *   sendBeacon with a string), no content type (a Blob without a type), or
 *   `application/x-www-form-urlencoded` (what axios and others put on a Buffer body: the
 *   RudderStack Node client's gzip requests arrive so). Anything else is a 415.
 * - Content encodings: `gzip` (`x-gzip`) and `deflate` (zlib, or raw deflate as some clients
 *   send it). The request limit applies to the DECOMPRESSED bytes and is enforced while
 *   inflating: a gzip bomb stops after at most the limit. The compressed body is read as a
 *   stream with its own cap (refused past it without reading the rest), then inflated by
 *   node:zlib with `maxOutputLength`, which stops inflating at the limit: a 200 MiB bomb is
 *   refused in ~1 ms. Not `DecompressionStream`: measured in workerd, its writable side takes
 *   input without backpressure and it inflated the whole 200 MiB (300-770 ms of CPU) although
 *   the reader cancelled after 500 KB. Unknown encodings are a 415.
 * - Charset: UTF-8 (the JSON standard); ISO-8859-1/Latin-1 when declared (Java clients label
 *   text/plain so). Invalid UTF-8 becomes U+FFFD; lone surrogates from JSON escapes are made
 *   well-formed (well-formed.ts).
 */
import { gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { LIMITS } from '../../schema/event';
import { REQUEST_REJECTIONS } from '../../schema/rejections';
import { ApiError } from '../errors';
import { mayHoldLoneSurrogates, wellFormedJson } from './well-formed';

const ACCEPTED_MEDIA_TYPES = new Set(['application/json', 'text/plain', '', 'application/x-www-form-urlencoded']);

type BodyEncoding = 'identity' | 'gzip' | 'deflate';
const CONTENT_ENCODINGS: Record<string, BodyEncoding> = { '': 'identity', identity: 'identity', gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate' };

type BodyCharset = 'utf-8' | 'latin1';
const CHARSETS: Record<string, BodyCharset> = { 'utf-8': 'utf-8', utf8: 'utf-8', 'us-ascii': 'utf-8', ascii: 'utf-8', 'iso-8859-1': 'latin1', latin1: 'latin1', 'iso8859-1': 'latin1', 'windows-1252': 'latin1' };

/**
 * Room for the compressed stream's own framing: a compressed body can be slightly larger than
 * what it inflates to (incompressible data), never by more than a few bytes per 64 KiB block.
 */
const COMPRESSED_HEADROOM_BYTES = 16 * 1024;

export interface BodyFormat {
  encoding: BodyEncoding;
  charset: BodyCharset;
}

function headerParts(header: string | null | undefined): { mediaType: string; charset: string | null } {
  const [type = '', ...params] = (header ?? '').split(';');
  let charset: string | null = null;
  for (const param of params) {
    const [name = '', value = ''] = param.split('=', 2);
    if (name.trim().toLowerCase() === 'charset') charset = value.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { mediaType: type.trim().toLowerCase(), charset };
}

/** Checks Content-Type and Content-Encoding before anything is read; throws the 415 that says what was wrong. */
export function bodyFormatOf(contentType: string | null | undefined, contentEncoding: string | null | undefined): BodyFormat {
  const { mediaType, charset } = headerParts(contentType);
  if (!ACCEPTED_MEDIA_TYPES.has(mediaType) && !mediaType.endsWith('+json')) {
    throw new ApiError(415, 'unsupported_media_type', `${REQUEST_REJECTIONS.unsupported_media_type} Got ${mediaType}.`);
  }
  const bodyCharset = charset === null ? 'utf-8' : CHARSETS[charset];
  if (!bodyCharset) throw new ApiError(415, 'unsupported_charset', `${REQUEST_REJECTIONS.unsupported_charset} Got charset=${charset}.`);
  const encodingName = (contentEncoding ?? '').trim().toLowerCase();
  const encoding = CONTENT_ENCODINGS[encodingName];
  if (!encoding) throw new ApiError(415, 'unsupported_content_encoding', `${REQUEST_REJECTIONS.unsupported_content_encoding} Got ${encodingName}.`);
  return { encoding, charset: bodyCharset };
}

function tooLarge(): ApiError {
  return new ApiError(413, 'request_too_large', `${REQUEST_REJECTIONS.request_too_large} (${LIMITS.maxRequestBytes} bytes, after decompression)`);
}

function badCompression(encoding: BodyEncoding, error: unknown): ApiError {
  return new ApiError(400, 'invalid_compressed_body', `${REQUEST_REJECTIONS.invalid_compressed_body} (Content-Encoding: ${encoding})`, { decoder: error instanceof Error ? error.message : String(error) });
}

/** Reads a stream to its end, at most `limit` bytes; past it, cancels the stream (and what feeds it) and throws 413. */
async function readCapped(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? (chunks[0] ?? new Uint8Array()) : concat(chunks, total);
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** zlib's own header (RFC 1950) rather than raw deflate (RFC 1951), which some clients send as `deflate`. */
function hasZlibHeader(bytes: Uint8Array): boolean {
  const cmf = bytes[0] ?? 0;
  const flg = bytes[1] ?? 0;
  return (cmf & 0x0f) === 8 && ((cmf << 8) | flg) % 31 === 0;
}

/** Inflates at most `limit` bytes: past it, zlib stops with a RangeError (413); data that is not what it claims is a 400. */
export function inflate(bytes: Uint8Array, encoding: Exclude<BodyEncoding, 'identity'>, limit: number): Uint8Array {
  const options = { maxOutputLength: limit };
  try {
    if (encoding === 'gzip') return gunzipSync(bytes, options);
    return hasZlibHeader(bytes) ? inflateSync(bytes, options) : inflateRawSync(bytes, options);
  } catch (error) {
    if (error instanceof RangeError) throw tooLarge();
    throw badCompression(encoding, error);
  }
}

/**
 * The body's bytes, decompressed, at most `limit` of them. A declared Content-Length beyond
 * the (compressed) bound is refused without reading; the rest is enforced while streaming.
 */
export async function readBodyBytes(request: Request, encoding: BodyEncoding, limit = LIMITS.maxRequestBytes): Promise<Uint8Array> {
  const compressedLimit = encoding === 'identity' ? limit : limit + COMPRESSED_HEADROOM_BYTES;
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > compressedLimit) throw tooLarge();
  if (!request.body) return new Uint8Array();
  const bytes = await readCapped(request.body, compressedLimit);
  return encoding === 'identity' ? bytes : inflate(bytes, encoding, limit);
}

function decodeText(bytes: Uint8Array, charset: BodyCharset): string {
  if (charset === 'utf-8') return new TextDecoder().decode(bytes);
  let text = '';
  const CHUNK = 8192;
  for (let offset = 0; offset < bytes.length; offset += CHUNK) text += String.fromCharCode(...bytes.subarray(offset, offset + CHUNK));
  return text;
}

/** Reads at most `limit` (decompressed) bytes as text; a body beyond it is a 413 without reading the rest. */
export async function readBodyText(request: Request, limit = LIMITS.maxRequestBytes): Promise<string> {
  const format = bodyFormatOf(request.headers.get('content-type'), request.headers.get('content-encoding'));
  return decodeText(await readBodyBytes(request, format.encoding, limit), format.charset);
}

export function parseJsonText(text: string): unknown {
  if (text.trim() === '') throw new ApiError(400, 'empty_body', REQUEST_REJECTIONS.empty_body);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ApiError(400, 'invalid_json', REQUEST_REJECTIONS.invalid_json, { parser: detail });
  }
  return mayHoldLoneSurrogates(text) ? wellFormedJson(value) : value;
}

/** Content type, encoding, size and JSON in one step: what every collect route does first. */
export async function readJsonBody(request: Request): Promise<unknown> {
  return parseJsonText(await readBodyText(request));
}
