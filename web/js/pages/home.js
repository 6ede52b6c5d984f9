// The models this visitor can see, each with its level on the gradient.
import { api, levelIndex } from '../api.js';
import { h, levelBadge, show } from '../dom.js';
import { gradient } from '../charts.js';

export async function render() {
  const models = (await api('GET', '/v1/models')).data;
  const list = h('ul', { class: 'cards' });
  for (const m of models) {
    const canChat = levelIndex(m.level) >= levelIndex('hosted') || levelIndex(m.level) === levelIndex('staged');
    list.append(h('li', { class: 'card' },
      h('h2', {}, h('a', { href: `/models/${encodeURIComponent(m.id)}` }, m.id)),
      h('p', {}, 'Public level ', levelBadge(m.public_level), ', ceiling ', levelBadge(m.ceiling),
        ', yours ', levelBadge(m.level), m.suspended_level ? ` (${m.suspended_level} suspended)` : ''),
      gradient({ public: m.public_level, ceiling: m.ceiling, yours: m.level },
        `${m.id}: public level ${m.public_level}, ceiling ${m.ceiling}, your level ${m.level}`),
      h('p', { class: 'actions' },
        h('a', { class: 'button', href: `/models/${encodeURIComponent(m.id)}` }, 'Model page'),
        canChat && m.level !== 'closed' ? h('a', { class: 'button', href: `/models/${encodeURIComponent(m.id)}/chat` }, 'Chat') : null,
        h('a', { class: 'button secondary', href: `/models/${encodeURIComponent(m.id)}/request` }, 'Ask for more access'))));
  }
  show(h('h1', {}, 'Models'),
    h('p', { class: 'lead' }, 'Each model is released somewhere on the gradient from closed to open. ',
      'The policy in force sets how open it may be now (its ceiling), from evaluations and findings.'),
    models.length ? list : h('p', {}, 'No model is visible to you. Sign in to see models shared with you.'));
}
