// Markdown for model cards and chat answers, rendered safely: the text is
// parsed into a tree of a few known elements, and the tree is built with
// DOM calls, so no input can add an element, an attribute, a handler or a
// style of its own. Raw HTML in the input stays visible text. Links keep
// only http(s), mailto and same-site targets and open with rel="noopener
// noreferrer nofollow"; images become links (a page must load nothing from
// elsewhere). Supported: headings, paragraphs, emphasis, strong, inline
// code, fenced and indented code, block quotes, lists, rules, tables.
//
// parse(text) -> nodes: a string is text; [tag, attrs, ...children] an element.
// render(text) -> a DocumentFragment.

import { h } from './dom.js';

const MAX_INPUT = 256 * 1024;
const MAX_DEPTH = 8;

export function safeHref(url) {
  const u = url.trim();
  if (/^(https?:|mailto:)/i.test(u)) return u;
  if (/^(\/(?!\/)|#)/.test(u)) return u;  // same site, not protocol-relative
  return null;
}

export function parseInline(text) {
  const out = [];
  let buf = '';
  const flush = () => { if (buf) { out.push(buf); buf = ''; } };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && /[\\`*_[\]()#+\-.!>|~]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      let ticks = 1;
      while (text[i + ticks] === '`') ticks++;
      const fence = '`'.repeat(ticks);
      const end = text.indexOf(fence, i + ticks);
      if (end > 0) {
        flush();
        out.push(['code', {}, text.slice(i + ticks, end).replace(/^ (.*) $/, '$1')]);
        i = end + ticks;
        continue;
      }
    }
    if ((c === '*' || c === '_') && text[i + 1] === c) {
      const end = text.indexOf(c + c, i + 2);
      if (end > i + 2) {
        flush();
        out.push(['strong', {}, ...parseInline(text.slice(i + 2, end))]);
        i = end + 2;
        continue;
      }
    }
    if ((c === '*' || c === '_') && text[i + 1] && text[i + 1] !== ' ') {
      const end = text.indexOf(c, i + 1);
      const wordInside = c === '_' && /\w/.test(text[i - 1] || '');
      if (end > i + 1 && !wordInside) {
        flush();
        out.push(['em', {}, ...parseInline(text.slice(i + 1, end))]);
        i = end + 1;
        continue;
      }
    }
    if (c === '[' || (c === '!' && text[i + 1] === '[')) {
      const image = c === '!';
      const open = image ? i + 1 : i;
      const close = text.indexOf(']', open + 1);
      if (close > 0 && text[close + 1] === '(') {
        const end = text.indexOf(')', close + 2);
        if (end > 0) {
          const label = text.slice(open + 1, close);
          const href = safeHref(text.slice(close + 2, end).split(/\s+/)[0] || '');
          flush();
          const children = image ? [`image: ${label || 'untitled'}`] : parseInline(label);
          out.push(href ? ['a', { href, rel: 'noopener noreferrer nofollow' }, ...children] : ['span', {}, ...children]);
          i = end + 1;
          continue;
        }
      }
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}

function isRule(line) { return /^ {0,3}([-*_])( *\1){2,} *$/.test(line); }
function listItem(line) { return /^ {0,3}([-*+]|\d{1,9}[.)]) +(.*)$/.exec(line); }
function isTableRow(line) { return /^\s*\|.*\|\s*$/.test(line); }
function cells(line) { return line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()); }

export function parse(text, depth = 0) {
  const src = String(text).slice(0, MAX_INPUT).replace(/\r\n?/g, '\n');
  const lines = src.split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*$/.test(line)) { i++; continue; }
    const fence = /^ {0,3}(```+|~~~+)\s*([\w+-]*)/.exec(line);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      out.push(['pre', {}, ['code', fence[2] ? { 'data-lang': fence[2] } : {}, body.join('\n')]]);
      continue;
    }
    const heading = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      // Card headings sit under the page's own h2: shift them down.
      const level = Math.min(6, heading[1].length + 2);
      out.push([`h${level}`, {}, ...parseInline(heading[2])]);
      i++;
      continue;
    }
    if (isRule(line)) { out.push(['hr', {}]); i++; continue; }
    if (/^ {0,3}>/.test(line)) {
      const body = [];
      while (i < lines.length && /^ {0,3}>/.test(lines[i])) body.push(lines[i++].replace(/^ {0,3}> ?/, ''));
      out.push(['blockquote', {}, ...(depth < MAX_DEPTH ? parse(body.join('\n'), depth + 1) : [body.join('\n')])]);
      continue;
    }
    if (/^( {4}|\t)/.test(line)) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || /^\s*$/.test(lines[i]))) {
        body.push(lines[i++].replace(/^( {4}|\t)/, ''));
      }
      out.push(['pre', {}, ['code', {}, body.join('\n').replace(/\n+$/, '')]]);
      continue;
    }
    const item = listItem(line);
    if (item) {
      const ordered = /\d/.test(item[1]);
      const items = [];
      while (i < lines.length) {
        const m = listItem(lines[i]);
        if (m && /\d/.test(m[1]) === ordered) {
          items.push([m[2]]);
          i++;
        } else if (items.length && /^\s{2,}\S/.test(lines[i])) {
          items[items.length - 1].push(lines[i++].trim());
        } else {
          break;
        }
      }
      const attrs = ordered && Number.parseInt(item[1], 10) !== 1 ? { start: Number.parseInt(item[1], 10) } : {};
      out.push([ordered ? 'ol' : 'ul', attrs, ...items.map((it) => ['li', {}, ...parseInline(it.join(' '))])]);
      continue;
    }
    if (isTableRow(line) && i + 1 < lines.length && /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(lines[i + 1])) {
      const head = cells(line);
      i += 2;
      const rows = [];
      while (i < lines.length && isTableRow(lines[i])) rows.push(cells(lines[i++]));
      out.push(['table', {},
        ['thead', {}, ['tr', {}, ...head.map((c) => ['th', { scope: 'col' }, ...parseInline(c)])]],
        ['tbody', {}, ...rows.map((r) => ['tr', {}, ...r.map((c) => ['td', {}, ...parseInline(c)])])]]);
      continue;
    }
    const para = [];
    while (i < lines.length && !/^\s*$/.test(lines[i]) && !/^ {0,3}(#{1,6}\s|>|```|~~~)/.test(lines[i]) &&
           !isRule(lines[i]) && !(para.length && listItem(lines[i]))) {
      para.push(lines[i++].trim());
    }
    out.push(['p', {}, ...parseInline(para.join(' '))]);
  }
  return out;
}

const ALLOWED = new Set(['p', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li',
  'hr', 'a', 'span', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);
const ALLOWED_ATTRS = new Set(['href', 'rel', 'start', 'scope', 'data-lang']);

export function toDom(nodes) {
  const frag = document.createDocumentFragment();
  for (const n of nodes) {
    if (typeof n === 'string') { frag.append(document.createTextNode(n)); continue; }
    const [tag, attrs, ...children] = n;
    if (!ALLOWED.has(tag)) continue;
    const clean = {};
    for (const [k, v] of Object.entries(attrs)) if (ALLOWED_ATTRS.has(k)) clean[k] = v;
    const el = h(tag, clean);
    el.append(toDom(children));
    frag.append(el);
  }
  return frag;
}

export function render(text) { return toDom(parse(text)); }
