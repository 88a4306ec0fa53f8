/** What the storage benchmark needs from each database, so PostgreSQL and both ClickHouse engines run the same steps. */
import { z } from 'zod';
import type { EventRow } from '../../consumers/events/event-row';
import type { DataChunk, PersonRef } from './synthetic';

/** Written after a complete load: its presence (same dataset key) lets the next run reuse the data. */
export const loadMarkerSchema = z.object({
  dataset: z.string(),
  events: z.number(),
  identities: z.number(),
  /** Time spent in the inserts (serializing and sending included, generating the rows not). */
  insertMs: z.number(),
  /** VACUUM ANALYZE on PostgreSQL; waiting for background merges on ClickHouse. */
  settleMs: z.number(),
  loadedAt: z.string(),
});
export type LoadMarker = z.output<typeof loadMarkerSchema>;

/** The range and person every query is asked about. */
export interface QueryScope {
  workspaceId: string;
  fromMs: number;
  toMs: number;
  person: PersonRef;
}

/** One answer as comparable text lines (the same on every engine when the answers agree). */
export type Answer = string[];

export interface StorageFootprint {
  bytes: number;
  detail: string;
}

export interface StorageEngine {
  /** e.g. `PostgreSQL 15.20`, `ClickHouse 18.16.1`. */
  readonly label: string;
  readonly kind: 'postgres' | 'clickhouse';
  /** How the data settles after a load (named in the report). */
  readonly settleStep: string;
  loadedMarker(): Promise<LoadMarker | null>;
  /** Drops whatever was loaded and creates empty tables. */
  resetDataset(): Promise<void>;
  /** Inserts one chunk; returns the milliseconds spent. */
  loadChunk(chunk: DataChunk): Promise<number>;
  /** Returns the milliseconds spent settling. */
  settle(): Promise<number>;
  writeMarker(marker: LoadMarker): Promise<void>;
  footprint(): Promise<StorageFootprint>;
  runQuery(queryId: string, scope: QueryScope): Promise<Answer>;
  /** The scan nodes the engine plans for a query (PostgreSQL only: its plan depends on the indexes). */
  scanPlan?(queryId: string, scope: QueryScope): Promise<string>;
  /** One INSERT statement with these rows, as an application would send it. */
  insertEvents(rows: readonly EventRow[]): Promise<void>;
  close(): Promise<void>;
}
