/** Which of a segment's Durable Objects holds a person: a stable hash of the person id (FNV-1a, 32 bit). */
export function shardOf(personId: string, shards: number): number {
  if (shards <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < personId.length; i++) {
    hash ^= personId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** The Durable Object name of one shard of a segment (one object per workspace, segment and shard). */
export function segmentObjectName(workspaceId: string, segmentId: string, shard: number): string {
  return `${workspaceId}/${segmentId}/${shard}`;
}
