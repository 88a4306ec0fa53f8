/**
 * Live events: a streaming table (newest on top) with pause/resume, a text filter,
 * expandable JSON rows and badges for bot-flagged, plan-violating, plan-blocked and dropped events.
 * An event arrives `received` (from the edge) and its row is updated in place when the
 * consumer's outcome (stored, flagged, dropped) follows; one the tracking plan refused arrives
 * once, `blocked`, from the edge.
 * Keys: / filter (Esc leaves it), p pause/resume, ↑/↓ move between rows, Enter expand.
 */
import type { LiveItem } from '../../schema/feed';
import { sourceBadge, statusBadge } from './badges';
import { clear, formatTime, h } from './dom';
import { LiveSocket, type ConnectionState } from './live-socket';

const MAX_ROWS = 500;

function personOf(item: LiveItem): string | null {
  return item.userId ?? item.anonymousId ?? item.personId;
}

function labelOf(item: LiveItem): string {
  return item.event ?? item.type;
}

function matches(item: LiveItem, filter: string): boolean {
  if (!filter) return true;
  const needle = filter.toLowerCase();
  return [item.event, item.type, item.userId, item.anonymousId, item.personId, item.source, item.status, item.reason, item.messageId].some((value) => value?.toLowerCase().includes(needle));
}

function detailRow(item: LiveItem): HTMLTableRowElement {
  return h('tr', { class: 'detail', hidden: true }, h('td', { colspan: 6 }, h('pre', { class: 'json' }, JSON.stringify(item, null, 2))));
}

function toggle(row: HTMLTableRowElement): void {
  const detail = row.nextElementSibling;
  if (!(detail instanceof HTMLTableRowElement) || !detail.classList.contains('detail')) return;
  detail.hidden = !detail.hidden;
  row.setAttribute('aria-expanded', String(!detail.hidden));
}

function itemRows(item: LiveItem): [HTMLTableRowElement, HTMLTableRowElement] {
  const person = personOf(item);
  const row = h(
    'tr',
    { class: `row status-${item.status}`, tabindex: '0', 'data-message-id': item.messageId, 'data-status': item.status, 'aria-expanded': 'false' },
    h('td', { class: 'time', title: item.timestamp }, formatTime(item.receivedAt)),
    h('td', { class: 'event' }, h('strong', {}, labelOf(item))),
    h('td', { class: 'type' }, item.type),
    h('td', { class: 'person' }, person ? h('a', { href: `#/person/${encodeURIComponent(item.userId ?? item.personId ?? person)}`, onclick: (event: Event) => event.stopPropagation() }, person) : h('span', { class: 'muted' }, '—')),
    h('td', { class: 'source' }, sourceBadge(item.source)),
    h('td', { class: 'status' }, statusBadge(item.status, item.reason)),
  );
  row.addEventListener('click', () => toggle(row));
  return [row, detailRow(item)];
}

export function mountLive(container: HTMLElement): () => void {
  let items: LiveItem[] = [];
  let pending: LiveItem[] = [];
  let paused = false;
  let filter = '';
  const arrivals: number[] = [];

  const status = h('span', { class: 'pill', id: 'live-status', role: 'status' }, 'connecting');
  const rate = h('span', { class: 'muted', id: 'live-rate' }, '0 events/min');
  const notice = h('div', { class: 'notice', role: 'status', hidden: true });
  const filterInput = h('input', { id: 'live-filter', type: 'search', placeholder: 'Filter by event, person, source, status…  ( / )', 'aria-label': 'Filter events' });
  const pauseButton = h('button', { id: 'live-pause', type: 'button', 'aria-pressed': 'false', 'aria-keyshortcuts': 'p' }, 'Pause');
  const tbody = h('tbody', { id: 'live-rows' });
  const empty = h('p', { class: 'empty muted', id: 'live-empty' }, 'Waiting for events… Send one with the SDK or the server API and it shows up here.');
  const table = h(
    'table',
    { class: 'events', id: 'live-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Received'), h('th', { scope: 'col' }, 'Event'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Person'), h('th', { scope: 'col' }, 'Source'), h('th', { scope: 'col' }, 'Status'))),
    tbody,
  );

  const renderAll = (): void => {
    clear(tbody);
    const visible = items.filter((item) => matches(item, filter));
    for (const item of visible) tbody.append(...itemRows(item));
    empty.hidden = visible.length > 0;
  };

  const prepend = (batch: LiveItem[]): void => {
    const fresh = batch.filter((item) => !items.some((known) => known.messageId === item.messageId && known.status === item.status));
    if (fresh.length === 0) return;
    const newestFirst = [...fresh].reverse();
    items = [...newestFirst, ...items].slice(0, MAX_ROWS);
    const visible = newestFirst.filter((item) => matches(item, filter));
    const fragment = document.createDocumentFragment();
    for (const item of visible) fragment.append(...itemRows(item));
    tbody.prepend(fragment);
    while (tbody.rows.length > MAX_ROWS * 2) tbody.deleteRow(-1);
    if (visible.length > 0) empty.hidden = true;
  };

  /** The outcome of a `received` item replaces it (in the table, or among the paused ones); false when there is none. */
  const applyOutcome = (item: LiveItem): boolean => {
    if (item.status === 'received') return false;
    const isPending = (known: LiveItem): boolean => known.messageId === item.messageId && known.status === 'received';
    const waiting = pending.findIndex(isPending);
    if (waiting >= 0) {
      pending[waiting] = item;
      return true;
    }
    const shown = items.findIndex(isPending);
    if (shown < 0) return false;
    items[shown] = item;
    const row = tbody.querySelector<HTMLTableRowElement>(`tr.row[data-message-id="${CSS.escape(item.messageId)}"][data-status="received"]`);
    if (!row) {
      if (matches(item, filter)) renderAll();
      return true;
    }
    const detail = row.nextElementSibling instanceof HTMLTableRowElement && row.nextElementSibling.classList.contains('detail') ? row.nextElementSibling : null;
    if (matches(item, filter)) {
      const [updated, updatedDetail] = itemRows(item);
      if (detail && !detail.hidden) {
        updatedDetail.hidden = false;
        updated.setAttribute('aria-expanded', 'true');
      }
      const hadFocus = document.activeElement === row;
      row.replaceWith(updated);
      if (detail) detail.replaceWith(updatedDetail);
      else updated.after(updatedDetail);
      if (hadFocus) updated.focus();
    } else {
      row.remove();
      detail?.remove();
    }
    return true;
  };

  const updatePauseLabel = (): void => {
    pauseButton.textContent = paused ? `Resume${pending.length ? ` (${pending.length} new)` : ''}` : 'Pause';
    pauseButton.setAttribute('aria-pressed', String(paused));
    if (paused) status.textContent = 'paused';
  };

  const togglePause = (): void => {
    paused = !paused;
    if (!paused) {
      prepend(pending);
      pending = [];
      status.textContent = 'live';
    }
    updatePauseLabel();
  };

  const updateRate = (): void => {
    const cutoff = Date.now() - 60_000;
    while (arrivals.length && (arrivals[0] ?? 0) < cutoff) arrivals.shift();
    rate.textContent = `${arrivals.length} events/min`;
  };

  const socket = new LiveSocket({
    onItems(frameItems, backfill) {
      const batch = frameItems.filter((item) => !applyOutcome(item));
      if (!backfill) for (let i = 0; i < batch.length; i++) arrivals.push(Date.now());
      updateRate();
      if (paused && !backfill) {
        pending.push(...batch);
        updatePauseLabel();
      } else prepend(batch);
    },
    onState(state: ConnectionState) {
      if (!paused || state !== 'live') status.textContent = state;
      status.dataset.state = state;
    },
    onDropped() {
      notice.hidden = false;
      notice.textContent = 'This tab fell behind; some events are being skipped until it catches up.';
    },
    onResumed(dropped) {
      notice.hidden = false;
      notice.textContent = `Caught up. ${dropped} event${dropped === 1 ? ' was' : 's were'} skipped; they are stored and visible in Overview and Person views.`;
    },
  });

  filterInput.addEventListener('input', () => {
    filter = filterInput.value.trim();
    renderAll();
  });
  filterInput.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') filterInput.blur();
  });
  pauseButton.addEventListener('click', togglePause);
  tbody.addEventListener('keydown', (event) => {
    const row = event.target instanceof HTMLTableRowElement ? event.target : null;
    if (!row) return;
    const step = (direction: 'next' | 'previous'): void => {
      let candidate = direction === 'next' ? row.nextElementSibling : row.previousElementSibling;
      while (candidate && !(candidate instanceof HTMLTableRowElement && candidate.classList.contains('row'))) candidate = direction === 'next' ? candidate.nextElementSibling : candidate.previousElementSibling;
      if (candidate instanceof HTMLElement) candidate.focus();
    };
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      toggle(row);
    } else if (event.key === 'ArrowDown' || event.key === 'j') {
      event.preventDefault();
      step('next');
    } else if (event.key === 'ArrowUp' || event.key === 'k') {
      event.preventDefault();
      step('previous');
    }
  });
  const onKey = (event: KeyboardEvent): void => {
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === '/') {
      event.preventDefault();
      filterInput.focus();
    } else if (event.key === 'p') {
      event.preventDefault();
      togglePause();
    }
  };
  document.addEventListener('keydown', onKey);
  const rateTimer = window.setInterval(updateRate, 5000);

  container.append(
    h('header', { class: 'page-header' }, h('h1', {}, 'Live events'), h('div', { class: 'toolbar' }, status, rate, filterInput, pauseButton)),
    notice,
    h('div', { class: 'table-wrap' }, table, empty),
    h('p', { class: 'hint muted' }, 'Keys: / filter (Esc to leave) · p pause/resume · ↑/↓ or j/k move · Enter expand · 1/2/3 switch page'),
  );
  socket.start();

  return () => {
    socket.stop();
    document.removeEventListener('keydown', onKey);
    window.clearInterval(rateTimer);
  };
}
