/**
 * Usage for a calendar month (UTC) from /v1/usage: the plan and where it comes from, counted
 * usage against the month's limit, overage and the projection, the trial, and the rules the
 * API states. The page computes no money itself: every amount is the API's.
 *
 * Chart: two panels on one day axis, their cursors synced. Above, bars per day (counted, free
 * while in trial, bots: stacked). Below, cumulative counted usage as a line against a
 * horizontal limit line, with the projection dashed. The limit is for the whole month, not per
 * day, so a daily line (limit / days) would invent a quota that does not exist; the running
 * total against the limit shows how far the month is from it and whether it will cross it.
 * Two panels rather than one with two y axes: a bar would be read against the limit line.
 */
import uPlot from 'uplot';
import { api, ApiFailure } from './api';
import { clear, formatNumber, h, isRecord, numberOr, stringOr } from './dom';

type PlanSource = 'chosen' | 'trial' | 'default';

interface OverageAmount {
  events: number;
  blocks: number;
  eur: number;
}

interface DailyUsage {
  day: string;
  billable: number;
  bots: number;
  other: number;
}

interface UsageReport {
  month: string;
  plan: { id: string; name: string; includedEvents: number; source: PlanSource | null; since: string | null; appliesToWholeMonth: boolean };
  trial: { endsAt: string | null; active: boolean; endedAt: string | null };
  usage: { billable: number; inTrial: number; counted: number; limit: number; bots: number; notBillable: number };
  daily: DailyUsage[];
  overage: OverageAmount & { eurPerBlock: number; blockEvents: number; currency: string; vat: string };
  projection: { method: string; dailyAverage: number; billable: number; counted: number; overage: OverageAmount } | null;
  rules: string[];
}

const DAY_MS = 86_400_000;
const MONTHS_OFFERED = 12;
const DAILY_HEIGHT = 220;
const TOTAL_HEIGHT = 200;
/** Same y-axis width in both panels, so their days line up. */
const Y_AXIS_SIZE = 56;
const CURSOR_SYNC = 'usage-days';
const COLORS = { counted: '#2f6fde', inTrial: '#9dbcf2', bots: '#e3a33c', cumulative: '#1c2430', limit: '#b42318', axis: '#55606e', grid: '#eef0f3' } as const;
/** Percent of the limit from which the meter warns, as the API's usage notices do. */
const WARN_PERCENT = 80;
const AXIS_FONT = '12px system-ui, sans-serif';

const recordOf = (value: unknown): Record<string, unknown> => (isRecord(value) ? value : {});
const nullableString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function overageAmountOf(value: unknown): OverageAmount {
  const overage = recordOf(value);
  return { events: numberOr(overage.events, 0), blocks: numberOr(overage.blocks, 0), eur: numberOr(overage.eur, 0) };
}

function planSourceOf(value: unknown): PlanSource | null {
  return value === 'chosen' || value === 'trial' || value === 'default' ? value : null;
}

function projectionOf(value: unknown): UsageReport['projection'] {
  if (!isRecord(value)) return null;
  return { method: stringOr(value.method, ''), dailyAverage: numberOr(value.dailyAverage, 0), billable: numberOr(value.billable, 0), counted: numberOr(value.counted, 0), overage: overageAmountOf(value.overage) };
}

function usageReportOf(body: unknown): UsageReport {
  const answer = recordOf(body);
  const plan = recordOf(answer.plan);
  const trial = recordOf(answer.trial);
  const usage = recordOf(answer.usage);
  const overage = recordOf(answer.overage);
  const daily = Array.isArray(answer.daily) ? answer.daily.filter(isRecord) : [];
  return {
    month: stringOr(answer.month, ''),
    plan: { id: stringOr(plan.id, ''), name: stringOr(plan.name, stringOr(plan.id, 'Unknown plan')), includedEvents: numberOr(plan.includedEvents, 0), source: planSourceOf(plan.source), since: nullableString(plan.since), appliesToWholeMonth: plan.appliesToWholeMonth === true },
    trial: { endsAt: nullableString(trial.endsAt), active: trial.active === true, endedAt: nullableString(trial.endedAt) },
    usage: { billable: numberOr(usage.billable, 0), inTrial: numberOr(usage.inTrial, 0), counted: numberOr(usage.counted, 0), limit: numberOr(usage.limit, numberOr(plan.includedEvents, 0)), bots: numberOr(usage.bots, 0), notBillable: numberOr(usage.notBillable, 0) },
    daily: daily.map((day) => ({ day: stringOr(day.day, ''), billable: numberOr(day.billable, 0), bots: numberOr(day.bots, 0), other: numberOr(day.other, 0) })),
    overage: { ...overageAmountOf(overage), eurPerBlock: numberOr(overage.eurPerBlock, 0), blockEvents: numberOr(overage.blockEvents, 0), currency: stringOr(overage.currency, 'EUR'), vat: stringOr(overage.vat, '') },
    projection: projectionOf(answer.projection),
    rules: Array.isArray(answer.rules) ? answer.rules.filter((rule): rule is string => typeof rule === 'string') : [],
  };
}

// Months are calendar months in UTC (the API's rule), so every date here is read in UTC.
function monthIdOf(ms: number): string {
  const date = new Date(ms);
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

function monthStartMs(monthId: string): number {
  const [year = 1970, month = 1] = monthId.split('-').map(Number);
  return Date.UTC(year, month - 1, 1);
}

function monthLabel(monthId: string): string {
  return new Date(monthStartMs(monthId)).toLocaleDateString(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
}

/** The current month first, then the previous ones. */
function recentMonths(nowMs: number): string[] {
  const now = new Date(nowMs);
  return Array.from({ length: MONTHS_OFFERED }, (_, back) => monthIdOf(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1)));
}

function formatUtc(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC`;
}

function formatUtcDay(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleDateString(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

function formatMoney(amount: number, currency: string): string {
  return `${currency} ${formatNumber(amount)}`;
}

function formatPercent(part: number, whole: number): string {
  if (whole <= 0) return '—';
  const percent = (part / whole) * 100;
  return `${percent > 0 && percent < 10 ? percent.toFixed(1) : formatNumber(Math.round(percent))}%`;
}

interface DayPoint {
  day: string;
  atSeconds: number;
  counted: number;
  inTrial: number;
  bots: number;
  other: number;
  /** Counted usage through the end of this day; null for days still to come. */
  cumulativeCounted: number | null;
}

/**
 * Every day of the month, zero-filled. The API gives the trial's free part as one total; the
 * trial is a prefix of time, so through any day the counted total is exactly the billable
 * total so far minus that free part (never below zero), and each day's counted part follows.
 */
function dayPoints(report: UsageReport, nowMs: number): DayPoint[] {
  const startMs = monthStartMs(report.month);
  const start = new Date(startMs);
  const endMs = Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1);
  const byDay = new Map(report.daily.map((day) => [day.day, day]));
  const points: DayPoint[] = [];
  let billableSoFar = 0;
  let countedSoFar = 0;
  for (let dayMs = startMs; dayMs < endMs; dayMs += DAY_MS) {
    const day = new Date(dayMs).toISOString().slice(0, 10);
    const usage = byDay.get(day) ?? { day, billable: 0, bots: 0, other: 0 };
    billableSoFar += usage.billable;
    const countedThrough = Math.max(0, billableSoFar - report.usage.inTrial);
    const counted = countedThrough - countedSoFar;
    countedSoFar = countedThrough;
    points.push({ day, atSeconds: dayMs / 1000, counted, inTrial: usage.billable - counted, bots: usage.bots, other: usage.other, cumulativeCounted: dayMs <= nowMs ? countedThrough : null });
  }
  return points;
}

/** A dashed line from today's counted total to the projected month end; the projection is linear by its method. */
function projectionSeries(points: readonly DayPoint[], report: UsageReport): (number | null)[] {
  const series: (number | null)[] = points.map(() => null);
  const todayIndex = points.map((point) => point.cumulativeCounted !== null).lastIndexOf(true);
  if (!report.projection || todayIndex < 0) return series;
  series[todayIndex] = points[todayIndex]?.cumulativeCounted ?? report.usage.counted;
  series[points.length - 1] = report.projection.counted;
  return series;
}

function drawLimitLine(chart: uPlot, limit: number, label: string): void {
  const ratio = uPlot.pxRatio;
  const y = Math.round(chart.valToPos(limit, 'y', true));
  const { left, width } = chart.bbox;
  const { ctx } = chart;
  ctx.save();
  ctx.strokeStyle = COLORS.limit;
  ctx.lineWidth = 1.5 * ratio;
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  ctx.beginPath();
  ctx.moveTo(left, y);
  ctx.lineTo(left + width, y);
  ctx.stroke();
  ctx.fillStyle = COLORS.limit;
  ctx.font = `${12 * ratio}px system-ui, sans-serif`;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'bottom';
  ctx.fillText(label, left + width - 4 * ratio, y - 3 * ratio);
  ctx.restore();
}

function describeDay(point: DayPoint): string {
  const parts = [`${formatUtcDay(point.day)}: ${formatNumber(point.counted)} counted`];
  if (point.inTrial > 0) parts.push(`${formatNumber(point.inTrial)} free (trial)`);
  parts.push(`${formatNumber(point.bots)} bots`, `${formatNumber(point.other)} other not billable`);
  if (point.cumulativeCounted !== null) parts.push(`month so far ${formatNumber(point.cumulativeCounted)} counted`);
  return parts.join(' · ');
}

const compactValues = (_u: uPlot, splits: number[]): string[] => splits.map((value) => compact.format(value));

interface Panel {
  height: number;
  yLabel: string;
  yMax: (dataMax: number) => number;
  series: uPlot.Series[];
  draw?: (chart: uPlot) => void;
}

/** What both panels share: the month's days in UTC, the synced cursor and the day readout. */
function drawPanel(target: HTMLElement, points: DayPoint[], readout: HTMLElement, panel: Panel, data: (number | null)[][]): uPlot {
  const halfDay = DAY_MS / 2000;
  return new uPlot(
    {
      width: Math.max(320, target.clientWidth || 800),
      height: panel.height,
      legend: { show: false },
      cursor: { y: false, drag: { x: false, y: false }, points: { show: false }, sync: { key: CURSOR_SYNC } },
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
      scales: { x: { time: true, range: (_u, min, max) => [min - halfDay, max + halfDay] }, y: { range: (_u, _min, max) => [0, panel.yMax(max)] } },
      axes: [
        { stroke: COLORS.axis, grid: { stroke: COLORS.grid }, values: (_u, splits) => splits.map((seconds) => String(new Date(seconds * 1000).getUTCDate())) },
        { label: panel.yLabel, labelFont: AXIS_FONT, labelSize: 20, stroke: COLORS.axis, grid: { stroke: COLORS.grid }, size: Y_AXIS_SIZE, values: compactValues },
      ],
      series: [{}, ...panel.series],
      hooks: {
        ...(panel.draw ? { draw: [panel.draw] } : {}),
        setCursor: [
          (chart) => {
            const point = chart.cursor.idx === null || chart.cursor.idx === undefined ? undefined : points[chart.cursor.idx];
            readout.textContent = point ? describeDay(point) : RESTING_READOUT;
          },
        ],
      },
    },
    [points.map((point) => point.atSeconds), ...data],
    target,
  );
}

const RESTING_READOUT = 'Hover a day for its numbers.';

function drawDailyChart(target: HTMLElement, points: DayPoint[], readout: HTMLElement): uPlot {
  const bars = uPlot.paths.bars?.({ size: [0.7, 40] });
  const bar = (label: string, fill: string): uPlot.Series => ({ label, fill, width: 0, ...(bars ? { paths: bars } : {}), points: { show: false } });
  // Stacked by hand: each bar series is drawn over the previous, taller one.
  return drawPanel(
    target,
    points,
    readout,
    { height: DAILY_HEIGHT, yLabel: 'Events per day', yMax: (max) => Math.max(1, Math.ceil(max * 1.15)), series: [bar('bots', COLORS.bots), bar('free (trial)', COLORS.inTrial), bar('counted', COLORS.counted)] },
    [points.map((point) => point.counted + point.inTrial + point.bots), points.map((point) => point.counted + point.inTrial), points.map((point) => point.counted)],
  );
}

function drawTotalChart(target: HTMLElement, points: DayPoint[], readout: HTMLElement, report: UsageReport): uPlot {
  const limit = report.usage.limit;
  // The limit always in view, with room for its label.
  const top = Math.max(limit, report.projection?.counted ?? 0, report.usage.counted, 1) * 1.15;
  return drawPanel(
    target,
    points,
    readout,
    {
      height: TOTAL_HEIGHT,
      yLabel: 'Counted this month',
      yMax: () => top,
      series: [
        { label: 'counted this month', stroke: COLORS.cumulative, width: 2, points: { show: true, size: 4 } },
        { label: 'projected', stroke: COLORS.cumulative, width: 1.5, dash: [5, 4], spanGaps: true, points: { show: false } },
      ],
      draw: (chart) => drawLimitLine(chart, limit, `${report.plan.name} limit: ${formatNumber(limit)} a month`),
    },
    [points.map((point) => point.cumulativeCounted), projectionSeries(points, report)],
  );
}

function legend(): HTMLElement {
  const key = (kind: string, label: string): HTMLElement => h('li', {}, h('span', { class: `usage-swatch usage-swatch-${kind}`, 'aria-hidden': 'true' }), label);
  return h('ul', { class: 'usage-legend' }, key('counted', 'Counted per day'), key('trial', 'Free (trial) per day'), key('bots', 'Bots (not billable)'), key('cumulative', 'Counted this month'), key('projected', 'Projected'), key('limit', 'Limit'));
}

function statCard(id: string, label: string, value: string, ...notes: (HTMLElement | string | null)[]): HTMLElement {
  return h('div', { class: 'stat card', id: `${id}-card` }, h('span', { class: 'muted' }, label), h('strong', { id }, value), notes.map((note) => (typeof note === 'string' ? h('small', { class: 'muted' }, note) : note)));
}

function meter(counted: number, limit: number): HTMLElement {
  const fill = h('span', { class: 'usage-meter-fill' });
  const percent = limit > 0 ? (counted / limit) * 100 : 0;
  // Through CSSOM: the dashboard's CSP refuses style attributes.
  fill.style.width = `${Math.min(100, percent)}%`;
  const state = counted === 0 ? 'none' : percent >= 100 ? 'over' : percent >= WARN_PERCENT ? 'near' : 'ok';
  return h('span', { class: 'usage-meter', 'data-state': state, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': limit, 'aria-valuenow': counted, 'aria-label': 'Counted events of the limit' }, fill);
}

function overageNote(overage: OverageAmount, report: UsageReport): string {
  const terms = `${formatMoney(report.overage.eurPerBlock, report.overage.currency)} per started block of ${formatNumber(report.overage.blockEvents)}, VAT ${report.overage.vat}`;
  return overage.blocks > 0 ? `${formatNumber(overage.events)} events over: ${formatNumber(overage.blocks)} × ${terms}` : `Nothing over the limit (${terms})`;
}

function billableNote(usage: UsageReport['usage']): HTMLElement | string {
  if (usage.inTrial > 0) return h('small', { class: 'muted' }, h('span', { id: 'usage-in-trial' }, formatNumber(usage.inTrial)), ' of them free (trial)');
  return usage.billable > 0 ? 'All counted (none from a trial)' : 'None this month';
}

function statCards(report: UsageReport): HTMLElement {
  const { usage, overage } = report;
  return h(
    'div',
    { class: 'stat-cards usage-cards' },
    statCard('usage-counted', 'Counted of the limit', formatNumber(usage.counted), h('span', { class: 'usage-of' }, '/ ', h('span', { id: 'usage-limit' }, formatNumber(usage.limit)), ' · ', h('span', { id: 'usage-percent' }, formatPercent(usage.counted, usage.limit))), meter(usage.counted, usage.limit)),
    statCard('usage-billable', 'Billable', formatNumber(usage.billable), billableNote(usage)),
    statCard('usage-bots', 'Bots (not billable)', formatNumber(usage.bots), 'Flagged automated traffic'),
    statCard('usage-not-billable', 'Other not billable', formatNumber(usage.notBillable), 'identify, group, alias and Monfri’s own events'),
    statCard('usage-overage', 'Overage so far', formatMoney(overage.eur, overage.currency), overageNote(overage, report)),
  );
}

/** The month-end projection and its overage side by side, with the API's method as small print. */
function projectionPanel(report: UsageReport): HTMLElement {
  const { projection, usage, overage } = report;
  const title = h('h2', {}, 'Projected at month end');
  if (!projection) return h('section', { class: 'card usage-projection', id: 'usage-projection' }, title, h('p', { class: 'muted hint' }, h('strong', { id: 'usage-projected' }, '—'), ' The month is over: no projection.'));
  return h(
    'section',
    { class: 'card usage-projection', id: 'usage-projection' },
    title,
    h(
      'div',
      { class: 'usage-projection-stats' },
      h('div', { class: 'stat', id: 'usage-projected-card' }, h('span', { class: 'muted' }, 'Counted'), h('strong', { id: 'usage-projected', title: projection.method }, formatNumber(projection.counted)), h('small', { class: 'muted' }, `${formatPercent(projection.counted, usage.limit)} of the limit`)),
      h('div', { class: 'stat', id: 'usage-projected-overage-card' }, h('span', { class: 'muted' }, 'Overage'), h('strong', { id: 'usage-projected-overage' }, formatMoney(projection.overage.eur, overage.currency)), h('small', { class: 'muted' }, overageNote(projection.overage, report))),
    ),
    h('p', { class: 'hint muted usage-method', title: projection.method }, `About ${formatNumber(projection.dailyAverage)} billable events a day. Method: ${projection.method}.`),
  );
}

function sourceText(report: UsageReport): string {
  const { plan, trial } = report;
  if (plan.source === 'chosen') return plan.since ? `chosen on ${formatUtcDay(plan.since)}` : 'chosen';
  if (plan.source === 'trial') return trial.endsAt ? `trial, until ${formatUtc(trial.endsAt)}` : 'trial';
  if (plan.source === 'default') return `after trial: ${plan.name}`;
  return 'unknown source';
}

function planCard(report: UsageReport, isCurrentMonth: boolean): HTMLElement {
  const { plan } = report;
  const rule = isCurrentMonth
    ? 'The plan at the end of the month sets the limit for the whole month: if it changes before then, the new plan’s limit applies to all of this month.'
    : 'The plan at the end of the month set the limit for the whole month.';
  return h(
    'section',
    { class: 'card usage-plan', id: 'usage-plan' },
    h('div', { class: 'usage-plan-line' }, h('span', { class: 'muted' }, 'Plan'), h('strong', { id: 'usage-plan-name' }, plan.name), h('span', { class: 'pill', id: 'usage-plan-source', 'data-source': plan.source ?? 'unknown' }, sourceText(report)), h('span', {}, `${formatNumber(plan.includedEvents)} events included a month`)),
    plan.appliesToWholeMonth ? h('p', { class: 'hint muted' }, rule) : null,
  );
}

function daysLeft(endsAt: string, nowMs: number): string {
  const days = Math.ceil((Date.parse(endsAt) - nowMs) / DAY_MS);
  return days <= 1 ? 'less than a day left' : `${days} days left`;
}

/** Shown while the trial runs, and in the month it ended (that month's free part comes from it). */
function trialBanner(report: UsageReport, nowMs: number): HTMLElement | null {
  const { trial, usage } = report;
  const free = `Billable events during the trial are free${usage.inTrial > 0 ? ` (${formatNumber(usage.inTrial)} this month)` : ''}.`;
  if (trial.active && trial.endsAt) {
    const endsThisMonth = monthIdOf(Date.parse(trial.endsAt)) === report.month;
    // The limit is the plan at the month's end: after a trial ending mid-month, that is the next plan, not the trial's.
    const next = endsThisMonth ? ' The plan in effect when the month ends, the one chosen or the plan that follows the trial, sets this month’s limit.' : '';
    return h('div', { class: 'notice usage-trial', id: 'usage-trial-banner', role: 'status' }, h('strong', {}, `Trial: ${daysLeft(trial.endsAt, nowMs)}`), ` — ends ${formatUtc(trial.endsAt)}. ${free}${next}`);
  }
  if (trial.endedAt && monthIdOf(Date.parse(trial.endedAt)) === report.month) {
    const early = trial.endsAt !== null && Date.parse(trial.endedAt) < Date.parse(trial.endsAt) ? ' when a plan was chosen' : '';
    return h('div', { class: 'notice usage-trial ended', id: 'usage-trial-banner', role: 'status' }, h('strong', {}, 'Trial ended'), ` on ${formatUtc(trial.endedAt)}${early}. ${free}`);
  }
  return null;
}

function rulesList(rules: readonly string[]): HTMLElement {
  return h('section', { class: 'usage-rules', id: 'usage-rules' }, h('h2', {}, 'How usage is counted'), h('ul', {}, rules.map((rule) => h('li', {}, rule))));
}

function hasEvents(report: UsageReport): boolean {
  return report.usage.billable + report.usage.bots + report.usage.notBillable > 0 || report.daily.some((day) => day.billable + day.bots + day.other > 0);
}

export function mountUsage(container: HTMLElement): () => void {
  let charts: uPlot[] = [];
  let latestRequest = 0;
  let unmounted = false;
  const months = recentMonths(Date.now());
  const currentMonth = months[0] ?? monthIdOf(Date.now());
  const select = h('select', { id: 'usage-month', 'aria-label': 'Month' }, months.map((month, index) => h('option', { value: month }, index === 0 ? `${monthLabel(month)} (current)` : monthLabel(month))));
  const refresh = h('button', { type: 'button', id: 'usage-refresh' }, 'Refresh');
  const body = h('div', { class: 'usage-body', id: 'usage-body' });
  const message = h('p', { class: 'muted', role: 'status', id: 'usage-status' }, 'Loading…');

  const destroyChart = (): void => {
    for (const chart of charts) chart.destroy();
    charts = [];
  };

  const chartSection = (report: UsageReport): HTMLElement => {
    const title = h('h2', {}, `Events per day and month total, ${monthLabel(report.month)} (UTC)`);
    if (!hasEvents(report)) {
      return h('section', { class: 'card' }, title, h('div', { class: 'empty usage-empty', id: 'usage-empty' }, h('p', {}, `No events in ${monthLabel(report.month)}.`), h('p', { class: 'muted hint' }, 'Events sent to the collect API (/v1/track, /v1/batch or the browser SDK) count here within seconds.')));
    }
    const points = dayPoints(report, Date.now());
    const readout = h('p', { class: 'hint muted usage-readout', id: 'usage-readout', 'aria-live': 'polite' }, RESTING_READOUT);
    const dailyBox = h('div', { class: 'usage-chart-daily' });
    const totalBox = h('div', { class: 'usage-chart-total' });
    const box = h('div', { class: 'usage-chart', id: 'usage-chart', role: 'img', 'aria-label': `Events per day in ${monthLabel(report.month)}: ${formatNumber(report.usage.counted)} counted of ${formatNumber(report.usage.limit)}` }, dailyBox, totalBox);
    const section = h('section', { class: 'card' }, title, legend(), box, readout);
    // Drawn once the boxes are in the document, so uPlot measures their real width.
    queueMicrotask(() => {
      if (unmounted || !box.isConnected) return;
      charts = [drawDailyChart(dailyBox, points, readout), drawTotalChart(totalBox, points, readout, report)];
      box.dataset.month = report.month;
      box.dataset.days = String(points.length);
      box.dataset.points = String(points.filter((point) => point.counted + point.inTrial + point.bots > 0).length);
      box.dataset.cumulativeCounted = String(points.reduce((last, point) => point.cumulativeCounted ?? last, 0));
    });
    return section;
  };

  const show = (report: UsageReport): void => {
    destroyChart();
    clear(body);
    body.dataset.month = report.month;
    const isCurrentMonth = report.month === currentMonth;
    body.append(...[trialBanner(report, Date.now()), planCard(report, isCurrentMonth), statCards(report), projectionPanel(report), chartSection(report), rulesList(report.rules)].filter((part): part is HTMLElement => part !== null));
  };

  const showError = (error: unknown, month: string): void => {
    destroyChart();
    clear(body);
    delete body.dataset.month;
    const reason = error instanceof ApiFailure ? `${error.message} (${error.code})` : 'the server could not be reached.';
    const retry = h('button', { type: 'button', id: 'usage-retry' }, 'Try again');
    retry.addEventListener('click', () => void load());
    body.append(h('div', { class: 'card usage-error', id: 'usage-error', role: 'alert' }, h('p', {}, `Could not load usage for ${monthLabel(month)}: ${reason}`), retry));
  };

  const load = async (): Promise<void> => {
    const month = select.value;
    const request = ++latestRequest;
    message.textContent = 'Loading…';
    try {
      const report = usageReportOf(await api(`/v1/usage?month=${encodeURIComponent(month)}`));
      // A slower answer for a month no longer selected must not replace a newer one.
      if (unmounted || request !== latestRequest) return;
      show(report);
      message.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (unmounted || request !== latestRequest) return;
      showError(error, month);
      message.textContent = '';
    }
  };

  select.addEventListener('change', () => void load());
  refresh.addEventListener('click', () => void load());
  const onResize = (): void => {
    for (const chart of charts) chart.setSize({ width: Math.max(320, chart.root.parentElement?.clientWidth ?? 800), height: chart.height });
  };
  window.addEventListener('resize', onResize);

  container.append(h('header', { class: 'page-header' }, h('h1', {}, 'Usage'), h('div', { class: 'toolbar' }, select, refresh)), body, message);
  void load();
  // Past months do not change by themselves; the current one does as events arrive.
  const refreshTimer = window.setInterval(() => {
    if (select.value === currentMonth) void load();
  }, 60_000);
  return () => {
    unmounted = true;
    window.clearInterval(refreshTimer);
    window.removeEventListener('resize', onResize);
    destroyChart();
  };
}
