/** Timing helpers: warm repetitions under a time budget, and a cold run after dropping the OS page cache. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

export interface RepeatPlan {
  runs: number;
  minRuns: number;
  /** Stops early (after minRuns) once this much time went into the repetitions. */
  budgetMs: number;
}

export async function repeat<T>(work: () => Promise<T>, plan: RepeatPlan): Promise<{ samples: number[]; last: T }> {
  const samples: number[] = [];
  let last: T | undefined;
  let spent = 0;
  while (samples.length < plan.runs && (samples.length < plan.minRuns || spent < plan.budgetMs)) {
    const run = await timed(work);
    samples.push(run.ms);
    spent += run.ms;
    last = run.value;
  }
  if (last === undefined) throw new Error('repeat() needs at least one run');
  return { samples, last };
}

/**
 * Empties the kernel's page cache (root only): the next read of every table comes from disk.
 * Caches inside the servers stay (PostgreSQL's shared_buffers, ClickHouse's mark cache): nothing is restarted.
 */
export function dropOsCaches(): boolean {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}
