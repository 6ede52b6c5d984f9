// Pictures where people would rather look than read: the release gradient,
// evaluation scores against their thresholds, usage over days. Plain SVG
// built with DOM calls; each has a text alternative (role="img", <title>)
// and the page always states the same facts in words beside it.

import { s } from './dom.js';
import { LEVELS } from './api.js';

const W = 700;

// The gradient closed … open with the public level, the ceiling and the
// viewer's level marked. marks: {public, ceiling, yours}.
export function gradient(marks, label) {
  const step = W / LEVELS.length;
  const idx = (l) => LEVELS.indexOf(l);
  const ceiling = idx(marks.ceiling);
  const svg = s('svg', { viewBox: `0 0 ${W} 120`, class: 'chart gradient', role: 'img', 'aria-label': label },
    s('title', {}, label));
  LEVELS.forEach((level, i) => {
    const allowed = ceiling < 0 || i <= ceiling;
    svg.append(s('rect', { x: i * step + 2, y: 34, width: step - 4, height: 34, rx: 6,
      class: `seg seg-${i}${allowed ? '' : ' above-ceiling'}` }));
    svg.append(s('text', { x: i * step + step / 2, y: 56, 'text-anchor': 'middle', class: 'seg-label' }, level));
  });
  if (ceiling >= 0 && ceiling < LEVELS.length - 1) {
    const x = (ceiling + 1) * step;
    svg.append(s('line', { x1: x, y1: 26, x2: x, y2: 76, class: 'ceiling-line' }));
    svg.append(s('text', { x: x + 4, y: 22, class: 'mark-label ceiling-label' }, `ceiling: ${marks.ceiling}`));
  }
  const pin = (level, y, cls, text, up) => {
    const i = idx(level);
    if (i < 0) return;
    const x = i * step + step / 2;
    svg.append(s('path', { d: up ? `M${x} ${y} l-7 10 h14 z` : `M${x} ${y} l-7 -10 h14 z`, class: cls }));
    svg.append(s('text', { x, y: up ? y + 24 : y - 14, 'text-anchor': 'middle', class: `mark-label ${cls}` }, text));
  };
  pin(marks.public, 72, 'mark-public', `public: ${marks.public}`, true);
  if (marks.yours && marks.yours !== marks.public) pin(marks.yours, 31, 'mark-yours', `you: ${marks.yours}`, false);
  return svg;
}

// A score on 0..1 with the medium/high/critical thresholds drawn across it.
export function scoreBar(evaluation) {
  const t = evaluation.thresholds || {};
  const label = evaluation.score === null
    ? `${evaluation.suite}: not run yet; thresholds medium ${t.medium}, high ${t.high}, critical ${t.critical}`
    : `${evaluation.suite}: ${evaluation.metric} ${evaluation.score.toFixed(3)}; thresholds medium ${t.medium}, ` +
      `high ${t.high}, critical ${t.critical}`;
  const x = (v) => 10 + v * (W - 20);
  const svg = s('svg', { viewBox: `0 0 ${W} 64`, class: 'chart score', role: 'img', 'aria-label': label },
    s('title', {}, label));
  svg.append(s('rect', { x: 10, y: 18, width: W - 20, height: 18, class: 'track' }));
  if (evaluation.score !== null) {
    const tier = evaluation.score >= t.critical ? 'critical' : evaluation.score >= t.high ? 'high'
      : evaluation.score >= t.medium ? 'medium' : 'low';
    svg.append(s('rect', { x: 10, y: 18, width: Math.max(1, x(evaluation.score) - 10), height: 18,
      class: `bar tier-${tier}` }));
  }
  for (const [name, v] of [['medium', t.medium], ['high', t.high], ['critical', t.critical]]) {
    if (typeof v !== 'number') continue;
    svg.append(s('line', { x1: x(v), y1: 12, x2: x(v), y2: 42, class: `threshold th-${name}` }));
    svg.append(s('text', { x: x(v), y: 56, 'text-anchor': 'middle', class: 'axis' }, `${name} ${v}`));
  }
  svg.append(s('text', { x: 10, y: 10, class: 'axis' }, '0'));
  svg.append(s('text', { x: W - 10, y: 10, 'text-anchor': 'end', class: 'axis' }, '1'));
  return svg;
}

// Bars per day: rows [{date, prompt, completion}], stacked.
export function usageChart(rows, label) {
  const max = Math.max(1, ...rows.map((r) => r.prompt + r.completion));
  const H = 160;
  const bw = (W - 40) / Math.max(1, rows.length);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H + 30}`, class: 'chart usage', role: 'img', 'aria-label': label },
    s('title', {}, label));
  svg.append(s('text', { x: 0, y: 12, class: 'axis' }, `${max} tokens`));
  svg.append(s('line', { x1: 36, y1: H, x2: W, y2: H, class: 'baseline' }));
  rows.forEach((r, i) => {
    const x = 40 + i * bw;
    const hp = (r.prompt / max) * (H - 20);
    const hc = (r.completion / max) * (H - 20);
    svg.append(s('rect', { x: x + 1, y: H - hp, width: Math.max(1, bw - 2), height: hp, class: 'bar prompt' },
      s('title', {}, `${r.date}: ${r.prompt} prompt tokens`)));
    svg.append(s('rect', { x: x + 1, y: H - hp - hc, width: Math.max(1, bw - 2), height: hc, class: 'bar completion' },
      s('title', {}, `${r.date}: ${r.completion} completion tokens`)));
    if (i % Math.ceil(rows.length / 6) === 0) {
      svg.append(s('text', { x: x + bw / 2, y: H + 16, 'text-anchor': 'middle', class: 'axis' }, r.date.slice(5)));
    }
  });
  return svg;
}

// A progress bar for a running evaluation (a native <progress> is used in
// pages; this is for places that want the same look in SVG).
export function fraction(done, total) {
  return total > 0 ? Math.min(1, done / total) : 0;
}

// A heatmap: rows × columns of values in [0, 1], each cell shaded by its
// value (fill is an SVG attribute, so the strict CSP allows it) and,
// optionally, labelled. Every cell has a <title> with its full description,
// and the caller puts the same data in a table beside it.
// {rows: [label], cols: [label], value(r, c) -> number|null, text(r, c) -> string|null,
//  describe(r, c) -> string, label}
export function heatmap({ rows, cols, value, text, describe, label }) {
  const cell = text ? 44 : 22;
  const left = 84;
  const top = 70;
  const width = left + cols.length * cell + 4;
  const height = top + rows.length * 22 + 4;
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart heatmap', role: 'img', 'aria-label': label,
    width, height }, s('title', {}, label));
  cols.forEach((c, j) => {
    const x = left + j * cell + cell / 2;
    svg.append(s('text', { x, y: top - 6, class: 'axis', transform: `rotate(-50 ${x} ${top - 6})` }, c));
  });
  rows.forEach((r, i) => {
    svg.append(s('text', { x: left - 6, y: top + i * 22 + 15, 'text-anchor': 'end', class: 'axis' }, r));
    cols.forEach((_, j) => {
      const v = value(i, j);
      const shade = v === null || v === undefined ? null : Math.max(0, Math.min(1, v));
      const g = s('g', {});
      g.append(s('rect', { x: left + j * cell, y: top + i * 22, width: cell - 1, height: 21,
        fill: shade === null ? '#eef0f3' : heat(shade), class: 'cell' }, s('title', {}, describe(i, j))));
      const t = text ? text(i, j) : null;
      if (t) {
        g.append(s('text', { x: left + j * cell + cell / 2, y: top + i * 22 + 15, 'text-anchor': 'middle',
          class: `cell-text${shade !== null && shade > 0.55 ? ' on-dark' : ''}` }, t.length > 6 ? `${t.slice(0, 5)}…` : t));
      }
      svg.append(g);
    });
  });
  return svg;
}

// White to deep blue.
function heat(v) {
  const mix = (a, b) => Math.round(a + (b - a) * v);
  return `rgb(${mix(247, 29)}, ${mix(248, 78)}, ${mix(250, 216)})`;
}
