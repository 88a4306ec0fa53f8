/**
 * `npm run bench [-- NAME ...] [--full]`: runs the named benchmarks (all by default), each in a
 * child process of its own (some stub globals or register module hooks), with a progress line.
 * Each one lives in bench/NAME/index.ts, exports `run(): Promise<void>` and writes bench/results/.
 * - default sizes are small (QUICK_ENV), so the whole suite fits in ~15 minutes on a 2-core machine;
 * - `--full`: the benches' own full sizes plus 10M-event runs (storage, usage: BENCH_FULL=1);
 * - a run of every bench writes bench/results/REPORT.md (bench/summary.ts): the machine, then
 *   each bench's tables from this run. Compare numbers from the same run only.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../dev/process';
import { writeSummary, type BenchOutcome } from './summary';

const benchDir = join(REPO_ROOT, 'bench');
const resultsDir = join(benchDir, 'results');
const logDir = join(REPO_ROOT, '.data', 'bench-logs');

/** Under bench/ but not in the suite: `npm run soak` runs it (minutes long; it stops services with --faults). */
const NOT_IN_SUITE = new Set(['results', 'soak']);

/** What the default (quick) run sets per bench; `--full` sets none of it. Explicit env wins. */
const QUICK_ENV: Record<string, Record<string, string>> = {
  edge: { BENCH_QUICK: '1' },
  ingest: { BENCH_N: '20000' },
  storage: { BENCH_STORAGE_EVENTS: '200000', BENCH_STORAGE_RUNS: '5' },
  usage: { BENCH_USAGE_RUNS: '20', BENCH_USAGE_COLD_RUNS: '3' },
  segments: { BENCH_SEGMENT_BATCHES: '100', BENCH_SEGMENT_SECONDS: '3' },
  cluster: { BENCH_CLUSTER_EVENTS: '200000', BENCH_CLUSTER_RUNS: '5' },
};

async function runChild(name: string): Promise<void> {
  const module: unknown = await import(pathToFileURL(join(benchDir, name, 'index.ts')).href);
  const run = (module as { run?: () => Promise<void> }).run;
  if (typeof run !== 'function') throw new Error(`bench/${name}/index.ts must export run()`);
  await run();
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

function resultsWrittenSince(startedAt: number): string[] {
  return readdirSync(resultsDir).filter((file) => file.endsWith('.md') && file !== 'REPORT.md' && statSync(join(resultsDir, file)).mtimeMs >= startedAt).sort();
}

/** Runs one bench in a child process, its output to .data/bench-logs/NAME.log, with a progress line meanwhile. */
function runBench(name: string, index: number, total: number, full: boolean, suiteStartedAt: number): Promise<BenchOutcome> {
  const startedAt = Date.now();
  const logPath = join(logDir, `${name}.log`);
  const log = createWriteStream(logPath);
  const env: NodeJS.ProcessEnv = { ...(full ? {} : QUICK_ENV[name]), ...process.env, ...(full ? { BENCH_FULL: '1' } : {}) };
  const tsx = join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const child = spawn(process.execPath, [tsx, join(benchDir, 'run.ts'), '--child', name, ...(full ? ['--full'] : [])], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const label = `[${index}/${total}] ${name}`;
  const tty = process.stdout.isTTY;
  const progress = (): void => {
    const line = `${label}: running ${formatDuration(Date.now() - startedAt)} (suite ${formatDuration(Date.now() - suiteStartedAt)}), log ${logPath}`;
    if (tty) process.stdout.write(`\r${line}\u001b[K`);
    else console.log(line);
  };
  progress();
  const timer = setInterval(progress, tty ? 1000 : 30_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearInterval(timer);
      log.end();
      const durationMs = Date.now() - startedAt;
      const files = resultsWrittenSince(startedAt);
      const ok = code === 0;
      if (tty) process.stdout.write('\r\u001b[K');
      console.log(`${label}: ${ok ? 'done' : `FAILED (exit ${code})`} in ${formatDuration(durationMs)}; wrote ${files.join(', ') || 'nothing'}`);
      const logTail = ok ? '' : readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n');
      if (!ok) console.log(logTail);
      resolve({ name, ok, durationMs, files, logTail });
    });
  });
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  await runChild(args[1] ?? '');
} else {
  const full = args.includes('--full');
  const available = readdirSync(benchDir).filter((name) => !NOT_IN_SUITE.has(name) && statSync(join(benchDir, name)).isDirectory()).sort();
  const requested = args.filter((arg) => !arg.startsWith('--'));
  const unknown = requested.filter((name) => !available.includes(name));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
    process.exit(2);
  }
  const names = requested.length ? requested : available;
  mkdirSync(logDir, { recursive: true });
  const suiteStartedAt = Date.now();
  console.log(`bench: ${names.join(', ')} (${full ? 'full sizes, 10M-event runs' : 'default sizes; --full for 10M-event runs'})`);
  const outcomes: BenchOutcome[] = [];
  for (const [index, name] of names.entries()) outcomes.push(await runBench(name, index + 1, names.length, full, suiteStartedAt));
  const totalMs = Date.now() - suiteStartedAt;
  console.log(`bench: ${outcomes.filter((outcome) => outcome.ok).length}/${outcomes.length} passed in ${formatDuration(totalMs)}`);
  if (!requested.length) {
    const path = await writeSummary({ outcomes, full, startedAt: suiteStartedAt, totalMs });
    console.log(`bench: report at ${path}`);
  }
  if (outcomes.some((outcome) => !outcome.ok)) process.exitCode = 1;
}
