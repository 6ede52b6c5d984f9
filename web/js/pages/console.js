// The owner's and reviewer's console: the access queue, principals, keys and
// grants, the release panel, evaluation runs and the policy in force. Its
// panels are a list (consolePanels) so later parts (findings, research) add
// theirs without touching these; each returns a section, or null when the
// visitor's role does not use it.
import { api, currentSession, LEVELS, levelIndex } from '../api.js';
import { clear, field, fmtTime, h, levelBadge, notice, section, show } from '../dom.js';

const EXPIRIES = [['', 'no expiry'], ['7d', '7 days'], ['30d', '30 days'], ['90d', '90 days'], ['365d', '1 year']];
const expirySelect = (value = '30d') => {
  const el = h('select', {}, EXPIRIES.map(([v, t]) => h('option', { value: v }, t)));
  el.value = value;
  return el;
};
const isOwner = () => currentSession().principal && currentSession().principal.role === 'owner';
const names = new Map();  // principal id -> name
const who = (id) => names.get(id) || id;

async function queue(ctx) {
  const list = (await api('GET', '/v1/admin/access-requests?state=pending')).data;
  const out = h('div', { 'aria-live': 'polite' });
  const items = list.map((r) => {
    const result = h('div', { 'aria-live': 'polite' });
    const lower = h('select', {},
      LEVELS.filter((l) => levelIndex(l) >= levelIndex('staged') && levelIndex(l) <= levelIndex(r.level)).map((l) => h('option', { value: l }, l)));
    lower.value = r.level;
    const expiry = expirySelect();
    const reason = h('input', { type: 'text', placeholder: 'shown to the requester' });
    const act = async (what) => {
      clear(result);
      try {
        if (what === 'deny') {
          if (!reason.value.trim()) { reason.focus(); throw new Error('a denial needs a reason the requester will read'); }
          await api('POST', `/v1/admin/access-requests/${r.id}/deny`, { reason: reason.value.trim() });
        } else {
          const body = { level: lower.value };
          if (expiry.value) body.expires_in = expiry.value;
          await api('POST', `/v1/admin/access-requests/${r.id}/approve`, body);
        }
        ctx.refresh();
      } catch (e) {
        result.append(notice('error', e.message));
      }
    };
    return h('li', { class: 'request pending' },
      h('h3', {}, `${who(r.principal)} asks for `, levelBadge(r.level), ` on ${r.model}`),
      h('p', {}, `Asked ${fmtTime(r.created_at)}: “${r.justification}”`),
      Object.keys(r.fields).length ? h('dl', { class: 'facts' }, Object.entries(r.fields).map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])) : null,
      h('div', { class: 'decide' },
        field('Approve at', lower), field('Expires', expiry),
        h('button', { type: 'button', class: 'primary', onclick: () => act('approve') }, `Approve ${r.id}`)),
      h('div', { class: 'decide' }, field('Reason', reason),
        h('button', { type: 'button', class: 'danger', onclick: () => act('deny') }, `Deny ${r.id}`)),
      result);
  });
  return section('Access queue', items.length ? h('ul', { class: 'plain queue' }, items) : h('p', {}, 'No request is waiting.'), out);
}

async function people(ctx) {
  if (!isOwner()) return null;
  const [principals, keys] = await Promise.all([api('GET', '/v1/admin/principals'), api('GET', '/v1/admin/keys')]);
  const out = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', required: true, pattern: '[A-Za-z0-9._-]{1,64}' });
  const role = h('select', {}, ['member', 'reviewer', 'owner'].map((r) => h('option', { value: r }, r)));
  const addPrincipal = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/v1/admin/principals', { name: name.value, role: role.value }); ctx.refresh(); } catch (e) { out.append(notice('error', e.message)); }
  } }, field('Name', name), field('Role', role), h('button', { type: 'submit' }, 'Add principal'));
  const rows = principals.data.map((p) => {
    const mine = keys.data.filter((k) => k.principal === p.id);
    return h('tr', {}, h('th', { scope: 'row' }, p.name), h('td', {}, p.role),
      h('td', {}, mine.map((k) => h('div', {}, h('code', {}, k.id), k.revoked_at ? ' revoked' : [' ',
        h('button', { type: 'button', class: 'danger small', onclick: async () => {
          if (!window.confirm(`Revoke ${k.id} of ${p.name}?`)) return;
          try { await api('DELETE', `/v1/admin/keys/${k.id}`); ctx.refresh(); } catch (e) { out.append(notice('error', e.message)); }
        } }, `Revoke ${k.id}`)]))),
      h('td', {}, h('button', { type: 'button', class: 'small', onclick: async () => {
        try {
          const k = await api('POST', '/v1/admin/keys', { principal: p.id, expires_in: '90d' });
          out.replaceChildren(notice('ok', `New key for ${p.name} (shown once): `, h('code', { class: 'secret' }, k.key)));
        } catch (e) { out.append(notice('error', e.message)); }
      } }, `New key for ${p.name}`)));
  });
  return section('Principals and keys',
    h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Keys', ''].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows)),
    addPrincipal, out);
}

async function grants(ctx) {
  const list = (await api('GET', '/v1/admin/grants')).data.filter((g) => !g.revoked_at);
  const out = h('div', { 'aria-live': 'polite' });
  const principal = h('input', { type: 'text', required: true, placeholder: 'name or id' });
  const model = h('select', {}, ctx.models.map((m) => h('option', { value: m.id }, m.id)));
  const level = h('select', {}, LEVELS.slice(1).map((l) => h('option', { value: l }, l)));
  const expiry = expirySelect();
  const reason = h('input', { type: 'text', required: true });
  const add = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { principal: principal.value, model: model.value, level: level.value, reason: reason.value };
    if (expiry.value) body.expires_in = expiry.value;
    try { await api('POST', '/v1/admin/grants', body); ctx.refresh(); } catch (e) { out.append(notice('error', e.message)); }
  } }, field('Principal', principal), field('Model', model), field('Level', level), field('Expires', expiry),
  field('Reason', reason), h('button', { type: 'submit' }, 'Grant'));
  const now = Date.now() / 1000;
  return section('Grants',
    h('table', {}, h('thead', {}, h('tr', {}, ['Principal', 'Model', 'Level', 'Expires', 'Reason', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((g) => h('tr', { class: g.expires_at && g.expires_at < now ? 'expired' : '' },
        h('td', {}, who(g.principal)), h('td', {}, g.model), h('td', {}, levelBadge(g.level)),
        h('td', {}, g.expires_at ? fmtTime(g.expires_at) : 'never'), h('td', {}, g.reason),
        h('td', {}, h('button', { type: 'button', class: 'danger small', onclick: async () => {
          try { await api('DELETE', `/v1/admin/grants/${g.id}`); ctx.refresh(); } catch (e) { out.append(notice('error', e.message)); }
        } }, `Revoke ${g.id}`)))))),
    add, out);
}

// The release panel: a proposal is first checked (a dry run: the server
// answers as it would to the proposal and applies nothing), then applied
// only by a separate confirmation. Both are recorded in the log.
function reasonItems(reasons) {
  return h('ul', { class: 'reasons' }, reasons.map((x) => h('li', {}, h('code', {}, x.code), ' ', x.message)));
}

function refusalView(e, { from, to, checked }) {
  const body = e.body || {};
  if (!body.reasons) return notice('error', e.message);
  return notice('error', h('strong', {}, `${checked ? 'Not allowed' : 'Refused'}: ${body.from || from} → ${body.to || to}. `),
    checked ? 'Nothing was changed. ' : 'Nothing was changed: the evidence moved since the check. ',
    h('p', {}, `Every reason (${body.reasons.length}):`), reasonItems(body.reasons));
}

async function release(ctx) {
  if (!isOwner()) return null;
  const panels = await Promise.all(ctx.models.map(async (m) => {
    const path = `/v1/models/${encodeURIComponent(m.id)}/release`;
    const r = await api('GET', path);
    const target = h('select', {}, LEVELS.map((l) => h('option', { value: l }, l)));
    target.value = r.public_level;
    const result = h('div', { 'aria-live': 'polite', class: 'proposal' });
    const done = ctx.notes.get(`release:${m.id}`);
    ctx.notes.delete(`release:${m.id}`);
    if (done) result.append(done);
    const apply = async (level) => {
      clear(result);
      try {
        const p = await api('POST', path, { level });
        ctx.notes.set(`release:${m.id}`, notice('ok', h('strong', {}, `Applied: ${p.from} → ${p.to}.`),
          ' The public level changed; it is in the model\'s history and the log.'));
        ctx.refresh();
      } catch (e) {
        result.append(refusalView(e, { from: r.public_level, to: level, checked: false }));
      }
    };
    const check = async (ev) => {
      ev.preventDefault();
      clear(result);
      const level = target.value;
      try {
        const p = await api('POST', path, { level, dry_run: true });
        const confirm = h('button', { type: 'button', class: 'primary', onclick: () => apply(level) },
          `Apply ${p.from} → ${p.to} to ${m.id}`);
        const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => { clear(result); target.focus(); } }, 'Cancel');
        result.append(notice('ok', h('strong', {}, `Allowed: ${p.from} → ${p.to}.`), ' Nothing is applied until you confirm.',
          p.reasons.length ? reasonItems(p.reasons) : null, h('div', { class: 'decide' }, confirm, cancel)));
        confirm.focus();
      } catch (e) {
        result.append(refusalView(e, { from: r.public_level, to: level, checked: true }));
      }
    };
    return h('li', { class: 'card' },
      h('h3', {}, m.id, ' ', levelBadge(r.public_level), ' ceiling ', levelBadge(r.ceiling.level)),
      h('form', { class: 'decide', onsubmit: check }, field('Propose public level', target),
        h('button', { type: 'submit' }, `Check ${m.id}`)),
      result);
  }));
  return section('Release', h('p', {}, 'Check a level first: the policy says whether it is allowed, or every reason it is not, ',
    'and nothing changes. An allowed level is applied only when you confirm. Checks and changes are both recorded in the log.'),
  h('ul', { class: 'plain' }, panels));
}

async function evaluations(ctx) {
  const runs = (await api('GET', '/v1/evals/runs')).data;
  const out = h('div', { 'aria-live': 'polite' });
  let suites = [];
  if (ctx.models.length) {
    const r = await api('GET', `/v1/models/${encodeURIComponent(ctx.models[0].id)}/release`);
    suites = [...new Set(r.evaluations.map((e) => e.suite))];
  }
  const model = h('select', {}, ctx.models.map((m) => h('option', { value: m.id }, m.id)));
  const suite = h('select', {}, suites.map((x) => h('option', { value: x }, x)));
  const start = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api('POST', '/v1/evals/runs', { model: model.value, suite: suite.value }); ctx.refresh(); } catch (e) { out.append(notice('error', e.message)); }
  } }, field('Model', model), field('Suite', suite), h('button', { type: 'submit', disabled: !suites.length }, 'Run'));
  const rows = runs.slice(0, 30).map((r) => h('tr', {},
    h('td', {}, h('code', {}, r.id)), h('td', {}, r.model), h('td', {}, r.suite.name),
    h('td', {}, r.state === 'running' ? h('progress', { max: r.progress.total || 1, value: r.progress.done }, `${r.progress.done}/${r.progress.total}`) : r.state,
      ` ${r.progress.done}/${r.progress.total}`),
    h('td', {}, Object.entries(r.metrics).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : v}`).join(', ') || '—'),
    h('td', {}, Object.entries(r.tiers).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'),
    h('td', {}, fmtTime(r.finished_at || r.created_at))));
  if (runs.some((r) => r.state === 'running')) ctx.poll();
  return section('Evaluations', isOwner() ? start : null, out,
    runs.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Run', 'Model', 'Suite', 'State', 'Metrics', 'Tiers', 'Time'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)) : h('p', {}, 'No evaluation has run yet.'));
}

async function policy() {
  const p = await api('GET', '/v1/admin/policy');
  return section('Policy in force',
    h('p', {}, p.default ? 'No policy file is in force: every ceiling is open and any proposal is allowed.'
      : `From ${p.source}, put in force ${fmtTime(p.loaded_at)}; SHA-256 `, p.default ? null : h('code', {}, p.sha256)),
    p.text ? h('pre', { class: 'policy', tabindex: 0 }, p.text) : null);
}

export const consolePanels = [queue, people, grants, release, evaluations, policy];

export async function render() {
  const me = currentSession().principal;
  if (!me || me.role === 'member') {
    show(h('h1', {}, 'Console'), notice('info', 'The console is for owners and reviewers. ',
      me ? '' : h('a', { href: '/signin?next=/console' }, 'Sign in'), me ? '' : ' first.'));
    return;
  }
  let timer = null;
  let evalNode = null;
  const ctx = {
    models: (await api('GET', '/v1/admin/models')).data,
    notes: new Map(),  // what a panel says after a change that redrew the console
    refresh: () => draw(),
    // Live progress: only the evaluations panel is redrawn, so focus and
    // typing elsewhere are left alone.
    poll: () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (location.pathname !== '/console' || !evalNode || !evalNode.isConnected) return;
        const fresh = await evaluations(ctx);
        evalNode.replaceWith(fresh);
        evalNode = fresh;
      }, 1000);
    },
  };
  if (me.role === 'owner') {
    for (const p of (await api('GET', '/v1/admin/principals')).data) names.set(p.id, p.name);
  }
  async function draw() {
    const sections = await Promise.all(consolePanels.map((panel) => panel(ctx)));
    evalNode = sections[consolePanels.indexOf(evaluations)];
    show(h('h1', {}, 'Console'), h('p', {}, `Signed in as ${me.name} (${me.role}).`), ...sections.filter(Boolean));
  }
  await draw();
}
