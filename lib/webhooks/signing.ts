/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, matched against the
 * `standardwebhooks` npm package): the signature is `v1,` + base64(HMAC-SHA256(key,
 * "<webhook-id>.<webhook-timestamp>.<body>")), where key is the base64 part of the
 * `whsec_` secret. Several signatures are space-separated, so during a secret rotation
 * the new and the old secret both sign and a receiver holding either one verifies.
 *
 * Web Crypto only: this runs in Workers and in Node 20.
 */
import { timingSafeEqualStrings } from '../crypto';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
export const WEBHOOK_SECRET_BYTES = 32;
/** The spec recommends keys of 24 to 64 bytes; Svix-issued secrets (24 bytes) can be imported. */
export const WEBHOOK_SECRET_MIN_BYTES = 24;
export const WEBHOOK_SECRET_MAX_BYTES = 64;
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;
export const WEBHOOK_USER_AGENT = 'Monfri-Webhooks/1.0 (+https://monfri.dev)';

const SIGNATURE_VERSION = 'v1';
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL_SECONDS = /^\d{1,15}$/;
const encoder = new TextEncoder();

export interface SignWebhookInput {
  id: string;
  timestampSeconds: number;
  body: string;
  /** Every secret currently valid for the endpoint, newest first; each one adds a signature. */
  secrets: readonly string[];
}

export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
  'content-type': 'application/json';
  'user-agent': typeof WEBHOOK_USER_AGENT;
};

export interface VerifyWebhookInput {
  body: string;
  headers: Headers | Readonly<Record<string, string | undefined>>;
  secrets: readonly string[];
  nowSeconds: number;
  toleranceSeconds?: number;
}

export type WebhookVerificationFailure = 'missing_headers' | 'invalid_timestamp' | 'timestamp_too_old' | 'timestamp_too_new' | 'no_matching_signature';

export type WebhookVerification = { ok: true } | { ok: false; reason: WebhookVerificationFailure };

export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + bytesToBase64(crypto.getRandomValues(new Uint8Array(WEBHOOK_SECRET_BYTES)));
}

/** The HMAC key inside a `whsec_` secret; throws on anything that is not one. */
export function secretBytes(secret: string): Uint8Array {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    throw new Error(`Malformed webhook secret: expected it to start with "${WEBHOOK_SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  // atob alone is lenient (missing padding, whitespace); a secret must round-trip exactly.
  if (encoded === '' || !STRICT_BASE64.test(encoded)) {
    throw new Error('Malformed webhook secret: the part after "whsec_" must be standard padded base64');
  }
  const bytes = base64ToBytes(encoded);
  if (bytes.length < WEBHOOK_SECRET_MIN_BYTES || bytes.length > WEBHOOK_SECRET_MAX_BYTES) {
    throw new Error(`Malformed webhook secret: the key is ${bytes.length} bytes, expected ${WEBHOOK_SECRET_MIN_BYTES} to ${WEBHOOK_SECRET_MAX_BYTES}`);
  }
  return bytes;
}

/** The `webhook-signature` header value: one `v1,<base64>` per secret, space-separated. */
export async function signWebhook(input: SignWebhookInput): Promise<string> {
  assertSignableIdentity(input.id, input.timestampSeconds);
  if (input.secrets.length === 0) throw new Error('Cannot sign a webhook without at least one secret');
  const content = signedContent(input.id, String(input.timestampSeconds), input.body);
  const signatures = await Promise.all(input.secrets.map(async (secret) => `${SIGNATURE_VERSION},${await hmacBase64(secretBytes(secret), content)}`));
  return signatures.join(' ');
}

export async function webhookHeaders(input: SignWebhookInput): Promise<WebhookHeaders> {
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestampSeconds),
    'webhook-signature': await signWebhook(input),
    'content-type': 'application/json',
    'user-agent': WEBHOOK_USER_AGENT,
  };
}

/** Checks a received webhook against any of `secrets`, as a receiver following the spec would. */
export async function verifyWebhook(input: VerifyWebhookInput): Promise<WebhookVerification> {
  const id = readHeader(input.headers, 'webhook-id');
  const timestamp = readHeader(input.headers, 'webhook-timestamp');
  const signatureHeader = readHeader(input.headers, 'webhook-signature');
  if (!id || !timestamp || !signatureHeader) return { ok: false, reason: 'missing_headers' };

  const timestampCheck = checkTimestamp(timestamp, input.nowSeconds, input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS);
  if (timestampCheck) return { ok: false, reason: timestampCheck };

  const passed = passedV1Signatures(signatureHeader);
  const content = signedContent(id, timestamp, input.body);
  for (const secret of input.secrets) {
    const expected = await hmacBase64(secretBytes(secret), content);
    if (passed.some((signature) => timingSafeEqualStrings(signature, expected))) return { ok: true };
  }
  return { ok: false, reason: 'no_matching_signature' };
}

function assertSignableIdentity(id: string, timestampSeconds: number): void {
  // A dot would blur where the id ends inside "id.timestamp.body"; whitespace or controls cannot go in a header.
  if (id === '' || /[.\s\p{Cc}]/u.test(id)) {
    throw new Error('Webhook id must be non-empty and contain no dots, whitespace or control characters');
  }
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error('Webhook timestamp must be a non-negative whole number of seconds');
  }
}

function signedContent(id: string, timestamp: string, body: string): Uint8Array {
  return encoder.encode(`${id}.${timestamp}.${body}`);
}

async function hmacBase64(key: Uint8Array, content: Uint8Array): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return bytesToBase64(new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, content)));
}

function checkTimestamp(header: string, nowSeconds: number, toleranceSeconds: number): WebhookVerificationFailure | null {
  if (!DECIMAL_SECONDS.test(header)) return 'invalid_timestamp';
  const timestamp = Number(header);
  if (nowSeconds - timestamp > toleranceSeconds) return 'timestamp_too_old';
  if (timestamp - nowSeconds > toleranceSeconds) return 'timestamp_too_new';
  return null;
}

/** Signatures of other versions (e.g. the asymmetric `v1a`) are skipped, as the spec says. */
function passedV1Signatures(header: string): string[] {
  return header
    .split(' ')
    .map((entry) => entry.split(','))
    .filter((parts): parts is [string, string] => parts.length === 2 && parts[0] === SIGNATURE_VERSION)
    .map(([, signature]) => signature);
}

function readHeader(headers: VerifyWebhookInput['headers'], name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function base64ToBytes(encoded: string): Uint8Array {
  return Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
}
