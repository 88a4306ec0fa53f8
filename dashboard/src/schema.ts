/**
 * Schema page: the tracking plan merged with what was received (/v1/schema): every event with
 * its plan status (planned, unplanned, planned but never seen), volume, violations, events the
 * plan blocked and warnings; one event's keys (/v1/schema/events/:name): types with counts,
 * distinct values, an example, whether the plan describes the key, its description and
 * violations (stored and blocked), and the violations of the event as a whole. The Markdown
 * export is the same report as a file (/v1/schema/docs.md).
 */
import { api, ApiFailure } from './api';
import { clear, formatDateTime, formatNumber, h, isRecord, numberOr, stringOr } from './dom';

interface Warning {
  code: string;
  type: string;
  event: string;
  path: string | null;
  message: string;
}

interface EventSummary {
  type: string;
  event: string;
  status: string;
  volume: number;
  lastSeen: string | null;
  description: string | null;
  keyCount: number;
  violations: number;
  blocked: number;
  warnings: Warning[];
}

interface ViolationCount {
  rule: string;
  events: number;
  flagged: number;
  blocked: number;
}

interface KeyReport {
  path: string;
  types: { type: string; count: number }[];
  distinctValues: number;
  example: string | null;
  planned: boolean;
  description: string | null;
  violations: ViolationCount[];
}

const STATUS_LABELS: Record<string, string> = { planned: 'planned', unplanned: 'unplanned', never_seen: 'planned, never seen', not_covered: 'no rule', no_plan: 'no plan' };

const records = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.filter(isRecord) : []);
const nullableString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function warningOf(value: Record<string, unknown>): Warning {
  return { code: stringOr(value.code, ''), type: stringOr(value.type, ''), event: stringOr(value.event, ''), path: nullableString(value.path), message: stringOr(value.message, '') };
}

function eventOf(value: Record<string, unknown>): EventSummary {
  return {
    type: stringOr(value.type, 'track'),
    event: stringOr(value.event, ''),
    status: stringOr(value.status, ''),
    volume: numberOr(value.volume, 0),
    lastSeen: nullableString(value.lastSeen),
    description: nullableString(value.description),
    keyCount: numberOr(value.keyCount, 0),
    violations: numberOr(value.violations, 0),
    blocked: numberOr(value.blocked, 0),
    warnings: records(value.warnings).map(warningOf),
  };
}

function violationCountOf(entry: Record<string, unknown>): ViolationCount {
  return { rule: stringOr(entry.rule, ''), events: numberOr(entry.events, 0), flagged: numberOr(entry.flagged, 0), blocked: numberOr(entry.blocked, 0) };
}

/** Stored events with the violation, then those the plan refused for it. */
function violationBadges(entry: ViolationCount): HTMLElement[] {
  const stored = entry.events > 0 ? [h('span', { class: 'badge badge-violation', title: `${formatNumber(entry.flagged)} flagged` }, `${entry.rule} ${formatNumber(entry.events)}`)] : [];
  const blocked = entry.blocked > 0 ? [h('span', { class: 'badge badge-blocked', 'data-rule': entry.rule }, `${entry.rule} ${formatNumber(entry.blocked)} blocked`)] : [];
  return [...stored, ...blocked];
}

function keyOf(value: Record<string, unknown>): KeyReport {
  return {
    path: stringOr(value.path, ''),
    types: records(value.types).map((entry) => ({ type: stringOr(entry.type, ''), count: numberOr(entry.count, 0) })),
    distinctValues: numberOr(value.distinctValues, 0),
    example: nullableString(value.example),
    planned: value.planned === true,
    description: nullableString(value.description),
    violations: records(value.violations).map(violationCountOf),
  };
}

const eventLabel = (event: { type: string; event: string }): string => (event.type === 'track' ? event.event : `${event.type}${event.event ? ` · ${event.event}` : ''}`);
const eventHash = (event: { type: string; event: string }): string => `#/schema/${encodeURIComponent(event.type)}/${encodeURIComponent(event.event || '_')}`;

function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge badge-plan-${status}`, 'data-status': status }, STATUS_LABELS[status] ?? status);
}

function warningList(warnings: Warning[], id: string): HTMLElement {
  if (warnings.length === 0) return h('p', { class: 'muted', id }, 'No warnings.');
  return h('ul', { class: 'schema-warnings', id }, warnings.map((warning) => h('li', { 'data-code': warning.code }, h('span', { class: 'badge badge-warning' }, warning.code.replace(/_/g, ' ')), ' ', h('strong', {}, eventLabel(warning)), ' ', warning.message)));
}

function eventsTable(events: EventSummary[]): HTMLElement {
  if (events.length === 0) return h('p', { class: 'empty muted' }, 'No events received yet, and no tracking plan. Send an event or import a plan (PUT /v1/tracking-plan).');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { id: 'schema-events' },
      h('thead', {}, h('tr', {}, ['Event', 'Call', 'Status', 'Volume', 'Keys', 'Violations', 'Blocked', 'Warnings', 'Last seen'].map((title) => h('th', {}, title)))),
      h(
        'tbody',
        {},
        events.map((event) =>
          h(
            'tr',
            { 'data-event': event.event, 'data-type': event.type },
            h('td', {}, h('a', { href: eventHash(event) }, event.event || `(${event.type})`), event.description ? h('div', { class: 'hint muted' }, event.description) : null),
            h('td', {}, event.type),
            h('td', {}, statusBadge(event.status)),
            h('td', { class: 'num' }, formatNumber(event.volume)),
            h('td', { class: 'num' }, formatNumber(event.keyCount)),
            h('td', { class: 'num' }, event.violations > 0 ? h('span', { class: 'badge badge-violation' }, formatNumber(event.violations)) : '0'),
            h('td', { class: 'num blocked' }, event.blocked > 0 ? h('span', { class: 'badge badge-blocked' }, formatNumber(event.blocked)) : '0'),
            h('td', { class: 'num' }, event.warnings.length > 0 ? h('span', { class: 'badge badge-warning' }, String(event.warnings.length)) : '0'),
            h('td', {}, event.lastSeen ? formatDateTime(event.lastSeen) : '—'),
          ),
        ),
      ),
    ),
  );
}

function keysTable(keys: KeyReport[]): HTMLElement {
  if (keys.length === 0) return h('p', { class: 'muted' }, 'No keys seen for this event.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { id: 'schema-keys' },
      h('thead', {}, h('tr', {}, ['Key', 'Types (values seen)', 'Distinct', 'Example', 'In plan', 'Description', 'Violations'].map((title) => h('th', {}, title)))),
      h(
        'tbody',
        {},
        keys.map((key) =>
          h(
            'tr',
            { 'data-path': key.path },
            h('td', { class: 'mono' }, key.path),
            h('td', {}, key.types.map((entry) => h('span', { class: 'badge badge-type', 'data-type': entry.type }, `${entry.type} ${formatNumber(entry.count)}`))),
            h('td', { class: 'num' }, formatNumber(key.distinctValues)),
            h('td', { class: 'mono' }, key.example ?? '—'),
            h('td', {}, key.planned ? 'yes' : h('span', { class: 'muted' }, 'no')),
            h('td', {}, key.description ?? '—'),
            h('td', {}, key.violations.length === 0 ? '—' : key.violations.flatMap(violationBadges)),
          ),
        ),
      ),
    ),
  );
}

/** Violations not of a discovered key: unplanned, the event as a whole, or keys only blocked events carried. */
function otherViolationsList(entries: (ViolationCount & { path: string })[]): HTMLElement[] {
  if (entries.length === 0) return [];
  return [h(
    'section',
    { class: 'card' },
    h('h2', {}, 'Other violations'),
    h('ul', { id: 'schema-other-violations' }, entries.map((entry) => h('li', { 'data-path': entry.path }, h('span', { class: 'mono' }, entry.path || '(event)'), ' ', ...violationBadges(entry)))),
  )];
}

function planLine(plan: unknown): HTMLElement {
  if (!isRecord(plan)) return h('p', { class: 'muted', id: 'schema-plan' }, 'No tracking plan: everything here was discovered from the events received. Import one with PUT /v1/tracking-plan or `npm run admin -- plan import`.');
  return h('p', { id: 'schema-plan' }, 'Tracking plan ', h('strong', {}, stringOr(plan.name, '')), ` · version ${numberOr(plan.version, 0)}`);
}

function statCards(events: EventSummary[], warnings: Warning[]): HTMLElement {
  const count = (status: string): number => events.filter((event) => event.status === status).length;
  const card = (label: string, value: number, id: string) => h('div', { class: 'card stat', id }, h('span', { class: 'muted' }, label), h('strong', {}, formatNumber(value)));
  return h('div', { class: 'stat-cards' }, card('Planned', count('planned'), 'schema-planned'), card('Unplanned', count('unplanned'), 'schema-unplanned'), card('Planned, never seen', count('never_seen'), 'schema-never-seen'), card('Warnings', warnings.length, 'schema-warning-count'));
}

function failure(error: unknown): HTMLElement {
  const message = error instanceof ApiFailure ? `${error.message} (${error.code})` : String(error);
  return h('p', { class: 'notice', role: 'alert', id: 'schema-error' }, `Could not load the schema: ${message}`);
}

async function renderOverview(body: HTMLElement): Promise<void> {
  const answer = await api('/v1/schema');
  const report = isRecord(answer) ? answer : {};
  const events = records(report.events).map(eventOf);
  const warnings = records(report.warnings).map(warningOf);
  clear(body);
  body.append(planLine(report.plan), statCards(events, warnings), h('section', { class: 'card' }, h('h2', {}, 'Warnings'), warningList(warnings, 'schema-warning-list')), eventsTable(events));
}

async function renderEvent(body: HTMLElement, type: string, name: string): Promise<void> {
  const answer = await api(`/v1/schema/events/${encodeURIComponent(name || '_')}?type=${encodeURIComponent(type)}`);
  const report = isRecord(answer) ? answer : {};
  const event = eventOf(report);
  const keys = records(report.keys).map(keyOf);
  const others = records(report.otherViolations).map((entry) => ({ ...violationCountOf(entry), path: stringOr(entry.path, '') }));
  clear(body);
  body.append(
    h('p', {}, h('a', { href: '#/schema' }, '← All events')),
    h('h2', { id: 'schema-event-title' }, eventLabel(event), ' ', statusBadge(event.status)),
    h('p', { id: 'schema-event-description' }, event.description ?? ''),
    h('p', { class: 'muted', id: 'schema-event-counts' }, `${formatNumber(event.volume)} events`, event.lastSeen ? ` · last seen ${formatDateTime(event.lastSeen)}` : '', ` · ${formatNumber(event.violations)} violations · ${formatNumber(event.blocked)} blocked`),
    h('section', { class: 'card' }, h('h2', {}, 'Warnings'), warningList(event.warnings, 'schema-event-warnings')),
    keysTable(keys),
    ...otherViolationsList(others),
  );
}

/** `param` is empty (all events) or `<type>/<name>` (one event; `_` for a call type without names). */
export function mountSchema(container: HTMLElement, param: string): () => void {
  const [type = '', ...rest] = param.split('/');
  const name = rest.join('/');
  const body = h('div', { class: 'schema-body', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  container.append(
    h('header', { class: 'page-header' }, h('h1', {}, 'Schema'), h('div', { class: 'toolbar' }, h('a', { href: '/v1/schema/docs.md', download: 'schema.md', id: 'schema-docs-link' }, 'Download as Markdown'))),
    body,
  );
  let active = true;
  const load = type && name ? renderEvent(body, type, name === '_' ? '' : name) : renderOverview(body);
  load
    .catch((error: unknown) => {
      if (!active) return;
      clear(body);
      body.append(failure(error));
    })
    .finally(() => body.setAttribute('aria-busy', 'false'));
  return () => {
    active = false;
  };
}
