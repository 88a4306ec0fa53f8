/**
 * Serves the browser SDK (built by sdk/build.ts into the ASSETS directory) with the cache
 * headers that make it safe to embed:
 * - /sdk/v1/monfri.<hash>.min.js: content-hashed, so cached for a year as immutable;
 * - /sdk/v1/monfri.min.js: the snippet's URL, cached 5 minutes so sites pick up v1 fixes;
 * - /sdk/v1/snippet?writeKey=wk_...: the copy-paste snippet for this host.
 */
import { Hono, type Context } from 'hono';
import { snippetHtml } from '../../sdk/src/snippet';
import type { AppEnv } from '../context';
import { ApiError } from '../errors';

export const LATEST_SCRIPT_CACHE = 'public, max-age=300';
export const HASHED_SCRIPT_CACHE = 'public, max-age=31536000, immutable';
const WRITE_KEY_PATTERN = /^wk_[A-Za-z0-9_-]{1,200}$/;

/** The built file from ASSETS (conditional headers passed through), re-headed for caching. */
async function scriptAsset(c: Context<AppEnv>, file: string, cacheControl: string): Promise<Response> {
  const assetUrl = new URL(`/sdk/v1/${file}`, c.req.url);
  const asset = await c.env.ASSETS.fetch(new Request(assetUrl, { method: c.req.method, headers: c.req.raw.headers }));
  if (asset.status === 404) throw new ApiError(404, 'sdk_not_found', `No SDK build named ${file}. Run npm run build.`);
  const response = new Response(asset.body, asset);
  response.headers.set('cache-control', cacheControl);
  response.headers.set('content-type', 'application/javascript; charset=utf-8');
  // Lets sites load it with crossorigin + Subresource Integrity.
  response.headers.set('access-control-allow-origin', '*');
  return response;
}

export const sdkRoutes = new Hono<AppEnv>();

sdkRoutes.get('/v1/monfri.min.js', (c) => scriptAsset(c, 'monfri.min.js', LATEST_SCRIPT_CACHE));
sdkRoutes.get('/v1/:file{monfri\\.[0-9a-f]{12}\\.min\\.js}', (c) => scriptAsset(c, c.req.param('file'), HASHED_SCRIPT_CACHE));

sdkRoutes.get('/v1/snippet', (c) => {
  const writeKey = c.req.query('writeKey') ?? 'YOUR_WRITE_KEY';
  if (writeKey !== 'YOUR_WRITE_KEY' && !WRITE_KEY_PATTERN.test(writeKey)) {
    throw new ApiError(400, 'invalid_write_key', 'writeKey must look like wk_... (letters, digits, _ and -).');
  }
  const scriptUrl = new URL('/sdk/v1/monfri.min.js', c.req.url).toString();
  c.header('cache-control', 'no-store');
  return c.text(snippetHtml(scriptUrl, writeKey));
});
