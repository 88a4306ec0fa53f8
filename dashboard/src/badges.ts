/** Status badges shared by the live table and the person timeline. */
import { h } from './dom';

const BOT_REASON = /bot|webdriver|headless|automation|crawler|spider/i;

function flagBadge(reason: string | null): HTMLElement {
  const kind = reason && !BOT_REASON.test(reason) ? 'violation' : 'bot';
  return h('span', { class: `badge badge-${kind}`, title: reason ?? kind }, `${kind}${reason ? ` · ${reason}` : ''}`);
}

/** `received` is the edge's word before the consumer stored the event; a bot the edge already flagged shows at once. */
export function statusBadge(status: string, reason: string | null): HTMLElement | null {
  if (status === 'stored') return null;
  if (status === 'received') {
    const received = h('span', { class: 'badge badge-received', title: 'accepted, not stored yet' }, 'received');
    return reason ? h('span', { class: 'badges' }, received, ' ', flagBadge(reason)) : received;
  }
  if (status === 'dropped') return h('span', { class: 'badge badge-dropped', title: reason ?? 'dropped' }, `dropped${reason ? ` · ${reason}` : ''}`);
  if (status === 'blocked') return h('span', { class: 'badge badge-blocked', title: 'refused by the tracking plan, not stored (expand the row for every broken rule)' }, `blocked${reason ? ` · ${reason}` : ''}`);
  return flagBadge(reason);
}

export function sourceBadge(source: string): HTMLElement {
  return h('span', { class: `badge badge-source badge-${source === 'browser' ? 'browser' : 'server'}` }, source);
}
