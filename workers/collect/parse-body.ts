/** Reads a collect request body: content type, size limit, JSON. Every failure is a clear 4xx. */
import { LIMITS } from '../../schema/event';
import { REQUEST_REJECTIONS } from '../../schema/rejections';
import { ApiError } from '../errors';

/**
 * `text/plain` is how browsers send JSON without a CORS preflight (fetch keepalive,
 * sendBeacon with a string); a Blob without a type arrives with no content type at all.
 */
const ACCEPTED_MEDIA_TYPES = new Set(['application/json', 'text/plain', '']);

export function assertAcceptedContentType(header: string | null | undefined): void {
  const mediaType = (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (!ACCEPTED_MEDIA_TYPES.has(mediaType)) {
    throw new ApiError(415, 'unsupported_media_type', `${REQUEST_REJECTIONS.unsupported_media_type} Got ${mediaType}.`);
  }
}

function tooLarge(): ApiError {
  return new ApiError(413, 'request_too_large', `${REQUEST_REJECTIONS.request_too_large} (${LIMITS.maxRequestBytes} bytes)`);
}

/** Reads at most `limit` bytes; a declared or streamed body beyond it is a 413 without reading the rest. */
export async function readBodyText(request: Request, limit = LIMITS.maxRequestBytes): Promise<string> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = chunks.length === 1 ? (chunks[0] ?? new Uint8Array()) : concat(chunks, total);
  return new TextDecoder().decode(bytes);
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

export function parseJsonText(text: string): unknown {
  if (text.trim() === '') throw new ApiError(400, 'empty_body', REQUEST_REJECTIONS.empty_body);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ApiError(400, 'invalid_json', REQUEST_REJECTIONS.invalid_json, { parser: detail });
  }
}

/** Content type, size and JSON in one step: what every collect route does first. */
export async function readJsonBody(request: Request): Promise<unknown> {
  assertAcceptedContentType(request.headers.get('content-type'));
  return parseJsonText(await readBodyText(request));
}
