/** Sign-in: the secret key is posted once and exchanged for an HttpOnly session cookie. */
import { ApiFailure, signIn, type SessionInfo } from './api';
import { h } from './dom';

export function mountSignIn(container: HTMLElement, onSignedIn: (session: SessionInfo) => void): () => void {
  const input = h('input', { id: 'secret-key', name: 'secretKey', type: 'password', autocomplete: 'off', required: true, placeholder: 'sk_…', spellcheck: 'false' });
  const message = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Monfri'),
    h('p', { class: 'muted' }, 'Sign in with a workspace secret key. It is exchanged for a session cookie and not stored in this page.'),
    h('label', { for: 'secret-key' }, 'Secret key'),
    input,
    message,
    button,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    button.disabled = true;
    message.textContent = '';
    signIn(input.value.trim())
      .then(onSignedIn)
      .catch((error: unknown) => {
        message.textContent = error instanceof ApiFailure ? `${error.message} (${error.code})` : 'Could not reach the server.';
        button.disabled = false;
        input.focus();
      });
  });
  container.append(form);
  input.focus();
  return () => undefined;
}
