/** D1 access for workspaces and keys. The admin routes and the dev scripts go through here. */
import { z } from 'zod';
import type { ApiKeyInfo, KeyKind, Plan, Workspace } from '../../schema/control-plane';
import { planChangeSchema, TRIAL, type PlanHistory } from '../../schema/plans';
import { applySettingsPatch, type WorkspaceSettings, type WorkspaceSettingsPatch } from '../../schema/workspace-settings';
import { randomBase62, sha256Hex } from '../../lib/crypto';
import { generateApiKey, keyInfoFromRow, visiblePrefix, workspaceFromRow, type ApiKeyRow, type WorkspaceRow } from '../auth/key-store';

export interface IssuedKey {
  key: ApiKeyInfo;
  /** The plaintext key: returned once, never stored. */
  secret: string;
}

/** Every new workspace starts the trial; a plan given at creation is recorded as chosen then (and ends the trial). */
export async function createWorkspace(db: D1Database, input: { name: string; plan?: Plan; anonymizeIp: boolean }, now = Date.now()): Promise<Workspace> {
  const id = `ws_${randomBase62(16)}`;
  const trialEndsAt = new Date(now + TRIAL.days * 86_400_000).toISOString();
  const insert = db.prepare('INSERT INTO workspaces (id, name, plan, anonymize_ip, trial_ends_at) VALUES (?, ?, ?, ?, ?) RETURNING *').bind(id, input.name, input.plan ?? TRIAL.plan, input.anonymizeIp ? 1 : 0, trialEndsAt);
  const statements = input.plan ? [insert, recordPlanChange(db, id, input.plan, 'created', new Date(now))] : [insert];
  const [created] = await db.batch<WorkspaceRow>(statements);
  const row = created?.results[0];
  if (!row) throw new Error('workspace insert returned nothing');
  return workspaceFromRow(row);
}

function recordPlanChange(db: D1Database, workspaceId: string, plan: Plan, actor: string, at: Date): D1PreparedStatement {
  return db.prepare('INSERT INTO plan_changes (id, workspace_id, plan, changed_at, actor) VALUES (?, ?, ?, ?, ?)').bind(`pc_${randomBase62(16)}`, workspaceId, plan, at.toISOString(), actor);
}

/** A plan chosen now: recorded with its time (the plan at a month's end sets that month's limit) and kept on the workspace row. */
export async function changePlan(db: D1Database, workspaceId: string, plan: Plan, actor: string, at = new Date()): Promise<void> {
  await db.batch([recordPlanChange(db, workspaceId, plan, actor, at), db.prepare('UPDATE workspaces SET plan = ? WHERE id = ?').bind(plan, workspaceId)]);
}

const planChangeRows = z.array(planChangeSchema);

export async function planHistory(db: D1Database, workspace: Pick<Workspace, 'id' | 'trialEndsAt'>): Promise<PlanHistory> {
  const { results } = await db.prepare('SELECT plan, changed_at AS changedAt FROM plan_changes WHERE workspace_id = ? ORDER BY changed_at').bind(workspace.id).all();
  return { trialEndsAt: workspace.trialEndsAt, changes: planChangeRows.parse(results) };
}

export async function listWorkspaces(db: D1Database): Promise<Workspace[]> {
  const { results } = await db.prepare('SELECT * FROM workspaces ORDER BY created_at').all<WorkspaceRow>();
  return results.map(workspaceFromRow);
}

export async function getWorkspace(db: D1Database, id: string): Promise<Workspace | null> {
  const row = await db.prepare('SELECT * FROM workspaces WHERE id = ?').bind(id).first<WorkspaceRow>();
  return row ? workspaceFromRow(row) : null;
}

export async function updateWorkspace(db: D1Database, id: string, changes: { name?: string; plan?: Plan; anonymizeIp?: boolean }, actor = 'operator'): Promise<Workspace | null> {
  const existing = await getWorkspace(db, id);
  if (!existing) return null;
  if (changes.plan) await changePlan(db, id, changes.plan, actor);
  const row = await db
    .prepare('UPDATE workspaces SET name = COALESCE(?, name), anonymize_ip = COALESCE(?, anonymize_ip) WHERE id = ? RETURNING *')
    .bind(changes.name ?? null, changes.anonymizeIp === undefined ? null : changes.anonymizeIp ? 1 : 0, id)
    .first<WorkspaceRow>();
  return row ? workspaceFromRow(row) : null;
}

/** Applies a settings patch and stores the whole, re-validated document; null if there is no such workspace. */
export async function updateWorkspaceSettings(db: D1Database, id: string, patch: WorkspaceSettingsPatch): Promise<WorkspaceSettings | null> {
  const workspace = await getWorkspace(db, id);
  if (!workspace) return null;
  const settings = applySettingsPatch(workspace.settings, patch);
  await db.prepare('UPDATE workspaces SET settings = ? WHERE id = ?').bind(JSON.stringify(settings), id).run();
  return settings;
}

export async function issueKey(db: D1Database, workspaceId: string, input: { kind: KeyKind; label: string; allowedOrigins: string[] }): Promise<IssuedKey> {
  const secret = generateApiKey(input.kind);
  const row = await db
    .prepare('INSERT INTO api_keys (id, workspace_id, kind, key_hash, prefix, label, allowed_origins) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *')
    .bind(`key_${randomBase62(16)}`, workspaceId, input.kind, await sha256Hex(secret), visiblePrefix(secret), input.label, JSON.stringify(input.allowedOrigins))
    .first<ApiKeyRow>();
  if (!row) throw new Error('key insert returned nothing');
  return { key: keyInfoFromRow(row), secret };
}

export async function listKeys(db: D1Database, workspaceId: string): Promise<ApiKeyInfo[]> {
  const { results } = await db.prepare('SELECT * FROM api_keys WHERE workspace_id = ? ORDER BY created_at').bind(workspaceId).all<ApiKeyRow>();
  return results.map(keyInfoFromRow);
}

export async function getKey(db: D1Database, keyId: string): Promise<ApiKeyInfo | null> {
  const row = await db.prepare('SELECT * FROM api_keys WHERE id = ?').bind(keyId).first<ApiKeyRow>();
  return row ? keyInfoFromRow(row) : null;
}

/** Revokes now, or at `at` (a rotation's grace period). An earlier revocation is kept. */
export async function revokeKey(db: D1Database, keyId: string, at = new Date()): Promise<ApiKeyInfo | null> {
  const row = await db
    .prepare('UPDATE api_keys SET revoked_at = CASE WHEN revoked_at IS NOT NULL AND revoked_at < ? THEN revoked_at ELSE ? END WHERE id = ? RETURNING *')
    .bind(at.toISOString(), at.toISOString(), keyId)
    .first<ApiKeyRow>();
  return row ? keyInfoFromRow(row) : null;
}

/** Issues a replacement with the same kind, label and origins, and revokes the old key after `graceSeconds`. */
export async function rotateKey(db: D1Database, old: ApiKeyInfo, graceSeconds: number): Promise<{ issued: IssuedKey; old: ApiKeyInfo }> {
  const issued = await issueKey(db, old.workspaceId, { kind: old.kind, label: old.label, allowedOrigins: old.allowedOrigins });
  const revoked = await revokeKey(db, old.id, new Date(Date.now() + graceSeconds * 1000));
  return { issued, old: revoked ?? old };
}

export async function setAllowedOrigins(db: D1Database, keyId: string, origins: string[]): Promise<ApiKeyInfo | null> {
  const row = await db.prepare('UPDATE api_keys SET allowed_origins = ? WHERE id = ? RETURNING *').bind(JSON.stringify(origins), keyId).first<ApiKeyRow>();
  return row ? keyInfoFromRow(row) : null;
}
