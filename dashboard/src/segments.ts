/**
 * Segments: the workspace's segments with their member counts (refreshed as enters and exits
 * arrive), a JSON definition editor checked against POST /v1/segments/validate as you type
 * (each issue named by its path in the definition), create / update / delete, a segment's
 * members, and the recent `Segment Entered` / `Segment Exited` events from the live feed.
 * Counts are always the API's (the segments' Durable Objects), never counted in the page.
 */
import type { LiveItem } from '../../schema/feed';
import { api, ApiFailure } from './api';
import { clear, formatDateTime, formatNumber, formatTime, h, isRecord, numberOr, stringOr } from './dom';
import { LiveSocket } from './live-socket';

interface SegmentRow {
  id: string;
  name: string;
  description: string;
  version: number;
  condition: unknown;
  status: string;
  memberCount: number | null;
  updatedAt: string;
}

interface DefinitionIssue {
  path: string;
  message: string;
}

const MEMBERSHIP_EVENTS = new Set(['Segment Entered', 'Segment Exited']);
const MAX_CHANGES = 50;
const VALIDATE_DELAY_MS = 350;
const COUNTS_REFRESH_DELAY_MS = 400;
const MEMBERS_SHOWN = 100;

const CAUSES: Record<string, string> = { event: 'event', time: 'window passed', definition: 'definition changed', merge: 'identities merged', backfill: 'back-fill' };

const EXAMPLES: { label: string; name: string; condition: unknown }[] = [
  {
    label: '3+ big orders in 30 days',
    name: 'Big spenders',
    condition: { type: 'performed', event: 'Order Completed', where: [{ property: 'total', op: 'gt', value: 50 }], count: { op: 'at_least', value: 3 }, withinDays: 30 },
  },
  {
    label: 'Growth plan, inactive for 14 days',
    name: 'Growth plan, gone quiet',
    condition: { type: 'all', conditions: [{ type: 'trait', trait: 'plan', op: 'eq', value: 'growth' }, { type: 'not_performed', event: 'Page Viewed', withinDays: 14 }] },
  },
  {
    label: 'Seen in the last 7 days',
    name: 'Active this week',
    condition: { type: 'computed', trait: 'last_seen', op: 'within_days', value: 7 },
  },
];

function segmentRowOf(value: unknown): SegmentRow | null {
  if (!isRecord(value) || typeof value.id !== 'string') return null;
  return {
    id: value.id,
    name: stringOr(value.name, value.id),
    description: stringOr(value.description, ''),
    version: numberOr(value.version, 1),
    condition: value.condition,
    status: stringOr(value.status, 'unknown'),
    memberCount: typeof value.memberCount === 'number' ? value.memberCount : null,
    updatedAt: stringOr(value.updatedAt, ''),
  };
}

function issuesOf(value: unknown): DefinitionIssue[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((issue): DefinitionIssue[] => {
    if (typeof issue === 'string') return [{ path: '', message: issue }];
    return isRecord(issue) && typeof issue.message === 'string' ? [{ path: stringOr(issue.path, ''), message: issue.message }] : [];
  });
}

/** A save refused by the API: body issues name `condition.<path>`; the editor shows paths within the definition. */
function saveIssuesOf(error: ApiFailure): DefinitionIssue[] {
  const issues = issuesOf(error.details).map((issue) => (issue.path === 'condition' || issue.path.startsWith('condition.') ? { ...issue, path: issue.path.replace(/^condition\.?/, '') } : { ...issue, path: issue.path ? `(${issue.path})` : '' }));
  return issues.length > 0 ? issues : [{ path: '', message: `${error.message} (${error.code})` }];
}

function parseDefinition(text: string): { condition: unknown } | { issue: DefinitionIssue } {
  try {
    return { condition: JSON.parse(text) as unknown };
  } catch (error) {
    return { issue: { path: '', message: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` } };
  }
}

function changeRow(item: LiveItem): HTMLElement {
  const properties = item.properties;
  const entered = item.event === 'Segment Entered';
  const person = item.userId ?? item.anonymousId ?? item.personId ?? '';
  const cause = stringOr(properties.cause, '');
  return h(
    'tr',
    { class: `segment-change ${entered ? 'entered' : 'exited'}`, 'data-message-id': item.messageId, 'data-segment-id': stringOr(properties.segmentId, '') },
    h('td', { class: 'time', title: item.receivedAt }, formatTime(item.receivedAt).slice(0, 8)),
    h('td', {}, h('span', { class: `badge ${entered ? 'badge-entered' : 'badge-exited'}` }, item.event ?? '')),
    h('td', {}, stringOr(properties.segmentName, stringOr(properties.segmentId, ''))),
    h('td', { class: 'person', title: person }, person ? h('a', { href: `#/person/${encodeURIComponent(item.userId ?? item.personId ?? person)}` }, person) : '—'),
    h('td', { class: 'muted segment-cause' }, CAUSES[cause] ?? cause, cause === 'event' ? [' ', h('code', { title: 'Deciding event (messageId)' }, stringOr(properties.decidingMessageId, ''))] : null),
  );
}

export function mountSegments(container: HTMLElement): () => void {
  let segments: SegmentRow[] = [];
  let editing: SegmentRow | null = null;
  let validateTimer: number | undefined;
  let countsTimer: number | undefined;
  let latestValidation = 0;
  let latestList = 0;
  let unmounted = false;
  const seenChanges = new Set<string>();

  const listBody = h('tbody', { id: 'segments-rows' });
  const listEmpty = h('p', { class: 'empty muted', id: 'segments-empty', hidden: true }, 'No segments yet. Define one below.');
  const listStatus = h('p', { class: 'hint muted segment-list-status', role: 'status', id: 'segments-status' }, 'Loading…');
  const members = h('section', { class: 'card segment-members', id: 'segment-members', hidden: true });

  const editorTitle = h('h2', { id: 'segment-editor-title' }, 'New segment');
  const nameInput = h('input', { id: 'segment-name', type: 'text', placeholder: 'Name', 'aria-label': 'Segment name', maxlength: 200 });
  const descriptionInput = h('input', { id: 'segment-description', type: 'text', placeholder: 'Description (optional)', 'aria-label': 'Description', maxlength: 2000 });
  const definition = h('textarea', { id: 'segment-definition', class: 'mono', rows: 12, spellcheck: 'false', placeholder: '{ "type": "performed", "event": "Order Completed", "count": { "op": "at_least", "value": 1 } }', 'aria-label': 'Definition (JSON)', 'aria-describedby': 'segment-issues' });
  const issuesBox = h('ul', { class: 'segment-issues', id: 'segment-issues', 'aria-live': 'polite' });
  const validity = h('span', { class: 'pill', id: 'segment-validity' }, '');
  const saveButton = h('button', { type: 'submit', class: 'primary', id: 'segment-save' }, 'Create segment');
  const cancelButton = h('button', { type: 'button', id: 'segment-cancel', hidden: true }, 'Cancel edit');
  const saveStatus = h('span', { class: 'muted', role: 'status', id: 'segment-save-status' }, '');
  const examples = h(
    'div',
    { class: 'segment-examples' },
    h('span', { class: 'muted' }, 'Examples:'),
    EXAMPLES.map((example) =>
      h('button', { type: 'button', class: 'link-button', onclick: () => {
        definition.value = JSON.stringify(example.condition, null, 2);
        if (!nameInput.value.trim()) nameInput.value = example.name;
        scheduleValidation(0);
      } }, example.label),
    ),
  );
  const form = h(
    'form',
    { class: 'card segment-editor', id: 'segment-editor', novalidate: true },
    editorTitle,
    h('div', { class: 'segment-fields' }, nameInput, descriptionInput),
    examples,
    definition,
    h('div', { class: 'segment-editor-status' }, validity, issuesBox),
    h('div', { class: 'toolbar' }, saveButton, cancelButton, saveStatus),
    h('p', { class: 'hint muted' }, 'A condition: performed, not_performed, trait, computed, or all / any of conditions. Changing the definition makes a new version: membership is recomputed from stored events.'),
  );

  const changesBody = h('tbody', { id: 'segment-changes' });
  const changesEmpty = h('p', { class: 'empty muted', id: 'segment-changes-empty' }, 'No enters or exits yet. They stream in as events arrive.');
  const liveState = h('span', { class: 'pill', id: 'segments-live-status' }, 'connecting');

  const showIssues = (issues: DefinitionIssue[], valid: boolean | null): void => {
    clear(issuesBox);
    for (const issue of issues) issuesBox.append(h('li', { class: 'segment-issue', 'data-path': issue.path }, issue.path ? h('code', { class: 'segment-issue-path' }, issue.path) : null, issue.message));
    definition.setAttribute('aria-invalid', String(valid === false));
    validity.dataset.valid = valid === null ? '' : String(valid);
    validity.textContent = valid === null ? '' : valid ? 'valid' : `${issues.length} problem${issues.length === 1 ? '' : 's'}`;
  };

  const validate = async (): Promise<boolean> => {
    const request = ++latestValidation;
    const parsed = parseDefinition(definition.value);
    if ('issue' in parsed) {
      showIssues([parsed.issue], false);
      return false;
    }
    try {
      const answer = await api('/v1/segments/validate', { method: 'POST', body: JSON.stringify({ condition: parsed.condition }) });
      if (unmounted || request !== latestValidation) return false;
      const body = isRecord(answer) ? answer : {};
      const issues = [...issuesOf(body.issues), ...issuesOf(body.problems)];
      const valid = body.valid === true;
      showIssues(issues, valid);
      return valid;
    } catch (error) {
      if (request === latestValidation) showIssues([{ path: '', message: error instanceof ApiFailure ? `Could not check: ${error.message}` : 'Could not check the definition.' }], null);
      return false;
    }
  };

  const cancelValidation = (): void => {
    window.clearTimeout(validateTimer);
    latestValidation++;
  };

  function scheduleValidation(delay = VALIDATE_DELAY_MS): void {
    cancelValidation();
    // Until the answer comes, an earlier verdict must not stand for the text now in the editor.
    validity.dataset.valid = 'pending';
    validity.textContent = 'checking…';
    validateTimer = window.setTimeout(() => void validate(), delay);
  }

  const startEditing = (segment: SegmentRow | null): void => {
    cancelValidation();
    editing = segment;
    editorTitle.textContent = segment ? `Edit ${segment.name} (version ${segment.version})` : 'New segment';
    saveButton.textContent = segment ? 'Save changes' : 'Create segment';
    cancelButton.hidden = !segment;
    nameInput.value = segment?.name ?? '';
    descriptionInput.value = segment?.description ?? '';
    definition.value = segment ? JSON.stringify(segment.condition, null, 2) : '';
    saveStatus.textContent = '';
    showIssues([], null);
    if (segment) {
      scheduleValidation(0);
      nameInput.focus();
    }
  };

  const showMembers = async (segment: SegmentRow): Promise<void> => {
    members.hidden = false;
    clear(members);
    members.dataset.segmentId = segment.id;
    members.append(h('h2', {}, `Members of ${segment.name}`), h('p', { class: 'muted' }, 'Loading…'));
    try {
      const answer = await api(`/v1/segments/${encodeURIComponent(segment.id)}/members?limit=${MEMBERS_SHOWN}`);
      const list = isRecord(answer) && Array.isArray(answer.members) ? answer.members.filter(isRecord).map((member) => stringOr(member.personId, '')) : [];
      const more = isRecord(answer) && typeof answer.next === 'string';
      members.lastChild?.remove();
      members.append(
        list.length === 0
          ? h('p', { class: 'muted' }, 'No members right now.')
          : h('ul', { class: 'segment-member-list', id: 'segment-member-list' }, list.map((personId) => h('li', {}, h('a', { href: `#/person/${encodeURIComponent(personId)}` }, personId)))),
      );
      if (more) members.append(h('p', { class: 'hint muted' }, `First ${MEMBERS_SHOWN} shown (GET /v1/segments/${segment.id}/members pages through all).`));
    } catch (error) {
      members.lastChild?.remove();
      members.append(h('p', { class: 'form-error', role: 'alert' }, error instanceof ApiFailure ? `${error.message} (${error.code})` : 'Could not load the members.'));
    }
  };

  const remove = async (segment: SegmentRow): Promise<void> => {
    if (!window.confirm(`Delete the segment “${segment.name}”? Its membership is discarded.`)) return;
    try {
      await api(`/v1/segments/${encodeURIComponent(segment.id)}`, { method: 'DELETE' });
      if (editing?.id === segment.id) startEditing(null);
      if (members.dataset.segmentId === segment.id) members.hidden = true;
      await loadList();
    } catch (error) {
      listStatus.textContent = error instanceof ApiFailure ? `Could not delete: ${error.message} (${error.code})` : 'Could not delete the segment.';
    }
  };

  const renderList = (): void => {
    clear(listBody);
    listEmpty.hidden = segments.length > 0;
    for (const segment of segments) {
      listBody.append(
        h(
          'tr',
          { class: 'segment-row', 'data-segment-id': segment.id },
          h('td', {}, h('strong', {}, segment.name), segment.description ? h('div', { class: 'muted hint' }, segment.description) : null),
          h('td', { class: 'segment-count' }, h('button', { type: 'button', class: 'link-button', title: 'Show members', onclick: () => void showMembers(segment) }, segment.memberCount === null ? '—' : formatNumber(segment.memberCount))),
          h('td', {}, h('span', { class: 'pill', 'data-segment-status': segment.status }, segment.status)),
          h('td', {}, `v${segment.version}`),
          h('td', { class: 'time' }, segment.updatedAt ? formatDateTime(segment.updatedAt) : '—'),
          h('td', { class: 'segment-actions' }, h('button', { type: 'button', class: 'segment-edit', onclick: () => startEditing(segment) }, 'Edit'), h('button', { type: 'button', class: 'segment-delete', onclick: () => void remove(segment) }, 'Delete')),
        ),
      );
    }
  };

  async function loadList(): Promise<void> {
    const request = ++latestList;
    try {
      const answer = await api('/v1/segments');
      // A slower answer started before a save or delete must not bring back the older list.
      if (unmounted || request !== latestList) return;
      segments = (isRecord(answer) && Array.isArray(answer.segments) ? answer.segments : []).map(segmentRowOf).filter((row): row is SegmentRow => row !== null);
      renderList();
      listStatus.textContent = `Counts updated ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      if (!unmounted && request === latestList) listStatus.textContent = error instanceof ApiFailure ? `Could not load segments: ${error.message} (${error.code})` : 'Could not load segments.';
    }
  }

  const refreshCountsSoon = (): void => {
    window.clearTimeout(countsTimer);
    countsTimer = window.setTimeout(() => void loadList(), COUNTS_REFRESH_DELAY_MS);
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const parsed = parseDefinition(definition.value);
      if ('issue' in parsed) {
        showIssues([parsed.issue], false);
        return;
      }
      if (!nameInput.value.trim()) {
        saveStatus.textContent = 'Give the segment a name.';
        nameInput.focus();
        return;
      }
      cancelValidation();
      saveButton.disabled = true;
      saveStatus.textContent = 'Saving…';
      const body = JSON.stringify({ name: nameInput.value.trim(), description: descriptionInput.value, condition: parsed.condition });
      try {
        const answer = editing ? await api(`/v1/segments/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body }) : await api('/v1/segments', { method: 'POST', body });
        const saved = segmentRowOf(isRecord(answer) ? answer.segment : null);
        startEditing(null);
        saveStatus.textContent = saved ? `Saved ${saved.name} (version ${saved.version}).` : 'Saved.';
        await loadList();
      } catch (error) {
        saveStatus.textContent = 'Not saved.';
        showIssues(error instanceof ApiFailure ? saveIssuesOf(error) : [{ path: '', message: 'The server could not be reached.' }], false);
      } finally {
        saveButton.disabled = false;
      }
    })();
  });
  definition.addEventListener('input', () => scheduleValidation());
  cancelButton.addEventListener('click', () => startEditing(null));

  const socket = new LiveSocket({
    onItems(items) {
      const changes = items.filter((item) => item.event !== null && MEMBERSHIP_EVENTS.has(item.event) && item.source === 'internal' && !seenChanges.has(item.messageId));
      if (changes.length === 0) return;
      for (const item of changes) seenChanges.add(item.messageId);
      const fragment = document.createDocumentFragment();
      for (const item of [...changes].reverse()) fragment.append(changeRow(item));
      changesBody.prepend(fragment);
      while (changesBody.rows.length > MAX_CHANGES) changesBody.deleteRow(-1);
      changesEmpty.hidden = true;
      refreshCountsSoon();
    },
    onState(state) {
      liveState.textContent = state;
      liveState.dataset.state = state;
    },
    onDropped() {
      liveState.textContent = 'behind';
    },
    onResumed() {
      // Some changes were skipped while this tab was behind: the counts come from the API anyway.
      refreshCountsSoon();
    },
  });

  container.append(
    h('header', { class: 'page-header' }, h('h1', {}, 'Segments'), h('div', { class: 'toolbar' }, h('button', { type: 'button', id: 'segment-new', onclick: () => { startEditing(null); nameInput.focus(); } }, 'New segment'), h('button', { type: 'button', id: 'segments-refresh', onclick: () => void loadList() }, 'Refresh'))),
    h(
      'section',
      { class: 'card' },
      h('table', { class: 'compact segments', id: 'segments-table' }, h('thead', {}, h('tr', {}, h('th', {}, 'Segment'), h('th', {}, 'Members'), h('th', {}, 'Status'), h('th', {}, 'Version'), h('th', {}, 'Updated'), h('th', {}, ''))), listBody),
      listEmpty,
      listStatus,
    ),
    members,
    h(
      'div',
      { class: 'columns segment-columns' },
      form,
      h('section', { class: 'card segment-feed' }, h('div', { class: 'page-header' }, h('h2', {}, 'Recent enters and exits'), liveState), h('table', { class: 'compact' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Change'), h('th', {}, 'Segment'), h('th', {}, 'Person'), h('th', {}, 'Cause'))), changesBody), changesEmpty),
    ),
  );
  void loadList();
  socket.start();
  // Counts also change without a feed event reaching this tab (another tab's edit, a back-fill finishing).
  const listTimer = window.setInterval(() => void loadList(), 30_000);
  return () => {
    unmounted = true;
    socket.stop();
    window.clearInterval(listTimer);
    window.clearTimeout(validateTimer);
    window.clearTimeout(countsTimer);
  };
}
