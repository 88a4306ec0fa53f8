/**
 * Overview for a range: events per minute, hour or day (all from /v1/stats), top events
 * and unique persons. Bot-flagged events are excluded, as in every count the API returns,
 * and shown apart: how many were flagged, by reason.
 */
import uPlot from 'uplot';
import { api, ApiFailure } from './api';
import { clear, formatNumber, h, isRecord, numberOr, stringOr } from './dom';

interface Range {
  id: string;
  label: string;
  ms: number;
  bucket: 'minute' | 'hour' | 'day';
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const RANGES: Range[] = [
  { id: '1h', label: 'Last hour', ms: HOUR, bucket: 'minute' },
  { id: '24h', label: 'Last 24 hours', ms: DAY, bucket: 'hour' },
  { id: '7d', label: 'Last 7 days', ms: 7 * DAY, bucket: 'hour' },
  { id: '30d', label: 'Last 30 days', ms: 30 * DAY, bucket: 'day' },
];
const BUCKET_MS = { minute: MINUTE, hour: HOUR, day: DAY } as const;

export interface OverviewData {
  series: { at: number; count: number }[];
  topEvents: { name: string; count: number }[];
  totalEvents: number;
  uniquePersons: number | null;
  bots: { events: number; byReason: { reason: string; events: number }[] };
}

function botsOf(body: unknown): OverviewData['bots'] {
  const bots = isRecord(body) && isRecord(body.bots) ? body.bots : {};
  const byReason = Array.isArray(bots.byReason) ? bots.byReason.filter(isRecord) : [];
  return { events: numberOr(bots.events, 0), byReason: byReason.map((entry) => ({ reason: stringOr(entry.reason, 'unknown'), events: numberOr(entry.events, 0) })) };
}

function addTo<K>(map: Map<K, number>, key: K, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

/** Every bucket of the range, zero-filled, so the chart has no misleading gaps. */
function zeroFilled(counts: Map<number, number>, fromMs: number, toMs: number, bucketMs: number): { at: number; count: number }[] {
  const series: { at: number; count: number }[] = [];
  // Buckets are UTC-aligned, as ClickHouse's toStartOfHour/Day on a UTC server.
  for (let at = Math.floor(fromMs / bucketMs) * bucketMs; at <= toMs; at += bucketMs) series.push({ at, count: counts.get(at) ?? 0 });
  return series;
}

async function loadFromStats(range: Range, fromMs: number, toMs: number): Promise<OverviewData> {
  const body = await api(`/v1/stats?from=${fromMs}&to=${toMs}&interval=${range.bucket}`);
  const buckets = isRecord(body) && Array.isArray(body.buckets) ? body.buckets.filter(isRecord) : [];
  const perBucket = new Map<number, number>();
  const perEvent = new Map<string, number>();
  for (const bucket of buckets) {
    const at = Date.parse(stringOr(bucket.bucket, ''));
    const count = numberOr(bucket.count, 0);
    if (Number.isFinite(at)) addTo(perBucket, Math.floor(at / BUCKET_MS[range.bucket]) * BUCKET_MS[range.bucket], count);
    addTo(perEvent, stringOr(bucket.event, stringOr(bucket.type, 'unknown')), count);
  }
  const totals = isRecord(body) && isRecord(body.totals) ? body.totals : {};
  return {
    series: zeroFilled(perBucket, fromMs, toMs, BUCKET_MS[range.bucket]),
    topEvents: [...perEvent].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count).slice(0, 10),
    totalEvents: numberOr(totals.events, [...perEvent.values()].reduce((sum, value) => sum + value, 0)),
    uniquePersons: numberOr(totals.uniquePersons, Number.NaN),
    bots: botsOf(body),
  };
}

/** Horizontal bars for name/count lists (top events, bot reasons). */
function barList(list: HTMLElement, entries: { name: string; count: number }[], empty: string): void {
  clear(list);
  const max = Math.max(1, ...entries.map((entry) => entry.count));
  for (const entry of entries) {
    const bar = h('span', { class: 'bar' });
    // Through CSSOM: the dashboard's CSP refuses style attributes.
    bar.style.width = `${Math.round((entry.count / max) * 100)}%`;
    list.append(h('li', {}, h('span', { class: 'name' }, entry.name), bar, h('span', { class: 'count' }, formatNumber(entry.count))));
  }
  if (entries.length === 0) list.append(h('li', { class: 'muted' }, empty));
}

function drawChart(target: HTMLElement, data: OverviewData, range: Range): uPlot {
  const xs = data.series.map((point) => point.at / 1000);
  const ys = data.series.map((point) => point.count);
  const width = Math.max(320, target.clientWidth || 800);
  const bars = uPlot.paths.bars?.({ size: [0.8, 40] });
  // Half a bucket of room on each side, so the first and last bars are drawn whole.
  const halfBucket = BUCKET_MS[range.bucket] / 2000;
  return new uPlot(
    {
      width,
      height: 260,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: (_u, min, max) => [min - halfBucket, max + halfBucket] }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.15))] } },
      axes: [{ stroke: '#55606e', grid: { stroke: '#eef0f3' } }, { stroke: '#55606e', grid: { stroke: '#eef0f3' }, size: 50 }],
      series: [{}, { label: `events per ${range.bucket}`, stroke: '#2f6fde', fill: 'rgba(47,111,222,0.55)', width: 0, ...(bars ? { paths: bars } : {}), points: { show: false } }],
    },
    [xs, ys],
    target,
  );
}

export function mountOverview(container: HTMLElement): () => void {
  let chart: uPlot | null = null;
  let current = RANGES[0] ?? { id: '1h', label: 'Last hour', ms: HOUR, bucket: 'minute' };
  const select = h('select', { id: 'overview-range', 'aria-label': 'Range' }, RANGES.map((range) => h('option', { value: range.id }, range.label)));
  const refresh = h('button', { type: 'button', id: 'overview-refresh' }, 'Refresh');
  const totals = h('div', { class: 'stat-cards' });
  const chartBox = h('div', { class: 'chart', id: 'overview-chart', role: 'img', 'aria-label': 'Events over time' });
  const chartTitle = h('h2', {}, 'Events');
  const top = h('ol', { class: 'top-events', id: 'top-events' });
  const botReasons = h('ol', { class: 'top-events', id: 'bot-reasons' });
  const message = h('p', { class: 'muted', role: 'status' }, 'Loading…');

  const load = async (): Promise<void> => {
    message.textContent = 'Loading…';
    const toMs = Date.now();
    const fromMs = toMs - current.ms;
    try {
      const data = await loadFromStats(current, fromMs, toMs);
      chart?.destroy();
      clear(chartBox);
      chartTitle.textContent = `Events per ${current.bucket}`;
      chart = drawChart(chartBox, data, current);
      chartBox.dataset.points = String(data.series.filter((point) => point.count > 0).length);
      clear(totals);
      totals.append(
        h('div', { class: 'stat card' }, h('span', { class: 'muted' }, 'Events'), h('strong', { id: 'total-events' }, formatNumber(data.totalEvents))),
        h('div', { class: 'stat card' }, h('span', { class: 'muted' }, 'Unique persons'), h('strong', { id: 'unique-persons' }, data.uniquePersons === null || Number.isNaN(data.uniquePersons) ? '—' : formatNumber(data.uniquePersons))),
        h('div', { class: 'stat card' }, h('span', { class: 'muted' }, 'Distinct events'), h('strong', {}, formatNumber(data.topEvents.length))),
        h('div', { class: 'stat card' }, h('span', { class: 'muted' }, 'Flagged as bots (not counted)'), h('strong', { id: 'bot-events' }, formatNumber(data.bots.events))),
      );
      barList(top, data.topEvents, 'No events in this range.');
      barList(botReasons, data.bots.byReason.map((entry) => ({ name: entry.reason, count: entry.events })), 'No bot traffic in this range.');
      message.textContent = `Updated ${new Date().toLocaleTimeString()}. Bot-flagged events are not counted.`;
    } catch (error) {
      message.textContent = error instanceof ApiFailure ? `Could not load stats: ${error.message} (${error.code})` : 'Could not load stats.';
    }
  };

  select.addEventListener('change', () => {
    current = RANGES.find((range) => range.id === select.value) ?? current;
    void load();
  });
  refresh.addEventListener('click', () => void load());
  const onResize = (): void => chart?.setSize({ width: Math.max(320, chartBox.clientWidth), height: 260 });
  window.addEventListener('resize', onResize);

  container.append(
    h('header', { class: 'page-header' }, h('h1', {}, 'Overview'), h('div', { class: 'toolbar' }, select, refresh)),
    totals,
    h('section', { class: 'card' }, chartTitle, chartBox),
    h('section', { class: 'card' }, h('h2', {}, 'Top events'), top),
    h('section', { class: 'card' }, h('h2', {}, 'Flagged traffic by reason'), botReasons),
    message,
  );
  void load();
  const refreshTimer = window.setInterval(() => void load(), 30_000);
  return () => {
    window.clearInterval(refreshTimer);
    window.removeEventListener('resize', onResize);
    chart?.destroy();
  };
}
