/**
 * Counts the consumer's Redis failures per isolate. Each one degrades a best-effort feature
 * (dedup cache, identity cache, bot counters, seen marks, blocked-tally marks) and never fails the batch; the
 * totals ride in every `pipeline_batch` report so an outage shows up as a rising counter,
 * not only as scattered warnings.
 */
export type RedisOperation = 'dedup_read' | 'identity_read' | 'bot_counters' | 'closing_writes' | 'blocked_tallies';

export class RedisDegradation {
  private readonly counts = new Map<RedisOperation, number>();

  record(operation: RedisOperation): void {
    this.counts.set(operation, (this.counts.get(operation) ?? 0) + 1);
  }

  /** All failures so far: a batch that moved it degraded, and its report is a warning. */
  count(): number {
    let sum = 0;
    for (const value of this.counts.values()) sum += value;
    return sum;
  }

  totals(): Partial<Record<RedisOperation, number>> {
    return Object.fromEntries(this.counts);
  }
}
