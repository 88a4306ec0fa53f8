/**
 * Builds the browser SDK into the Worker's static assets:
 * - dist/public/sdk/v1/monfri.<hash>.min.js  (immutable, content-hashed)
 * - dist/public/sdk/v1/monfri.min.js         (same bytes; short cache: the snippet's URL)
 * - dist/public/sdk/v1/manifest.json         (which hash is current, sizes)
 * - dist/sdk/monfri.esm.js                   (ES module for bundlers)
 * - dist/public/demo/index.html              (the demo page, with the snippet inlined)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { loaderScript } from './src/snippet';
import { SDK_VERSION } from './src/version';

const SDK_DIR = dirname(fileURLToPath(import.meta.url));
export const SCRIPT_PATH = '/sdk/v1/monfri.min.js';
// Browsers from 2021 on (class fields, ??=, optional chaining ship as they are: smaller).
const TARGET = ['es2022'];
/**
 * Internal property names that esbuild may shorten: only ones never sent over the wire,
 * never read from parsed JSON or storage, and never part of the public API or options.
 */
const INTERNAL_PROPERTIES = /^(privacySignal|defaultApiHost|globalNames|rootAttributes|stampedAt|queueKey|maxBatchEvents|retryAfter|consent|transport|clock|facts|listen|resumed|beacon|started|store|uuid|webdriverOverridden|identity|idCookie|startCapture|hidden|online|hide|events|reason|post)$/;

export interface SdkManifest {
  version: string;
  hash: string;
  file: string;
  bytes: number;
  gzipBytes: number;
}

/** The minified IIFE script for the script tag (in memory). */
export async function bundleScript(): Promise<string> {
  const result = await build({
    entryPoints: [join(SDK_DIR, 'src', 'standalone.ts')],
    bundle: true,
    format: 'iife',
    minify: true,
    target: TARGET,
    write: false,
    legalComments: 'none',
    mangleProps: INTERNAL_PROPERTIES,
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no SDK script');
  return output.text;
}

export function gzipSize(text: string): number {
  return gzipSync(Buffer.from(text), { level: 9 }).length;
}

export async function buildSdk(publicDir: string): Promise<SdkManifest> {
  const script = await bundleScript();
  const hash = createHash('sha256').update(script).digest('hex').slice(0, 12);
  const versionDir = join(publicDir, 'sdk', 'v1');
  mkdirSync(versionDir, { recursive: true });
  const manifest: SdkManifest = { version: SDK_VERSION, hash, file: `monfri.${hash}.min.js`, bytes: Buffer.byteLength(script), gzipBytes: gzipSize(script) };
  writeFileSync(join(versionDir, manifest.file), script);
  writeFileSync(join(versionDir, 'monfri.min.js'), script);
  writeFileSync(join(versionDir, 'manifest.json'), JSON.stringify(manifest));

  await build({
    entryPoints: [join(SDK_DIR, 'src', 'index.ts')],
    bundle: true,
    format: 'esm',
    target: TARGET,
    outfile: join(publicDir, '..', 'sdk', 'monfri.esm.js'),
    legalComments: 'none',
  });

  const demoDir = join(publicDir, 'demo');
  mkdirSync(demoDir, { recursive: true });
  const demo = readFileSync(join(SDK_DIR, 'demo', 'index.html'), 'utf8').replace('/*MONFRI_LOADER*/', loaderScript(SCRIPT_PATH));
  writeFileSync(join(demoDir, 'index.html'), demo);
  return manifest;
}
