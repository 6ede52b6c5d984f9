// The research playground: the model's internals for callers whose level
// allows `inspect` (and `intervene` for steering), through the same research
// API every client uses (docs/research.md). Three views: the logit lens as
// a heatmap (each layer's best guess at each position), one attention
// head's pattern, and a steering slider (a direction from contrast inputs,
// added at a layer with the chosen strength while the model writes). Every
// request is a log entry; the page shows each one's receipt.
import { api, currentSession } from '../api.js';
import { clear, field, h, notice, section, show } from '../dom.js';
import { heatmap } from '../charts.js';

const MAX_TOKENS = 48;  // the prompt length the page works with (its pictures stay readable)

// A research answer may carry its error in a 200 body (after admission).
async function research(path, body) {
  const r = await api('POST', path, body);
  if (r && r.error) throw new Error(r.error.message || 'the research request failed');
  return r;
}

function receiptLine(r) {
  if (!r.receipt) return null;
  return h('p', { class: 'muted receipt' }, 'On the record: ',
    h('a', { href: '/log' }, `log entry #${r.receipt.log_index}`), `, result SHA-256 ${String(r.receipt.result_sha256).slice(0, 16)}…`);
}

// Token text for axes: spaces and newlines made visible.
const visible = (t) => String(t).replace(/\n/g, '⏎').replace(/^ /, '·').replace(/ /g, '·') || '∅';

function lensView(answer, config) {
  const lens = answer.logit_lens;
  const positions = lens.positions;
  const cols = positions.map((p) => `${p}:${visible(answer.str_tokens[p])}`);
  const rows = lens.top.map((_, l) => `layer ${l}`);
  const best = (l, j) => lens.top[l][j][0];
  const map = heatmap({
    rows, cols,
    value: (l, j) => Math.exp(best(l, j).logprob),
    text: (l, j) => visible(best(l, j).text),
    describe: (l, j) => `layer ${l}, after ${JSON.stringify(answer.str_tokens[positions[j]])}: ` +
      `${JSON.stringify(best(l, j).text)} with probability ${Math.exp(best(l, j).logprob).toFixed(3)}`,
    label: `Logit lens over ${config.n_layers} layers and ${positions.length} positions: each cell is the token ` +
      'that layer\'s residual stream predicts next, shaded by its probability',
  });
  const table = h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Layer'),
    positions.map((p) => h('th', { scope: 'col' }, visible(answer.str_tokens[p]))))),
  h('tbody', {}, lens.top.map((layer, l) => h('tr', {}, h('th', { scope: 'row' }, String(l)),
    layer.map((top) => h('td', {}, `${visible(top[0].text)} ${Math.exp(top[0].logprob).toFixed(2)}`))))));
  return [h('div', { class: 'heatmap-box' }, map), h('details', {}, h('summary', {}, 'The same as a table'), table)];
}

function patternView(answer, layer, head) {
  const site = `blocks.${layer}.attn.hook_pattern`;
  const pattern = answer.captures[site];  // [head][query][key]
  const labels = answer.str_tokens.map((t, i) => `${i}:${visible(t)}`);
  const grid = pattern[head];
  return [h('div', { class: 'heatmap-box' }, heatmap({
    rows: labels, cols: labels,
    value: (q, k) => (k > q ? null : grid[q][k]),
    text: null,
    describe: (q, k) => (k > q ? `query ${q} cannot see key ${k} (later)`
      : `query ${q} ${JSON.stringify(answer.str_tokens[q])} attends to key ${k} ${JSON.stringify(answer.str_tokens[k])} with weight ${grid[q][k].toFixed(3)}`),
    label: `Attention pattern of layer ${layer}, head ${head}: rows are query positions, columns the key positions they attend to`,
  })), h('p', {}, `Strongest: `, strongest(grid, answer.str_tokens))];
}

function strongest(grid, tokens) {
  const out = [];
  grid.forEach((row, q) => {
    if (q === 0) return;
    let k = 0;
    row.forEach((w, j) => { if (j <= q && w > row[k]) k = j; });
    out.push(`${visible(tokens[q])}→${visible(tokens[k])} ${row[k].toFixed(2)}`);
  });
  return out.slice(-6).join(', ');
}

export async function render(id) {
  const enc = encodeURIComponent(id);
  const title = h('h1', {}, `Research playground: ${id}`);
  if (!currentSession().principal) {
    show(title, notice('info', 'Research access is by grant: ', h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'sign in'), ' first.'));
    return;
  }
  const [card, levels] = await Promise.all([api('GET', `/v1/models/${enc}/card`), api('GET', '/v1/levels')]);
  const mine = levels.data.find((l) => l.level === card.level) || { capabilities: [] };
  const can = (c) => mine.capabilities.includes(c);
  if (!can('inspect')) {
    const needed = levels.data.find((l) => l.capabilities.includes('inspect'));
    show(title, notice('info', `Your level on ${id} is ${card.level}; looking inside the model needs ${needed ? needed.level : 'research'}. `,
      h('a', { href: `/models/${enc}/request?level=${needed ? needed.level : 'research'}` }, 'Ask for it'), '.'));
    return;
  }
  const a = card.architecture || {};
  const config = { n_layers: a.layers || 1, n_heads: a.heads || 1 };

  const prompt = h('textarea', { rows: 2, maxlength: 400, required: true }, 'Once upon a time, there was a little girl named Lily. She');
  const layer = h('select', {}, Array.from({ length: config.n_layers }, (_, l) => h('option', { value: l }, String(l))));
  const head = h('select', {}, Array.from({ length: config.n_heads }, (_, i) => h('option', { value: i }, String(i))));
  const lensOut = h('div', { 'aria-live': 'polite' });
  const patternOut = h('div', { 'aria-live': 'polite' });
  let last = null;  // the latest answer with the selected layer's pattern

  const drawPattern = () => {
    if (!last) return;
    clear(patternOut).append(...patternView(last.answer, last.layer, Number(head.value)));
  };
  const inspect = async ({ lens }) => {
    const out = lens ? lensOut : patternOut;
    clear(out).append(h('p', {}, 'Running…'));
    try {
      const body = { model: id, input: prompt.value, capture: [{ hook: `blocks.${layer.value}.attn.hook_pattern` }] };
      if (lens) body.return = { logit_lens: { top_k: 1 } };
      const answer = await research('/v1/research/run', body);
      if (answer.tokens.length > MAX_TOKENS) throw new Error(`the prompt is ${answer.tokens.length} tokens; keep it under ${MAX_TOKENS} for pictures you can read`);
      Object.assign(config, { n_layers: answer.config.n_layers, n_heads: answer.config.n_heads });
      last = { answer, layer: Number(layer.value) };
      if (lens) clear(lensOut).append(...lensView(answer, config), receiptLine(answer));
      drawPattern();
      if (!lens) patternOut.append(receiptLine(answer));
    } catch (e) {
      clear(out).append(notice('error', h('strong', {}, 'Refused: '), e.message));
    }
  };
  layer.addEventListener('change', () => inspect({ lens: false }));
  head.addEventListener('change', drawPattern);

  // Steering: a direction from contrast inputs, added with a strength.
  const steerLayer = h('select', {}, Array.from({ length: config.n_layers }, (_, l) => h('option', { value: l }, String(l))));
  steerLayer.value = String(Math.floor(config.n_layers / 2));
  const positive = h('input', { type: 'text', value: 'happy, joyful, glad, smiling' });
  const negative = h('input', { type: 'text', value: 'sad, crying, upset, gloomy' });
  const strength = h('input', { type: 'range', min: -12, max: 12, step: 1, value: 0 });
  const strengthOut = h('output', {}, '0');
  const steerOut = h('div', { 'aria-live': 'polite' });
  let direction = null;
  let generation = 0;
  const generate = async () => {
    if (!direction) return;
    const mineNow = ++generation;
    const scale = Number(strength.value);
    clear(steerOut).append(h('p', {}, `Writing with strength ${scale}…`));
    try {
      const answer = await research('/v1/research/run', {
        model: id, input: prompt.value, generate: { max_tokens: 40, temperature: 0 },
        interventions: scale === 0 ? [] : [{ hook: direction.hook, op: 'add', vector: direction.vector, scale }],
      });
      if (mineNow !== generation) return;  // the slider moved on
      clear(steerOut).append(h('p', {}, `Strength ${scale} at ${direction.hook}:`),
        h('p', { class: 'generated' }, prompt.value, h('strong', {}, answer.generated.text)), receiptLine(answer));
    } catch (e) {
      if (mineNow === generation) clear(steerOut).append(notice('error', h('strong', {}, 'Refused: '), e.message));
    }
  };
  let timer = null;
  strength.addEventListener('input', () => { strengthOut.textContent = strength.value; });
  strength.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(generate, 150); });
  const split = (text) => text.split(',').map((x) => x.trim()).filter(Boolean);
  const findDirection = async (ev) => {
    ev.preventDefault();
    clear(steerOut).append(h('p', {}, 'Finding the direction…'));
    try {
      const hook = `blocks.${steerLayer.value}.hook_resid_post`;
      const d = await research('/v1/research/directions', { model: id, hook, positive: split(positive.value), negative: split(negative.value), position: 'mean' });
      direction = { hook, vector: d.vector };
      strength.disabled = false;
      clear(steerOut).append(h('p', {}, `Direction at ${hook}: ${d.vector.length} numbers, norm ${Number(d.norm).toFixed(2)}. `,
        'Move the slider to add it while the model writes.'), receiptLine(d));
      await generate();
    } catch (e) {
      clear(steerOut).append(notice('error', h('strong', {}, 'Refused: '), e.message));
    }
  };
  strength.disabled = true;

  show(title,
    h('p', { class: 'lead' }, 'Look inside the model: what each layer predicts, where each attention head looks, and what happens when you push its activations. ',
      'Every request here is a research request on the record (docs/research.md); the Python client does the same from a notebook.'),
    section('What the model reads', field('Prompt', prompt, `Up to ${MAX_TOKENS} tokens.`),
      h('button', { type: 'button', class: 'primary', onclick: () => inspect({ lens: true }) }, 'Inspect')),
    section('Logit lens', h('p', {}, 'Each layer\'s residual stream read through the final norm and unembedding: the token it would predict next, and how sure it is.'), lensOut),
    section('Attention pattern', h('div', { class: 'decide' }, field('Layer', layer), field('Head', head)),
      h('p', {}, 'Where each position (row) looks among the positions before it (columns). Darker is more weight.'), patternOut),
    can('intervene') ? section('Steering',
      h('form', { class: 'decide', onsubmit: findDirection }, field('Layer', steerLayer), field('Towards (comma-separated)', positive),
        field('Away from', negative), h('button', { type: 'submit' }, 'Find the direction')),
      h('div', { class: 'decide steer' }, field('Strength', strength, 'Negative values push away from the direction.'), strengthOut),
      steerOut) : section('Steering', notice('info', `Steering needs the intervene capability, which ${card.level} does not have.`)));
}
