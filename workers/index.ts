/** The only file that wires the folders together: fetch, queue, scheduled and the Durable Objects. */
import { handleQueueBatch } from '../consumers/index';
import { createApp } from './app';
import { runHousekeeping } from './scheduled/housekeeping';

export { LiveFeed } from '../durable-objects/live-feed';

const app = createApp();

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env, ctx) => handleQueueBatch(batch, env, ctx),
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(runHousekeeping(env));
  },
} satisfies ExportedHandler<Env>;
