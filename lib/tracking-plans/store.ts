/**
 * Tracking plans in the control plane (D1, schema/d1/0006_tracking_plans.sql): one plan per
 * workspace, every revision kept. The API and the admin CLI write here; the edge reads the
 * current revision (workers/collect/plan-screen.ts). A revision is saved only when the plan
 * changed, so re-importing the same file is a no-op that keeps the version (and the compiled
 * plans cached by `id@version` stay valid). The store names the plan (`tp_...`): an imported
 * Segment plan's own id is replaced, since two workspaces importing one Segment plan would
 * otherwise share a compiled-plan cache key.
 */
import { z } from 'zod';
import { randomBase62 } from '../crypto';
import { trackingPlanSchema, type TrackingPlan } from '../../schema/tracking-plan';
import type { ImportWarning, SegmentPlanFormat } from './segment-import';

/** Where a revision came from: one of Segment's shapes, or Monfri's own model (e.g. a plan drafted from discovery). */
export type PlanSourceFormat = SegmentPlanFormat | 'monfri';

export interface StoredPlan {
  id: string;
  workspaceId: string;
  version: number;
  /** The plan with `id` and `version` set (they key the compiled-plan cache). */
  plan: TrackingPlan;
  sourceFormat: PlanSourceFormat;
  warnings: ImportWarning[];
  createdAt: string;
  updatedAt: string;
}

export interface PlanVersionInfo {
  version: number;
  sourceFormat: PlanSourceFormat;
  events: number;
  createdAt: string;
  actor: string;
}

const warningSchema = z.object({ code: z.string(), path: z.string(), message: z.string() });

const planRow = z.object({
  id: z.string(),
  workspace_id: z.string(),
  version: z.number(),
  plan: z.string(),
  source_format: z.string(),
  import_warnings: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

const SOURCE_FORMATS: readonly PlanSourceFormat[] = ['config_api_v7', 'public_api', 'typewriter_v8', 'monfri'];

function sourceFormatOf(value: string): PlanSourceFormat {
  return SOURCE_FORMATS.find((format) => format === value) ?? 'monfri';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** A plan as stored; null (and logged) when no current schema reads it: never validate against a guess. */
export function planFromText(text: string, id: string, version: number): TrackingPlan | null {
  const parsed = trackingPlanSchema.safeParse(parseJson(text));
  if (!parsed.success) {
    console.error(JSON.stringify({ level: 'error', msg: 'tracking_plan_unreadable', planId: id, version, issues: parsed.error.issues.slice(0, 3) }));
    return null;
  }
  return { ...parsed.data, id, version };
}

function warningsOf(text: string): ImportWarning[] {
  const parsed = z.array(warningSchema).safeParse(parseJson(text));
  return parsed.success ? (parsed.data as ImportWarning[]) : [];
}

function storedFromRow(row: z.output<typeof planRow>): StoredPlan | null {
  const plan = planFromText(row.plan, row.id, row.version);
  if (!plan) return null;
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    version: row.version,
    plan,
    sourceFormat: sourceFormatOf(row.source_format),
    warnings: warningsOf(row.import_warnings),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function getTrackingPlan(db: D1Database, workspaceId: string): Promise<StoredPlan | null> {
  const row = await db.prepare('SELECT * FROM tracking_plans WHERE workspace_id = ?').bind(workspaceId).first();
  return row ? storedFromRow(planRow.parse(row)) : null;
}

/** The current revision's identity and text, for the edge: the text is parsed only when the revision is new to the isolate. */
export async function currentPlanRevision(db: D1Database, workspaceId: string): Promise<{ id: string; version: number; plan: string } | null> {
  const row = await db.prepare('SELECT id, version, plan FROM tracking_plans WHERE workspace_id = ?').bind(workspaceId).first();
  return row ? z.object({ id: z.string(), version: z.number(), plan: z.string() }).parse(row) : null;
}

/** What a plan says, without the revision fields the store assigns. */
function planText(plan: TrackingPlan): string {
  const { id: _id, version: _version, ...content } = plan;
  return JSON.stringify(content);
}

export interface SavedPlan {
  stored: StoredPlan;
  /** False when the plan equals the current revision (nothing was written). */
  changed: boolean;
}

export async function saveTrackingPlan(
  db: D1Database,
  workspaceId: string,
  input: { plan: TrackingPlan; sourceFormat: PlanSourceFormat; warnings: ImportWarning[] },
  actor: string,
): Promise<SavedPlan> {
  const current = await getTrackingPlan(db, workspaceId);
  const text = planText(input.plan);
  if (current && planText(current.plan) === text) return { stored: current, changed: false };
  const id = current?.id ?? `tp_${randomBase62(16)}`;
  const version = (current?.version ?? (await lastVersion(db, id))) + 1;
  const warnings = JSON.stringify(input.warnings);
  await db.batch([
    db
      .prepare(
        `INSERT INTO tracking_plans (workspace_id, id, name, version, plan, source_format, import_warnings) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id) DO UPDATE SET name = excluded.name, version = excluded.version, plan = excluded.plan, source_format = excluded.source_format,
           import_warnings = excluded.import_warnings, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
      )
      .bind(workspaceId, id, input.plan.name, version, text, input.sourceFormat, warnings),
    db.prepare('INSERT INTO tracking_plan_versions (plan_id, version, workspace_id, plan, source_format, import_warnings, actor) VALUES (?, ?, ?, ?, ?, ?, ?)').bind(id, version, workspaceId, text, input.sourceFormat, warnings, actor),
  ]);
  const stored = await getTrackingPlan(db, workspaceId);
  if (!stored) throw new Error('tracking plan insert returned nothing');
  return { stored, changed: true };
}

async function lastVersion(db: D1Database, planId: string): Promise<number> {
  const row = await db.prepare('SELECT MAX(version) AS version FROM tracking_plan_versions WHERE plan_id = ?').bind(planId).first<{ version: number | null }>();
  return row?.version ?? 0;
}

export async function planVersions(db: D1Database, workspaceId: string, planId: string): Promise<PlanVersionInfo[]> {
  const { results } = await db.prepare('SELECT version, plan, source_format, created_at, actor FROM tracking_plan_versions WHERE workspace_id = ? AND plan_id = ? ORDER BY version DESC').bind(workspaceId, planId).all();
  return z
    .array(z.object({ version: z.number(), plan: z.string(), source_format: z.string(), created_at: z.string(), actor: z.string() }))
    .parse(results)
    .map((row) => ({ version: row.version, sourceFormat: sourceFormatOf(row.source_format), events: planFromText(row.plan, planId, row.version)?.events.length ?? 0, createdAt: row.created_at, actor: row.actor }));
}

export async function planAtVersion(db: D1Database, workspaceId: string, planId: string, version: number): Promise<TrackingPlan | null> {
  const row = await db.prepare('SELECT plan FROM tracking_plan_versions WHERE workspace_id = ? AND plan_id = ? AND version = ?').bind(workspaceId, planId, version).first<{ plan: string }>();
  return row ? planFromText(row.plan, planId, version) : null;
}

/** Removes the current plan (validation stops within the edge's cache TTL); its revisions stay readable by id. */
export async function deleteTrackingPlan(db: D1Database, workspaceId: string): Promise<string | null> {
  const row = await db.prepare('DELETE FROM tracking_plans WHERE workspace_id = ? RETURNING id').bind(workspaceId).first<{ id: string }>();
  return row?.id ?? null;
}
