/**
 * Per-workspace event retention (`privacy.retentionMonths`, schema/workspace-settings.ts),
 * applied by the scheduled housekeeping.
 *
 * The events table is partitioned by month for every workspace together
 * (`PARTITION BY toYYYYMM(timestamp)`, schema/clickhouse/001_events.sql), so retention works at
 * month granularity: with N months, a month is removed once it lies wholly more than N months
 * before the current month (N = 13 in December 2026: October 2025 and older go, November 2025
 * stays). Events are so kept between N and N + 1 months.
 * - A month whose every workspace has a retention that expires it is dropped whole
 *   (`ALTER TABLE events DROP PARTITION YYYYMM`): instant, no rewrite.
 * - Otherwise each expiring workspace's old rows go by a mutation (`ALTER TABLE events DELETE
 *   WHERE workspace_id = .. AND toYYYYMM(timestamp) < cutoff`), issued once (a mutation still
 *   running under the same marker is not issued again).
 * What is derived from events and holds no event (person_traits, person_stats, usage_days, the
 * schema-discovery aggregates) is not touched: profiles and billing outlive raw events; a person
 * deletion removes a person's profile.
 */
import { z } from 'zod';
import { clusterNodeSchema, clusterNodesSql, type ClickHouseClient } from '../../lib/clickhouse';
import { queryRows, uint64 } from '../../lib/event-queries';
import { deleteWorkspaceEventsBeforeSql, dropEventMonthSql, eventPartitionsSql, mutationProgressSql, workspaceEventsBeforeSql, workspacesInMonthSql, type ClusterAddress } from '../../lib/privacy-sql';
import { parseWorkspaceSettings } from '../../schema/workspace-settings';

export interface WorkspaceRetention {
  workspaceId: string;
  retentionMonths: number;
}

export interface RetentionReport {
  workspaces: number;
  droppedMonths: number[];
  /** Workspaces whose old rows are being deleted by a mutation (months other workspaces keep). */
  mutations: string[];
}

/** YYYYMM of the first month kept: `months` before the current UTC month. */
export function retentionCutoffMonth(now: number, months: number): number {
  const date = new Date(now);
  const index = date.getUTCFullYear() * 12 + date.getUTCMonth() - months;
  return Math.floor(index / 12) * 100 + (index % 12) + 1;
}

/** Workspaces with a retention setting (D1). */
export async function workspaceRetentions(db: D1Database): Promise<WorkspaceRetention[]> {
  const result = await db.prepare("SELECT id, settings FROM workspaces WHERE json_valid(settings) AND json_extract(settings, '$.privacy.retentionMonths') IS NOT NULL").all();
  const rows = z.array(z.object({ id: z.string(), settings: z.string() })).parse(result.results);
  return rows.flatMap((row) => {
    const months = parseWorkspaceSettings(row.settings).settings.privacy.retentionMonths;
    return months === null ? [] : [{ workspaceId: row.id, retentionMonths: months }];
  });
}

/** A marker for one workspace's retention mutation (lib/privacy-sql.ts finds mutations by it). */
function retentionMarker(workspaceId: string, cutoff: number): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < workspaceId.length; i++) hash = Math.imul(hash ^ workspaceId.charCodeAt(i), 0x01000193) >>> 0;
  return `retention_${hash.toString(16)}_${cutoff}`;
}

export interface RetentionTarget {
  database: string;
  cluster: string | null;
}

async function clusterAddresses(client: ClickHouseClient, cluster: string | null): Promise<ClusterAddress[] | null> {
  return cluster === null ? null : queryRows(client, clusterNodesSql(cluster), clusterNodeSchema);
}

export async function applyEventRetention(client: ClickHouseClient, target: RetentionTarget, retentions: readonly WorkspaceRetention[], now: number): Promise<RetentionReport> {
  const report: RetentionReport = { workspaces: retentions.length, droppedMonths: [], mutations: [] };
  if (retentions.length === 0) return report;
  const cutoffs = new Map(retentions.map((entry) => [entry.workspaceId, retentionCutoffMonth(now, entry.retentionMonths)]));
  const latestCutoff = Math.max(...cutoffs.values());
  const nodes = await clusterAddresses(client, target.cluster);
  const partitions = await queryRows(client, eventPartitionsSql(target.database, target.cluster, nodes), z.object({ partition: z.string() }));
  const months = [...new Set(partitions.map((row) => Number(row.partition)))].filter((month) => Number.isInteger(month) && month < latestCutoff).sort((a, b) => a - b);
  const mutate = new Set<string>();
  for (const month of months) {
    const holders = (await queryRows(client, workspacesInMonthSql(month), z.object({ workspace_id: z.string() }))).map((row) => row.workspace_id);
    const expired = (workspaceId: string): boolean => (cutoffs.get(workspaceId) ?? -1) > month;
    if (holders.every(expired)) {
      await client.command({ query: dropEventMonthSql(month, target.cluster) });
      report.droppedMonths.push(month);
    } else {
      for (const workspaceId of holders.filter(expired)) mutate.add(workspaceId);
    }
  }
  for (const workspaceId of mutate) {
    const cutoff = cutoffs.get(workspaceId);
    if (cutoff === undefined) continue;
    const marker = retentionMarker(workspaceId, cutoff);
    const running = await queryRows(client, mutationProgressSql(target.database, marker, nodes), z.object({ is_done: uint64 }));
    if (running.some((row) => row.is_done !== 1)) continue;
    const [left] = await queryRows(client, workspaceEventsBeforeSql(workspaceId, cutoff), z.object({ rows: uint64 }));
    if ((left?.rows ?? 0) === 0) continue;
    await client.command({ query: deleteWorkspaceEventsBeforeSql(workspaceId, cutoff, marker, target.cluster) });
    report.mutations.push(workspaceId);
  }
  return report;
}
