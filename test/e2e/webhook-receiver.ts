/**
 * A webhook receiver for the e2e tests: a small HTTP server on 127.0.0.1 (the dev flag lets the
 * Worker send there) that records every request with the time it arrived and answers from a
 * per-path script, so each test scripts its own failure on its own path.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually } from './pipeline-support';

export interface Received {
  path: string;
  /** Date.now() when the request's body had arrived. */
  at: number;
  headers: Record<string, string>;
  body: string;
}

export type Respond = (request: IncomingMessage, response: ServerResponse) => void;

export const ok: Respond = (_request, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
export const status = (code: number, headers: Record<string, string> = {}): Respond => (_request, response) => response.writeHead(code, headers).end(`answered ${code}`);
/** Never answers in time (the Worker's 10 s timeout ends it first). */
export const hang: Respond = (_request, response) => {
  setTimeout(() => response.writeHead(200).end('too late'), 15_000).unref();
};

export interface WebhookReceiver {
  url: string;
  received: Received[];
  /** The answers to give on `path`, in order; the last one repeats. Unscripted paths answer 200. */
  script(path: string, answers: Respond[]): void;
  at(path: string): Received[];
  /** Waits until `path` has seen `count` requests (or the time is up) and returns them. */
  arrived(path: string, count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const scripts = new Map<string, Respond[]>();
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
      received.push({ path, at: Date.now(), headers, body: Buffer.concat(chunks).toString('utf8') });
      const script = scripts.get(path) ?? [ok];
      const respond = script.length > 1 ? (script.shift() as Respond) : (script[0] as Respond);
      respond(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const at = (path: string): Received[] => received.filter((request) => request.path === path);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    script: (path, answers) => void scripts.set(path, [...answers]),
    at,
    arrived: (path, count, timeoutMs = 40_000) => eventually(() => Promise.resolve(at(path)), (requests) => requests.length >= count, timeoutMs),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
