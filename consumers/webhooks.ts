/**
 * `monfri-webhooks`: sends each (subscription, event) delivery the events consumer enqueued
 * (consumers/events/webhooks-hook.ts). One attempt per message; a retry is a NEW message
 * sent with the next backoff as its delay (full jitter, lib/webhooks/retry.ts; each delay fits
 * Cloudflare Queues' 12 h cap, and chaining them covers the 24 h window), so the queue's own
 * max_retries never cuts the window short. The `webhook-id` travels in the message: the same
 * on every attempt. Past the window, on 410, or for a disabled subscription the delivery goes
 * to the dead-letter store, replayable with `npm run admin -- dlq replay` (a replay starts a
 * fresh window).
 *
 * Why a slow or dead endpoint never delays the others:
 * - per-subscription concurrency: within a batch each subscription gets at most
 *   MAX_IN_FLIGHT_PER_SUBSCRIPTION requests at once, subscriptions run side by side, and every
 *   request ends within 10 s, so one batch is bounded whatever the endpoint does;
 * - per-subscription backlog: a subscription already failing (failing_since set) gets ONE
 *   probe per batch; its other deliveries are put back with PARKED_DELAY_SECONDS, not
 *   attempted, so a dead endpoint costs one slot per batch instead of the batch's time;
 * - the queue runs several consumer invocations concurrently (max_concurrency), so a batch
 *   waiting on one endpoint's 10 s timeout does not stop other batches.
 *
 * `webhook_match` messages are events whose subscriptions the events consumer could not read
 * (D1 down): matched here against the subscriptions read now, then enqueued as deliveries.
 *
 * `monfri-webhooks-dlq` receives what failed even to be handled (D1 down through every queue
 * retry): parked in the dead-letter store as before.
 */
import { sendInBatches } from '../lib/queue-batches';
import { classifyDeliveryResult, shouldDisableEndpoint, type DeliveryDecision } from '../lib/webhooks/retry';
import { allowLoopbackHttp, attemptWebhook, type AttemptOutcome } from '../lib/webhooks/send';
import { webhookDeliveriesOf, type WebhookMatchLater } from './events/webhooks-hook';
import {
  activeWebhooksFromRows,
  activeWebhooksStatement,
  disableStatement,
  markFailingStatement,
  markSucceededStatement,
  recordDeliveriesStatements,
  webhookTargets,
  type DeliveryLogEntry,
  type WebhookTarget,
} from '../lib/webhooks/store';
import { webhookDeliverySchema, type WebhookDelivery } from '../schema/webhooks';
import { RETRIES_EXHAUSTED, storeDeadLetters, WEBHOOKS_DLQ, WEBHOOKS_QUEUE, type DeadLetterInput } from './dead-letters';

export const MAX_IN_FLIGHT_PER_SUBSCRIPTION = 4;
export const PARKED_DELAY_SECONDS = 60;
const MAX_QUEUE_DELAY_SECONDS = 12 * 60 * 60;

interface Handled {
  log: DeliveryLogEntry[];
  statements: (db: D1Database) => D1PreparedStatement[];
  deadLetters: DeadLetterInput[];
  requeue: { body: WebhookDelivery; delaySeconds: number }[];
}

/** What a replay of this delivery should start from: a fresh retry window. */
function deadLetterOf(delivery: WebhookDelivery, reason: string): DeadLetterInput {
  return { queue: WEBHOOKS_QUEUE, body: { ...delivery, attempts: 0, firstAttemptAtMs: null }, reason, attempts: delivery.attempts };
}

function logEntry(delivery: WebhookDelivery, attempt: number, outcome: DeliveryLogEntry['outcome'], sent: AttemptOutcome | null, error: string | null): DeliveryLogEntry {
  const response = sent?.kind === 'sent' && sent.result.kind === 'response' ? sent.result.status : null;
  return {
    subscriptionId: delivery.subscriptionId,
    webhookId: delivery.webhookId,
    event: delivery.event,
    attempt,
    outcome,
    httpStatus: response,
    latencyMs: sent?.kind === 'sent' ? sent.latencyMs : 0,
    error,
    responseSnippet: sent?.kind === 'sent' ? sent.snippet : null,
  };
}

async function deliverOne(env: Env, target: WebhookTarget, delivery: WebhookDelivery, nowMs: () => number): Promise<Handled> {
  const attempt = delivery.attempts + 1;
  const firstAttemptAtMs = delivery.firstAttemptAtMs ?? nowMs();
  const sent = await attemptWebhook({ url: target.url, webhookId: delivery.webhookId, body: delivery.body, secrets: target.secrets, nowMs: nowMs(), allowLoopbackHttp: allowLoopbackHttp(env) });
  if (sent.kind === 'refused') {
    const reason = `URL refused by the SSRF guard before sending: ${sent.refusal.message}`;
    return { log: [logEntry(delivery, attempt, 'refused', sent, reason)], statements: (db) => [disableStatement(db, target.id, reason)], deadLetters: [deadLetterOf(delivery, reason)], requeue: [] };
  }
  const now = nowMs();
  const decision: DeliveryDecision = classifyDeliveryResult(sent.result, { attempt, firstAttemptAtMs, nowMs: now, random: Math.random });
  const failedAt = new Date(now).toISOString();
  switch (decision.action) {
    case 'delivered':
      return { log: [logEntry(delivery, attempt, 'delivered', sent, null)], statements: (db) => [markSucceededStatement(db, target.id)], deadLetters: [], requeue: [] };
    case 'disable':
      return { log: [logEntry(delivery, attempt, 'disabled', sent, decision.reason)], statements: (db) => [markFailingStatement(db, target.id, failedAt), disableStatement(db, target.id, decision.reason)], deadLetters: [deadLetterOf(delivery, decision.reason)], requeue: [] };
    case 'dead_letter':
      return { log: [logEntry(delivery, attempt, 'dead_lettered', sent, decision.reason)], statements: (db) => [markFailingStatement(db, target.id, failedAt)], deadLetters: [deadLetterOf(delivery, decision.reason)], requeue: [] };
    case 'retry': {
      const failingSinceMs = target.failingSince ? Date.parse(target.failingSince) : null;
      if (shouldDisableEndpoint(failingSinceMs, now)) {
        const reason = `failing without a single success since ${target.failingSince} (5 days); last: ${decision.reason}`;
        return { log: [logEntry(delivery, attempt, 'disabled', sent, reason)], statements: (db) => [disableStatement(db, target.id, reason)], deadLetters: [deadLetterOf(delivery, reason)], requeue: [] };
      }
      const delaySeconds = Math.min(MAX_QUEUE_DELAY_SECONDS, Math.ceil(decision.delayMs / 1000));
      return {
        log: [logEntry(delivery, attempt, 'retrying', sent, decision.reason)],
        statements: (db) => [markFailingStatement(db, target.id, failedAt)],
        deadLetters: [],
        requeue: [{ body: { ...delivery, attempts: attempt, firstAttemptAtMs }, delaySeconds }],
      };
    }
  }
}

/** Runs `work` over `items` with at most `limit` at once. */
async function withLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

function parked(delivery: WebhookDelivery): Handled {
  return { log: [], statements: () => [], deadLetters: [], requeue: [{ body: delivery, delaySeconds: PARKED_DELAY_SECONDS }] };
}

async function handleSubscription(env: Env, target: WebhookTarget | undefined, deliveries: readonly WebhookDelivery[], nowMs: () => number): Promise<Handled[]> {
  if (!target) return [];
  if (!target.enabled) return deliveries.map((delivery) => ({ log: [], statements: () => [], deadLetters: [deadLetterOf(delivery, 'subscription_disabled')], requeue: [] }));
  const [probe, ...rest] = deliveries;
  if (target.failingSince !== null && probe) return [await deliverOne(env, target, probe, nowMs), ...rest.map(parked)];
  return withLimit(deliveries, MAX_IN_FLIGHT_PER_SUBSCRIPTION, (delivery) => deliverOne(env, target, delivery, nowMs));
}

async function commit(env: Env, handled: readonly Handled[]): Promise<void> {
  const statements = [...recordDeliveriesStatements(env.DB, handled.flatMap((entry) => entry.log)), ...handled.flatMap((entry) => entry.statements(env.DB))];
  const requeue = handled.flatMap((entry) => entry.requeue);
  // Re-enqueue first: a retry that is queued but not logged is better than one logged but lost.
  for (const item of requeue) await env.WEBHOOKS.send(item.body, { contentType: 'json', delaySeconds: item.delaySeconds });
  await storeDeadLetters(env.DB, handled.flatMap((entry) => entry.deadLetters));
  if (statements.length > 0) await env.DB.batch(statements);
}

function isMatchLater(body: unknown): body is WebhookMatchLater {
  return typeof body === 'object' && body !== null && 'kind' in body && body.kind === 'webhook_match' && 'workspaceId' in body && typeof body.workspaceId === 'string' && 'view' in body;
}

async function matchLater(env: Env, messages: readonly Message<unknown>[]): Promise<void> {
  const pending = messages.map((message) => message.body).filter(isMatchLater);
  if (pending.length === 0) return;
  try {
    const workspaceIds = [...new Set(pending.map((item) => item.workspaceId))];
    const { results } = await activeWebhooksStatement(env.DB, workspaceIds).all<Record<string, unknown>>();
    const webhooks = activeWebhooksFromRows(results);
    const deliveries = (await Promise.all(pending.map((item) => webhookDeliveriesOf(item.workspaceId, webhooks.get(item.workspaceId) ?? [], [item.view])))).flat();
    await sendInBatches(env.WEBHOOKS, deliveries);
    for (const message of messages) message.ack();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'webhook_match_failed', error: String(error) }));
    for (const message of messages) message.retry({ delaySeconds: 30 });
  }
}

export async function handleWebhookDeliveries(batch: MessageBatch<unknown>, env: Env, nowMs: () => number = Date.now): Promise<void> {
  const bySubscription = new Map<string, { delivery: WebhookDelivery; message: Message<unknown> }[]>();
  const poison: DeadLetterInput[] = [];
  const poisonMessages: Message<unknown>[] = [];
  await matchLater(env, batch.messages.filter((message) => isMatchLater(message.body)));
  for (const message of batch.messages) {
    if (isMatchLater(message.body)) continue;
    const parsed = webhookDeliverySchema.safeParse(message.body);
    if (!parsed.success) {
      poison.push({ queue: WEBHOOKS_QUEUE, body: message.body, reason: 'invalid_webhook_delivery', attempts: message.attempts });
      poisonMessages.push(message);
      continue;
    }
    bySubscription.set(parsed.data.subscriptionId, [...(bySubscription.get(parsed.data.subscriptionId) ?? []), { delivery: parsed.data, message }]);
  }
  try {
    await storeDeadLetters(env.DB, poison);
    for (const message of poisonMessages) message.ack();
    const targets = await webhookTargets(env.DB, [...bySubscription.keys()], env.WEBHOOK_SECRETS_KEY, nowMs());
    await Promise.all(
      [...bySubscription].map(async ([subscriptionId, entries]) => {
        try {
          const handled = await handleSubscription(env, targets.get(subscriptionId), entries.map((entry) => entry.delivery), nowMs);
          await commit(env, handled);
          for (const entry of entries) entry.message.ack();
        } catch (error) {
          // Handled again later with the same webhook-id: at least once, receivers dedupe.
          console.error(JSON.stringify({ level: 'error', msg: 'webhook_batch_failed', subscriptionId, error: String(error) }));
          for (const entry of entries) entry.message.retry({ delaySeconds: 30 });
        }
      }),
    );
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'webhook_targets_unavailable', error: String(error) }));
    batch.retryAll({ delaySeconds: 30 });
  }
}

export async function handleWebhookDeadLetterBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  try {
    await storeDeadLetters(env.DB, batch.messages.map((message) => ({ queue: WEBHOOKS_QUEUE, body: message.body, reason: RETRIES_EXHAUSTED, attempts: message.attempts })));
    batch.ackAll();
  } catch (error) {
    console.error(JSON.stringify({ level: 'error', msg: 'dead_letter_store_failed', queue: WEBHOOKS_DLQ, error: String(error) }));
    batch.retryAll({ delaySeconds: 60 });
  }
}

export async function handleWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  return batch.queue === WEBHOOKS_DLQ ? handleWebhookDeadLetterBatch(batch, env) : handleWebhookDeliveries(batch, env);
}
