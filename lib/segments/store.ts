/**
 * Segments and computed traits in the control plane (D1, schema/d1/0005_segments.sql): the
 * API, the admin CLI and the consumers read and write them here. A segment row holds its
 * current version; every saved version is kept in `segment_versions`. Definitions are checked
 * (schema, then lib/segments/engine.ts definitionProblems) before anything is written.
 */
import { z } from 'zod';
import { randomBase62 } from '../crypto';
import {
  computedTraitSchema,
  SEGMENT_LIMITS,
  segmentDefinitionSchema,
  type ActiveSegment,
  type ComputedTraitDefinition,
  type Condition,
  type Segment,
  type SegmentInput,
  type SegmentPatch,
} from '../../schema/segments';
import { definitionProblems, leafConditions } from './engine';

export class SegmentDefinitionError extends Error {
  constructor(
    readonly code: 'invalid_definition' | 'limit_reached' | 'trait_in_use' | 'trait_exists',
    message: string,
    readonly problems: string[],
  ) {
    super(message);
  }
}

const segmentRow = z.object({
  id: z.string(),
  workspace_id: z.string(),
  name: z.string(),
  description: z.string(),
  version: z.number(),
  definition: z.string(),
  shards: z.number(),
  created_at: z.string(),
  updated_at: z.string(),
});
type SegmentRow = z.output<typeof segmentRow>;

function segmentFromRow(row: SegmentRow): Segment | null {
  let json: unknown;
  try {
    json = JSON.parse(row.definition);
  } catch {
    json = null;
  }
  const definition = segmentDefinitionSchema.safeParse(json);
  if (!definition.success) {
    // A row no current schema reads (written by a later version, or edited by hand): never evaluate a guess.
    console.error(JSON.stringify({ level: 'error', msg: 'segment_definition_unreadable', segmentId: row.id, issues: definition.error.issues.slice(0, 3) }));
    return null;
  }
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    description: row.description,
    condition: definition.data.condition,
    computedTraits: definition.data.computedTraits,
    version: row.version,
    shards: row.shards,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function activeSegmentOf(segment: Segment): ActiveSegment {
  return { id: segment.id, name: segment.name, version: segment.version, shards: segment.shards, condition: segment.condition, computedTraits: segment.computedTraits };
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

export async function listSegments(db: D1Database, workspaceId: string): Promise<Segment[]> {
  const { results } = await db.prepare('SELECT * FROM segments WHERE workspace_id = ? AND deleted_at IS NULL ORDER BY created_at, id').bind(workspaceId).all();
  return z.array(segmentRow).parse(results).flatMap((row) => segmentFromRow(row) ?? []);
}

/** Every live segment of these workspaces, for the consumers: a statement to batch with others, and its reading. */
export function activeSegmentsStatement(db: D1Database, workspaceIds: readonly string[]): D1PreparedStatement {
  return db.prepare(`SELECT * FROM segments WHERE workspace_id IN (${placeholders(workspaceIds.length)}) AND deleted_at IS NULL ORDER BY id`).bind(...workspaceIds);
}

export function activeSegmentsFromRows(workspaceIds: readonly string[], rows: readonly unknown[]): Map<string, ActiveSegment[]> {
  const found = new Map<string, ActiveSegment[]>(workspaceIds.map((id) => [id, []]));
  for (const row of z.array(segmentRow).parse(rows)) {
    const segment = segmentFromRow(row);
    if (segment) found.get(segment.workspaceId)?.push(activeSegmentOf(segment));
  }
  return found;
}

export async function activeSegmentsOf(db: D1Database, workspaceIds: readonly string[]): Promise<Map<string, ActiveSegment[]>> {
  if (workspaceIds.length === 0) return new Map();
  const { results } = await activeSegmentsStatement(db, workspaceIds).all();
  return activeSegmentsFromRows(workspaceIds, results);
}

export async function getSegment(db: D1Database, workspaceId: string, id: string): Promise<Segment | null> {
  const row = await db.prepare('SELECT * FROM segments WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL').bind(workspaceId, id).first();
  return row ? segmentFromRow(segmentRow.parse(row)) : null;
}

/** The computed traits a condition reads, from the workspace's definitions (a snapshot saved with the version). */
function tracedTraits(condition: Condition, definitions: readonly ComputedTraitDefinition[]): ComputedTraitDefinition[] {
  const names = new Set(leafConditions(condition).flatMap((leaf) => (leaf.type === 'computed' ? [leaf.trait] : [])));
  return definitions.filter((definition) => names.has(definition.name));
}

function checkDefinition(condition: Condition, definitions: readonly ComputedTraitDefinition[]): ComputedTraitDefinition[] {
  const problems = definitionProblems(condition, definitions);
  if (problems.length > 0) throw new SegmentDefinitionError('invalid_definition', 'This definition cannot be evaluated as it stands.', problems);
  return tracedTraits(condition, definitions);
}

/** What a definition would be saved as, or why not (the dashboard's editor checks as you type). */
export async function checkSegmentDefinition(db: D1Database, workspaceId: string, condition: Condition): Promise<string[]> {
  return definitionProblems(condition, await listComputedTraits(db, workspaceId));
}

export async function createSegment(db: D1Database, workspaceId: string, input: SegmentInput, actor: string): Promise<Segment> {
  const definitions = await listComputedTraits(db, workspaceId);
  const computedTraits = checkDefinition(input.condition, definitions);
  const count = await db.prepare('SELECT COUNT(*) AS count FROM segments WHERE workspace_id = ? AND deleted_at IS NULL').bind(workspaceId).first<{ count: number }>();
  if ((count?.count ?? 0) >= SEGMENT_LIMITS.maxSegmentsPerWorkspace) {
    throw new SegmentDefinitionError('limit_reached', `A workspace has at most ${SEGMENT_LIMITS.maxSegmentsPerWorkspace} segments; delete one first.`, []);
  }
  const id = `seg_${randomBase62(16)}`;
  const definition = JSON.stringify({ condition: input.condition, computedTraits });
  await db.batch([
    db.prepare('INSERT INTO segments (id, workspace_id, name, description, version, definition, shards) VALUES (?, ?, ?, ?, 1, ?, ?)').bind(id, workspaceId, input.name, input.description, definition, input.shards),
    db.prepare('INSERT INTO segment_versions (segment_id, version, name, definition, actor) VALUES (?, 1, ?, ?, ?)').bind(id, input.name, definition, actor),
  ]);
  const created = await getSegment(db, workspaceId, id);
  if (!created) throw new Error('segment insert returned nothing');
  return created;
}

/**
 * A new condition is a new version (rebuilt from history, the difference reported); a new name
 * or description alone keeps the version. Null when there is no such segment.
 */
export async function updateSegment(db: D1Database, workspaceId: string, id: string, patch: SegmentPatch, actor: string): Promise<{ segment: Segment; newVersion: boolean } | null> {
  const current = await getSegment(db, workspaceId, id);
  if (!current) return null;
  const condition = patch.condition ?? current.condition;
  const computedTraits = patch.condition ? checkDefinition(condition, await listComputedTraits(db, workspaceId)) : current.computedTraits;
  const newVersion = patch.condition !== undefined && JSON.stringify(patch.condition) !== JSON.stringify(current.condition);
  const version = newVersion ? current.version + 1 : current.version;
  const name = patch.name ?? current.name;
  const definition = JSON.stringify({ condition, computedTraits });
  const now = new Date().toISOString();
  const update = db
    .prepare('UPDATE segments SET name = ?, description = ?, version = ?, definition = ?, updated_at = ? WHERE workspace_id = ? AND id = ? AND version = ? AND deleted_at IS NULL')
    .bind(name, patch.description ?? current.description, version, definition, now, workspaceId, id, current.version);
  const statements = newVersion ? [update, db.prepare('INSERT INTO segment_versions (segment_id, version, name, definition, actor) VALUES (?, ?, ?, ?, ?)').bind(id, version, name, definition, actor)] : [update];
  const [result] = await db.batch(statements);
  // Someone saved a version meanwhile: the caller's patch was made against an older one.
  if ((result?.meta.changes ?? 0) === 0) throw new SegmentDefinitionError('invalid_definition', 'The segment changed while you edited it; load it again.', []);
  const segment = await getSegment(db, workspaceId, id);
  return segment ? { segment, newVersion } : null;
}

export async function deleteSegment(db: D1Database, workspaceId: string, id: string): Promise<Segment | null> {
  const current = await getSegment(db, workspaceId, id);
  if (!current) return null;
  await db.prepare('UPDATE segments SET deleted_at = ? WHERE workspace_id = ? AND id = ?').bind(new Date().toISOString(), workspaceId, id).run();
  return current;
}

export interface SegmentVersion {
  version: number;
  name: string;
  condition: Condition;
  createdAt: string;
  actor: string;
}

export async function segmentVersions(db: D1Database, segmentId: string): Promise<SegmentVersion[]> {
  const { results } = await db.prepare('SELECT version, name, definition, created_at, actor FROM segment_versions WHERE segment_id = ? ORDER BY version').bind(segmentId).all();
  return z
    .array(z.object({ version: z.number(), name: z.string(), definition: z.string(), created_at: z.string(), actor: z.string() }))
    .parse(results)
    .flatMap((row) => {
      const definition = segmentDefinitionSchema.safeParse(JSON.parse(row.definition));
      return definition.success ? [{ version: row.version, name: row.name, condition: definition.data.condition, createdAt: row.created_at, actor: row.actor }] : [];
    });
}

const traitRow = z.object({ name: z.string(), definition: z.string() });

export async function listComputedTraits(db: D1Database, workspaceId: string): Promise<ComputedTraitDefinition[]> {
  const { results } = await db.prepare('SELECT name, definition FROM computed_traits WHERE workspace_id = ? ORDER BY name').bind(workspaceId).all();
  return z
    .array(traitRow)
    .parse(results)
    .flatMap((row) => {
      const parsed = computedTraitSchema.safeParse(JSON.parse(row.definition));
      return parsed.success ? [parsed.data] : [];
    });
}

/** The live segments whose saved definition reads this computed trait. */
async function segmentsReading(db: D1Database, workspaceId: string, name: string): Promise<Segment[]> {
  return (await listSegments(db, workspaceId)).filter((segment) => segment.computedTraits.some((trait) => trait.name === name));
}

/**
 * Creates a computed trait, or replaces one no segment reads: a segment's membership must not
 * change under it because a trait it reads was redefined (save the segment again instead).
 */
export async function saveComputedTrait(db: D1Database, workspaceId: string, trait: ComputedTraitDefinition, options: { replace: boolean }): Promise<ComputedTraitDefinition> {
  const existing = (await listComputedTraits(db, workspaceId)).find((entry) => entry.name === trait.name);
  if (existing && !options.replace) throw new SegmentDefinitionError('trait_exists', `A computed trait named ${trait.name} exists; PUT /v1/computed-traits/${trait.name} replaces it.`, []);
  if (existing) {
    const readers = await segmentsReading(db, workspaceId, trait.name);
    if (readers.length > 0) throw new SegmentDefinitionError('trait_in_use', `Segments read ${trait.name}; change or delete them first.`, readers.map((segment) => `${segment.id} (${segment.name})`));
  } else {
    const count = await db.prepare('SELECT COUNT(*) AS count FROM computed_traits WHERE workspace_id = ?').bind(workspaceId).first<{ count: number }>();
    if ((count?.count ?? 0) >= SEGMENT_LIMITS.maxComputedTraitsPerWorkspace) throw new SegmentDefinitionError('limit_reached', `A workspace has at most ${SEGMENT_LIMITS.maxComputedTraitsPerWorkspace} computed traits.`, []);
  }
  await db
    .prepare('INSERT INTO computed_traits (workspace_id, name, definition) VALUES (?, ?, ?) ON CONFLICT (workspace_id, name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at')
    .bind(workspaceId, trait.name, JSON.stringify(trait))
    .run();
  return trait;
}

export async function deleteComputedTrait(db: D1Database, workspaceId: string, name: string): Promise<boolean> {
  const readers = await segmentsReading(db, workspaceId, name);
  if (readers.length > 0) throw new SegmentDefinitionError('trait_in_use', `Segments read ${name}; change or delete them first.`, readers.map((segment) => `${segment.id} (${segment.name})`));
  const result = await db.prepare('DELETE FROM computed_traits WHERE workspace_id = ? AND name = ?').bind(workspaceId, name).run();
  return result.meta.changes > 0;
}
