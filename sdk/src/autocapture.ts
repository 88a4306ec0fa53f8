/**
 * Autocapture in the browser: page views on SPA navigation, clicks on links, buttons and
 * [data-monfri-event] elements, form submissions. Only what the markup shows is described:
 * never an input's value, and password fields are skipped entirely.
 */
import type { CaptureSink } from './client';
import type { AutocaptureOptions, JsonObject } from './types';

const CLICKABLE = 'a,button,[data-monfri-event],input[type=submit],input[type=button]';
const MAX_TEXT = 100;
const MAX_ATTRIBUTE = 200;

const clip = (value: string | null | undefined, max = MAX_ATTRIBUTE): string => (value ?? '').replace(/\s+/g, ' ').trim().slice(0, max);

/** Copies the named attributes that are present (clipped) into `into`. */
function copyAttributes(element: Element, names: string[], into: JsonObject): JsonObject {
  for (const name of names) {
    const value = clip(element.getAttribute(name));
    if (value) into[name === 'class' ? 'classes' : name] = value;
  }
  return into;
}

/** tag, trimmed visible text (not for inputs: their label is their value), id, classes, href. */
export function describeElement(element: Element): JsonObject {
  const tag = element.tagName.toLowerCase();
  const text = tag === 'input' ? '' : clip(element.textContent, MAX_TEXT);
  return copyAttributes(element, ['id', 'class', 'href'], text ? { tag, text } : { tag });
}

/** Form id/name/action/method and the names of its fields (no values; never password fields). */
export function describeForm(form: HTMLFormElement): JsonObject {
  const fields: string[] = [];
  for (const field of form.elements) {
    if (field.getAttribute('type')?.toLowerCase() === 'password') continue;
    const name = clip(field.getAttribute('name'));
    if (name && !fields.includes(name)) fields.push(name);
  }
  return copyAttributes(form, ['id', 'name', 'action', 'method'], { fields });
}

export function startAutocapture(win: Window, settings: Required<AutocaptureOptions>, sink: CaptureSink): void {
  const doc = win.document;
  if (settings.pageview) watchNavigation(win, sink);
  if (settings.click) {
    doc.addEventListener(
      'click',
      (event) => {
        const target = event.target instanceof Element ? event.target.closest(CLICKABLE) : null;
        if (!target) return;
        sink.track(clip(target.getAttribute('data-monfri-event')) || 'Element Clicked', describeElement(target));
      },
      true,
    );
  }
  if (settings.form) {
    doc.addEventListener(
      'submit',
      (event) => {
        if (event.target instanceof HTMLFormElement) sink.track('Form Submitted', describeForm(event.target));
      },
      true,
    );
  }
}

/** A page view whenever the URL changes without a page load (history API, back/forward, hash). */
function watchNavigation(win: Window, sink: CaptureSink): void {
  let lastUrl = win.location.href;
  const check = (): void => {
    if (win.location.href === lastUrl) return;
    lastUrl = win.location.href;
    sink.page();
  };
  const history = win.history;
  for (const method of ['pushState', 'replaceState'] as const) {
    const original = history[method];
    history[method] = function (this: History, ...args: Parameters<History['pushState']>) {
      const result = original.apply(this, args);
      check();
      return result;
    };
  }
  win.addEventListener('popstate', check);
  win.addEventListener('hashchange', check);
}
