/** Builds the dashboard into dist/public/dashboard/: app.js + app.css (uPlot bundled, no CDN) and index.html. */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { REPO_ROOT } from './process';

const SOURCE = join(REPO_ROOT, 'dashboard');

export async function buildDashboard(publicDir: string): Promise<void> {
  const outDir = join(publicDir, 'dashboard');
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(SOURCE, 'src', 'main.ts') },
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    outdir: outDir,
    logLevel: 'warning',
    legalComments: 'none',
  });
  await build({
    entryPoints: { app: join(SOURCE, 'src', 'styles.css') },
    bundle: true,
    minify: true,
    outdir: outDir,
    logLevel: 'warning',
  });
  copyFileSync(join(SOURCE, 'index.html'), join(outDir, 'index.html'));
}
