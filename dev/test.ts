/**
 * `npm test`: brings up the real services (ClickHouse, Redis, Upstash REST stand-in),
 * points the test projects at them through env, runs Vitest, and stops what it started.
 * Extra arguments go to Vitest (e.g. `npm test -- test/workers/admin.test.ts`) and skip
 * the typecheck that a full run starts with.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildAssets } from './build';
import { ensureChromium } from './chromium';
import { CLICKHOUSE_ENGINES, clickHouseEngineFromEnv } from './clickhouse-server';
import { DATA_DIR, freePort, logStep, REPO_ROOT, StepError } from './process';
import { startStack } from './stack';

const focused = process.argv.length > 2;
if (!focused) {
  // The full run also type-checks every project (workers, node, browser code).
  logStep('typecheck');
  const typecheck = spawnSync('npm', ['run', '--silent', 'typecheck'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (typecheck.status !== 0) process.exit(typecheck.status ?? 1);
}
try {
  ensureChromium();
} catch (error) {
  // Only the browser tests need it: say so and run the rest.
  if (!(error instanceof StepError)) throw error;
  console.error(`\n✗ ${error.message}\n  fix: ${error.fix}\n  (the browser tests will fail)`);
}
logStep('building assets (SDK, demo page, dashboard)');
await buildAssets();

// The Worker's engine follows CLICKHOUSE_ENGINE; the other engine runs beside it, migrated alike,
// for the tests that run every query on both (current and 18.16 must give the same answers).
// A fresh 2 shards x 2 replicas cluster runs beside them too (one server and a cluster must give
// the same answers); its data goes when the run ends.
const upstashPort = await freePort();
mkdirSync(DATA_DIR, { recursive: true });
const clusterDir = mkdtempSync(join(DATA_DIR, 'test-cluster-'));
const stack = await Promise.resolve()
  .then(() =>
    startStack({
      database: process.env.MONFRI_TEST_DATABASE ?? 'monfri_test',
      upstashPort,
      engine: clickHouseEngineFromEnv(),
      alsoEngines: CLICKHOUSE_ENGINES,
      cluster: { dataDir: clusterDir, name: 'monfri', forWorker: false },
    }),
  )
  .catch((error: unknown) => {
    if (error instanceof StepError) console.error(`\n✗ ${error.message}\n  fix: ${error.fix}`);
    else console.error(error);
    process.exit(1);
  });

const env = {
  ...process.env,
  ...Object.fromEntries(Object.entries(stack.workerEnv).map(([name, value]) => [`MONFRI_TEST_${name}`, value])),
  MONFRI_TEST_REDIS_URL: stack.redis.url,
  MONFRI_TEST_CLICKHOUSE_ENGINES: JSON.stringify(stack.clickhouses.map(({ engine, url, version, cluster }) => ({ engine, url, version, cluster }))),
};
const vitest = spawn(process.execPath, [`${REPO_ROOT}/node_modules/vitest/vitest.mjs`, 'run', ...process.argv.slice(2)], { stdio: 'inherit', env, cwd: REPO_ROOT });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => vitest.kill(signal));
const code = await new Promise<number>((resolve) => vitest.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))));
await stack.stop();
rmSync(clusterDir, { recursive: true, force: true });
process.exit(code);
