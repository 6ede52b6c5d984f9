// Sign in with an API key: the server answers with an HttpOnly session
// cookie, so the key is sent once and never kept by the page.
import { signIn } from '../api.js';
import { field, h, notice, show } from '../dom.js';

export async function render() {
  const key = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true,
    pattern: 'ak_[A-Za-z0-9]{36}', placeholder: 'ak_…' });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'narrow',
    onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      try {
        await signIn(key.value.trim());
        const next = new URLSearchParams(location.search).get('next');
        location.assign(next && next.startsWith('/') && !next.startsWith('//') ? next : '/me');
      } catch (e) {
        out.append(notice('error', h('strong', {}, 'Not signed in: '), e.message));
        key.focus();
      }
    },
  },
  field('API key', key, 'Your key is checked once; the browser then holds a session that ends after a while, at sign-out, or when the key is revoked.'),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  show(h('h1', {}, 'Sign in'),
    h('p', {}, 'Use an API key the model\'s owner gave you (or one you created on your page). Without signing in you see and use what everyone may.'),
    form, out);
  key.focus();
}
