/**
 * `npm ci` works from the committed lock file. npm refuses a lock that lacks an entry for any
 * optional dependency a locked package names ("Missing: X from lock file"), and `npm install`
 * leaves such entries out when the registry these machines reach does not have the package
 * (chdb's macOS and arm64 libraries; earlier, one of vite's). So every one of them must be in
 * the lock (hand-added entries for other platforms are fine: npm skips them here), and the
 * dependencies in package.json are pinned exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { REPO_ROOT } from '../../dev/process';

const lockSchema = z.object({
  packages: z.record(z.string(), z.object({ version: z.string().optional(), optionalDependencies: z.record(z.string(), z.string()).optional() }).loose()),
});
const manifestSchema = z.object({ dependencies: z.record(z.string(), z.string()), devDependencies: z.record(z.string(), z.string()) });

const lock = lockSchema.parse(JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')));
const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')));

/** Where npm would look for `name` needed by the package at `path`: its own node_modules, then each parent's. */
function resolves(path: string, name: string): boolean {
  let base = path;
  for (;;) {
    if (lock.packages[`${base ? `${base}/` : ''}node_modules/${name}`]) return true;
    if (base === '') return false;
    const at = base.lastIndexOf('node_modules/');
    base = at <= 0 ? '' : base.slice(0, at - 1);
  }
}

it('every optional dependency a locked package names has a lock entry of its own', () => {
  const missing = Object.entries(lock.packages).flatMap(([path, entry]) => Object.keys(entry.optionalDependencies ?? {}).filter((name) => !resolves(path, name)).map((name) => `${path || '(root)'} -> ${name}`));
  expect(missing).toEqual([]);
});

it('package.json pins every dependency to an exact version', () => {
  const ranged = Object.entries({ ...manifest.dependencies, ...manifest.devDependencies }).filter(([, version]) => !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version));
  expect(ranged).toEqual([]);
});
