// The browser's log verifier (web/js/verify.js) against a tree built here
// straight from RFC 9162's definition, and the Markdown renderer's parser
// (web/js/markdown.js) on hostile input. No browser needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as v from '../../web/js/verify.js';
import { parse, safeHref } from '../../web/js/markdown.js';

const H = (...parts) => new Uint8Array(createHash('sha256').update(Buffer.concat(parts.map((p) => Buffer.from(p)))).digest());
const leaf = (e) => H([0], Buffer.from(e));
// MTH(D[n]) by the RFC's recursion: k = largest power of two below n.
function mth(leaves) {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return H([1], mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
function path(m, leaves) {
  if (leaves.length === 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}
function subproof(m, leaves, b) {
  const n = leaves.length;
  if (m === n) return b ? [] : [mth(leaves)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m <= k ? [...subproof(m, leaves.slice(0, k), b), mth(leaves.slice(k))]
    : [...subproof(m - k, leaves.slice(k), false), mth(leaves.slice(0, k))];
}
const entries = Array.from({ length: 700 }, (_, i) => `entry ${i}`);
const leaves = entries.map(leaf);

// Tiles as a log serves them: level L holds the hashes of full subtrees of 256^L leaves.
function fetchFor(size, tamper = null) {
  return async (p) => {
    const m = /^tile\/(\d+)\/(.+?)(?:\.p\/(\d+))?$/.exec(p);
    const level = Number(m[1]);
    const index = Number(m[2].replace(/x/g, '').replace(/\//g, ''));
    const width = m[3] ? Number(m[3]) : 256;
    const span = 256 ** level;
    const out = [];
    for (let i = index * 256; i < index * 256 + width; i++) out.push(...mth(leaves.slice(i * span, (i + 1) * span)));
    const bytes = new Uint8Array(out);
    if (tamper) bytes[tamper] ^= 1;
    assert.ok((index * 256 + width) * span <= size, `${p} is beyond the tree`);
    return bytes;
  };
}

test('tile paths follow C2SP tlog-tiles', () => {
  assert.equal(v.tilePath(0, 5, 256), 'tile/0/005');
  assert.equal(v.tilePath(1, 1234067, 17), 'tile/1/x001/x234/067.p/17');
});

test('the root from tiles equals the RFC 9162 root at every size', async () => {
  for (const size of [1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 700]) {
    const { root } = await v.rootFromTiles(size, fetchFor(size));
    assert.deepEqual(root, mth(leaves.slice(0, size)), `size ${size}`);
  }
});

test('one flipped byte in a tile changes the root', async () => {
  const { root } = await v.rootFromTiles(700, fetchFor(700, 40));
  assert.notDeepEqual(root, mth(leaves));
});

test('inclusion proofs verify and a wrong entry does not', async () => {
  for (const [index, size] of [[0, 1], [3, 7], [255, 700], [699, 700], [400, 513]]) {
    const tree = leaves.slice(0, size);
    const r = await v.rootFromInclusionProof(index, size, await v.leafHash(entries[index]), path(index, tree));
    assert.deepEqual(r, mth(tree));
    const wrong = await v.rootFromInclusionProof(index, size, await v.leafHash('forged'), path(index, tree));
    assert.notDeepEqual(wrong, mth(tree));
  }
});

test('consistency proofs verify and a rewritten past does not', async () => {
  for (const [m, n] of [[1, 2], [3, 7], [4, 700], [256, 513], [699, 700], [7, 7]]) {
    const proof = m === n ? [] : subproof(m, leaves.slice(0, n), true);
    assert.equal(await v.verifyConsistency(m, n, mth(leaves.slice(0, m)), mth(leaves.slice(0, n)), proof), true, `${m}->${n}`);
    if (m < n) {
      const forged = mth([leaf('forged'), ...leaves.slice(1, m)]);
      assert.equal(await v.verifyConsistency(m, n, forged, mth(leaves.slice(0, n)), proof), false);
    }
  }
});

test('markdown keeps raw HTML as text and drops unsafe links', () => {
  const nodes = parse('<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://example.org) ![img](https://evil/x.png)');
  const flat = JSON.stringify(nodes);
  assert.ok(!flat.includes('"script"'));
  assert.ok(flat.includes('<script>alert(1)</script>'));
  assert.ok(!flat.includes('javascript:'));
  assert.ok(flat.includes('https://example.org'));
  assert.ok(flat.includes('image: img'));
  assert.equal(safeHref('//evil.example/x'), null);
  assert.equal(safeHref('/models/x'), '/models/x');
  const blocks = parse('# T\n\n- a\n- b\n\n```\ncode\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |');
  assert.deepEqual(blocks.map((b) => b[0]), ['h3', 'ul', 'pre', 'table']);
});
