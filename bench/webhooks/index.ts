/**
 * Webhook delivery through the whole local product (wrangler dev: edge -> local Queue -> events
 * consumer -> ClickHouse insert -> after-insert hook -> webhooks Queue -> webhooks consumer ->
 * signed POST) to a receiver on 127.0.0.1 in this process:
 * - latency: event POSTed (HTTP 200 received) -> webhook received, at 100 events/s for 10 s,
 *   one POST /v1/track per event, one subscription;
 * - throughput: 2,000 events sent at once (POST /v1/batch of 100), deliveries/s the one local
 *   webhooks consumer sustains, first delivery to last;
 * - reference in the same run: this process sending the same signed POSTs straight to the
 *   receiver, 4 at a time (the consumer's per-subscription bound), i.e. what the receiver and
 *   the machine allow without queues, D1 or the Worker.
 * Every delivery is checked once per webhook-id (duplicates are counted, not hidden).
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '../../dev/process';
import { startStack } from '../../dev/stack';
import type { RunningWorker } from '../../dev/wrangler-dev';
import { runtimeNote, startSnapshotWorker } from '../ingest/snapshot-worker';
import { summarize, writeReport, type Row } from '../report';

const OPERATOR_TOKEN = 'bench-operator-token';
const DRAIN_MS = 60_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Receiver {
  server: Server;
  url: string;
  /** messageId -> performance.now() of the first arrival; duplicates counted separately. */
  arrivals: Map<string, number>;
  duplicates: number;
}

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = { server: createServer(), url: '', arrivals: new Map(), duplicates: 0 };
  const seenIds = new Set<string>();
  receiver.server.on('request', (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const now = performance.now();
      const webhookId = String(request.headers['webhook-id'] ?? '');
      if (seenIds.has(webhookId)) receiver.duplicates++;
      seenIds.add(webhookId);
      const { messageId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messageId: string };
      if (!receiver.arrivals.has(messageId)) receiver.arrivals.set(messageId, now);
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
  return receiver;
}

async function json<T>(response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function setup(worker: RunningWorker, receiver: Receiver): Promise<{ writeKey: string; secret: string }> {
  const created = await json<{ writeKey: string; secretKey: string }>(
    await fetch(`${worker.url}/admin/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench webhooks' }) }),
  );
  const { secret } = await json<{ secret: string }>(
    await fetch(`${worker.url}/v1/webhooks`, { method: 'POST', headers: { authorization: `Bearer ${created.secretKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: `${receiver.url}/hook`, events: ['Bench Event'] }) }),
  );
  return { writeKey: created.writeKey, secret };
}

async function drain(receiver: Receiver, ids: readonly string[]): Promise<void> {
  const until = performance.now() + DRAIN_MS;
  while (performance.now() < until && ids.some((id) => !receiver.arrivals.has(id))) await sleep(50);
}

async function latency(worker: RunningWorker, receiver: Receiver, writeKey: string): Promise<Row> {
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const accepted = new Map<string, number>();
  const prefix = `lat-${Date.now().toString(36)}`;
  const ids: string[] = [];
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    const wait = start + i * 10 - performance.now();
    if (wait > 1) await sleep(wait);
    const messageId = `${prefix}-${i}`;
    ids.push(messageId);
    pending.push(
      fetch(`${worker.url}/v1/track`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'track', event: 'Bench Event', userId: `u-${i % 50}`, messageId }) }).then(async (response) => {
        await response.arrayBuffer();
        if (response.status === 200) accepted.set(messageId, performance.now());
      }, () => {
        // Counted below as sent but not accepted; the run goes on.
      }),
    );
  }
  await Promise.all(pending);
  await drain(receiver, ids);
  const samples = ids.flatMap((id) => {
    const from = accepted.get(id);
    const to = receiver.arrivals.get(id);
    return from !== undefined && to !== undefined ? [Math.max(0, to - from)] : [];
  });
  const stats = summarize(samples);
  return { scenario: '100 events/s for 10 s (1 per POST)', sent: ids.length, accepted: accepted.size, delivered: samples.length, 'p50 ms': Math.round(stats.p50), 'p99 ms': Math.round(stats.p99), 'deliveries/s': '' };
}

async function throughput(worker: RunningWorker, receiver: Receiver, writeKey: string): Promise<Row> {
  const auth = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const prefix = `tp-${Date.now().toString(36)}`;
  const ids = Array.from({ length: 2000 }, (_, i) => `${prefix}-${i}`);
  for (let start = 0; start < ids.length; start += 100) {
    const batch = ids.slice(start, start + 100).map((messageId, i) => ({ type: 'track', event: 'Bench Event', userId: `u-${i % 50}`, messageId }));
    const response = await fetch(`${worker.url}/v1/batch`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
    await response.arrayBuffer();
  }
  await drain(receiver, ids);
  const times = ids.map((id) => receiver.arrivals.get(id)).filter((time): time is number => time !== undefined).sort((a, b) => a - b);
  const seconds = ((times.at(-1) ?? 0) - (times[0] ?? 0)) / 1000;
  return { scenario: 'Worker: 2,000 events at once, one consumer', sent: ids.length, accepted: ids.length, delivered: times.length, 'p50 ms': '', 'p99 ms': '', 'deliveries/s': seconds > 0 ? Math.round(times.length / seconds) : 0 };
}

async function reference(receiver: Receiver, secret: string): Promise<Row> {
  const count = 2000;
  const prefix = `ref-${Date.now().toString(36)}`;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < count) {
        const messageId = `${prefix}-${next++}`;
        const body = JSON.stringify({ messageId, event: 'Bench Event' });
        const id = `msg_${messageId.replaceAll('-', '_')}`;
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signature = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64');
        const headers = { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}`, 'content-type': 'application/json' };
        const response = await fetch(`${receiver.url}/hook`, { method: 'POST', headers, body, redirect: 'manual' });
        await response.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { scenario: 'reference: Node signs and POSTs directly, 4 in flight', sent: count, accepted: count, delivered: count, 'p50 ms': '', 'p99 ms': '', 'deliveries/s': Math.round(count / seconds) };
}

export async function run(): Promise<void> {
  const stack = await startStack({ database: 'monfri_bench_webhooks', upstashPort: await freePort(), quiet: true });
  const receiver = await startReceiver();
  const worker = await startSnapshotWorker({
    ...stack.workerEnv,
    OPERATOR_TOKEN,
    LIVE_TICKET_SECRET: 'bench',
    SESSION_SECRET: 'bench',
    RETRY_BASE_SECONDS: '1',
    WEBHOOK_SECRETS_KEY: 'bench-webhook-secrets-key',
    WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
  });
  try {
    const { writeKey, secret } = await setup(worker, receiver);
    const rows = [await latency(worker, receiver, writeKey), await throughput(worker, receiver, writeKey), await reference(receiver, secret)];
    writeReport('webhooks', 'Webhooks: event received -> webhook received, and deliveries/s', rows, [
      `Duplicate deliveries (same webhook-id twice): ${receiver.duplicates}.`,
      'Latency is from the collect API answering 200 to the receiver reading the body; both clocks are this process.',
      'One local webhooks consumer (wrangler dev runs one); in production Queues scale consumers out (max_concurrency).',
      runtimeNote(),
    ]);
  } finally {
    await worker.stop();
    receiver.server.closeAllConnections();
    receiver.server.close();
    await stack.stop();
  }
}
