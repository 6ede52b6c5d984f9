// My access: my level on each model and why, my keys, my usage, my access
// requests and their answers, and my entries in the log, each verifiable here.
import { api, currentSession } from '../api.js';
import { field, fmtTime, h, levelBadge, notice, section, show } from '../dom.js';
import { usageChart } from '../charts.js';
import { pinnedKey, verifyEntry } from '../logtrust.js';
import { parseVerifierKey, verifyCheckpoint } from '../verify.js';

function day(offset) { return new Date(Date.now() - offset * 86400000).toISOString().slice(0, 10); }

function levels(me) {
  if (!me.models.length) return section('My levels', h('p', {}, 'No model is visible to you yet.'));
  return section('My levels',
    h('table', {},
      h('thead', {}, h('tr', {}, ['Model', 'Level', 'Expires', 'Why'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, me.models.map((m) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `/models/${encodeURIComponent(m.model)}` }, m.model)),
        h('td', {}, levelBadge(m.level), m.suspended ? [' (held ', levelBadge(m.held), ', suspended)'] : ''),
        h('td', {}, m.grant && m.grant.expires_at ? fmtTime(m.grant.expires_at) : m.grant ? 'never' : '—'),
        h('td', {}, m.why))))));
}

function keys(list, reload) {
  const out = h('div', { 'aria-live': 'polite' });
  const expiry = h('select', {}, [['', 'never'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days']]
    .map(([v, t]) => h('option', { value: v }, t)));
  expiry.value = '90d';
  const create = h('form', {
    class: 'inline',
    onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      try {
        const k = await api('POST', '/v1/me/keys', expiry.value ? { expires_in: expiry.value } : {});
        const shown = h('code', { class: 'secret' }, k.key);
        out.append(notice('ok', h('p', {}, `New key ${k.id}. Copy it now: it is shown only this once.`), shown,
          h('button', { type: 'button', onclick: () => navigator.clipboard && navigator.clipboard.writeText(k.key) }, 'Copy')));
        tbody.append(row(k));
      } catch (e) {
        out.append(notice('error', e.message));
      }
    },
  }, field('Expires after', expiry), h('button', { type: 'submit' }, 'Create a key'));
  const row = (k) => h('tr', {},
    h('th', { scope: 'row' }, h('code', {}, k.id), k.current ? ' (this session)' : ''),
    h('td', {}, fmtTime(k.created_at)), h('td', {}, k.expires_at ? fmtTime(k.expires_at) : 'never'),
    h('td', {}, k.last_used_at ? fmtTime(k.last_used_at) : '—'),
    h('td', {}, k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}` : h('button', {
      type: 'button', class: 'danger',
      onclick: async () => {
        const warn = k.current ? ' This is the key your session came with: the session ends too.' : '';
        if (!window.confirm(`Revoke ${k.id}? Clients using it stop working at once.${warn}`)) return;
        try {
          await api('DELETE', `/v1/me/keys/${encodeURIComponent(k.id)}`);
          if (k.current) location.assign('/signin'); else reload();
        } catch (e) { out.append(notice('error', e.message)); }
      },
    }, `Revoke ${k.id}`)));
  const tbody = h('tbody', {}, list.data.map(row));
  return section('My keys',
    h('table', {}, h('thead', {}, h('tr', {}, ['Key', 'Created', 'Expires', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))),
      tbody),
    create, out);
}

function usage(u) {
  const byDay = new Map();
  for (let i = 29; i >= 0; i--) byDay.set(day(i), { date: day(i), prompt: 0, completion: 0 });
  for (const r of u.data) {
    const d = byDay.get(r.date);
    if (d) { d.prompt += r.prompt_tokens; d.completion += r.completion_tokens; }
  }
  const rows = [...byDay.values()];
  const total = rows.reduce((n, r) => n + r.prompt + r.completion, 0);
  return section('My usage',
    usageChart(rows, `Tokens per day over the last 30 days: ${total} in all`),
    h('p', { class: 'legend' }, h('span', { class: 'key prompt' }, 'prompt'), ' ', h('span', { class: 'key completion' }, 'completion'),
      ` · ${total} tokens in the last 30 days`));
}

// What an approval gave: the level (less than asked, maybe) and until when.
function approvedText(r) {
  const g = r.granted;
  if (!g) return `Approved (grant ${r.grant}).`;
  return [g.level === r.level ? `Approved at ${g.level}` : `Approved for less: ${g.level} (you asked for ${r.level})`,
    g.expires_at ? `, until ${fmtTime(g.expires_at)}` : ', with no expiry',
    g.revoked_at ? `; the grant was revoked ${fmtTime(g.revoked_at)}` : '', '.',
    r.reason && r.reason !== 'approved' ? ` The reviewer says: “${r.reason}”` : ''].join('');
}

function deniedView(r) {
  const wait = r.may_ask_again_at && r.may_ask_again_at * 1000 > Date.now();
  const ask = h('a', { href: `/models/${encodeURIComponent(r.model)}/request` }, 'Ask again');
  return h('p', {}, `Denied, because: “${r.reason}” `,
    wait ? `You may ask again after ${fmtTime(r.may_ask_again_at)}.` : ['You may ask again now: ', ask, '.']);
}

function requests(list) {
  if (!list.data.length) return section('My access requests', h('p', {}, 'None yet. Ask from a model\'s page.'));
  // Only the newest denial per model invites a new request.
  const newestDenied = new Set();
  const seen = new Set();
  for (const r of list.data) {
    if (seen.has(r.model)) continue;
    seen.add(r.model);
    if (r.state === 'denied') newestDenied.add(r.id);
  }
  return section('My access requests',
    h('ul', { class: 'plain requests' }, list.data.map((r) => h('li', { class: `request ${r.state}` },
      h('h3', {}, `${r.model}: `, levelBadge(r.level), ` — ${r.state}`),
      h('p', {}, `Asked ${fmtTime(r.created_at)}`, r.decided_at ? `, answered ${fmtTime(r.decided_at)}` : '', '.'),
      r.state === 'approved' ? h('p', {}, approvedText(r)) : null,
      r.state === 'denied' ? (newestDenied.has(r.id) ? deniedView(r) : h('p', {}, `Denied, because: “${r.reason}”`)) : null,
      r.state === 'pending' ? h('p', {}, 'Waiting for a reviewer.') : null))));
}

function entries(mine) {
  const out = [];
  for (const e of mine.entries.slice(-20).reverse()) {
    let parsed = {};
    try { parsed = JSON.parse(e.entry); } catch { /* shown raw */ }
    const verdict = h('span', { class: 'verdict', 'aria-live': 'polite' });
    out.push(h('li', {},
      h('code', {}, `#${e.index}`), ` ${parsed.type || 'entry'} ${parsed.outcome || ''} ${parsed.reason && parsed.reason !== 'ok' ? parsed.reason : ''}`,
      parsed.time ? ` · ${fmtTime(parsed.time)}` : '', ' ',
      h('button', {
        type: 'button',
        onclick: async () => {
          verdict.textContent = 'checking…';
          try {
            const key = pinnedKey();
            if (!key) throw new Error('pin the log\'s verifier key on the log page first');
            const cp = await verifyCheckpoint(mine.checkpoint, await parseVerifierKey(key));
            const r = await verifyEntry(e.entry, e.index, e.proof, cp);
            verdict.textContent = `${r.ok ? '✓ verified' : '✗ NOT verified'}: ${r.detail}`;
            verdict.className = `verdict ${r.ok ? 'ok' : 'bad'}`;
          } catch (err) {
            verdict.textContent = `✗ NOT verified: ${err.message}`;
            verdict.className = 'verdict bad';
          }
        },
      }, `Verify #${e.index}`), ' ', verdict));
  }
  return section('My log entries',
    h('p', {}, `What the log holds about you, newest first (up to 20 of ${mine.entries.length} shown). `,
      'Verify checks in this browser that each entry is in the signed log; ', h('a', { href: '/log' }, 'pin the log\'s key'), ' first.'),
    out.length ? h('ul', { class: 'plain entries' }, out) : h('p', {}, 'None yet.'));
}

export async function render() {
  if (!currentSession().principal) {
    show(h('h1', {}, 'My access'), notice('info', h('a', { href: '/signin?next=/me' }, 'Sign in'), ' to see your access.'));
    return;
  }
  const load = async (focusKeys) => {
    const [me, myKeys, u, reqs, mine] = await Promise.all([
      api('GET', '/v1/me'), api('GET', '/v1/me/keys'),
      api('GET', `/v1/usage?start_date=${day(29)}&end_date=${day(0)}`), api('GET', '/v1/access-requests'),
      api('GET', '/log/mine?limit=1000')]);
    const keysSection = keys(myKeys, () => load(true));
    show(h('h1', {}, `My access: ${me.principal.name}`),
      h('p', {}, `Role ${me.principal.role}. `, me.via === 'session' ? `This session ends ${fmtTime(me.expires_at)}.` : ''),
      levels(me), keysSection, usage(u), requests(reqs), entries(mine));
    if (focusKeys) keysSection.scrollIntoView();
  };
  await load(false);
}
