// The model page's sections about what leaves the server: how open the model
// is (the openness card the server computes, GET /v1/models/{id}/openness),
// and its licence and files (GET .../licence and .../files), with the form
// that accepts the licence (POST .../licence/accept) before any download.
// Each section takes the page's data and returns a node, or null.
import { ApiError, api, currentSession } from '../api.js';
import { fmtBytes, fmtTime, h, levelBadge, notice, section } from '../dom.js';

// What the page needs beyond the card and release: each part is null when
// the server refuses it (no licence set yet, or a level that lists nothing).
export async function loadDistribution(enc) {
  const orNull = (p) => p.catch((e) => {
    if (e instanceof ApiError && e.status >= 400 && e.status < 500) return null;
    throw e;
  });
  const [openness, licence, files] = await Promise.all([
    orNull(api('GET', `/v1/models/${enc}/openness`)),
    orNull(api('GET', `/v1/models/${enc}/licence`)),
    orNull(api('GET', `/v1/models/${enc}/files`))]);
  return { openness, licence, files };
}

const SOURCE = {
  verified: 'verified: served by this server',
  declared: 'declared by the owner (a link, not checked)',
  none: 'not available',
};

function componentRow(c) {
  return h('tr', { class: c.counts ? 'counts' : 'missing' },
    h('th', { scope: 'row' }, c.name, c.required ? '' : h('span', { class: 'muted' }, ' (optional)')),
    h('td', {}, `Class ${['', 'I', 'II', 'III'][c.class]}`),
    h('td', {}, SOURCE[c.source] || c.source),
    h('td', {}, c.available ? c.to_whom : '—'),
    h('td', {}, c.licence || '—'),
    h('td', {}, c.counts ? 'yes' : `no: ${c.why_not}`));
}

export function opennessSection({ openness, id }) {
  if (!openness) return null;
  const enc = encodeURIComponent(id);
  const cls = openness.class;
  const summary = cls.reached
    ? `${cls.reached} reached (${cls.status}).`
    : `No class reached yet (${cls.status}).`;
  const osaidMissing = openness.osaid.checklist.filter((r) => !r.met);
  return section('How open it is',
    h('p', {}, h('img', { src: `/v1/models/${enc}/openness.svg`, alt: `Openness: ${summary}`, class: 'openness-badge' })),
    h('p', {}, summary, ' Computed by this server from what it serves, under the ',
      openness.framework, '. Only components marked declared rest on the owner\'s word',
      cls.declared_components_counted ? ` (${cls.declared_components_counted} counted here).` : '.'),
    h('ul', { class: 'plain' }, openness.classes.map((c) => h('li', {},
      h('strong', {}, `Class ${['', 'I', 'II', 'III'][c.class]} ${c.name}: `),
      `${c.status}, ${c.counted} of ${c.required} required components (${c.percent}%)`,
      c.missing.length ? h('span', { class: 'muted' }, ` — missing: ${c.missing.join(', ')}`) : ''))),
    h('table', {},
      h('caption', {}, 'The framework\'s components'),
      h('thead', {}, h('tr', {}, ['Component', 'Class', 'Source', 'To whom', 'Licence', 'Counts']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, openness.components.map(componentRow))),
    h('p', {}, openness.osaid.meets
      ? `It meets the ${openness.osaid.definition}.`
      : `It does not meet the ${openness.osaid.definition}: ${osaidMissing.map((r) => `${r.requirement} (${r.why_not})`).join('; ')}.`),
    h('p', {}, h('a', { href: `/v1/models/${enc}/openness` }, 'The card as JSON'), ' · ',
      h('a', { href: `/v1/models/${enc}/report.html` }, 'The signed transparency report')));
}

// The licence, and the form that accepts it: the acceptance names the text's
// SHA-256, so a licence changed meanwhile is refused and shown again.
function acceptForm(licence, id, rerender) {
  const out = h('div', { 'aria-live': 'polite' });
  const box = h('input', { type: 'checkbox', id: 'licence-accept', required: true });
  const form = h('form', {
    class: 'narrow',
    onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      try {
        await api('POST', `/v1/models/${encodeURIComponent(id)}/licence/accept`, { sha256: licence.sha256 });
        await rerender();
      } catch (e) {
        out.append(notice('error', h('strong', {}, `Not accepted (${e.status}): `), e.message));
      }
    },
  },
  h('div', { class: 'field' }, box, h('label', { for: 'licence-accept' },
    ` I accept the terms of ${licence.name} (SHA-256 ${licence.sha256.slice(0, 16)}…)`)),
  h('button', { type: 'submit', class: 'primary' }, 'Accept the licence'));
  return [form, out];
}

function licencePart({ licence, id, rerender }) {
  if (!licence) return h('p', { class: 'muted' }, 'The owner has not set a licence yet, so nothing is downloadable below open.');
  const text = h('details', {}, h('summary', {}, `The licence's full text (${licence.spdx_id || 'custom'})`),
    h('pre', { class: 'licence-text' }, licence.text));
  let state;
  if (!licence.must_accept) {
    state = h('p', {}, `At your level (${licence.your_level}) no acceptance is needed; the licence still applies.`);
  } else if (licence.accepted) {
    state = notice('ok', 'You accepted this licence. Downloads at your level are open to you.');
  } else if (!currentSession().principal) {
    state = notice('info', 'Sign in to accept the licence: an acceptance belongs to a principal. ',
      h('a', { href: '/signin' }, 'Sign in'));
  } else {
    state = acceptForm(licence, id, rerender);
  }
  return [h('dl', { class: 'facts' },
    h('dt', {}, 'Licence'), h('dd', {}, licence.name, licence.spdx_id ? ` (${licence.spdx_id})` : ' (custom)'),
    h('dt', {}, 'Must be accepted at'), h('dd', {}, licence.accept_levels.length
      ? licence.accept_levels.map((l) => [levelBadge(l), ' ']) : 'no level'),
    h('dt', {}, 'Set'), h('dd', {}, fmtTime(licence.set_at)),
    h('dt', {}, 'SHA-256'), h('dd', {}, h('code', { class: 'hash' }, licence.sha256))), text, state];
}

function filesPart({ files }) {
  if (!files) return null;
  return [
    files.model_data ? notice('info', files.model_data) : null,
    h('table', {},
      h('caption', {}, 'Files you may download at your level'),
      h('thead', {}, h('tr', {}, ['File', 'Role', 'Size', 'SHA-256'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, files.data.map((f) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: f.url, download: f.name }, f.name)),
        h('td', {}, f.role), h('td', {}, fmtBytes(f.size)), h('td', {}, h('code', {}, f.sha256)))))),
    h('p', {}, 'Every file is in the ', h('a', { href: files.manifest.url, download: 'model.sig' }, 'signed manifest'),
      ` (root ${files.manifest.root_sha256.slice(0, 16)}…, signed ${fmtTime(files.manifest.signed_at)}), which `,
      h('code', {}, 'aperture manifest verify'), ' and OpenSSF\'s ', h('code', {}, 'model_signing verify key'),
      ' check with ', h('a', { href: files.manifest.key }, 'the server\'s key'), '.')];
}

export function downloadsSection(data) {
  if (!data.licence && !data.files) return null;
  return section('Licence and downloads', licencePart(data), filesPart(data));
}
