import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';

it('wrangler deploy --dry-run bundles the one Worker with every binding', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'monfri-bundle-'));
  try {
    const result = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outdir], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
    });
    expect(result.status, result.stderr).toBe(0);
    for (const binding of ['env.LIVE_FEED (LiveFeed)', 'env.EVENTS (monfri-events)', 'env.EVENTS_DLQ (monfri-events-dlq)', 'env.WEBHOOKS (monfri-webhooks)', 'env.SEGMENTS (SegmentShard)', 'env.SEGMENT_RETRIES (monfri-segments)', 'env.DB (monfri-control)', 'env.ASSETS']) {
      expect(result.stdout).toContain(binding);
    }
    const bundle = join(outdir, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    // Workers' compressed size limit is 3 MB on the free plan; keep a wide margin.
    expect(statSync(bundle).size).toBeLessThan(3 * 1024 * 1024);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
  // A full wrangler bundle: seconds, more on a loaded 2-core machine.
}, 60_000);
