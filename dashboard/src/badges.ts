/** Status badges shared by the live table and the person timeline. */
import { h } from './dom';

const BOT_REASON = /bot|webdriver|headless|automation|crawler|spider/i;

export function statusBadge(status: string, reason: string | null): HTMLElement | null {
  if (status === 'stored') return null;
  if (status === 'dropped') return h('span', { class: 'badge badge-dropped', title: reason ?? 'dropped' }, `dropped${reason ? ` · ${reason}` : ''}`);
  const kind = reason && !BOT_REASON.test(reason) ? 'violation' : 'bot';
  return h('span', { class: `badge badge-${kind}`, title: reason ?? kind }, `${kind}${reason ? ` · ${reason}` : ''}`);
}

export function sourceBadge(source: string): HTMLElement {
  return h('span', { class: `badge badge-source badge-${source === 'browser' ? 'browser' : 'server'}` }, source);
}
