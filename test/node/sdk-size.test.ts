/**
 * The SDK build: the size budget (the full script-tag SDK with autocapture, sessions and the
 * retry queue must stay <= 5 KB gzip) and the files the Worker serves.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { buildSdk, bundleScript, gzipSize } from '../../sdk/build';

const BUDGET_BYTES = 5 * 1024;
const outDir = mkdtempSync(join(tmpdir(), 'monfri-sdk-build-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

it('the minified SDK script is at most 5 KB gzip', async () => {
  const script = await bundleScript();
  const gzipped = gzipSize(script);
  console.log(`monfri.min.js: ${script.length} bytes minified, ${gzipped} bytes gzip (budget ${BUDGET_BYTES})`);
  expect(script).toContain('/v1/collect');
  expect(gzipped).toBeLessThanOrEqual(BUDGET_BYTES);
});

it('writes the hashed script, the latest alias, the manifest, the ESM build and the demo page', async () => {
  const publicDir = join(outDir, 'public');
  const manifest = await buildSdk(publicDir);
  const hashed = readFileSync(join(publicDir, 'sdk', 'v1', manifest.file), 'utf8');
  expect(manifest.file).toBe(`monfri.${manifest.hash}.min.js`);
  expect(readFileSync(join(publicDir, 'sdk', 'v1', 'monfri.min.js'), 'utf8')).toBe(hashed);
  expect(JSON.parse(readFileSync(join(publicDir, 'sdk', 'v1', 'manifest.json'), 'utf8'))).toEqual(manifest);
  expect(manifest.gzipBytes).toBe(gzipSize(hashed));

  const demo = readFileSync(join(publicDir, 'demo', 'index.html'), 'utf8');
  expect(demo).toContain('s.src=u');
  expect(demo).toContain('"/sdk/v1/monfri.min.js"');
  expect(demo).not.toContain('MONFRI_LOADER');

  const esm = (await import(pathToFileURL(join(outDir, 'sdk', 'monfri.esm.js')).href)) as Record<string, unknown>;
  expect(typeof esm.createMonfri).toBe('function');
  expect(esm.SDK_VERSION).toBe(manifest.version);
});
