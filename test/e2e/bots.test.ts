/**
 * Bot screening end to end (wrangler dev, real queue and consumer, ClickHouse, Redis, real
 * headless Chromium): the SDK demo page in headless Chromium is flagged (layers 1 and 2), a
 * server event forwarding a normal browser's user agent is not, and every reader of the flag
 * that exists keeps bots out: event listings and stats by default (shown with includeBots and
 * as "flagged by reason"), unique persons, and usage (shown as bots, never billable).
 */
import { type Browser } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';

const CHROME_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

let worker: TestWorker;
let browser: Browser;
beforeAll(async () => {
  [worker, browser] = await Promise.all([startTestWorker(), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

interface Listed {
  events: { messageId: string; event: string | null; source: string; bot: { flagged: boolean; reason: string | null } }[];
}

async function get<T>(path: string, secretKey: string): Promise<T> {
  const response = await fetch(`${worker.url}${path}`, { headers: { authorization: `Bearer ${secretKey}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

it('headless Chromium on the SDK demo is flagged; a server event with a browser UA in context is not; readers of the flag keep bots out', async () => {
  const ws = await worker.createWorkspace('bots e2e', { plan: 'starter' });
  const errors: string[] = [];
  const page = await browser.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${worker.url}/demo/?writeKey=${ws.writeKey}&flushInterval=100`);
  await page.click('#custom-track');
  await page.evaluate(() => (window as unknown as { monfri: { flush(): Promise<void> } }).monfri.flush());
  await page.close();
  expect(errors).toEqual([]);

  const server = await fetch(`${worker.url}/v1/track`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ws.secretKey}`, 'content-type': 'application/json', 'user-agent': 'analytics-node-next/latest' },
    body: JSON.stringify({ userId: 'human-1', event: 'Order Completed', properties: { total: 42 }, context: { userAgent: CHROME_UA, ip: '198.51.100.7' } }),
  });
  expect(server.status).toBe(200);

  const all = await eventually(() => get<Listed>('/v1/events?includeBots=true&limit=100', ws.secretKey), (listed) => listed.events.some((event) => event.event === 'Custom Event') && listed.events.some((event) => event.event === 'Order Completed'));
  const demo = all.events.filter((event) => event.source === 'browser');
  expect(demo.length).toBeGreaterThanOrEqual(2);
  for (const event of demo) {
    expect(event.bot.flagged).toBe(true);
    expect(event.bot.reason).toMatch(/^sdk_automation:\S*webdriver\S* user_agent:headlesschrome$/);
  }
  expect(all.events.find((event) => event.event === 'Order Completed')).toMatchObject({ source: 'server', bot: { flagged: false, reason: null } });

  // Listings and stats leave bots out unless asked; the Overview shows them apart, by reason.
  const listed = await get<Listed>('/v1/events?limit=100', ws.secretKey);
  expect(listed.events.map((event) => event.event)).toEqual(['Order Completed']);
  const range = `from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`;
  const stats = await get<{ totals: { events: number; uniquePersons: number }; bots: { events: number; byReason: { reason: string; layer: string }[] } }>(`/v1/stats?${range}`, ws.secretKey);
  expect(stats.totals).toEqual({ events: 1, uniquePersons: 1 });
  expect(stats.bots.events).toBe(demo.length);
  expect(stats.bots.byReason.map((entry) => entry.layer).sort()).toEqual(['sdk_automation', 'user_agent']);
  // Usage: bots are shown, never billable.
  const usage = await get<{ usage: { billable: number; bots: number } }>('/v1/usage', ws.secretKey);
  expect(usage.usage).toMatchObject({ billable: 1, bots: demo.length });
});
