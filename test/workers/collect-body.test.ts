/**
 * What the edge accepts as a request body, on every collect route (workers/collect/parse-body.ts):
 * content types, gzip/deflate inflated as a stream with the limit on the decompressed bytes,
 * charsets, lone surrogates made well-formed, keys kept as data (`__proto__` included), and
 * numbers outside JSON's range refused with a reason.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../schema/event';
import { inflate } from '../../workers/collect/parse-body';
import { callCollect, trackEvent, type BatchAnswer, type ErrorAnswer } from './collect-support';
import { basic, createTestWorkspace } from './support';

const encoder = new TextEncoder();
type CompressionFormat = 'gzip' | 'deflate' | 'deflate-raw';

async function compress(text: string, format: CompressionFormat): Promise<Uint8Array> {
  const stream = new Blob([encoder.encode(text)]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A body stream that hands out `bytes` in small chunks and counts what the reader pulled. */
function countingBody(bytes: Uint8Array, chunkBytes = 4096): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
  return { stream, pulled: () => Math.min(offset, bytes.length) };
}

/** gzip of `totalBytes` zeros, compressed as a stream (never held uncompressed). */
async function gzipBomb(totalBytes: number): Promise<Uint8Array> {
  const zeros = new Uint8Array(1024 * 1024);
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= totalBytes) return controller.close();
      controller.enqueue(zeros);
      sent += zeros.length;
    },
  });
  return new Uint8Array(await new Response(source.pipeThrough(new CompressionStream('gzip'))).arrayBuffer());
}

describe('content types', () => {
  it('accepts a JSON body labelled application/json, +json, text/plain, form-urlencoded (axios Buffers) or nothing', async () => {
    const ws = await createTestWorkspace();
    const body = JSON.stringify({ batch: [trackEvent()] });
    for (const contentType of ['application/json; charset=utf-8', 'application/vnd.segment+json', 'text/plain', 'application/x-www-form-urlencoded', null]) {
      const headers: Record<string, string> = { ...basic(ws.secretKey) };
      if (contentType !== null) headers['content-type'] = contentType;
      const { response, queue } = await callCollect('/v1/batch', { headers, body });
      expect(response.status, String(contentType)).toBe(200);
      expect(queue.events(), String(contentType)).toHaveLength(1);
    }
  });

  it('refuses other media types, unknown encodings and charsets with a 415 that names what came', async () => {
    const ws = await createTestWorkspace();
    const body = JSON.stringify({ batch: [trackEvent()] });
    const cases: [Record<string, string>, string, string][] = [
      [{ 'content-type': 'multipart/form-data; boundary=x' }, 'unsupported_media_type', 'multipart/form-data'],
      [{ 'content-type': 'application/xml' }, 'unsupported_media_type', 'application/xml'],
      [{ 'content-type': 'application/json', 'content-encoding': 'br' }, 'unsupported_content_encoding', 'br'],
      [{ 'content-type': 'application/json', 'content-encoding': 'gzip, gzip' }, 'unsupported_content_encoding', 'gzip, gzip'],
      [{ 'content-type': 'application/json; charset=utf-16' }, 'unsupported_charset', 'utf-16'],
    ];
    for (const [headers, code, named] of cases) {
      const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), ...headers }, body });
      expect(response.status, code).toBe(415);
      const answer = await response.json<ErrorAnswer>();
      expect(answer.error.code).toBe(code);
      expect(answer.error.message).toContain(named);
      expect(queue.calls).toHaveLength(0);
    }
  });

  it('decodes a body declared ISO-8859-1 (Java clients label text/plain so)', async () => {
    const ws = await createTestWorkspace();
    const text = JSON.stringify({ batch: [trackEvent({ properties: { city: 'Zürich', note: 'café' } })] });
    const latin1 = Uint8Array.from(text, (char) => char.charCodeAt(0));
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'text/plain; charset=ISO-8859-1' }, body: latin1 });
    expect(response.status).toBe(200);
    expect(queue.events()[0]?.properties).toEqual({ city: 'Zürich', note: 'café' });
  });
});

describe('compressed bodies', () => {
  it('inflates gzip, x-gzip and deflate bodies on every collect route', async () => {
    const ws = await createTestWorkspace();
    const batch = { batch: [trackEvent({ properties: { total: 42, note: 'grüße 😀' } })] };
    const cases: [string, string, CompressionFormat, Record<string, string>][] = [
      ['/v1/batch', 'gzip', 'gzip', basic(ws.secretKey)],
      ['/v1/batch', 'x-gzip', 'gzip', basic(ws.writeKey)],
      ['/v1/b', 'deflate', 'deflate', basic(ws.writeKey)],
      ['/v1/collect', 'gzip', 'gzip', { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' }],
    ];
    for (const [path, encoding, format, auth] of cases) {
      const body = await compress(JSON.stringify(path === '/v1/collect' ? { ...batch, writeKey: ws.writeKey } : batch), format);
      const { response, queue } = await callCollect(path, { headers: { ...auth, 'content-type': 'application/json', 'content-encoding': encoding }, body });
      expect(response.status, `${path} ${encoding}`).toBe(200);
      expect(queue.events()[0]?.properties).toEqual({ total: 42, note: 'grüße 😀' });
    }
    const single = await callCollect('/v1/track', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: await compress(JSON.stringify(trackEvent()), 'gzip') });
    expect(single.response.status).toBe(200);
  });

  it('applies the 500 KB limit to the decompressed bytes: a small gzip body that inflates past it is a 413', async () => {
    const ws = await createTestWorkspace();
    const padding = 'x'.repeat(20_000);
    const events = Array.from({ length: 30 }, () => trackEvent({ properties: { padding } }));
    const body = await compress(JSON.stringify({ batch: events }), 'gzip');
    expect(body.byteLength).toBeLessThan(LIMITS.maxRequestBytes / 10);
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-encoding': 'gzip' }, body });
    expect(response.status).toBe(413);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('request_too_large');
    expect(queue.calls).toHaveLength(0);
  });

  it('refuses a 200 MiB gzip bomb with 413, inflating no more than the limit', async () => {
    const ws = await createTestWorkspace();
    const bomb = await gzipBomb(200 * 1024 * 1024);
    const started = Date.now();
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: bomb });
    console.log(`gzip bomb: ${bomb.byteLength} compressed bytes for 200 MiB, refused in ${Date.now() - started} ms`);
    expect(response.status).toBe(413);
    expect((await response.json<ErrorAnswer>()).error.code).toBe('request_too_large');
    expect(queue.calls).toHaveLength(0);
    // The inflater itself stops at the limit (it would otherwise hand back 200 MiB).
    expect(() => inflate(bomb, 'gzip', LIMITS.maxRequestBytes)).toThrow(/larger than the request limit/);
    const small = await compress(JSON.stringify({ batch: [trackEvent()] }), 'gzip');
    expect(new TextDecoder().decode(inflate(small, 'gzip', LIMITS.maxRequestBytes))).toBe(JSON.stringify({ batch: [trackEvent()] }));
  });

  it('refuses a compressed body past its own cap while streaming it, without reading the rest', async () => {
    const ws = await createTestWorkspace();
    // Random base64 barely compresses: over 1 MB of gzip, sent chunked (no Content-Length).
    const random = new Uint8Array(1536 * 1024);
    for (let offset = 0; offset < random.length; offset += 65_536) crypto.getRandomValues(random.subarray(offset, offset + 65_536));
    let text = '';
    for (let offset = 0; offset < random.length; offset += 3 * 4096) text += btoa(String.fromCharCode(...random.subarray(offset, offset + 3 * 4096)));
    const gzip = await compress(text, 'gzip');
    const { stream, pulled } = countingBody(gzip);
    const { response } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-encoding': 'gzip' }, body: stream, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(gzip.byteLength).toBeGreaterThan(LIMITS.maxRequestBytes);
    expect(pulled()).toBeLessThan(gzip.byteLength);
  });

  it('answers 400 invalid_compressed_body for a body that is not what its Content-Encoding says, or is cut short', async () => {
    const ws = await createTestWorkspace();
    const gzip = await compress(JSON.stringify({ batch: [trackEvent()] }), 'gzip');
    for (const body of [encoder.encode(JSON.stringify({ batch: [trackEvent()] })), gzip.slice(0, gzip.length - 12)]) {
      const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-encoding': 'gzip' }, body });
      expect(response.status).toBe(400);
      expect((await response.json<ErrorAnswer>()).error.code).toBe('invalid_compressed_body');
      expect(queue.calls).toHaveLength(0);
    }
  });
});

describe('hostile but legal JSON', () => {
  it('makes lone surrogates well-formed (U+FFFD) in values and keys, and keeps paired ones', async () => {
    const ws = await createTestWorkspace();
    const body = String.raw`{"batch":[{"type":"track","event":"Lone \ud800 surrogate","userId":"u\udc00","properties":{"lone":"a\ud800b","pair":"\ud83d\ude00","k\udbff":1}}]}`;
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    const [event] = queue.events();
    expect(event).toMatchObject({ event: 'Lone \ufffd surrogate', userId: 'u\ufffd', properties: { lone: 'a\ufffdb', pair: '😀', 'k\ufffd': 1 } });
    const message = String(queue.calls[0]?.[0]?.body);
    expect(message.isWellFormed()).toBe(true);
    expect(message).not.toMatch(/\\u[dD][89a-fA-F]/);
  });

  it('keeps a __proto__ key (and constructor/prototype keys) as data, and pollutes no prototype in the isolate', async () => {
    const ws = await createTestWorkspace();
    const body = '{"batch":[{"type":"track","event":"Keys","userId":"u1","properties":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"plain":1},"context":{"__proto__":{"isAdmin":true}}}]}';
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    const message = String(queue.calls[0]?.[0]?.body);
    const queued = JSON.parse(message) as { properties: Record<string, unknown>; context: Record<string, unknown> };
    expect(Object.keys(queued.properties)).toEqual(['__proto__', 'constructor', 'plain']);
    expect(Object.getOwnPropertyDescriptor(queued.properties, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(Object.getOwnPropertyDescriptor(queued.context, '__proto__')?.value).toEqual({ isAdmin: true });
    // The consumer's schema keeps it too (it validates in place rather than copying).
    expect(Object.keys(queue.events()[0]?.properties ?? {})).toEqual(['__proto__', 'constructor', 'plain']);
    const probe: Record<string, unknown> = {};
    expect([probe.polluted, probe.isAdmin, Object.keys(Object.prototype)]).toEqual([undefined, undefined, []]);
  });

  it('refuses an event holding a number outside JSON range (1e400 would be stored as null) and keeps its sibling', async () => {
    const ws = await createTestWorkspace();
    const body = '{"batch":[{"type":"track","event":"Big","userId":"u1","properties":{"nested":{"n":1e400}}},{"type":"track","event":"Fine","userId":"u1","properties":{"n":1.5e300}}]}';
    const { response, queue } = await callCollect('/v1/batch', { headers: { ...basic(ws.secretKey), 'content-type': 'application/json' }, body });
    expect(response.status).toBe(200);
    const answer = await response.json<BatchAnswer>();
    expect(answer.rejected).toMatchObject([{ index: 0, code: 'invalid_field', path: 'properties.nested.n' }]);
    expect(queue.events().map((event) => [event.event, event.properties])).toEqual([['Fine', { n: 1.5e300 }]]);
  });

  it('stores NUL, SQL-looking strings, RTL and ZWJ sequences exactly as sent; invalid UTF-8 bytes become U+FFFD', async () => {
    const ws = await createTestWorkspace();
    const properties = { nul: 'a\u0000b', sql: "'); DROP TABLE events; --", rtl: '\u202Eabc\u202C שלום', zwj: '👩‍👩‍👧‍👦', 'key.with.dots': '', '': 'empty key' };
    const json = JSON.stringify({ batch: [trackEvent({ properties })] });
    const bytes = encoder.encode(json.replace('"empty key"', '"bad \\u0000"'));
    const invalid = new Uint8Array([...encoder.encode(JSON.stringify({ batch: [trackEvent({ properties: { bytes: 'X' } })] }))]);
    const at = invalid.indexOf('X'.charCodeAt(0));
    invalid.set([0xff], at);
    const first = await callCollect('/v1/batch', { headers: basic(ws.secretKey), body: bytes });
    const second = await callCollect('/v1/batch', { headers: basic(ws.secretKey), body: invalid });
    expect([first.response.status, second.response.status]).toEqual([200, 200]);
    expect(first.queue.events()[0]?.properties).toEqual({ ...properties, '': 'bad \u0000' });
    expect(second.queue.events()[0]?.properties).toEqual({ bytes: '\ufffd' });
  });
});
