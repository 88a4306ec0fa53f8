/**
 * The dashboard shell: sign-in gate, navigation and a hash router (#/live, #/overview,
 * #/person/<id>, #/schema[/<type>/<event>], #/segments, #/webhooks, #/usage), so the Worker serves one static page and no route needs server help.
 */
import { currentSession, signOut, type SessionInfo } from './api';
import { clear, h } from './dom';
import { mountLive } from './live';
import { mountOverview } from './overview';
import { mountPerson } from './person';
import { mountSchema } from './schema';
import { mountSegments } from './segments';
import { mountSignIn } from './signin';
import { mountUsage } from './usage';
import { mountWebhooks } from './webhooks';

type Unmount = () => void;

interface NavEntry {
  path: string;
  label: string;
  key: string;
}

const NAV: NavEntry[] = [
  { path: '#/live', label: 'Live events', key: '1' },
  { path: '#/overview', label: 'Overview', key: '2' },
  { path: '#/person', label: 'Persons', key: '3' },
  { path: '#/schema', label: 'Schema', key: '4' },
  { path: '#/segments', label: 'Segments', key: '5' },
  { path: '#/webhooks', label: 'Webhooks', key: '6' },
  { path: '#/usage', label: 'Usage', key: '7' },
];

const root = document.getElementById('app') ?? document.body;
let session: SessionInfo | null = null;
let unmount: Unmount | null = null;

function navigation(active: string): HTMLElement {
  return h(
    'nav',
    { class: 'nav', 'aria-label': 'Main' },
    h('div', { class: 'brand' }, 'Monfri'),
    h('div', { class: 'workspace', title: session?.workspaceId ?? '' }, session?.workspaceName ?? ''),
    h(
      'ul',
      {},
      NAV.map((entry) =>
        h(
          'li',
          {},
          h('a', { class: `nav-link${active === entry.path ? ' active' : ''}`, href: entry.path, 'aria-current': active === entry.path ? 'page' : null, 'aria-keyshortcuts': entry.key }, entry.label, h('kbd', {}, entry.key)),
        ),
      ),
    ),
    h('button', { class: 'signout', type: 'button', onclick: () => void signOut().then(() => { session = null; location.hash = '#/signin'; }) }, 'Sign out'),
  );
}

function routeOf(hash: string): { page: string; param: string } {
  const [, page = 'live', ...rest] = hash.replace(/^#/, '').split('/');
  return { page, param: decodeURIComponent(rest.join('/')) };
}

async function render(): Promise<void> {
  unmount?.();
  unmount = null;
  clear(root);
  const { page, param } = routeOf(location.hash || '#/live');
  if (page === 'signin' || !session) {
    session = page === 'signin' ? null : await currentSession();
    if (!session) {
      const container = h('main', { class: 'signin-page' });
      root.append(container);
      unmount = mountSignIn(container, (signedIn) => {
        session = signedIn;
        location.hash = '#/live';
      });
      return;
    }
  }
  const main = h('main', { class: 'content', id: 'main', tabindex: '-1' });
  root.append(h('div', { class: 'shell' }, navigation(`#/${page}`), main));
  if (page === 'overview') unmount = mountOverview(main);
  else if (page === 'person') unmount = mountPerson(main, param);
  else if (page === 'usage') unmount = mountUsage(main);
  else if (page === 'schema') unmount = mountSchema(main, param);
  else if (page === 'segments') unmount = mountSegments(main);
  else if (page === 'webhooks') unmount = mountWebhooks(main);
  else unmount = mountLive(main);
}

function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

document.addEventListener('keydown', (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target) || !session) return;
  const entry = NAV.find((candidate) => candidate.key === event.key);
  if (entry) {
    event.preventDefault();
    location.hash = entry.path;
  }
});

window.addEventListener('hashchange', () => void render());
void render();
