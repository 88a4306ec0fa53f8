#!/usr/bin/env node
// Plain JavaScript on purpose: it runs before dependencies exist. Checks Node, installs
// npm dependencies when node_modules is missing or older than package-lock.json, then
// runs the given TypeScript entry point with tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`Monfri needs Node.js 20 or newer (found ${process.version}). Install it, e.g. from https://nodejs.org or your package manager.`);
  process.exit(1);
}
const stamp = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs) {
  console.log('▸ installing npm dependencies (npm ci)');
  const install = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (install.status !== 0) {
    console.error('✗ npm ci failed; fix: check network access to the npm registry, then run `npm ci` by hand');
    process.exit(1);
  }
}
const [entry, ...args] = process.argv.slice(2);
const run = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(root, entry), ...args], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
