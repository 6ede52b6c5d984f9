// The web interface's entry: finds the page for the path, keeps the
// navigation in step with who is signed in, and shows errors plainly.
// Pages are modules under pages/; each exports render(params) and builds
// its content into <main> with DOM calls only (dom.js).

import { ApiError, currentSession, loadSession, onSessionChange, signOut } from './api.js';
import { h, notice, show } from './dom.js';

const routes = [
  [/^\/$/, 'home'],
  [/^\/models\/([^/]+)$/, 'model'],
  [/^\/models\/([^/]+)\/chat$/, 'chat'],
  [/^\/models\/([^/]+)\/request$/, 'request'],
  [/^\/models\/([^/]+)\/research$/, 'research'],
  [/^\/signin$/, 'signin'],
  [/^\/me$/, 'me'],
  [/^\/console$/, 'console'],
  [/^\/log$/, 'log'],
];

function updateNav(session) {
  const p = session.principal;
  const roleRank = { member: 0, reviewer: 1, owner: 2 };
  for (const li of document.querySelectorAll('#nav [data-when]')) {
    const when = li.dataset.when;
    li.hidden = !(when === 'signed-in' ? !!p : when === 'signed-out' ? !p : p && roleRank[p.role] >= 1);
  }
  const who = document.getElementById('who');
  who.textContent = p ? `Signed in as ${p.name} (${p.role})` : 'Not signed in: you see what everyone sees';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

export function errorView(e) {
  if (e instanceof ApiError) {
    const parts = [h('p', {}, e.message)];
    if (e.status === 401 && !currentSession().principal) {
      parts.push(h('p', {}, h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'),
        ' with an API key to continue.'));
    }
    return notice('error', h('strong', {}, `Error ${e.status}${e.code ? ` (${e.code})` : ''}: `), ...parts);
  }
  return notice('error', h('strong', {}, 'Something went wrong: '), String(e && e.message ? e.message : e));
}

async function route() {
  const path = location.pathname;
  for (const [re, name] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const params = m.slice(1).map(decodeURIComponent);
    try {
      const page = await import(`./pages/${name}.js`);
      await page.render(...params);
    } catch (e) {
      show(h('h1', {}, 'Aperture'), errorView(e));
    }
    return;
  }
  show(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '/' }, 'See the models.')));
}

async function start() {
  onSessionChange(updateNav);
  document.getElementById('sign-out').addEventListener('click', async () => {
    try { await signOut(); } catch { /* the session is gone either way */ }
    location.assign('/');
  });
  try { await loadSession(); } catch { updateNav(currentSession()); }
  await route();
  document.body.dataset.ready = 'true';
}

start();
