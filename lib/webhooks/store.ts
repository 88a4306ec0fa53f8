/**
 * Webhook subscriptions and their delivery log in D1 (schema/d1/0008_webhooks.sql). Secrets are
 * sealed with WEBHOOK_SECRETS_KEY (./sealed-secret.ts) and only ever returned in clear once:
 * by create and by rotate.
 */
import { randomBase62 } from '../crypto';
import { MAX_WEBHOOKS_PER_WORKSPACE, webhookFilterSchema, type ActiveWebhook, type DeliveryLogView, type WebhookFilter, type WebhookInput, type WebhookPatch } from '../../schema/webhooks';
import { openSecret, sealSecret } from './sealed-secret';
import { generateWebhookSecret } from './signing';

export const SECRET_ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;
export const RESPONSE_SNIPPET_BYTES = 1024;

export interface Webhook extends WebhookFilter {
  id: string;
  workspaceId: string;
  url: string;
  description: string;
  includeBots: boolean;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  /** Until when the previous secret still signs (after a rotation), else null. */
  previousSecretValidUntil: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A subscription as the sender needs it: where, and every secret that signs now (newest first). */
export interface WebhookTarget {
  id: string;
  workspaceId: string;
  url: string;
  enabled: boolean;
  failingSince: string | null;
  secrets: string[];
}

export interface DeliveryLogEntry {
  subscriptionId: string;
  webhookId: string;
  event: string;
  attempt: number;
  outcome: 'delivered' | 'retrying' | 'dead_lettered' | 'disabled' | 'refused' | 'test';
  httpStatus: number | null;
  latencyMs: number;
  error: string | null;
  responseSnippet: string | null;
}

export class WebhookLimitError extends Error {}

type Row = Record<string, unknown>;
const COLUMNS = 'id, workspace_id, url, description, filter, include_bots, enabled, disabled_reason, failing_since, previous_secret_expires_at, created_at, updated_at';

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function textOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function filterOf(value: unknown): WebhookFilter {
  try {
    const parsed = webhookFilterSchema.safeParse(JSON.parse(text(value)));
    if (parsed.success) return parsed.data;
  } catch {
    // An unreadable filter matches nothing rather than everything.
  }
  return { events: [], types: [], segments: [], usageThreshold: false };
}

function webhookOf(row: Row, nowMs: number): Webhook {
  const previousUntil = textOrNull(row.previous_secret_expires_at);
  return {
    id: text(row.id),
    workspaceId: text(row.workspace_id),
    url: text(row.url),
    description: text(row.description),
    ...filterOf(row.filter),
    includeBots: row.include_bots === 1,
    enabled: row.enabled === 1,
    disabledReason: textOrNull(row.disabled_reason),
    failingSince: textOrNull(row.failing_since),
    previousSecretValidUntil: previousUntil !== null && Date.parse(previousUntil) > nowMs ? previousUntil : null,
    createdAt: text(row.created_at),
    updatedAt: text(row.updated_at),
  };
}

function filterJson(filter: WebhookFilter): string {
  return JSON.stringify({ events: filter.events, types: filter.types, segments: filter.segments, usageThreshold: filter.usageThreshold });
}

export async function listWebhooks(db: D1Database, workspaceId: string, nowMs = Date.now()): Promise<Webhook[]> {
  const { results } = await db.prepare(`SELECT ${COLUMNS} FROM webhook_subscriptions WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY created_at, id`).bind(workspaceId).all<Row>();
  return results.map((row) => webhookOf(row, nowMs));
}

export async function getWebhook(db: D1Database, workspaceId: string, id: string, nowMs = Date.now()): Promise<Webhook | null> {
  const row = await db.prepare(`SELECT ${COLUMNS} FROM webhook_subscriptions WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`).bind(workspaceId, id).first<Row>();
  return row ? webhookOf(row, nowMs) : null;
}

export async function createWebhook(db: D1Database, workspaceId: string, input: WebhookInput, masterKey: string): Promise<{ webhook: Webhook; secret: string }> {
  const count = await db.prepare('SELECT COUNT(*) AS n FROM webhook_subscriptions WHERE workspace_id = ? AND deleted_at IS NULL').bind(workspaceId).first<{ n: number }>();
  if ((count?.n ?? 0) >= MAX_WEBHOOKS_PER_WORKSPACE) throw new WebhookLimitError(`A workspace can have at most ${MAX_WEBHOOKS_PER_WORKSPACE} webhook subscriptions.`);
  const id = `wh_${randomBase62(20)}`;
  const secret = generateWebhookSecret();
  await db
    .prepare('INSERT INTO webhook_subscriptions (id, workspace_id, url, description, filter, include_bots, enabled, secret_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
    .bind(id, workspaceId, input.url, input.description, filterJson(input), input.includeBots ? 1 : 0, input.enabled ? 1 : 0, await sealSecret(secret, masterKey))
    .run();
  const webhook = await getWebhook(db, workspaceId, id);
  if (!webhook) throw new Error('webhook vanished after insert');
  return { webhook, secret };
}

export async function updateWebhook(db: D1Database, workspaceId: string, id: string, patch: WebhookPatch): Promise<Webhook | null> {
  const current = await getWebhook(db, workspaceId, id);
  if (!current) return null;
  const filter: WebhookFilter = {
    events: patch.events ?? current.events,
    types: patch.types ?? current.types,
    segments: patch.segments ?? current.segments,
    usageThreshold: patch.usageThreshold ?? current.usageThreshold,
  };
  const enabled = patch.enabled ?? current.enabled;
  // Re-enabling starts afresh: no reason left over, and the 5-day failure clock restarts.
  const reEnabled = enabled && !current.enabled;
  await db
    .prepare(
      `UPDATE webhook_subscriptions SET url = ?, description = ?, filter = ?, include_bots = ?, enabled = ?,
         disabled_reason = CASE WHEN ? THEN NULL WHEN ? = 0 AND disabled_reason IS NULL THEN 'disabled by the workspace' ELSE disabled_reason END,
         failing_since = CASE WHEN ? THEN NULL ELSE failing_since END,
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
       WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`,
    )
    .bind(patch.url ?? current.url, patch.description ?? current.description, filterJson(filter), (patch.includeBots ?? current.includeBots) ? 1 : 0, enabled ? 1 : 0, reEnabled ? 1 : 0, enabled ? 1 : 0, reEnabled ? 1 : 0, workspaceId, id)
    .run();
  return getWebhook(db, workspaceId, id);
}

export async function deleteWebhook(db: D1Database, workspaceId: string, id: string): Promise<boolean> {
  const result = await db
    .prepare("UPDATE webhook_subscriptions SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), enabled = 0 WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL")
    .bind(workspaceId, id)
    .run();
  return result.meta.changes > 0;
}

/** A new secret; the one it replaces keeps signing (as a second signature) for 24 h. */
export async function rotateWebhookSecret(db: D1Database, workspaceId: string, id: string, masterKey: string, nowMs = Date.now()): Promise<{ webhook: Webhook; secret: string } | null> {
  const secret = generateWebhookSecret();
  const result = await db
    .prepare(
      `UPDATE webhook_subscriptions SET previous_secret_sealed = secret_sealed, previous_secret_expires_at = ?, secret_sealed = ?,
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`,
    )
    .bind(new Date(nowMs + SECRET_ROTATION_GRACE_MS).toISOString(), await sealSecret(secret, masterKey), workspaceId, id)
    .run();
  if (result.meta.changes === 0) return null;
  const webhook = await getWebhook(db, workspaceId, id, nowMs);
  return webhook ? { webhook, secret } : null;
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** The enabled subscriptions of some workspaces, for the consumer's workspace profile (one statement of its batch). */
export function activeWebhooksStatement(db: D1Database, workspaceIds: readonly string[]): D1PreparedStatement {
  return db
    .prepare(`SELECT id, workspace_id, filter, include_bots FROM webhook_subscriptions WHERE workspace_id IN (${placeholders(workspaceIds.length)}) AND enabled = 1 AND deleted_at IS NULL ORDER BY id`)
    .bind(...workspaceIds);
}

export function activeWebhooksFromRows(rows: readonly Row[]): Map<string, ActiveWebhook[]> {
  const byWorkspace = new Map<string, ActiveWebhook[]>();
  for (const row of rows) {
    const workspaceId = text(row.workspace_id);
    byWorkspace.set(workspaceId, [...(byWorkspace.get(workspaceId) ?? []), { id: text(row.id), filter: filterOf(row.filter), includeBots: row.include_bots === 1 }]);
  }
  return byWorkspace;
}

/** Sending state of the given subscriptions, read fresh for every consumer batch (disable and rotation act at once). */
export async function webhookTargets(db: D1Database, ids: readonly string[], masterKey: string, nowMs: number): Promise<Map<string, WebhookTarget>> {
  if (ids.length === 0) return new Map();
  const { results } = await db
    .prepare(`SELECT id, workspace_id, url, enabled, deleted_at, failing_since, secret_sealed, previous_secret_sealed, previous_secret_expires_at FROM webhook_subscriptions WHERE id IN (${placeholders(ids.length)})`)
    .bind(...ids)
    .all<Row>();
  const targets = new Map<string, WebhookTarget>();
  for (const row of results) {
    const secrets = [await openSecret(text(row.secret_sealed), masterKey)];
    const previousUntil = textOrNull(row.previous_secret_expires_at);
    if (typeof row.previous_secret_sealed === 'string' && previousUntil !== null && Date.parse(previousUntil) > nowMs) secrets.push(await openSecret(row.previous_secret_sealed, masterKey));
    targets.set(text(row.id), { id: text(row.id), workspaceId: text(row.workspace_id), url: text(row.url), enabled: row.enabled === 1 && row.deleted_at === null, failingSince: textOrNull(row.failing_since), secrets });
  }
  return targets;
}

export function recordDeliveriesStatements(db: D1Database, entries: readonly DeliveryLogEntry[]): D1PreparedStatement[] {
  const statement = db.prepare('INSERT INTO webhook_deliveries (subscription_id, webhook_id, event, attempt, outcome, http_status, latency_ms, error, response_snippet) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  return entries.map((entry) =>
    statement.bind(entry.subscriptionId, entry.webhookId, entry.event, entry.attempt, entry.outcome, entry.httpStatus, Math.round(entry.latencyMs), entry.error?.slice(0, 1000) ?? null, entry.responseSnippet),
  );
}

export function markSucceededStatement(db: D1Database, id: string): D1PreparedStatement {
  return db.prepare('UPDATE webhook_subscriptions SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL').bind(id);
}

export function markFailingStatement(db: D1Database, id: string, atIso: string): D1PreparedStatement {
  return db.prepare('UPDATE webhook_subscriptions SET failing_since = COALESCE(failing_since, ?) WHERE id = ?').bind(atIso, id);
}

export function disableStatement(db: D1Database, id: string, reason: string): D1PreparedStatement {
  return db.prepare("UPDATE webhook_subscriptions SET enabled = 0, disabled_reason = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? AND enabled = 1").bind(reason.slice(0, 500), id);
}


/** Newest first; `before` pages back by log id. */
export async function listDeliveries(db: D1Database, subscriptionId: string, limit: number, before?: number): Promise<DeliveryLogView[]> {
  const { results } = await db
    .prepare('SELECT id, webhook_id, event, attempt, outcome, http_status, latency_ms, error, response_snippet, created_at FROM webhook_deliveries WHERE subscription_id = ? AND id < ? ORDER BY id DESC LIMIT ?')
    .bind(subscriptionId, before ?? Number.MAX_SAFE_INTEGER, limit)
    .all<Row>();
  return results.map((row) => ({
    id: Number(row.id),
    webhookId: text(row.webhook_id),
    event: text(row.event),
    attempt: Number(row.attempt),
    outcome: text(row.outcome),
    httpStatus: typeof row.http_status === 'number' ? row.http_status : null,
    latencyMs: Number(row.latency_ms),
    error: textOrNull(row.error),
    responseSnippet: textOrNull(row.response_snippet),
    createdAt: text(row.created_at),
  }));
}
