/**
 * One webhook attempt: the SSRF guard again (rules may have tightened since the URL was
 * saved), then a signed POST with `redirect: 'manual'` (a redirect is a failure, never
 * followed past the guard) and a 10 s timeout covering the whole exchange, response body
 * snippet included (bounded to 1 KB).
 */
import type { DeliveryResult } from './retry';
import { webhookHeaders } from './signing';
import { checkWebhookUrl, type WebhookUrlCheck } from './ssrf';
import { RESPONSE_SNIPPET_BYTES } from './store';

export const WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookAttempt {
  url: string;
  webhookId: string;
  body: string;
  secrets: readonly string[];
  nowMs: number;
  allowLoopbackHttp: boolean;
}

export type AttemptOutcome =
  | { kind: 'refused'; refusal: Extract<WebhookUrlCheck, { ok: false }> }
  | { kind: 'sent'; result: DeliveryResult; latencyMs: number; snippet: string | null };

/** The dev flag: `http://` to loopback, only where `npm run dev` or the tests set it. */
export function allowLoopbackHttp(env: Pick<Env, 'WEBHOOK_ALLOW_LOOPBACK_HTTP'>): boolean {
  return env.WEBHOOK_ALLOW_LOOPBACK_HTTP === 'true';
}

async function snippetOf(response: Response): Promise<string | null> {
  if (!response.body) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < RESPONSE_SNIPPET_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  const bytes = new Uint8Array(Math.min(size, RESPONSE_SNIPPET_BYTES));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.length;
    if (offset >= bytes.length) break;
  }
  // Not fatal: a multi-byte character cut at the 1 KB edge becomes U+FFFD, not an error.
  return new TextDecoder().decode(bytes);
}

export async function attemptWebhook(attempt: WebhookAttempt): Promise<AttemptOutcome> {
  const check = checkWebhookUrl(attempt.url, { allowLoopbackHttp: attempt.allowLoopbackHttp });
  if (!check.ok) return { kind: 'refused', refusal: check };
  const headers = await webhookHeaders({ id: attempt.webhookId, timestampSeconds: Math.floor(attempt.nowMs / 1000), body: attempt.body, secrets: attempt.secrets });
  const started = Date.now();
  const signal = AbortSignal.timeout(WEBHOOK_TIMEOUT_MS);
  try {
    const response = await fetch(check.url.href, { method: 'POST', headers, body: attempt.body, redirect: 'manual', signal });
    const snippet = await snippetOf(response).catch(() => null);
    return { kind: 'sent', result: { kind: 'response', status: response.status, retryAfter: response.headers.get('retry-after') }, latencyMs: Date.now() - started, snippet };
  } catch (error) {
    const timedOut = signal.aborted;
    return { kind: 'sent', result: { kind: 'error', error: timedOut ? `timed out after ${WEBHOOK_TIMEOUT_MS / 1000} s` : String(error) }, latencyMs: Date.now() - started, snippet: null };
  }
}
