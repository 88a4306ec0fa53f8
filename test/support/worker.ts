/** Starts the real Worker under `wrangler dev` against the test stack, for e2e tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWranglerDev, type RunningWorker } from '../../dev/wrangler-dev';
import { testStackEnv, TEST_OPERATOR_TOKEN } from './stack-env';

export interface TestWorker extends RunningWorker {
  operatorToken: string;
  createWorkspace(name?: string, extra?: Record<string, unknown>): Promise<{ workspaceId: string; writeKey: string; secretKey: string; keyIds: { write: string; secret: string } }>;
}

export async function startTestWorker(vars: Record<string, string> = {}): Promise<TestWorker> {
  const persistTo = mkdtempSync(join(tmpdir(), 'monfri-e2e-'));
  const worker = await startWranglerDev({
    persistTo,
    vars: {
      ...testStackEnv(),
      OPERATOR_TOKEN: TEST_OPERATOR_TOKEN,
      LIVE_TICKET_SECRET: 'test-live-ticket-secret',
      SESSION_SECRET: 'test-session-secret',
      RETRY_BASE_SECONDS: '1',
      WORKSPACE_PROFILE_TTL_SECONDS: '1',
      SEGMENT_SETTLE_SECONDS: '3',
      WEBHOOK_SECRETS_KEY: 'test-webhook-secrets-key',
      WEBHOOK_ALLOW_LOOPBACK_HTTP: 'true',
      ...vars,
    },
  });
  return {
    ...worker,
    operatorToken: TEST_OPERATOR_TOKEN,
    async createWorkspace(name = 'e2e workspace', extra = {}) {
      const response = await fetch(`${worker.url}/admin/workspaces`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_OPERATOR_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, ...extra }),
      });
      if (response.status !== 201) throw new Error(`workspace create failed: ${response.status} ${await response.text()}`);
      const body = (await response.json()) as { workspace: { id: string }; writeKey: string; secretKey: string; keys: { id: string; kind: string }[] };
      const idOf = (kind: string): string => body.keys.find((key) => key.kind === kind)?.id ?? '';
      return { workspaceId: body.workspace.id, writeKey: body.writeKey, secretKey: body.secretKey, keyIds: { write: idOf('write'), secret: idOf('secret') } };
    },
    async stop() {
      await worker.stop();
      rmSync(persistTo, { recursive: true, force: true });
    },
  };
}
