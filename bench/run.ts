/**
 * `npm run bench [-- NAME ...]`: runs the named benchmarks (all by default). Each one
 * lives in bench/NAME/index.ts, exports `run(): Promise<void>`, prints its tables and
 * writes bench/results/. Run on a quiet machine; compare numbers from the same run only.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../dev/process';

const benchDir = join(REPO_ROOT, 'bench');
const available = readdirSync(benchDir).filter((name) => name !== 'results' && statSync(join(benchDir, name)).isDirectory());
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !available.includes(name));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}
for (const name of requested.length ? requested : available) {
  const module: unknown = await import(pathToFileURL(join(benchDir, name, 'index.ts')).href);
  const run = (module as { run?: () => Promise<void> }).run;
  if (typeof run !== 'function') throw new Error(`bench/${name}/index.ts must export run()`);
  console.log(`\n# bench ${name}`);
  await run();
}
