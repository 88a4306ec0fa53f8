/**
 * bench/results/REPORT.md: one report of a whole `npm run bench`: the machine (cores, memory,
 * versions), how long each bench took, then every results table the run wrote, as written
 * (medians, p99s and each bench's reference measured in the same run).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LOCAL_CLICKHOUSE_HTTP_PORT } from '../dev/clickhouse-server';
import { REPO_ROOT } from '../dev/process';
import { formatTable, type Row } from './report';

export interface BenchOutcome {
  name: string;
  ok: boolean;
  durationMs: number;
  files: string[];
  logTail: string;
}

const PACKAGES = ['wrangler', 'miniflare', 'workerd', 'hono', 'zod', '@clickhouse/client-web', '@upstash/redis', 'chdb', 'typescript'];

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

async function clickHouseVersion(): Promise<string> {
  const url = process.env.BENCH_CLICKHOUSE_URL ?? `http://127.0.0.1:${LOCAL_CLICKHOUSE_HTTP_PORT}`;
  try {
    const response = await fetch(`${url}/?query=${encodeURIComponent('SELECT version()')}`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? `${(await response.text()).trim()} (${url})` : `unreachable (${url}: HTTP ${response.status})`;
  } catch {
    return `not running at ${url} after the run`;
  }
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test', connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } catch {
    return 'not reachable';
  } finally {
    await client.end().catch(() => undefined);
  }
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** A results file with its headings moved two levels down, under its bench's section. */
function embedded(file: string): string {
  return readFileSync(join(REPO_ROOT, 'bench', 'results', file), 'utf8')
    .trim()
    .replace(/^(#+) /gm, (_match, hashes: string) => `${hashes}## `);
}

export async function writeSummary({ outcomes, full, startedAt, totalMs }: { outcomes: BenchOutcome[]; full: boolean; startedAt: number; totalMs: number }): Promise<string> {
  const machine: Row[] = [
    { what: 'CPU', value: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}` },
    { what: 'memory', value: `${(totalmem() / 2 ** 30).toFixed(1)} GiB` },
    { what: 'kernel', value: `Linux ${release()}` },
    { what: 'Node.js', value: process.version },
    { what: 'ClickHouse server', value: await clickHouseVersion() },
    { what: 'PostgreSQL', value: await postgresVersion() },
    ...PACKAGES.map((name) => ({ what: name, value: packageVersion(name) })),
    { what: 'load average at the end (1/5/15 min)', value: loadavg().map((value) => value.toFixed(2)).join(' / ') },
  ];
  const runs: Row[] = outcomes.map((outcome) => ({ bench: outcome.name, result: outcome.ok ? 'ok' : 'FAILED', duration: formatDuration(outcome.durationMs), 'results files': outcome.files.join(', ') }));
  const sections = outcomes.map((outcome) => {
    const body = outcome.ok ? outcome.files.map(embedded).join('\n\n') : `Failed; the end of its log:\n\n\`\`\`\n${outcome.logTail}\n\`\`\``;
    return `## ${outcome.name}\n\n${body || '(no results file written)'}`;
  });
  const text = [
    '# Benchmark report',
    '',
    `${new Date(startedAt).toISOString()}, \`npm run bench${full ? ' -- --full' : ''}\` (${full ? 'full sizes, 10M-event runs' : 'default sizes'}), ${formatDuration(totalMs)} in all.`,
    '',
    'Every bench runs on this one machine with the whole stack local (workerd, ClickHouse, Redis, PostgreSQL and the load generator share the cores), and other sessions may be using the CPU at the same time: compare numbers within one table (each bench measures its reference in the same run), not across runs.',
    '',
    '## Machine',
    '',
    formatTable(machine),
    '',
    '## Runs',
    '',
    formatTable(runs),
    '',
    ...sections.flatMap((section) => [section, '']),
  ].join('\n');
  const path = join(REPO_ROOT, 'bench', 'results', 'REPORT.md');
  writeFileSync(path, text);
  return path;
}
