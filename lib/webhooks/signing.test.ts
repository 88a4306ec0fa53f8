import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  generateWebhookSecret,
  secretBytes,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  WEBHOOK_SECRET_BYTES,
  WEBHOOK_TOLERANCE_SECONDS,
  WEBHOOK_USER_AGENT,
} from './signing';

const body = JSON.stringify({ type: 'segment.entered', data: { userId: 'u_1', segment: 'power users' } });
const id = 'msg_2hKx9QbLw0';

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The independent implementation: throws WebhookVerificationError unless the headers verify. */
function packageVerify(secret: string, payload: string, headers: Record<string, string>): void {
  new Webhook(secret).verify(payload, headers, { jsonParse: false });
}

function packageHeaders(secret: string, msgId: string, timestampSeconds: number, payload: string): Record<string, string> {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': new Webhook(secret).sign(msgId, new Date(timestampSeconds * 1000), payload),
  };
}

describe('generateWebhookSecret', () => {
  it('is whsec_ + standard base64 of 32 bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(secretBytes(secret)).toHaveLength(WEBHOOK_SECRET_BYTES);
  });

  it('gives a different secret each call', () => {
    const secrets = new Set(Array.from({ length: 20 }, generateWebhookSecret));
    expect(secrets.size).toBe(20);
  });
});

describe('secretBytes', () => {
  it('decodes the base64 key after the prefix', () => {
    const key = Uint8Array.from({ length: 32 }, (_, index) => index * 7);
    const secret = `whsec_${btoa(String.fromCharCode(...key))}`;
    expect(secretBytes(secret)).toEqual(key);
  });

  it.each([
    ['no prefix', btoa('x'.repeat(32))],
    ['empty key', 'whsec_'],
    ['not base64', 'whsec_not*base64!'],
    ['missing padding', `whsec_${btoa('x'.repeat(32)).replace(/=+$/, '')}`],
    ['inner whitespace', `whsec_${btoa('x'.repeat(32)).slice(0, 10)} ${btoa('x'.repeat(32)).slice(10)}`],
    ['key too short (16 bytes)', `whsec_${btoa('x'.repeat(16))}`],
    ['key too long (65 bytes)', `whsec_${btoa('x'.repeat(65))}`],
  ])('throws a "Malformed webhook secret" error for %s', (_, secret) => {
    expect(() => secretBytes(secret)).toThrow(/^Malformed webhook secret/);
  });
});

describe('signWebhook, checked by the standardwebhooks package', () => {
  it('produces a signature the package verifies for one secret', async () => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const signature = await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(() => packageVerify(secret, body, { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature })).not.toThrow();
  });

  it('equals the package signature byte for byte', async () => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const ours = await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    expect(ours).toBe(packageHeaders(secret, id, timestamp, body)['webhook-signature']);
  });

  it('signs non-ASCII bodies over their UTF-8 bytes like the package', async () => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const unicodeBody = JSON.stringify({ name: 'Zoë 🚀 東京' });
    const signature = await signWebhook({ id, timestampSeconds: timestamp, body: unicodeBody, secrets: [secret] });
    expect(() => packageVerify(secret, unicodeBody, { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature })).not.toThrow();
  });

  it('with two secrets, writes two v1 signatures and each secret alone verifies the header', async () => {
    const newSecret = generateWebhookSecret();
    const oldSecret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const signature = await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [newSecret, oldSecret] });
    expect(signature.split(' ')).toHaveLength(2);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect(() => packageVerify(newSecret, body, headers)).not.toThrow();
    expect(() => packageVerify(oldSecret, body, headers)).not.toThrow();
    expect(() => packageVerify(generateWebhookSecret(), body, headers)).toThrow(WebhookVerificationError);
  });

  it.each([
    ['body', { 'webhook-id': id, body: `${body} ` }],
    ['id', { 'webhook-id': `${id}x`, body }],
  ])('fails package verification when the %s is tampered with', async (_, tampered) => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const signature = await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    const headers = { 'webhook-id': tampered['webhook-id'], 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect(() => packageVerify(secret, tampered.body, headers)).toThrow(WebhookVerificationError);
  });

  it('fails package verification when the timestamp is changed (still inside the tolerance)', async () => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const signature = await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp - 1), 'webhook-signature': signature };
    expect(() => packageVerify(secret, body, headers)).toThrow('No matching signature found');
  });

  it.each([
    ['an empty id', '', 1_700_000_000],
    ['an id with a dot', 'msg.1', 1_700_000_000],
    ['an id with a space', 'msg 1', 1_700_000_000],
    ['a fractional timestamp', id, 1_700_000_000.5],
    ['a negative timestamp', id, -1],
  ])('refuses to sign %s', async (_, badId, timestampSeconds) => {
    await expect(signWebhook({ id: badId, timestampSeconds, body, secrets: [generateWebhookSecret()] })).rejects.toThrow(/^Webhook (id|timestamp)/);
  });

  it('refuses to sign without a secret', async () => {
    await expect(signWebhook({ id, timestampSeconds: nowSeconds(), body, secrets: [] })).rejects.toThrow('at least one secret');
  });
});

describe('webhookHeaders', () => {
  it('gives the id, timestamp, signature, JSON content type and the product user agent', async () => {
    const secret = generateWebhookSecret();
    const timestamp = nowSeconds();
    const headers = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    expect(headers).toEqual({
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': await signWebhook({ id, timestampSeconds: timestamp, body, secrets: [secret] }),
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
    });
    expect(WEBHOOK_USER_AGENT).toBe('Monfri-Webhooks/1.0 (+https://monfri.dev)');
    expect(() => packageVerify(secret, body, { ...headers })).not.toThrow();
  });
});

describe('verifyWebhook', () => {
  const timestamp = 1_700_000_000;

  it('accepts a signature made by the standardwebhooks package', async () => {
    const secret = generateWebhookSecret();
    const headers = packageHeaders(secret, id, timestamp, body);
    expect(await verifyWebhook({ body, headers, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: true });
  });

  it('reads a Headers object case-insensitively', async () => {
    const secret = generateWebhookSecret();
    const raw = packageHeaders(secret, id, timestamp, body);
    const headers = new Headers({ 'Webhook-Id': id, 'Webhook-Timestamp': String(timestamp), 'Webhook-Signature': raw['webhook-signature'] ?? '' });
    expect(await verifyWebhook({ body, headers, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: true });
  });

  it('reads a plain record with mixed-case names', async () => {
    const secret = generateWebhookSecret();
    const raw = packageHeaders(secret, id, timestamp, body);
    const headers = { 'WEBHOOK-ID': id, 'Webhook-Timestamp': String(timestamp), 'webhook-signature': raw['webhook-signature'] };
    expect(await verifyWebhook({ body, headers, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: true });
  });

  it('accepts when any of several held secrets matches one of several signatures', async () => {
    const [current, previous, unrelated] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
    const headers = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [current, previous] });
    expect(await verifyWebhook({ body, headers, secrets: [unrelated, previous], nowSeconds: timestamp })).toEqual({ ok: true });
  });

  it('skips signatures of other versions', async () => {
    const secret = generateWebhookSecret();
    const v1 = packageHeaders(secret, id, timestamp, body)['webhook-signature'] ?? '';
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1a,${v1.slice(3)}` };
    expect(await verifyWebhook({ body, headers, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });

  it.each([
    ['body', { body: `${body}x`, id, timestampHeader: String(timestamp) }],
    ['id', { body, id: 'msg_other', timestampHeader: String(timestamp) }],
    ['timestamp', { body, id, timestampHeader: String(timestamp + 1) }],
  ])('rejects a tampered %s with no_matching_signature', async (_, tampered) => {
    const secret = generateWebhookSecret();
    const signed = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    const headers = { ...signed, 'webhook-id': tampered.id, 'webhook-timestamp': tampered.timestampHeader };
    expect(await verifyWebhook({ body: tampered.body, headers, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });

  it('rejects a wrong secret', async () => {
    const headers = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [generateWebhookSecret()] });
    expect(await verifyWebhook({ body, headers, secrets: [generateWebhookSecret()], nowSeconds: timestamp })).toEqual({ ok: false, reason: 'no_matching_signature' });
  });

  it('accepts timestamps exactly at the 5 minute tolerance on either side and rejects one second beyond', async () => {
    const secret = generateWebhookSecret();
    const headers = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    const verifyAt = (now: number) => verifyWebhook({ body, headers, secrets: [secret], nowSeconds: now });
    expect(WEBHOOK_TOLERANCE_SECONDS).toBe(300);
    expect(await verifyAt(timestamp + 300)).toEqual({ ok: true });
    expect(await verifyAt(timestamp - 300)).toEqual({ ok: true });
    expect(await verifyAt(timestamp + 301)).toEqual({ ok: false, reason: 'timestamp_too_old' });
    expect(await verifyAt(timestamp - 301)).toEqual({ ok: false, reason: 'timestamp_too_new' });
  });

  it.each(['soon', '17e8', '-1', '1700000000.5', ' 1700000000'])('rejects the timestamp header %j', async (timestampHeader) => {
    const secret = generateWebhookSecret();
    const signed = await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [secret] });
    const result = await verifyWebhook({ body, headers: { ...signed, 'webhook-timestamp': timestampHeader }, secrets: [secret], nowSeconds: timestamp });
    expect(result).toEqual({ ok: false, reason: 'invalid_timestamp' });
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const)('rejects a request without %s', async (missing) => {
    const secret = generateWebhookSecret();
    const signed: Record<string, string> = { ...(await webhookHeaders({ id, timestampSeconds: timestamp, body, secrets: [secret] })) };
    delete signed[missing];
    expect(await verifyWebhook({ body, headers: signed, secrets: [secret], nowSeconds: timestamp })).toEqual({ ok: false, reason: 'missing_headers' });
  });
});
