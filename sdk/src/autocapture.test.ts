import { describe, expect, it } from 'vitest';
import { describeElement, describeForm } from './autocapture';

/** A minimal element: attributes and text, and a `value` that fails the test if anything reads it. */
function fakeElement(tagName: string, attributes: Record<string, string>, textContent = ''): Element {
  const element = {
    tagName: tagName.toUpperCase(),
    textContent,
    getAttribute: (name: string) => attributes[name] ?? null,
    get value(): string {
      throw new Error(`the SDK read the value of <${tagName} name=${attributes.name ?? ''}>`);
    },
  };
  return element as unknown as Element;
}

describe('element description', () => {
  it('keeps tag, trimmed text, id, classes and href', () => {
    const link = fakeElement('a', { id: 'docs', class: 'link  primary', href: '/docs?ref=nav' }, '\n   Read   the\n docs  ');
    expect(describeElement(link)).toEqual({ tag: 'a', text: 'Read the docs', id: 'docs', classes: 'link primary', href: '/docs?ref=nav' });
  });

  it('clips long text to 100 characters and leaves out what is absent', () => {
    const button = fakeElement('button', {}, 'x'.repeat(500));
    expect(describeElement(button)).toEqual({ tag: 'button', text: 'x'.repeat(100) });
  });

  it('never describes an input by its value (the label of a submit button is its value)', () => {
    expect(describeElement(fakeElement('input', { type: 'submit', id: 'go' }))).toEqual({ tag: 'input', id: 'go' });
  });
});

describe('form description', () => {
  it('lists field names only, once each, skipping password fields entirely', () => {
    let passwordNameRead = false;
    const password = {
      tagName: 'INPUT',
      getAttribute: (name: string) => {
        if (name === 'name') passwordNameRead = true;
        return name === 'type' ? 'PASSWORD' : 'secret-field';
      },
    } as unknown as Element;
    const formAttributes: Record<string, string> = { id: 'signup', name: 'signup', action: '/signup', method: 'post' };
    const form = {
      tagName: 'FORM',
      getAttribute: (name: string) => formAttributes[name] ?? null,
      elements: [
        fakeElement('input', { name: 'email', type: 'email' }),
        fakeElement('select', { name: 'plan' }),
        password,
        fakeElement('input', { name: 'plan', type: 'radio' }),
        fakeElement('button', { type: 'submit' }),
      ],
    } as unknown as HTMLFormElement;
    expect(describeForm(form)).toEqual({ fields: ['email', 'plan'], id: 'signup', name: 'signup', action: '/signup', method: 'post' });
    expect(passwordNameRead).toBe(false);
  });
});
