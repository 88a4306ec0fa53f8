/** Person view: identities (with alias links), traits, computed traits, segments and the event timeline, from /v1/persons/:id. */
import { api, ApiFailure } from './api';
import { sourceBadge, statusBadge } from './badges';
import { clear, formatDateTime, h, isRecord, stringOr } from './dom';

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function statusOf(event: Record<string, unknown>): { status: string; reason: string | null } {
  const bot = isRecord(event.bot) ? event.bot : {};
  const violation = isRecord(event.planViolation) ? event.planViolation : {};
  if (violation.flagged === true) return { status: 'flagged', reason: stringOr(violation.reason, 'plan violation') };
  if (bot.flagged === true) return { status: 'flagged', reason: stringOr(bot.reason, 'bot') };
  return { status: 'stored', reason: null };
}

function identitiesTable(identities: Record<string, unknown>[]): HTMLElement {
  if (identities.length === 0) return h('p', { class: 'muted' }, 'No linked identities.');
  return h(
    'table',
    { class: 'compact', id: 'person-identities' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Kind'), h('th', {}, 'Id'), h('th', {}, 'Linked by'), h('th', {}, 'Linked at'))),
    h('tbody', {}, identities.map((identity) => h('tr', {}, h('td', {}, stringOr(identity.kind, '')), h('td', { class: 'mono' }, stringOr(identity.id, '')), h('td', {}, stringOr(identity.source, '')), h('td', {}, identity.linkedAt ? formatDateTime(stringOr(identity.linkedAt, '')) : '—')))),
  );
}

function traitsList(traits: unknown, id: string, none: string): HTMLElement {
  const entries = isRecord(traits) ? Object.entries(traits) : [];
  if (entries.length === 0) return h('p', { class: 'muted' }, none);
  return h('dl', { class: 'traits', id }, entries.flatMap(([key, value]) => [h('dt', {}, key), h('dd', { class: 'mono', 'data-trait': key }, typeof value === 'string' ? value : JSON.stringify(value))]));
}

function segmentsTable(segments: Record<string, unknown>[]): HTMLElement {
  if (segments.length === 0) return h('p', { class: 'muted', id: 'person-no-segments' }, 'Not in any segment.');
  return h(
    'table',
    { class: 'compact', id: 'person-segments' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Segment'), h('th', {}, 'Entered at'))),
    h('tbody', {}, segments.map((segment) => h('tr', { 'data-segment-id': stringOr(segment.id, '') }, h('td', {}, h('a', { href: '#/segments' }, stringOr(segment.name, stringOr(segment.id, '')))), h('td', { class: 'time' }, typeof segment.enteredAt === 'string' ? formatDateTime(segment.enteredAt) : '—')))),
  );
}

function timeline(events: Record<string, unknown>[]): HTMLElement {
  if (events.length === 0) return h('p', { class: 'muted' }, 'No events.');
  return h(
    'ol',
    { class: 'timeline', id: 'person-timeline' },
    events.map((event) => {
      const { status, reason } = statusOf(event);
      const details = h('pre', { class: 'json', hidden: true }, JSON.stringify(event, null, 2));
      const summary = h(
        'button',
        { type: 'button', class: 'timeline-item', 'aria-expanded': 'false' },
        h('span', { class: 'time' }, formatDateTime(stringOr(event.timestamp, ''))),
        h('strong', {}, stringOr(event.event, stringOr(event.type, 'event'))),
        h('span', { class: 'muted' }, stringOr(event.type, '')),
        sourceBadge(stringOr(event.source, 'server')),
        statusBadge(status, reason),
      );
      summary.addEventListener('click', () => {
        details.hidden = !details.hidden;
        summary.setAttribute('aria-expanded', String(!details.hidden));
      });
      return h('li', {}, summary, details);
    }),
  );
}

export function mountPerson(container: HTMLElement, personId: string): () => void {
  const input = h('input', { id: 'person-id', type: 'search', value: personId, placeholder: 'userId, or anonymous:<id>', 'aria-label': 'Person id' });
  const form = h('form', { class: 'toolbar' }, input, h('button', { type: 'submit' }, 'Open'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim()) location.hash = `#/person/${encodeURIComponent(input.value.trim())}`;
  });
  const body = h('div', { class: 'person-body' });
  container.append(h('header', { class: 'page-header' }, h('h1', {}, personId ? `Person ${personId}` : 'Persons'), form), body);

  if (!personId) {
    body.append(h('p', { class: 'muted' }, 'Enter a user id (or anonymous:<id>), or click a person in Live events.'));
    input.focus();
    return () => undefined;
  }
  body.append(h('p', { class: 'muted' }, 'Loading…'));
  api(`/v1/persons/${encodeURIComponent(personId)}?limit=100`)
    .then((response) => {
      clear(body);
      const person = isRecord(response) && isRecord(response.person) ? response.person : {};
      const events = isRecord(response) ? records(response.events) : [];
      body.append(
        h('p', { class: 'muted' }, 'Resolved person ', h('code', { id: 'resolved-person' }, stringOr(person.id, personId))),
        h('div', { class: 'columns' }, h('section', { class: 'card' }, h('h2', {}, 'Identities'), identitiesTable(records(person.identities))), h('section', { class: 'card' }, h('h2', {}, 'Traits'), traitsList(person.traits, 'person-traits', 'No traits yet (send an identify call).'))),
        h('div', { class: 'columns' }, h('section', { class: 'card' }, h('h2', {}, 'Segments'), segmentsTable(records(person.segments))), h('section', { class: 'card' }, h('h2', {}, 'Computed traits'), traitsList(person.computedTraits, 'person-computed-traits', 'No computed traits.'))),
        h('section', { class: 'card' }, h('h2', {}, `Timeline (${events.length} newest)`), timeline(events)),
      );
    })
    .catch((error: unknown) => {
      clear(body);
      body.append(h('p', { class: 'form-error', role: 'alert' }, error instanceof ApiFailure ? `${error.message} (${error.code})` : 'Could not load this person.'));
    });
  return () => undefined;
}
