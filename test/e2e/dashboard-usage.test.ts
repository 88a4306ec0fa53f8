/**
 * The Usage page in real headless Chromium against the real Worker (wrangler dev, queue,
 * consumer, ClickHouse, D1): events sent through the collect API, bots among them, show up
 * on the page with the same numbers GET /v1/usage gives the test with the secret key; the
 * chart is drawn from every day of the month; the month picker, the error state, the trial
 * banner and the empty state each work. Screenshots go to test/artifacts/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { launchChromium } from '../../dev/chromium';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../../dev/process';
import { startTestWorker, type TestWorker } from '../support/worker';
import { eventually } from './pipeline-support';

const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');
const CRAWLER_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const DAY_MS = 86_400_000;

interface UsageAnswer {
  month: string;
  plan: { id: string; name: string; includedEvents: number; source: string; since: string | null; appliesToWholeMonth: boolean };
  trial: { endsAt: string | null; active: boolean; endedAt: string | null };
  usage: { billable: number; inTrial: number; counted: number; limit: number; bots: number; notBillable: number };
  daily: { day: string; billable: number; bots: number; other: number }[];
  overage: { events: number; blocks: number; eur: number; currency: string };
  projection: { method: string; dailyAverage: number; counted: number; overage: { eur: number } } | null;
  rules: string[];
}

type Workspace = Awaited<ReturnType<TestWorker['createWorkspace']>>;

let worker: TestWorker;
let browser: Browser;
let starter: Workspace;
let trial: Workspace;
const contexts: BrowserContext[] = [];
const runId = Date.now().toString(36);
/** Uncaught errors and CSP violations on any dashboard page: every test fails on either (checked after each). */
const pageErrors: string[] = [];
const cspViolations: string[] = [];

// Months and days in UTC, as the API counts them.
const startOfDay = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
const monthIdOf = (ms: number): string => new Date(ms).toISOString().slice(0, 7);
function previousMonthNoon(nowMs: number): number {
  const now = new Date(nowMs);
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10, 12);
}
function daysInMonth(nowMs: number): number {
  const now = new Date(nowMs);
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0)).getUTCDate();
}
const digits = (text: string | null): number => Number((text ?? '').replace(/\D/g, ''));

/** The earlier days of this month (up to two) that are already over, noon of each: events there are backdated. */
function earlierDaysThisMonth(nowMs: number): number[] {
  const monthStart = Date.UTC(new Date(nowMs).getUTCFullYear(), new Date(nowMs).getUTCMonth(), 1);
  return [2, 1].map((back) => startOfDay(nowMs) - back * DAY_MS + DAY_MS / 2).filter((ms) => ms >= monthStart);
}

function events(prefix: string, count: number, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, index) => ({ type: 'track', event: 'Usage Checked', userId: `usage-user-${index % 7}`, messageId: `${prefix}-${runId}-${index}`, ...fields }));
}

async function sendBatch(workspace: Workspace, batch: Record<string, unknown>[]): Promise<void> {
  const response = await fetch(`${worker.url}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workspace.secretKey}`, 'content-type': 'application/json', 'user-agent': 'analytics-node-next/latest' },
    body: JSON.stringify({ batch }),
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ accepted: batch.length });
}

async function usageOf(workspace: Workspace, month?: string): Promise<UsageAnswer> {
  const response = await fetch(`${worker.url}/v1/usage${month ? `?month=${month}` : ''}`, { headers: { authorization: `Bearer ${workspace.secretKey}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as UsageAnswer;
}

const matches = (answer: UsageAnswer, expected: Partial<UsageAnswer['usage']>): boolean => Object.entries(expected).every(([key, value]) => answer.usage[key as keyof UsageAnswer['usage']] === value);

/** Waits until the pipeline stored everything that was sent; generous, as the machine is shared and may be busy. */
async function waitForUsage(workspace: Workspace, expected: Partial<UsageAnswer['usage']>, month?: string): Promise<void> {
  await eventually(() => usageOf(workspace, month), (answer) => matches(answer, expected), 150_000, 500);
}

/** The API's answer once the pipeline settled, checked against what the test sent. */
async function settledUsage(workspace: Workspace, expected: Partial<UsageAnswer['usage']>, month?: string): Promise<UsageAnswer> {
  const answer = await usageOf(workspace, month);
  expect(answer.usage, `usage of ${workspace.workspaceId} for ${month ?? 'this month'}`).toMatchObject(expected);
  return answer;
}

async function openDashboard(workspace: Workspace): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('Content Security Policy')) cspViolations.push(message.text());
  });
  await page.goto(`${worker.url}/dashboard/`);
  await page.fill('#secret-key', workspace.secretKey);
  await page.press('#secret-key', 'Enter');
  await page.locator('a.nav-link[href="#/usage"]').waitFor({ timeout: 15_000 });
  return page;
}

async function chartLoaded(page: Page, month: string): Promise<void> {
  await page.locator(`#usage-chart[data-month="${month}"] .usage-chart-total canvas`).waitFor({ timeout: 15_000 });
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? '';
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const nowAtStart = Date.now();
const backdated = earlierDaysThisMonth(nowAtStart);
const TODAY_TRACKS = 240;
const TODAY_PAGES = 20;
const BOTS = 30;
const IDENTIFIES = 12;
const EARLIER_PER_DAY = [90, 150];
const PREVIOUS_MONTH = 60;
const TRIAL_TRACKS = 25;
const earlierBillable = backdated.reduce((sum, _ms, index) => sum + (EARLIER_PER_DAY[index] ?? 0), 0);
const previousMonth = monthIdOf(previousMonthNoon(nowAtStart));
const EXPECTED = {
  starter: { billable: TODAY_TRACKS + TODAY_PAGES + earlierBillable, counted: TODAY_TRACKS + TODAY_PAGES, inTrial: earlierBillable, bots: BOTS, notBillable: IDENTIFIES, limit: 50_000 },
  starterPrevious: { billable: PREVIOUS_MONTH, counted: 0, inTrial: PREVIOUS_MONTH },
  trial: { billable: TRIAL_TRACKS, inTrial: TRIAL_TRACKS, counted: 0 },
};

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [worker, browser] = await Promise.all([startTestWorker(), launchChromium()]);
  [starter, trial] = await Promise.all([worker.createWorkspace(`Usage e2e ${runId}`, { plan: 'starter' }), worker.createWorkspace(`Usage trial e2e ${runId}`)]);
  // Today's events carry no timestamp (received now, after the plan was chosen: counted); the
  // backdated ones fall before it, in the trial that choosing the plan ended (free).
  await sendBatch(starter, [
    ...events('today', TODAY_TRACKS),
    ...events('page', TODAY_PAGES, { type: 'page', name: 'Pricing', event: undefined }),
    ...events('bot', BOTS, { context: { userAgent: CRAWLER_UA } }),
    ...events('identify', IDENTIFIES, { type: 'identify', event: undefined, traits: { plan: 'starter' } }),
    ...backdated.flatMap((ms, index) => events(`earlier-${index}`, EARLIER_PER_DAY[index] ?? 0, { timestamp: new Date(ms).toISOString() })),
    ...events('previous', PREVIOUS_MONTH, { timestamp: new Date(previousMonthNoon(nowAtStart)).toISOString() }),
  ]);
  await sendBatch(trial, events('trial', TRIAL_TRACKS));
  await Promise.all([waitForUsage(starter, EXPECTED.starter), waitForUsage(starter, EXPECTED.starterPrevious, previousMonth), waitForUsage(trial, EXPECTED.trial)]);
});

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
  expect(cspViolations.splice(0)).toEqual([]);
});

afterAll(async () => {
  for (const context of contexts) await context.close();
  await browser?.close();
  await worker?.stop();
});

let starterPage: Page;

it('shows the month’s counted usage, bots and overage exactly as GET /v1/usage does, with the chart and the plan', async () => {
  const api = await settledUsage(starter, EXPECTED.starter);
  starterPage = await openDashboard(starter);
  const page = starterPage;
  await page.keyboard.press('7');
  await chartLoaded(page, monthIdOf(nowAtStart));
  expect(page.url()).toMatch(/#\/usage$/);

  expect(digits(await text(page, '#usage-counted'))).toBe(api.usage.counted);
  expect(digits(await text(page, '#usage-limit'))).toBe(api.usage.limit);
  expect(await text(page, '#usage-percent')).toBe(`${((api.usage.counted / api.usage.limit) * 100).toFixed(1)}%`);
  expect(digits(await text(page, '#usage-billable'))).toBe(api.usage.billable);
  expect(digits(await text(page, '#usage-in-trial'))).toBe(api.usage.inTrial);
  expect(digits(await text(page, '#usage-bots'))).toBe(api.usage.bots);
  expect(digits(await text(page, '#usage-not-billable'))).toBe(api.usage.notBillable);
  expect(await text(page, '#usage-overage')).toBe(`EUR ${api.overage.eur}`);

  // The projection moves with the clock (days left): seconds apart it can differ by one event.
  const projection = api.projection;
  expect(projection).not.toBeNull();
  expect(Math.abs(digits(await text(page, '#usage-projected')) - (projection?.counted ?? 0))).toBeLessThanOrEqual(1);
  expect(await page.locator('#usage-projected').getAttribute('title')).toBe(projection?.method);
  expect(await text(page, '#usage-projection .usage-method')).toContain(projection?.method ?? 'no method');
  expect(await text(page, '#usage-projected-overage')).toBe(`EUR ${projection?.overage.eur}`);

  expect(await text(page, '#usage-plan-name')).toBe('Starter');
  expect(await text(page, '#usage-plan-source')).toMatch(/^chosen on /);
  expect(await text(page, '#usage-plan')).toContain('sets the limit for the whole month');
  // Choosing the plan at creation ended the trial this month: said once, with its free part.
  expect(await text(page, '#usage-trial-banner')).toContain('when a plan was chosen');
  expect(await page.locator('#usage-rules li').allTextContents()).toEqual(api.rules);

  const chart = page.locator('#usage-chart');
  expect(Number(await chart.getAttribute('data-days'))).toBe(daysInMonth(nowAtStart));
  expect(Number(await chart.getAttribute('data-points'))).toBe(api.daily.filter((day) => day.billable + day.bots > 0).length);
  expect(Number(await chart.getAttribute('data-cumulative-counted'))).toBe(api.usage.counted);
  // Both panels drawn: the daily bars and the month's total against the limit.
  expect(await page.locator('#usage-chart canvas').count()).toBe(2);

  // Hovering today's bar reads out today's numbers (bars are centred on their day).
  const plot = await page.locator('#usage-chart .usage-chart-daily .u-over').boundingBox();
  expect(plot).not.toBeNull();
  const todayIndex = new Date(nowAtStart).getUTCDate() - 1;
  if (plot) await page.mouse.move(plot.x + (plot.width * (todayIndex + 0.5)) / daysInMonth(nowAtStart), plot.y + plot.height / 2);
  const today = api.daily.find((day) => day.day === new Date(nowAtStart).toISOString().slice(0, 10));
  await expect.poll(() => text(page, '#usage-readout')).toContain(`${api.usage.counted} counted`);
  expect(await text(page, '#usage-readout')).toContain(`${today?.bots ?? -1} bots`);
  await screenshot(page, 'dashboard-usage');
  await page.mouse.move(0, 0);
});

it('picks the previous month: its numbers, no projection, and the chart of that month', async () => {
  const page = starterPage;
  const api = await settledUsage(starter, EXPECTED.starterPrevious, previousMonth);
  await page.selectOption('#usage-month', previousMonth);
  await chartLoaded(page, previousMonth);
  expect(digits(await text(page, '#usage-billable'))).toBe(api.usage.billable);
  expect(digits(await text(page, '#usage-counted'))).toBe(api.usage.counted);
  expect(digits(await text(page, '#usage-in-trial'))).toBe(api.usage.inTrial);
  expect(api.projection).toBeNull();
  expect(await text(page, '#usage-projected')).toBe('—');
  expect(Number(await page.locator('#usage-chart').getAttribute('data-points'))).toBe(1);
});

it('shows an error with a retry when the API fails, then recovers', async () => {
  const page = starterPage;
  const month = await page.locator('#usage-month').inputValue();
  const isUsage = (url: URL): boolean => url.pathname === '/v1/usage';
  await page.route(isUsage, (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'analytics_unavailable', message: 'The analytics store did not answer; try again shortly.' } }) }));
  await page.click('#usage-refresh');
  await expect.poll(() => text(page, '#usage-error')).toContain('analytics_unavailable');
  expect(await page.locator('#usage-chart').count()).toBe(0);
  await screenshot(page, 'dashboard-usage-error');
  await page.unroute(isUsage);
  await page.click('#usage-retry');
  await chartLoaded(page, month);
  expect(await page.locator('#usage-error').count()).toBe(0);
});

/** The real answer with `extra` billable events added today: sending 50,000+ events would take minutes on this machine. */
function overLimit(answer: UsageAnswer, extra: number): UsageAnswer {
  const overage = (counted: number): { events: number; blocks: number; eur: number } => {
    const events = Math.max(0, counted - answer.usage.limit);
    const blocks = Math.ceil(events / 50_000);
    return { events, blocks, eur: blocks * 12 };
  };
  const today = new Date().toISOString().slice(0, 10);
  const counted = answer.usage.counted + extra;
  const projection = answer.projection ? { ...answer.projection, counted: answer.projection.counted + extra, overage: overage(answer.projection.counted + extra) } : null;
  return {
    ...answer,
    usage: { ...answer.usage, billable: answer.usage.billable + extra, counted },
    daily: answer.daily.map((day) => (day.day === today ? { ...day, billable: day.billable + extra } : day)),
    overage: { ...answer.overage, ...overage(counted) },
    projection,
  };
}

it('shows overage, a full meter and the month’s total above the limit line when usage is over the limit', async () => {
  const page = starterPage;
  await page.selectOption('#usage-month', monthIdOf(nowAtStart));
  await chartLoaded(page, monthIdOf(nowAtStart));
  const isUsage = (url: URL): boolean => url.pathname === '/v1/usage';
  let served: UsageAnswer | null = null;
  await page.route(isUsage, async (route) => {
    const response = await route.fetch();
    served = overLimit((await response.json()) as UsageAnswer, 70_000);
    await route.fulfill({ response, json: served });
  });
  await page.click('#usage-refresh');
  await expect.poll(async () => digits(await text(page, '#usage-counted'))).toBe(EXPECTED.starter.counted + 70_000);
  await page.unroute(isUsage);
  const answer = served as UsageAnswer | null;
  expect(answer?.overage.blocks).toBe(1);
  expect(await text(page, '#usage-overage')).toBe(`EUR ${answer?.overage.eur}`);
  const [, over] = /([\d,.\s]+) events over: 1 × EUR 12 per started block/.exec(await text(page, '#usage-overage-card small')) ?? [];
  expect(digits(over ?? null)).toBe(answer?.overage.events);
  expect(await page.locator('#usage-counted-card .usage-meter').getAttribute('data-state')).toBe('over');
  expect(await text(page, '#usage-projected-overage')).toBe(`EUR ${answer?.projection?.overage.eur}`);
  expect(Number(await page.locator('#usage-chart').getAttribute('data-cumulative-counted'))).toBe(answer?.usage.counted);
  await screenshot(page, 'dashboard-usage-over');
});

it('shows the trial banner on a workspace still in its trial, and the empty state for a month without events', async () => {
  const api = await settledUsage(trial, EXPECTED.trial);
  expect(api.trial.active).toBe(true);
  const page = await openDashboard(trial);
  await page.click('a.nav-link[href="#/usage"]');
  await chartLoaded(page, api.month);
  const banner = await text(page, '#usage-trial-banner');
  expect(banner).toContain('Trial: 14 days left');
  expect(banner).toContain(`${TRIAL_TRACKS} this month`);
  expect(await text(page, '#usage-plan-name')).toBe(api.plan.name);
  expect(await text(page, '#usage-plan-source')).toMatch(/^trial, until /);
  expect(digits(await text(page, '#usage-counted'))).toBe(0);
  expect(digits(await text(page, '#usage-billable'))).toBe(api.usage.billable);
  expect(digits(await text(page, '#usage-in-trial'))).toBe(api.usage.inTrial);
  await screenshot(page, 'dashboard-usage-trial');

  await page.selectOption('#usage-month', previousMonth);
  await page.locator(`#usage-body[data-month="${previousMonth}"] #usage-empty`).waitFor({ timeout: 15_000 });
  expect(await page.locator('#usage-chart').count()).toBe(0);
  expect(digits(await text(page, '#usage-counted'))).toBe(0);
  await screenshot(page, 'dashboard-usage-empty');
});
