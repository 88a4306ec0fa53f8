/**
 * Child process for `startSnapshotWorker({ inspector: false })`: the same local runtime as
 * `wrangler dev` (proxy worker, workerd, local Queues, D1, Durable Objects) started through
 * wrangler's API with the devtools inspector off. With it on, wrangler turns every subrequest
 * of the Worker into four inspector messages that it formats and appends to its debug log
 * file (measured: about a core's third of CPU at 100 requests/s on this machine), which
 * production never pays. Usage: tsx quiet-worker.ts ROOT PERSIST_DIR ENV_FILE PORT
 */
import { join } from 'node:path';
import { unstable_startWorker } from 'wrangler';

const [root, persist, envFile, port] = process.argv.slice(2);
if (!root || !persist || !envFile || !port) throw new Error('usage: quiet-worker.ts ROOT PERSIST_DIR ENV_FILE PORT');
process.chdir(root);
const worker = await unstable_startWorker({
  config: join(root, 'wrangler.toml'),
  envFiles: [envFile],
  dev: { inspector: false, persist, watch: false, liveReload: false, logLevel: 'warn', server: { hostname: '127.0.0.1', port: Number(port) } },
});
await worker.ready;
console.log(`quiet worker ready on ${port}`);
const stop = (): void => {
  worker.dispose().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
