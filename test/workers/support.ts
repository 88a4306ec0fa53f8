/** Helpers for tests running inside workerd. */
import { env, exports } from 'cloudflare:workers';

export const OPERATOR = { authorization: 'Bearer test-operator-token' };

export function basic(key: string): { authorization: string } {
  return { authorization: `Basic ${btoa(`${key}:`)}` };
}

export function bearer(key: string): { authorization: string } {
  return { authorization: `Bearer ${key}` };
}

export async function call(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const { json, headers, ...rest } = init;
  return exports.default.fetch(`http://monfri.test${path}`, {
    ...rest,
    headers: { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...(headers as Record<string, string> | undefined) },
    body: json === undefined ? rest.body : JSON.stringify(json),
  });
}

export interface DemoWorkspace {
  workspaceId: string;
  writeKey: string;
  secretKey: string;
  keyIds: { write: string; secret: string };
}

/** Creates a workspace through the admin API, as an operator would. */
export async function createTestWorkspace(name = 'test workspace', extra: Record<string, unknown> = {}): Promise<DemoWorkspace> {
  const response = await call('/admin/workspaces', { method: 'POST', headers: OPERATOR, json: { name, ...extra } });
  if (response.status !== 201) throw new Error(`workspace create failed: ${response.status} ${await response.text()}`);
  const body = await response.json<{ workspace: { id: string }; writeKey: string; secretKey: string; keys: { id: string; kind: string }[] }>();
  const idOf = (kind: string): string => body.keys.find((key) => key.kind === kind)?.id ?? '';
  return { workspaceId: body.workspace.id, writeKey: body.writeKey, secretKey: body.secretKey, keyIds: { write: idOf('write'), secret: idOf('secret') } };
}

/** Polls `read` until `done` says so or the time is up; returns the last value either way. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export { env };
