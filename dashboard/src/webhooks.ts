/**
 * Webhooks: the workspace's subscriptions (endpoint, what each receives, bots or not, enabled or
 * disabled and why), create and edit with the API's refusals shown at the field they concern
 * (an SSRF-refused URL under the URL), the signing secret shown once after create or rotate,
 * send test, disable / re-enable, delete, and a subscription's delivery log (attempt, outcome,
 * HTTP status, latency, error, the first 1 KB of the answer), refreshed while it is open.
 * Every verdict is the API's: the page checks nothing a server must check anyway.
 */
import { api, ApiFailure } from './api';
import { clear, formatDateTime, h, isRecord, numberOr, stringOr } from './dom';
import type { DeliveryLogView } from '../../schema/webhooks';

const EVENT_TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;
const LOG_PAGE = 50;
const LOG_REFRESH_MS = 5_000;
const LIST_REFRESH_MS = 30_000;

interface WebhookRow {
  id: string;
  url: string;
  description: string;
  events: string[];
  types: string[];
  segments: string[];
  usageThreshold: boolean;
  includeBots: boolean;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  previousSecretValidUntil: string | null;
  createdAt: string;
}

type DeliveryRow = DeliveryLogView;

/** Where a refusal is shown: beside the field it concerns, or above the buttons. */
type ErrorPlace = 'url' | 'description' | 'filter' | 'form';

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);
const nullableString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function webhookOf(value: unknown): WebhookRow | null {
  if (!isRecord(value) || typeof value.id !== 'string') return null;
  return {
    id: value.id,
    url: stringOr(value.url, ''),
    description: stringOr(value.description, ''),
    events: strings(value.events),
    types: strings(value.types),
    segments: strings(value.segments),
    usageThreshold: value.usageThreshold === true,
    includeBots: value.includeBots === true,
    enabled: value.enabled === true,
    disabledReason: nullableString(value.disabledReason),
    failingSince: nullableString(value.failingSince),
    previousSecretValidUntil: nullableString(value.previousSecretValidUntil),
    createdAt: stringOr(value.createdAt, ''),
  };
}

function deliveryOf(value: unknown): DeliveryRow | null {
  if (!isRecord(value) || typeof value.id !== 'number') return null;
  return {
    id: value.id,
    webhookId: stringOr(value.webhookId, ''),
    event: stringOr(value.event, ''),
    attempt: numberOr(value.attempt, 0),
    outcome: stringOr(value.outcome, ''),
    httpStatus: typeof value.httpStatus === 'number' ? value.httpStatus : null,
    latencyMs: numberOr(value.latencyMs, 0),
    error: nullableString(value.error),
    responseSnippet: nullableString(value.responseSnippet),
    createdAt: stringOr(value.createdAt, ''),
  };
}

/**
 * Body issues name their field; the other 400s of create and update without details are the URL
 * guard's (scheme, port, private or metadata address...), except the few listed here.
 */
function placeOf(error: ApiFailure, path: string | null): ErrorPlace {
  if (path !== null) {
    const field = path.split('.')[0] ?? '';
    if (field === 'url' || field === 'description') return field;
    return ['events', 'types', 'segments', 'usageThreshold'].includes(field) ? 'filter' : 'form';
  }
  if (error.code === 'invalid_body') return 'filter';
  if (error.status !== 400 || error.code === 'invalid_json') return 'form';
  return 'url';
}

function refusalsOf(error: ApiFailure): { place: ErrorPlace; message: string; code: string }[] {
  const details = Array.isArray(error.details) ? error.details.filter(isRecord) : [];
  const issues = details.flatMap((issue) => (typeof issue.message === 'string' ? [{ place: placeOf(error, stringOr(issue.path, '')), message: issue.message, code: error.code }] : []));
  return issues.length > 0 ? issues : [{ place: placeOf(error, null), message: error.message, code: error.code }];
}

/** What the outcome means to the reader; a test send is logged as `test` whatever it got. */
function deliveryState(row: DeliveryRow): 'ok' | 'warn' | 'bad' {
  if (row.outcome === 'delivered') return 'ok';
  if (row.outcome === 'test') return row.httpStatus !== null && row.httpStatus >= 200 && row.httpStatus <= 299 ? 'ok' : 'bad';
  return row.outcome === 'retrying' ? 'warn' : 'bad';
}

function httpState(status: number | null): string {
  if (status === null) return 'none';
  if (status >= 200 && status <= 299) return 'ok';
  return status >= 300 && status <= 399 ? 'warn' : 'bad';
}

function deliveryRowOf(row: DeliveryRow): HTMLElement {
  const state = deliveryState(row);
  const outcome = row.outcome === 'test' ? (state === 'ok' ? 'delivered' : 'failed') : row.outcome.replace('_', ' ');
  return h(
    'tr',
    { class: 'delivery-row', 'data-outcome': row.outcome, 'data-state': state, 'data-webhook-message-id': row.webhookId },
    h('td', { class: 'time', title: row.createdAt }, row.createdAt ? formatDateTime(row.createdAt) : '—'),
    h('td', { class: 'delivery-event', title: `webhook-id ${row.webhookId}` }, row.event || '—'),
    h('td', { class: 'num' }, String(row.attempt)),
    h('td', {}, h('span', { class: `badge badge-delivery-${state}` }, outcome), row.outcome === 'test' ? [' ', h('span', { class: 'badge badge-type' }, 'test')] : null),
    h('td', { class: 'num delivery-http', 'data-http': httpState(row.httpStatus) }, row.httpStatus === null ? '—' : String(row.httpStatus)),
    h('td', { class: 'num' }, `${Math.round(row.latencyMs)} ms`),
    h('td', { class: 'delivery-error', title: row.error ?? '' }, row.error ?? ''),
    h('td', { class: 'delivery-response' }, row.responseSnippet ? h('code', { title: row.responseSnippet }, row.responseSnippet) : h('span', { class: 'muted' }, '—')),
  );
}

export function mountWebhooks(container: HTMLElement): () => void {
  let webhooks: WebhookRow[] = [];
  let segmentNames = new Map<string, string>();
  let editing: WebhookRow | null = null;
  let selected: WebhookRow | null = null;
  let logNext: number | null = null;
  /** Older pages are loaded: the periodic refresh (first page only) would take them away. */
  let logExpanded = false;
  let latestList = 0;
  let latestLog = 0;
  let unmounted = false;

  const failure = (error: unknown, what: string): string => (error instanceof ApiFailure ? `${what}: ${error.message} (${error.code})` : `${what}: the server could not be reached.`);

  // Subscriptions
  const listBody = h('tbody', { id: 'webhooks-rows' });
  const listEmpty = h('p', { class: 'empty muted', id: 'webhooks-empty', hidden: true }, 'No subscriptions yet. Add an endpoint below.');
  const listStatus = h('p', { class: 'hint muted', role: 'status', id: 'webhooks-status' }, 'Loading…');
  const actionStatus = h('p', { class: 'webhook-action-status', role: 'status', id: 'webhooks-action-status', 'aria-live': 'polite' });

  // The secret, shown once
  const secretValue = h('input', { id: 'webhook-secret', class: 'mono', type: 'text', readonly: true, 'aria-label': 'Signing secret', spellcheck: 'false', autocomplete: 'off' });
  const secretFor = h('p', { class: 'muted', id: 'webhook-secret-for' });
  const secretGrace = h('p', { class: 'hint muted', id: 'webhook-secret-grace', hidden: true });
  const copyStatus = h('span', { class: 'muted', role: 'status', id: 'webhook-secret-copied' });
  const secretPanel = h(
    'section',
    { class: 'card webhook-secret', id: 'webhook-secret-panel', hidden: true, 'aria-labelledby': 'webhook-secret-title' },
    h('h2', { id: 'webhook-secret-title' }, 'Signing secret'),
    secretFor,
    h(
      'div',
      { class: 'webhook-secret-line' },
      secretValue,
      h('button', { type: 'button', class: 'primary', id: 'webhook-secret-copy', onclick: () => void copySecret() }, 'Copy'),
      copyStatus,
    ),
    h('p', { class: 'webhook-secret-warning', id: 'webhook-secret-warning' }, h('strong', {}, 'You will not see this secret again.'), ' Store it where your receiver verifies signatures (Standard Webhooks, e.g. the standardwebhooks package). If it is lost, rotate the secret.'),
    secretGrace,
    h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'webhook-secret-dismiss', onclick: () => hideSecret() }, 'I have stored it')),
  );

  // Editor
  const editorTitle = h('h2', { id: 'webhook-editor-title' }, 'New subscription');
  const urlInput = h('input', { id: 'webhook-url', type: 'url', placeholder: 'https://hooks.example.com/monfri', 'aria-label': 'Endpoint URL', 'aria-describedby': 'webhook-url-error', maxlength: 2048, spellcheck: 'false', autocomplete: 'off' });
  const descriptionInput = h('input', { id: 'webhook-description', type: 'text', placeholder: 'Description (optional)', 'aria-label': 'Description', 'aria-describedby': 'webhook-description-error', maxlength: 500 });
  const eventsInput = h('textarea', { id: 'webhook-events', rows: 3, spellcheck: 'false', placeholder: 'e.g. Order Completed', 'aria-label': 'Event names, one per line', 'aria-describedby': 'webhook-filter-error' });
  const typeBoxes = EVENT_TYPES.map((type) => h('input', { type: 'checkbox', name: 'webhook-type', value: type, id: `webhook-type-${type}` }));
  const segmentBoxes = h('div', { class: 'webhook-checks', id: 'webhook-segments' });
  const usageBox = h('input', { type: 'checkbox', id: 'webhook-usage-threshold' });
  const botsBox = h('input', { type: 'checkbox', id: 'webhook-include-bots' });
  const enabledBox = h('input', { type: 'checkbox', id: 'webhook-enabled', checked: true });
  const errorOf: Record<ErrorPlace, HTMLElement> = {
    url: h('p', { class: 'field-error', id: 'webhook-url-error', role: 'alert' }),
    description: h('p', { class: 'field-error', id: 'webhook-description-error', role: 'alert' }),
    filter: h('p', { class: 'field-error', id: 'webhook-filter-error', role: 'alert' }),
    form: h('p', { class: 'field-error', id: 'webhook-form-error', role: 'alert' }),
  };
  const saveButton = h('button', { type: 'submit', class: 'primary', id: 'webhook-save' }, 'Create subscription');
  const cancelButton = h('button', { type: 'button', id: 'webhook-cancel', hidden: true, onclick: () => startEditing(null) }, 'Cancel edit');
  const saveStatus = h('span', { class: 'muted', role: 'status', id: 'webhook-save-status' });
  const check = (box: HTMLInputElement, label: string, hint?: string): HTMLElement => h('label', { class: 'webhook-check', for: box.id }, box, label, hint ? h('span', { class: 'muted hint' }, hint) : null);

  const form = h(
    'form',
    { class: 'card webhook-editor', id: 'webhook-editor', novalidate: true },
    editorTitle,
    h(
      'div',
      { class: 'webhook-editor-grid' },
      h(
        'div',
        { class: 'webhook-editor-column' },
        h('label', { class: 'field-label', for: 'webhook-url' }, 'Endpoint URL'),
        urlInput,
        errorOf.url,
        h('p', { class: 'hint muted' }, 'https:// on port 443, a public address; never user:pass@, private, loopback or metadata addresses.'),
        h('label', { class: 'field-label', for: 'webhook-description' }, 'Description'),
        descriptionInput,
        errorOf.description,
        h('div', { class: 'webhook-checks' }, check(botsBox, 'Include bot-flagged events'), check(enabledBox, 'Enabled')),
      ),
      h(
        'fieldset',
        { class: 'webhook-editor-column webhook-filter', 'aria-describedby': 'webhook-filter-error' },
        h('legend', { class: 'field-label' }, 'Receives (any that matches)'),
        h('label', { class: 'field-label sub', for: 'webhook-events' }, 'Event names, one per line'),
        eventsInput,
        h('span', { class: 'field-label sub' }, 'Event types'),
        h('div', { class: 'webhook-checks' }, typeBoxes.map((box) => check(box, box.value))),
        h('span', { class: 'field-label sub' }, 'Segment Entered / Exited of'),
        segmentBoxes,
        h('div', { class: 'webhook-checks' }, check(usageBox, 'usage.threshold', '(80 % and 100 % of the plan)')),
        errorOf.filter,
      ),
    ),
    errorOf.form,
    h('div', { class: 'toolbar' }, saveButton, cancelButton, saveStatus),
  );

  // Delivery log
  const logTitle = h('h2', { id: 'webhook-log-title' }, 'Deliveries');
  const logBody = h('tbody', { id: 'webhook-deliveries' });
  const logEmpty = h('p', { class: 'empty muted', id: 'webhook-deliveries-empty', hidden: true }, 'Nothing sent to this endpoint yet. “Send test” sends one now.');
  const logStatus = h('p', { class: 'hint muted', role: 'status', id: 'webhook-log-status' });
  const olderButton = h('button', { type: 'button', id: 'webhook-log-older', hidden: true, onclick: () => void loadLog(true) }, 'Older deliveries');
  const log = h(
    'section',
    { class: 'card webhook-log', id: 'webhook-log', hidden: true },
    h('div', { class: 'page-header' }, logTitle, h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'webhook-log-refresh', onclick: () => void loadLog(false) }, 'Refresh'))),
    h(
      'div',
      { class: 'webhook-log-wrap' },
      h('table', { class: 'compact webhook-log-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Event'), h('th', {}, 'Attempt'), h('th', {}, 'Outcome'), h('th', {}, 'HTTP'), h('th', {}, 'Latency'), h('th', {}, 'Error'), h('th', {}, 'Response'))), logBody),
    ),
    logEmpty,
    h('div', { class: 'toolbar' }, olderButton, logStatus),
  );

  const showErrors = (refusals: { place: ErrorPlace; message: string; code: string }[]): void => {
    for (const element of Object.values(errorOf)) clear(element);
    urlInput.setAttribute('aria-invalid', 'false');
    for (const refusal of refusals) {
      const target = errorOf[refusal.place];
      target.append(h('span', { class: 'field-error-item', 'data-code': refusal.code }, refusal.message, ' ', h('code', {}, refusal.code)));
      if (refusal.place === 'url') urlInput.setAttribute('aria-invalid', 'true');
    }
  };

  function showSecret(webhook: WebhookRow, secret: string, rotated: boolean): void {
    secretValue.value = secret;
    secretFor.textContent = `${rotated ? 'New secret' : 'Secret'} for ${webhook.url}`;
    copyStatus.textContent = '';
    secretGrace.hidden = !(rotated && webhook.previousSecretValidUntil);
    secretGrace.textContent = rotated && webhook.previousSecretValidUntil ? `The previous secret keeps signing too (a second signature) until ${formatDateTime(webhook.previousSecretValidUntil)}, so receivers can switch over.` : '';
    secretPanel.hidden = false;
    secretPanel.scrollIntoView({ block: 'nearest' });
    secretValue.select();
  }

  function hideSecret(): void {
    // Gone from the page, not just hidden: the API will not give it again either.
    secretValue.value = '';
    secretPanel.hidden = true;
  }

  async function copySecret(): Promise<void> {
    secretValue.select();
    try {
      await navigator.clipboard.writeText(secretValue.value);
      copyStatus.textContent = 'Copied.';
    } catch {
      // No clipboard permission (some browsers, insecure origins): the text is selected for a manual copy.
      copyStatus.textContent = 'Copy was refused by the browser: the secret is selected, copy it with Ctrl+C / ⌘C.';
    }
  }

  const renderSegmentChoices = (chosen: readonly string[]): void => {
    clear(segmentBoxes);
    const ids = [...new Set([...segmentNames.keys(), ...chosen])];
    if (ids.length === 0) segmentBoxes.append(h('span', { class: 'muted hint' }, 'No segments in this workspace.'));
    for (const id of ids) {
      const box = h('input', { type: 'checkbox', name: 'webhook-segment', value: id, id: `webhook-segment-${id}` });
      box.checked = chosen.includes(id);
      segmentBoxes.append(check(box, segmentNames.get(id) ?? `${id} (deleted)`));
    }
  };

  function startEditing(webhook: WebhookRow | null): void {
    editing = webhook;
    editorTitle.textContent = webhook ? `Edit ${webhook.url}` : 'New subscription';
    saveButton.textContent = webhook ? 'Save changes' : 'Create subscription';
    cancelButton.hidden = !webhook;
    urlInput.value = webhook?.url ?? '';
    descriptionInput.value = webhook?.description ?? '';
    eventsInput.value = (webhook?.events ?? []).join('\n');
    for (const box of typeBoxes) box.checked = webhook?.types.includes(box.value) ?? false;
    usageBox.checked = webhook?.usageThreshold ?? false;
    botsBox.checked = webhook?.includeBots ?? false;
    enabledBox.checked = webhook?.enabled ?? true;
    renderSegmentChoices(webhook?.segments ?? []);
    saveStatus.textContent = '';
    showErrors([]);
    if (webhook) urlInput.focus();
  }

  const formBody = (): Record<string, unknown> => ({
    url: urlInput.value.trim(),
    description: descriptionInput.value,
    events: eventsInput.value.split('\n').map((name) => name.trim()).filter((name) => name !== ''),
    types: typeBoxes.filter((box) => box.checked).map((box) => box.value),
    segments: [...segmentBoxes.querySelectorAll<HTMLInputElement>('input[name="webhook-segment"]')].filter((box) => box.checked).map((box) => box.value),
    usageThreshold: usageBox.checked,
    includeBots: botsBox.checked,
    enabled: enabledBox.checked,
  });

  const receives = (webhook: WebhookRow): HTMLElement => {
    const chips: HTMLElement[] = [
      ...webhook.events.map((name) => h('span', { class: 'badge webhook-chip', title: 'event name' }, name)),
      ...webhook.types.map((type) => h('span', { class: 'badge badge-type', title: 'every event of this type' }, `type: ${type}`)),
      ...webhook.segments.map((id) => h('span', { class: 'badge badge-entered', title: `Segment Entered / Exited of ${id}` }, `segment: ${segmentNames.get(id) ?? id}`)),
      ...(webhook.usageThreshold ? [h('span', { class: 'badge badge-warning', title: '80 % and 100 % of the plan' }, 'usage.threshold')] : []),
    ];
    return h('div', { class: 'webhook-chips' }, chips);
  };

  const statusCell = (webhook: WebhookRow): HTMLElement =>
    h(
      'td',
      { class: 'webhook-status' },
      h('span', { class: 'pill', 'data-webhook-status': webhook.enabled ? 'enabled' : 'disabled' }, webhook.enabled ? 'enabled' : 'disabled'),
      !webhook.enabled && webhook.disabledReason ? h('div', { class: 'webhook-disabled-reason' }, webhook.disabledReason) : null,
      webhook.enabled && webhook.failingSince ? h('div', { class: 'webhook-failing hint', title: webhook.failingSince }, `failing since ${formatDateTime(webhook.failingSince)}`) : null,
      webhook.previousSecretValidUntil ? h('div', { class: 'hint muted' }, `old secret signs until ${formatDateTime(webhook.previousSecretValidUntil)}`) : null,
    );

  const act = async (webhook: WebhookRow, what: string, run: () => Promise<void>): Promise<void> => {
    actionStatus.dataset.state = '';
    actionStatus.textContent = `${what}…`;
    try {
      await run();
    } catch (error) {
      actionStatus.dataset.state = 'bad';
      actionStatus.textContent = failure(error, `${what} (${webhook.url})`);
    }
  };

  const sendTest = (webhook: WebhookRow): Promise<void> =>
    act(webhook, 'Sending a test event', async () => {
      const answer = await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}/test`, { method: 'POST' });
      const result = isRecord(answer) ? answer : {};
      const status = typeof result.httpStatus === 'number' ? `HTTP ${result.httpStatus}` : 'no answer';
      const latency = `${Math.round(numberOr(result.latencyMs, 0))} ms`;
      actionStatus.dataset.state = result.delivered === true ? 'ok' : 'bad';
      actionStatus.textContent = result.delivered === true ? `Test event delivered to ${webhook.url}: ${status} in ${latency}.` : `Test event not delivered to ${webhook.url}: ${stringOr(result.error, status)} (${latency}).`;
      await selectForLog(webhook);
    });

  const setEnabled = (webhook: WebhookRow, enabled: boolean): Promise<void> =>
    act(webhook, enabled ? 'Re-enabling' : 'Disabling', async () => {
      await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}`, { method: 'PATCH', body: JSON.stringify({ enabled }) });
      actionStatus.dataset.state = 'ok';
      actionStatus.textContent = enabled ? `Re-enabled ${webhook.url}; the 5-day failure clock starts afresh.` : `Disabled ${webhook.url}: nothing is sent to it until it is re-enabled.`;
      await loadList();
    });

  const rotate = (webhook: WebhookRow): Promise<void> => {
    if (!window.confirm(`Rotate the signing secret of ${webhook.url}? The old secret keeps signing for 24 hours.`)) return Promise.resolve();
    return act(webhook, 'Rotating the secret', async () => {
      const answer = await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}/rotate-secret`, { method: 'POST' });
      const rotated = isRecord(answer) ? webhookOf(answer.webhook) : null;
      const secret = isRecord(answer) ? stringOr(answer.secret, '') : '';
      if (!rotated || !secret) throw new ApiFailure(500, 'bad_response', 'Unexpected rotate answer.');
      actionStatus.dataset.state = 'ok';
      actionStatus.textContent = `Rotated the secret of ${webhook.url}.`;
      showSecret(rotated, secret, true);
      await loadList();
    });
  };

  const remove = (webhook: WebhookRow): Promise<void> => {
    if (!window.confirm(`Delete the subscription to ${webhook.url}? Nothing more is sent to it.`)) return Promise.resolve();
    return act(webhook, 'Deleting', async () => {
      await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}`, { method: 'DELETE' });
      if (editing?.id === webhook.id) startEditing(null);
      if (selected?.id === webhook.id) {
        selected = null;
        log.hidden = true;
      }
      actionStatus.dataset.state = 'ok';
      actionStatus.textContent = `Deleted the subscription to ${webhook.url}.`;
      await loadList();
    });
  };

  const renderList = (): void => {
    clear(listBody);
    listEmpty.hidden = webhooks.length > 0;
    for (const webhook of webhooks) {
      const button = (className: string, label: string, onclick: () => void): HTMLElement => h('button', { type: 'button', class: className, onclick }, label);
      listBody.append(
        h(
          'tr',
          { class: `webhook-row${selected?.id === webhook.id ? ' selected' : ''}`, 'data-webhook-id': webhook.id, 'data-enabled': String(webhook.enabled) },
          h('td', { class: 'webhook-endpoint' }, h('code', { class: 'webhook-url', title: webhook.url }, webhook.url), webhook.description ? h('div', { class: 'muted hint' }, webhook.description) : null),
          h('td', {}, receives(webhook)),
          h('td', { class: 'webhook-bots' }, webhook.includeBots ? 'included' : h('span', { class: 'muted' }, 'left out')),
          statusCell(webhook),
          h(
            'td',
            {},
            h(
              'div',
              { class: 'webhook-actions' },
              button('webhook-show-log', 'Deliveries', () => void selectForLog(webhook)),
              button('webhook-test', 'Send test', () => void sendTest(webhook)),
              button('webhook-edit', 'Edit', () => startEditing(webhook)),
              button('webhook-toggle', webhook.enabled ? 'Disable' : 'Re-enable', () => void setEnabled(webhook, !webhook.enabled)),
              button('webhook-rotate', 'Rotate secret', () => void rotate(webhook)),
              button('webhook-delete danger', 'Delete', () => void remove(webhook)),
            ),
          ),
        ),
      );
    }
  };

  async function loadSegments(): Promise<void> {
    try {
      const answer = await api('/v1/segments');
      const list = isRecord(answer) && Array.isArray(answer.segments) ? answer.segments.filter(isRecord) : [];
      segmentNames = new Map(list.flatMap((segment) => (typeof segment.id === 'string' ? [[segment.id, stringOr(segment.name, segment.id)] as [string, string]] : [])));
    } catch {
      // Names are a convenience: without them, ids are shown and subscriptions still work.
      segmentNames = new Map();
    }
    if (unmounted) return;
    renderSegmentChoices(editing?.segments ?? []);
    renderList();
  }

  async function loadList(): Promise<void> {
    const request = ++latestList;
    try {
      const answer = await api('/v1/webhooks');
      // An answer started before a save, toggle or delete must not bring back the older list.
      if (unmounted || request !== latestList) return;
      webhooks = (isRecord(answer) && Array.isArray(answer.webhooks) ? answer.webhooks : []).map(webhookOf).filter((row): row is WebhookRow => row !== null);
      if (selected) selected = webhooks.find((webhook) => webhook.id === selected?.id) ?? null;
      renderList();
      listStatus.textContent = `${webhooks.length} of at most 20 subscriptions · updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (!unmounted && request === latestList) listStatus.textContent = failure(error, 'Could not load the subscriptions');
    }
  }

  async function loadLog(older: boolean): Promise<void> {
    const webhook = selected;
    if (!webhook) return;
    const request = ++latestLog;
    const before = older && logNext !== null ? `&before=${logNext}` : '';
    try {
      const answer = await api(`/v1/webhooks/${encodeURIComponent(webhook.id)}/deliveries?limit=${LOG_PAGE}${before}`);
      if (unmounted || request !== latestLog || selected?.id !== webhook.id) return;
      const rows = (isRecord(answer) && Array.isArray(answer.deliveries) ? answer.deliveries : []).map(deliveryOf).filter((row): row is DeliveryRow => row !== null);
      if (!older) clear(logBody);
      logExpanded = older;
      for (const row of rows) logBody.append(deliveryRowOf(row));
      logNext = isRecord(answer) && typeof answer.next === 'number' ? answer.next : null;
      olderButton.hidden = logNext === null;
      logEmpty.hidden = logBody.rows.length > 0;
      logStatus.textContent = logExpanded ? `Updated ${new Date().toLocaleTimeString()}; Refresh shows the newest again.` : `Updated ${new Date().toLocaleTimeString()}; refreshed every ${LOG_REFRESH_MS / 1000} s while open.`;
    } catch (error) {
      if (!unmounted && request === latestLog) logStatus.textContent = failure(error, 'Could not load the deliveries');
    }
  }

  async function selectForLog(webhook: WebhookRow): Promise<void> {
    selected = webhook;
    logNext = null;
    logTitle.textContent = `Deliveries to ${webhook.url}`;
    log.dataset.webhookId = webhook.id;
    log.hidden = false;
    renderList();
    await loadLog(false);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const body = formBody();
      if (body.url === '') {
        showErrors([{ place: 'url', message: 'Give the endpoint URL.', code: 'missing_url' }]);
        urlInput.focus();
        return;
      }
      showErrors([]);
      saveButton.disabled = true;
      saveStatus.textContent = 'Saving…';
      try {
        const answer = editing ? await api(`/v1/webhooks/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body: JSON.stringify(body) }) : await api('/v1/webhooks', { method: 'POST', body: JSON.stringify(body) });
        const saved = isRecord(answer) ? webhookOf(answer.webhook) : null;
        const secret = isRecord(answer) ? nullableString(answer.secret) : null;
        startEditing(null);
        saveStatus.textContent = saved ? `Saved ${saved.url}.` : 'Saved.';
        if (saved && secret) showSecret(saved, secret, false);
        await loadList();
      } catch (error) {
        saveStatus.textContent = 'Not saved.';
        showErrors(error instanceof ApiFailure ? refusalsOf(error) : [{ place: 'form', message: 'The server could not be reached.', code: 'network' }]);
        if (error instanceof ApiFailure && refusalsOf(error).some((refusal) => refusal.place === 'url')) urlInput.focus();
      } finally {
        saveButton.disabled = false;
      }
    })();
  });

  container.append(
    h(
      'header',
      { class: 'page-header' },
      h('h1', {}, 'Webhooks'),
      h(
        'div',
        { class: 'toolbar' },
        h('button', { type: 'button', id: 'webhook-new', onclick: () => { startEditing(null); urlInput.focus(); } }, 'New subscription'),
        h('button', { type: 'button', id: 'webhooks-refresh', onclick: () => { void loadList(); void loadSegments(); } }, 'Refresh'),
      ),
    ),
    secretPanel,
    h(
      'section',
      { class: 'card' },
      h('table', { class: 'compact webhooks', id: 'webhooks-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Endpoint'), h('th', {}, 'Receives'), h('th', {}, 'Bots'), h('th', {}, 'Status'), h('th', {}, ''))), listBody),
      listEmpty,
      actionStatus,
      listStatus,
    ),
    log,
    form,
    h('p', { class: 'hint muted' }, 'Deliveries are signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature), retried with backoff for 24 h (never sooner than a 429/503 Retry-After), then dead-lettered. 410 Gone, or 5 days of failures, disables a subscription and says why.'),
  );
  startEditing(null);
  void loadList();
  void loadSegments();
  const listTimer = window.setInterval(() => void loadList(), LIST_REFRESH_MS);
  const logTimer = window.setInterval(() => {
    if (selected && !log.hidden && !logExpanded) void loadLog(false);
  }, LOG_REFRESH_MS);
  return () => {
    unmounted = true;
    hideSecret();
    window.clearInterval(listTimer);
    window.clearInterval(logTimer);
  };
}
