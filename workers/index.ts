/** The only file that wires the folders together: fetch, queue, scheduled and the Durable Objects. */
import { handleQueueBatch, type ConsumerServices } from '../consumers/index';
import { RedisDegradation } from '../consumers/redis-degradation';
import { WorkspaceProfileCache } from '../consumers/workspace-profiles';
import { createApp } from './app';
import { runHousekeeping } from './scheduled/housekeeping';

export { LiveFeed } from '../durable-objects/live-feed';
export { SegmentShard } from '../durable-objects/segment';

// Per-isolate caches: built once here and passed down, never read from module scope elsewhere.
const app = createApp();
const consumerServices: ConsumerServices = { workspaceProfiles: new WorkspaceProfileCache(), redisDegradation: new RedisDegradation() };

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env, ctx) => handleQueueBatch(batch, env, ctx, consumerServices),
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(runHousekeeping(env));
  },
} satisfies ExportedHandler<Env>;
