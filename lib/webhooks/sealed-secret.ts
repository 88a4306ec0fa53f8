/**
 * Webhook signing secrets at rest: AES-256-GCM under a key derived (SHA-256) from the
 * WEBHOOK_SECRETS_KEY Worker secret. A secret must be recoverable to sign, so it cannot be
 * hashed; a D1 dump alone does not reveal it. Sealed form: `v1.<base64 iv>.<base64 ciphertext>`.
 */
const encoder = new TextEncoder();

async function keyOf(masterKey: string): Promise<CryptoKey> {
  if (masterKey.length < 16) throw new Error('WEBHOOK_SECRETS_KEY is missing or shorter than 16 characters');
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(`monfri-webhook-secrets\n${masterKey}`));
  return crypto.subtle.importKey('raw', digest, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));

export async function sealSecret(secret: string, masterKey: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await keyOf(masterKey), encoder.encode(secret)));
  return `v1.${toBase64(iv)}.${toBase64(sealed)}`;
}

export async function openSecret(sealed: string, masterKey: string): Promise<string> {
  const [version, iv, data] = sealed.split('.');
  if (version !== 'v1' || !iv || !data) throw new Error('Unreadable sealed webhook secret');
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: fromBase64(iv) }, await keyOf(masterKey), fromBase64(data));
  return new TextDecoder().decode(plain);
}
