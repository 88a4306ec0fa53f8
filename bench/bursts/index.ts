/**
 * `npm run bench -- bursts`: the data behind bot layer 3's thresholds (schema/workspace-settings.ts
 * BOT_DEFAULTS: more than N events of one session within 1 s, or M within 10 s). The SDK demo page
 * in real headless Chromium against the local stack, driven four ways: a person browsing, a
 * person clicking as fast as they can, a script clicking in a tight loop, and a script
 * dispatching clicks without waiting. What arrived (the workspace's Redis Stream mirror) is
 * measured per session by event time: the most events in any 1 s and any 10 s window.
 */
import { Redis as IORedis } from 'ioredis';
import { type Page } from 'playwright-core';
import { ensureChromium, launchChromium } from '../../dev/chromium';
import { z } from 'zod';
import { freePort } from '../../dev/process';
import { startStack } from '../../dev/stack';
import type { RunningWorker } from '../../dev/wrangler-dev';
import { eventStreamKey, STREAM_EVENT_FIELD } from '../../lib/stream';
import { collectedEventSchema, type CollectedEvent } from '../../schema/event';
import { BOT_DEFAULTS } from '../../schema/workspace-settings';
import { startSnapshotWorker } from '../ingest/snapshot-worker';
import { writeReport, type Row } from '../report';

const OPERATOR_TOKEN = 'bench-operator-token';
const BUTTONS = ['#buy', '#signup-cta', '#custom-track', '#docs-link'];

interface Driver {
  name: string;
  how: string;
  drive(page: Page): Promise<void>;
}

const pause = (page: Page, ms: number): Promise<void> => page.waitForTimeout(ms);

/** Seeded, so every run drives the same pauses. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const DRIVERS: Driver[] = [
  {
    name: 'person browsing',
    how: '40 clicks and navigations, 300-1,500 ms apart (reading, moving the mouse)',
    async drive(page) {
      const random = seeded(7);
      for (let i = 0; i < 40; i++) {
        await page.click(BUTTONS[i % BUTTONS.length] ?? '#buy');
        await pause(page, 300 + random() * 1200);
      }
    },
  },
  {
    name: 'person clicking fast',
    how: '60 clicks on one button, 110-160 ms apart (~7 clicks/s, about the most a person sustains)',
    async drive(page) {
      const random = seeded(11);
      for (let i = 0; i < 60; i++) {
        await page.click('#buy');
        await pause(page, 110 + random() * 50);
      }
    },
  },
  {
    name: 'script, tight loop',
    how: '100 Playwright clicks with no pause',
    async drive(page) {
      for (let i = 0; i < 100; i++) await page.click('#buy');
    },
  },
  {
    name: 'script, dispatched',
    how: '100 click() calls in the page at once',
    async drive(page) {
      await page.evaluate(() => {
        const button = document.querySelector<HTMLButtonElement>('#buy');
        for (let i = 0; i < 100; i++) button?.click();
      });
    },
  },
];

/** The most events of `times` (sorted ms) within any window of `windowMs`. */
function densest(times: readonly number[], windowMs: number): number {
  let best = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
}

async function arrived(redis: IORedis, workspaceId: string): Promise<CollectedEvent[]> {
  const entries = await redis.xrange(eventStreamKey(workspaceId), '-', '+');
  return entries.map(([, fields]) => collectedEventSchema.parse(JSON.parse(fields[fields.indexOf(STREAM_EVENT_FIELD) + 1] ?? 'null')));
}

async function createWorkspace(worker: RunningWorker, name: string): Promise<{ workspaceId: string; writeKey: string }> {
  const response = await fetch(`${worker.url}/admin/workspaces`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
  const body = z.object({ workspace: z.object({ id: z.string() }), writeKey: z.string() }).parse(await response.json());
  return { workspaceId: body.workspace.id, writeKey: body.writeKey };
}

export async function run(): Promise<void> {
  ensureChromium();
  const stack = await startStack({ database: 'monfri_bench_bursts', upstashPort: await freePort(), quiet: true });
  const worker = await startSnapshotWorker({ ...stack.workerEnv, OPERATOR_TOKEN, LIVE_TICKET_SECRET: 'bench', SESSION_SECRET: 'bench' });
  const redis = new IORedis(stack.redis.url);
  const browser = await launchChromium();
  const rows: Row[] = [];
  try {
    for (const driver of DRIVERS) {
      const workspace = await createWorkspace(worker, `bench bursts ${driver.name}`);
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${worker.url}/demo/?writeKey=${workspace.writeKey}&flushInterval=200`);
      await page.waitForFunction(() => (window as unknown as { monfri?: { loaded?: boolean } }).monfri?.loaded === true);
      const started = Date.now();
      await driver.drive(page);
      const seconds = (Date.now() - started) / 1000;
      await page.evaluate(() => (window as unknown as { monfri: { flush(): Promise<void> } }).monfri.flush());
      await context.close();
      const events = await arrived(redis, workspace.workspaceId);
      const bySession = new Map<string, number[]>();
      for (const event of events) bySession.set(event.sessionId ?? '', [...(bySession.get(event.sessionId ?? '') ?? []), Date.parse(event.timestamp)]);
      const times = [...bySession.values()].map((list) => list.sort((a, b) => a - b));
      const per1s = Math.max(...times.map((list) => densest(list, 1000)));
      const per10s = Math.max(...times.map((list) => densest(list, 10_000)));
      rows.push({
        driver: driver.name,
        how: driver.how,
        events: events.length,
        seconds: Number(seconds.toFixed(1)),
        'max in 1 s': per1s,
        'max in 10 s': per10s,
        [`flagged at N=${BOT_DEFAULTS.burstEventsPerSecond} / M=${BOT_DEFAULTS.burstEventsPer10Seconds}`]: per1s > BOT_DEFAULTS.burstEventsPerSecond || per10s > BOT_DEFAULTS.burstEventsPer10Seconds ? 'yes' : 'no',
      });
    }
  } finally {
    await browser.close();
    redis.disconnect();
    await worker.stop();
    await stack.stop();
  }
  writeReport('bursts', 'Bot layer 3: events per session in 1 s and 10 s windows, people vs scripts (SDK demo in headless Chromium)', rows, [
    'Counted per session (context.sessionId) by event time, from what the edge accepted (the Redis Stream mirror), page views and autocaptured clicks included.',
    `Defaults chosen from this: more than ${BOT_DEFAULTS.burstEventsPerSecond} events in 1 s or ${BOT_DEFAULTS.burstEventsPer10Seconds} in 10 s flags the session. A person clicking one button as fast as they can stays below both; a script looping without pauses crosses the 1 s one within its first second, and dispatched clicks cross both at once.`,
    'Per-workspace settings can raise or lower both (bots.burst.eventsPerSecond / eventsPer10Seconds), e.g. for a game that sends an event per keystroke.',
  ]);
}
