// Ask for a higher level on a model: the owner's custom fields, a
// justification and the level asked for. The answer appears on "My access".
import { api, currentSession, LEVELS, levelIndex } from '../api.js';
import { field, h, notice, show } from '../dom.js';

export async function render(id) {
  const enc = encodeURIComponent(id);
  if (!currentSession().principal) {
    show(h('h1', {}, `Ask for access to ${id}`),
      notice('info', 'Access requests name who is asking: ',
        h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'sign in with your API key'), ' first.'));
    return;
  }
  const [model, mine] = await Promise.all([api('GET', `/v1/models/${enc}`), api('GET', '/v1/access-requests')]);
  const held = model.suspended_level || model.level;
  const options = LEVELS.filter((l) => levelIndex(l) > levelIndex(held));
  const previous = mine.data.find((r) => r.model === id);
  const level = h('select', { required: true }, options.map((l) => h('option', { value: l }, l)));
  const wanted = new URLSearchParams(location.search).get('level');
  if (wanted && options.includes(wanted)) level.value = wanted;
  const justification = h('textarea', { rows: 5, required: true, maxlength: 4000 });
  const custom = model.request_fields.map((f) => {
    let control;
    if (f.type === 'select') {
      control = h('select', { required: !!f.required }, h('option', { value: '' }, 'Choose…'), (f.options || []).map((o) => h('option', { value: o }, o)));
    } else if (f.type === 'checkbox') {
      control = h('input', { type: 'checkbox', required: !!f.required });
    } else {
      control = h('input', { type: 'text', required: !!f.required, maxlength: 1000 });
    }
    control.dataset.field = f.name;
    control.dataset.type = f.type;
    return field(`${f.label || f.name}${f.required ? ' (required)' : ''}`, control, f.description || null);
  });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'narrow',
    onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      const fields = {};
      for (const c of form.querySelectorAll('[data-field]')) {
        fields[c.dataset.field] = c.dataset.type === 'checkbox' ? c.checked : c.value;
      }
      try {
        const r = await api('POST', '/v1/access-requests',
          { model: id, level: level.value, justification: justification.value, fields });
        out.append(notice('ok', `Request ${r.id} for ${r.level} is pending. The answer will show on `, h('a', { href: '/me' }, 'My access'), '.'));
        form.querySelector('button').disabled = true;
      } catch (e) {
        out.append(notice('error', h('strong', {}, `Not sent (${e.status}): `), e.message));
      }
    },
  },
  field('Level asked for', level, `You hold ${held} now.`),
  custom,
  field('Why you need it', justification, 'What you will do at this level; reviewers decide from this.'),
  h('button', { type: 'submit', class: 'primary' }, 'Send the request'));

  let context = null;
  if (previous && previous.state === 'pending') {
    context = notice('info', `Your request ${previous.id} for ${previous.level} is still pending.`);
  } else if (previous && previous.state === 'denied') {
    const again = previous.may_ask_again_at;
    context = notice('warn', `Your last request (${previous.level}) was denied: “${previous.reason}”. `,
      again * 1000 > Date.now() ? `You may ask again after ${new Date(again * 1000).toISOString()}.` : 'You may ask again now.');
  }
  show(h('h1', {}, `Ask for access to ${id}`), context,
    options.length ? form : notice('info', `You already hold the highest level (${held}).`), out);
}
