import { Analytics } from '@segment/analytics-node';
import { exports } from 'cloudflare:workers';
import { afterEach, expect, it, vi } from 'vitest';
import { messageEvent } from './collect-support';
import { createTestWorkspace, env } from './support';

afterEach(() => {
  vi.restoreAllMocks();
});

// Inside workerd, through the client's httpClient hook; test/e2e/real-clients.test.ts drives it with its default options over the network.
it("Segment's official Node client's batches (handed to the Worker through its httpClient hook) are accepted and queued as sent", async () => {
  const ws = await createTestWorkspace();
  const sendBatch = vi.spyOn(env.EVENTS, 'sendBatch');
  const answers: number[] = [];
  const analytics = new Analytics({
    writeKey: ws.secretKey,
    host: 'http://monfri.test',
    maxEventsInBatch: 10,
    // The client's own fetch hook, pointed at the Worker under test instead of the network.
    httpClient: async (url: string, init: RequestInit) => {
      const response = await exports.default.fetch(url, init);
      answers.push(response.status);
      return response;
    },
  });
  analytics.identify({ userId: 'seg-user-1', traits: { plan: 'pro' } });
  analytics.track({ userId: 'seg-user-1', event: 'Order Completed', properties: { total: 99.5 } });
  analytics.page({ anonymousId: 'seg-anon-1', name: 'Pricing' });
  analytics.group({ userId: 'seg-user-1', groupId: 'acme' });
  analytics.alias({ userId: 'seg-user-1', previousId: 'seg-anon-1' });
  analytics.screen({ userId: 'seg-user-1', name: 'Home' });
  await analytics.closeAndFlush({ timeout: 10_000 });

  expect(answers.length).toBeGreaterThan(0);
  expect(answers.every((status) => status === 200)).toBe(true);
  const queued = sendBatch.mock.calls.flatMap(([messages]) => [...messages].map(messageEvent));
  expect(queued.map((event) => event.type).sort()).toEqual(['alias', 'group', 'identify', 'page', 'screen', 'track']);
  expect(queued.every((event) => event.workspaceId === ws.workspaceId && event.source === 'server')).toBe(true);
  expect(queued.find((event) => event.type === 'track')).toMatchObject({ event: 'Order Completed', properties: { total: 99.5 }, library: { name: '@segment/analytics-node' } });
  // The client stamps its own clock; the edge corrects it against sentAt.
  for (const event of queued) expect(event.sentAt).not.toBeNull();
});
