/**
 * `npm run build`: static assets the Worker serves from dist/public (SDK script, demo page,
 * dashboard). Each part registers its builder here.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSdk } from '../sdk/build';
import { buildDashboard } from './build-dashboard';
import { REPO_ROOT } from './process';

export const PUBLIC_DIR = join(REPO_ROOT, 'dist', 'public');

type Builder = (outDir: string) => Promise<void>;
const builders: Builder[] = [
  async (outDir) => void (await buildSdk(outDir)),
  buildDashboard,
];

export async function buildAssets(): Promise<void> {
  mkdirSync(PUBLIC_DIR, { recursive: true });
  for (const build of builders) await build(PUBLIC_DIR);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildAssets();
  console.log(`assets built in ${PUBLIC_DIR}`);
}
