// The transparency log: its signed head, recent entries, search by entry
// hash, and a verification that runs in this browser and trusts nothing the
// server says (see logtrust.js and verify.js).
import { clear, field, h, notice, section, show } from '../dom.js';
import { lastSeen, pinKey, pinnedKey, unpinKey, verifyEntry, verifyHead, verifyIndex } from '../logtrust.js';
import { b64decode, hasWebCrypto, hex } from '../verify.js';

async function text(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.text();
}
async function json(path) {
  const r = await fetch(path, { cache: 'no-store' });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error && body.error.message) || `${path}: ${r.status}`);
  return body;
}

// The searched hash as lower-case hex (it may be typed as hex or base64);
// null if it is neither.
function searchedHex(text) {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return t.toLowerCase();
  try {
    const bytes = b64decode(t);
    return bytes.length === 32 ? hex(bytes) : null;
  } catch {
    return null;
  }
}

function describe(entryText) {
  try {
    const e = JSON.parse(entryText);
    return `${e.type || 'entry'} · ${e.actor || ''}${e.model ? ` · ${e.model}` : ''}${e.level ? ` · ${e.level}` : ''} · ${e.outcome || ''}${e.reason && e.reason !== 'ok' ? ` (${e.reason})` : ''}`;
  } catch {
    return entryText.slice(0, 120);
  }
}

function keyPanel(redraw) {
  const pinned = pinnedKey();
  const input = h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: 'name+1a2b3c4d+base64…' });
  const out = h('div', { 'aria-live': 'polite' });
  const pin = async (value) => {
    try { await pinKey(value); redraw(); } catch (e) { out.replaceChildren(notice('error', e.message)); }
  };
  return section('Verifier key',
    pinned ? h('p', {}, 'This browser checks checkpoints with the key you pinned: ', h('code', { class: 'wrap' }, pinned), ' ',
      h('button', { type: 'button', class: 'small', onclick: () => { unpinKey(); redraw(); } }, 'Unpin'))
      : h('p', {}, 'Pin the log\'s verifier key once. Best get it from someone other than this server (the model\'s owner publishes it); ',
        'a key taken from this server only proves the log is consistent with itself from now on.'),
    pinned ? null : h('form', { class: 'inline', onsubmit: (ev) => { ev.preventDefault(); pin(input.value); } },
      field('Verifier key', input), h('button', { type: 'submit' }, 'Pin this key'),
      h('button', { type: 'button', class: 'secondary', onclick: async () => pin(await text('/log/key')) }, 'Pin the key this server publishes')),
    out);
}

function verdictView(result) {
  return h('div', { class: `verdict-box ${result.ok ? 'ok' : 'bad'}`, role: 'status' },
    h('p', { class: 'verdict-line' }, result.ok ? '✓ Verified' : '✗ Not verified'),
    h('ul', { class: 'checks' }, result.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' },
      h('strong', {}, `${c.ok ? '✓' : '✗'} ${c.name}: `), c.detail))));
}

export async function render() {
  const draw = async () => {
    const [checkpoint, key] = await Promise.all([text('/log/checkpoint'), text('/log/key')]);
    const size = Number(checkpoint.split('\n')[1]);
    const start = Math.max(0, size - 20);
    const recent = await json(`/log/entries?start=${start}&end=${size}`);
    const verdict = h('div', { 'aria-live': 'polite', id: 'verdict' });
    let verified = null;
    const entryRows = recent.entries.slice().reverse().map((e) => {
      const cell = h('span', { class: 'verdict' });
      return h('li', {}, h('code', {}, `#${e.index}`), ' ', describe(e.entry), ' ', cell,
        h('span', { hidden: true, 'data-index': e.index }));
    });
    const verifyButton = h('button', { type: 'button', class: 'primary', onclick: async () => {
      verifyButton.disabled = true;
      clear(verdict).append(h('p', {}, 'Checking…'));
      try {
        const result = await verifyHead();
        verified = result.checkpoint && result.ok ? result.checkpoint : null;
        // Recent entries: each one's inclusion in the verified tree.
        if (verified) {
          const inRange = recent.entries.filter((e) => e.index < verified.size);
          const checks = await Promise.all(inRange.map((e) => verifyIndex(e.entry, e.index, verified)));
          const bad = checks.filter((c) => !c.ok);
          result.checks.push({ name: 'Recent entries', ok: bad.length === 0,
            detail: bad.length ? bad.map((c) => c.detail).join(' ') : `All ${checks.length} entries listed below are in the signed tree.` });
          result.ok = result.checks.every((c) => c.ok);
        }
        clear(verdict).append(verdictView(result));
      } catch (e) {
        clear(verdict).append(notice('error', `✗ Not verified: ${e.message}`));
      } finally {
        verifyButton.disabled = false;
      }
    } }, 'Verify in this browser');

    const hash = h('input', { type: 'text', spellcheck: 'false', placeholder: '64 hex digits or base64', required: true });
    const found = h('div', { 'aria-live': 'polite' });
    const search = h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      clear(found);
      try {
        const p = await json(`/log/proof/inclusion?hash=${encodeURIComponent(hash.value.trim())}`);
        const e = (await json(`/log/entries?start=${p.index}&end=${p.index + 1}`)).entries[0];
        const result = h('p', {});
        found.append(h('div', { class: 'card' }, h('p', {}, h('code', {}, `#${p.index}`), ' ', describe(e.entry)),
          h('pre', { class: 'entry', tabindex: 0 }, e.entry), result));
        if (!verified) {
          result.textContent = 'Verify the log above first to check this entry against a signed checkpoint.';
        } else if (p.index >= verified.size) {
          result.textContent = `This entry came after the checkpoint you verified (${verified.size} entries): verify again to check it.`;
        } else {
          // Against the checkpoint this browser verified, whatever the log's size now.
          const r = await verifyEntry(e.entry, p.index, (await json(`/log/proof/inclusion?index=${p.index}&size=${verified.size}`)).proof, verified);
          const wanted = searchedHex(hash.value);
          if (wanted && wanted !== r.leaf) {
            result.textContent = `✗ The server answered with entry ${p.index}, whose hash is ${r.leaf}, not the one searched for.`;
          } else {
            result.textContent = `${r.ok ? '✓' : '✗'} ${r.detail}`;
          }
        }
      } catch (err) {
        found.append(notice('error', err.message));
      }
    } }, field('Entry (leaf) hash', hash), h('button', { type: 'submit' }, 'Find'));

    const last = lastSeen();
    show(h('h1', {}, 'Transparency log'),
      h('p', { class: 'lead' }, 'Every grant, access decision, evaluation and release change is an entry in this append-only log. ',
        'Anyone can check that the log is signed, complete and never rewritten — here, in your own browser.'),
      section('Signed checkpoint', h('pre', { class: 'checkpoint', tabindex: 0 }, checkpoint),
        h('p', {}, `${size} entries. The server's verifier key: `, h('code', { class: 'wrap' }, key.trim())),
        last ? h('p', {}, `This browser last verified ${last.size} entries (${new Date(last.seen).toISOString()}).`) : null),
      keyPanel(draw),
      section('Verify', hasWebCrypto() ? null : notice('warn', 'WebCrypto is missing: open this page over https or on localhost.'),
        h('p', {}, 'Checks the checkpoint\'s signature with your pinned key, recomputes the tree\'s root from the log\'s tiles, ',
          'checks it extends the last checkpoint this browser saw, and checks each recent entry is in the tree.'),
        verifyButton, verdict),
      section('Recent entries', h('ol', { class: 'plain entries', reversed: true }, entryRows)),
      section('Find an entry', search, found));
  };
  await draw();
}
