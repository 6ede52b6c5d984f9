// The model page: why the model is as open as it is. Its sections are a
// list (modelSections) so later parts (openness, licence, findings) add a
// section without touching the others: each takes the page's data and
// returns a node, or null to stay out.
import { api, currentSession } from '../api.js';
import { fmtBytes, fmtCount, fmtTime, h, levelBadge, section, show } from '../dom.js';
import { gradient, scoreBar } from '../charts.js';
import { render as markdown } from '../markdown.js';
import { downloadsSection, loadDistribution, opennessSection } from './model_distribution.js';

function reasonsList(reasons) {
  if (!reasons || !reasons.length) return h('p', {}, 'No reason holds it lower.');
  return h('ul', { class: 'reasons' }, reasons.map((r) => h('li', {}, h('code', {}, r.code), ' ', r.message)));
}

function standing({ card, release }) {
  const you = card.suspended_level ? `${card.level} (held: ${card.suspended_level}, suspended)` : card.level;
  return section('Where it stands',
    gradient({ public: release.public_level, ceiling: release.ceiling.level, yours: card.level },
      `Public level ${release.public_level}, ceiling ${release.ceiling.level}, your level ${card.level}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Public level'), h('dd', {}, levelBadge(release.public_level), ` since ${fmtTime(release.public_level_since)}`,
        release.public_level_suspended ? ' — suspended: above the ceiling' : ''),
      h('dt', {}, 'Ceiling'), h('dd', {}, levelBadge(release.ceiling.level), ' the most open the policy permits now'),
      h('dt', {}, 'Your level'), h('dd', {}, you)),
    h('h3', {}, 'Why the ceiling is where it is'),
    reasonsList(release.ceiling.reasons),
    release.domains.length ? h('table', {},
      h('caption', {}, 'Risk domains'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Domain'), h('th', { scope: 'col' }, 'Tier'),
        h('th', { scope: 'col' }, 'Ceiling'), h('th', { scope: 'col' }, 'Why'))),
      h('tbody', {}, release.domains.map((d) => h('tr', {}, h('td', {}, d.domain), h('td', {}, d.tier),
        h('td', {}, levelBadge(d.ceiling)), h('td', {}, d.reasons.map((r) => r.message).join('; ') || '—'))))) : null);
}

function cardSection({ card }) {
  return section('Model card', card.card
    ? h('div', { class: 'markdown' }, markdown(card.card))
    : h('p', { class: 'muted' }, 'The owner has not written a card for this model yet.'));
}

function architecture({ card }) {
  const a = card.architecture;
  if (!a) return section('Architecture', h('p', { class: 'muted' }, card.architecture_error || 'Not readable.'));
  const row = (k, v) => (v ? [h('dt', {}, k), h('dd', {}, v)] : []);
  const types = Object.entries(a.parameters_by_type).map(([t, n]) => `${t}: ${fmtCount(n)}`).join(', ');
  return section('Architecture',
    h('dl', { class: 'facts' },
      row('Architecture', a.architecture), row('Name in the file', a.name),
      row('Parameters', `${fmtCount(a.parameters)} (${a.parameters.toLocaleString('en')})`),
      row('File size', fmtBytes(a.file_bytes)), row('Layers', a.layers), row('Embedding width', a.embedding),
      row('Attention heads', a.heads ? `${a.heads} (${a.kv_heads} key/value)` : null),
      row('Feed-forward width', a.feed_forward), row('Trained context', a.context ? `${a.context} tokens` : null),
      row('Vocabulary', a.vocab ? `${a.vocab} tokens (${a.tokenizer})` : null),
      row('Weights stored as', types), row('Chat template', a.chat_template ? 'in the file' : 'none'),
      row('Format', `GGUF v${a.gguf_version}, ${a.tensors} tensors`)));
}

function evaluations({ release }) {
  if (!release.evaluations.length) {
    return section('Evaluations', h('p', {}, 'The policy in force names no evaluation suites.'));
  }
  return section('Evaluations',
    h('p', {}, 'Each suite\'s latest finished score against the thresholds that set its domain\'s risk tier.'),
    h('ul', { class: 'plain' }, release.evaluations.map((e) => h('li', { class: 'eval' },
      h('h3', {}, `${e.suite} `, h('span', { class: 'muted' }, `(${e.domain}, ${e.metric})`)),
      scoreBar(e),
      h('p', {}, e.score === null ? 'Not run yet: the domain\'s tier is unknown.'
        : `Score ${e.score.toFixed(3)}, run ${e.run} finished ${fmtTime(e.time)}.`)))));
}

function plan({ release }) {
  if (!release.plan.length) return section('Release plan', h('p', {}, 'The policy in force has no staged plan.'));
  return section('Release plan',
    h('ol', { class: 'stages' }, release.plan.map((st) => {
      const state = st.reached ? 'reached' : st.gates_open ? 'open' : 'waiting';
      return h('li', { class: `stage ${state}` },
        h('h3', {}, levelBadge(st.level), ' ', st.reached ? 'reached' : st.gates_open ? 'gates open' : 'waiting',
          st.automatic ? ' · automatic' : ' · an owner decides'),
        st.opens_at ? h('p', {}, `Time gate opens ${fmtTime(st.opens_at)}.`) : null,
        st.waiting_for.length ? h('ul', { class: 'reasons' }, st.waiting_for.map((r) => h('li', {}, r.message))) : null);
    })));
}

// One timeline of what happened to the model: release changes (and refused
// proposals, ceiling moves) and finished evaluations, newest first.
function history({ release }) {
  const events = [
    ...release.history.map((e) => ({ time: e.time, node: [h('strong', {}, e.kind), ' ', levelBadge(e.from), ' → ',
      levelBadge(e.to), ` by ${e.actor}`, e.reason ? h('p', {}, e.reason) : null], kind: e.kind })),
    ...(release.evaluation_history || []).map((e) => ({ time: e.time, kind: 'evaluated', node: [
      h('strong', {}, 'evaluated'), ` ${e.suite} (${e.domain}): `,
      Object.entries(e.metrics).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : v}`).join(', ') || 'no metrics',
      Object.keys(e.tiers).length ? ` · tier ${Object.entries(e.tiers).map(([d, t]) => `${d} ${t}`).join(', ')}` : '',
      ` · run ${e.run}`] })),
  ].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  if (!events.length) return section('History', h('p', {}, 'No release change or evaluation yet.'));
  return section('History',
    h('ol', { class: 'timeline', reversed: true }, events.map((e) => h('li', { class: `ev ev-${e.kind}` },
      h('time', { datetime: e.time }, fmtTime(e.time)), ' ', e.node))));
}

function levelsTable({ levels, card }) {
  return section('What each level allows',
    h('table', {},
      h('thead', {}, h('tr', {}, ['Level', 'Capabilities', 'Max tokens', 'Logprobs (top-k)'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, levels.map((l) => h('tr', { class: l.level === card.level ? 'current' : '' },
        h('th', { scope: 'row' }, levelBadge(l.level), l.level === card.level ? ' (you)' : ''),
        h('td', {}, l.capabilities.join(', ') || '—'), h('td', {}, l.max_tokens || '—'),
        h('td', {}, l.max_top_logprobs || '—'))))),
    h('p', {}, h('a', { href: `/models/${encodeURIComponent(card.id)}/request` }, 'Ask for a higher level'),
      currentSession().principal ? '' : ' (sign in first)'));
}

export const modelSections = [standing, cardSection, opennessSection, downloadsSection, architecture, evaluations, plan,
  history, levelsTable];

export async function render(id) {
  const enc = encodeURIComponent(id);
  const [card, release, levels, distribution] = await Promise.all([
    api('GET', `/v1/models/${enc}/card`), api('GET', `/v1/models/${enc}/release`), api('GET', '/v1/levels'),
    loadDistribution(enc)]);
  const data = { id, card, release, levels: levels.data, ...distribution, rerender: () => render(id) };
  const mine = levels.data.find((l) => l.level === card.level);
  const inspects = mine && mine.capabilities.includes('inspect');
  show(h('h1', {}, id),
    h('p', { class: 'actions' },
      h('a', { class: 'button', href: `/models/${enc}/chat` }, 'Chat with it'),
      inspects ? h('a', { class: 'button', href: `/models/${enc}/research` }, 'Research playground') : null,
      h('a', { class: 'button secondary', href: `/models/${enc}/request` }, 'Ask for more access')),
    ...modelSections.map((sec) => sec(data)).filter(Boolean));
}
