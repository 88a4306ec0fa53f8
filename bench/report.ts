/** Benchmark output: a printed table plus JSON and Markdown files under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../dev/process';

export type Row = Record<string, string | number>;

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function summarize(samples: readonly number[]): { n: number; p50: number; p99: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), mean: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length) };
}

export function formatTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0] ?? {});
  const cell = (value: string | number | undefined): string => (typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(value < 10 ? 3 : 1)) : (value ?? ''));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]): string => `| ${values.map((value, i) => value.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(columns), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map((row) => line(columns.map((column) => cell(row[column]))))].join('\n');
}

/** Prints the table and writes bench/results/NAME.json and NAME.md (the latest run). */
export function writeReport(name: string, title: string, rows: readonly Row[], notes: string[] = []): void {
  const table = formatTable(rows);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`;
  const when = new Date().toISOString();
  console.log(`\n## ${title}\n${table}\n${notes.map((note) => `- ${note}`).join('\n')}`);
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, title, when, machine, rows, notes }, null, 2) + '\n');
  writeFileSync(join(dir, `${name}.md`), `# ${title}\n\n${when} on ${machine}\n\n${table}\n\n${notes.map((note) => `- ${note}`).join('\n')}\n`);
}
