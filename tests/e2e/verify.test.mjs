// The browser's log verifier (web/js/verify.js) against a tree built here
// straight from RFC 9162's definition, and the Markdown renderer's parser
// (web/js/markdown.js) on hostile input. No browser needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
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

// Past 65,536 leaves the root needs a level-2 tile. The RFC's recursion over
// that many leaves is slow, so these trees use a table of every full
// subtree's hash, built level by level (a full subtree of 2^k leaves is
// MTH's split into halves, by the definition), and MTH of any range splits
// by the RFC's rule until it meets a full subtree. The table is checked
// against mth() above on the small tree.
const BIG = 65536 + 700;
const bigLeaves = Array.from({ length: BIG }, (_, i) => leaf(`big entry ${i}`));
const full = [bigLeaves];  // full[k][i]: hash of leaves [i * 2^k, (i + 1) * 2^k)
while (full[full.length - 1].length > 1) {
  const below = full[full.length - 1];
  const next = [];
  for (let i = 0; i + 1 < below.length; i += 2) next.push(H([1], below[i], below[i + 1]));
  full.push(next);
}
function mthRange(begin, end) {
  const n = end - begin;
  if ((n & (n - 1)) === 0 && begin % n === 0) return full[Math.log2(n)][begin / n];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return H([1], mthRange(begin, begin + k), mthRange(begin + k, end));
}

// Tiles as a log serves them (C2SP tlog-tiles): tile L/N holds the hashes of
// the full subtrees of 256^L leaves numbered 256N, 256N+1, ...; a partial
// tile (.p/W) holds the first W. `subtree(i, span)` is the hash of leaves
// [i * span, (i + 1) * span). Every request is checked to be the tile the
// tree of `size` has: inside the tree, and full or exactly as wide as the
// tree's right edge. `tamper(path)` gives a byte to flip in that tile.
function tileServer(size, subtree, tamper = () => null) {
  const read = [];
  const fetchBytes = async (p) => {
    const m = /^tile\/(\d+)\/(.+?)(?:\.p\/(\d+))?$/.exec(p);
    assert.ok(m, `${p} is not a hash tile path`);
    const level = Number(m[1]);
    const index = Number(m[2].replace(/x/g, '').replace(/\//g, ''));
    const width = m[3] ? Number(m[3]) : 256;
    const span = 256 ** level;
    const nodes = Math.floor(size / span);
    assert.ok(index * 256 + width <= nodes, `${p} is beyond the tree of ${size}`);
    assert.equal(width, Math.min(256, nodes - index * 256), `${p} is not the tile the tree of ${size} has`);
    assert.equal(p, v.tilePath(level, index, width));
    const out = [];
    for (let i = index * 256; i < index * 256 + width; i++) out.push(...subtree(i, span));
    const bytes = new Uint8Array(out);
    const at = tamper(p);
    if (at !== null) bytes[at] ^= 1;
    read.push(p);
    return bytes;
  };
  return { fetchBytes, read };
}
const smallSubtree = (i, span) => mth(leaves.slice(i * span, (i + 1) * span));
const bigSubtree = (i, span) => full[Math.log2(span)][i];
const fetchFor = (size, tamper) => tileServer(size, smallSubtree, tamper).fetchBytes;

test('tile paths follow C2SP tlog-tiles', () => {
  assert.equal(v.tilePath(0, 5, 256), 'tile/0/005');
  assert.equal(v.tilePath(1, 1234067, 17), 'tile/1/x001/x234/067.p/17');
  assert.equal(v.tilePath(2, 0, 1), 'tile/2/000.p/1');
  assert.equal(v.tilePath(0, 1000, 256), 'tile/0/x001/000');
});

test('the root from tiles equals the RFC 9162 root at every size', async () => {
  for (const size of [1, 2, 3, 7, 255, 256, 257, 511, 512, 513, 700]) {
    const { root } = await v.rootFromTiles(size, fetchFor(size));
    assert.deepEqual(root, mth(leaves.slice(0, size)), `size ${size}`);
  }
});

test('the full-subtree table agrees with the RFC recursion', () => {
  const small = bigLeaves.slice(0, 700);
  for (const size of [1, 5, 256, 300, 512, 700]) assert.deepEqual(mthRange(0, size), mth(small.slice(0, size)), `size ${size}`);
});

test('the root from tiles is right across the 256 and 65,536 boundaries, reading level-1 and level-2 tiles', async () => {
  const cases = [[255, ['tile/0/000.p/255']], [256, ['tile/1/000.p/1']], [257, ['tile/1/000.p/1', 'tile/0/001.p/1']],
    [65535, ['tile/1/000.p/255', 'tile/0/255.p/255']], [65536, ['tile/2/000.p/1']],
    [65537, ['tile/2/000.p/1', 'tile/0/256.p/1']], [65536 + 256, ['tile/2/000.p/1', 'tile/1/001.p/1']],
    [65536 + 511, ['tile/2/000.p/1', 'tile/1/001.p/1', 'tile/0/257.p/255']], [BIG, null]];
  for (const [size, tiles] of cases) {
    const server = tileServer(size, bigSubtree);
    const { root, tiles: read } = await v.rootFromTiles(size, server.fetchBytes);
    assert.deepEqual(root, mthRange(0, size), `size ${size}`);
    assert.deepEqual(read, server.read);
    if (tiles) assert.deepEqual(read, tiles, `size ${size} read ${read}`);
  }
});

test('one flipped byte in a tile changes the root', async () => {
  const { root } = await v.rootFromTiles(700, fetchFor(700, () => 40));
  assert.notDeepEqual(root, mth(leaves));
  // In each tile the root is made from, at every level: the level-0 partial
  // tile, the level-1 tile, the level-2 tile.
  for (const size of [700, 65536 + 300]) {
    const { tiles } = await v.rootFromTiles(size, tileServer(size, bigSubtree).fetchBytes);
    for (const bad of tiles) {
      const { root: altered } = await v.rootFromTiles(size, tileServer(size, bigSubtree, (p) => (p === bad ? 31 : null)).fetchBytes);
      assert.notDeepEqual(altered, mthRange(0, size), `a flipped byte in ${bad} went unnoticed at size ${size}`);
    }
  }
});

test('a tile of the wrong length is refused', async () => {
  const short = async (p) => (await fetchFor(300)(p)).slice(0, -1);
  await assert.rejects(v.rootFromTiles(300, short), /bytes, not/);
});

// Signed notes as the server writes them (C2SP signed-note): the key ID is
// the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key).
function signer(name, { wantPlus = false } = {}) {
  for (;;) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const alg = Buffer.concat([Buffer.from([1]), pub]);
    const b64 = alg.toString('base64');
    if (wantPlus && !(b64.includes('+') && b64.includes('/'))) continue;
    const id = H(Buffer.from(name), [10], alg).subarray(0, 4);
    return {
      vkey: `${name}+${Buffer.from(id).toString('hex')}+${b64}`,
      sign: (body) => `${body}\n\u2014 ${name} ${Buffer.concat([id, sign(null, Buffer.from(body), privateKey)]).toString('base64')}\n`,
    };
  }
}

test('verifier keys whose base64 holds + and / parse, and checkpoints signed by them verify', async () => {
  const origin = 'example.org/log';
  const s = signer(origin, { wantPlus: true });
  const key = await v.parseVerifierKey(s.vkey);
  assert.equal(key.name, origin);
  const body = `${origin}\n700\n${Buffer.from(mth(leaves)).toString('base64')}\n`;
  const cp = await v.verifyCheckpoint(s.sign(body), key);
  assert.equal(cp.size, 700);
  assert.deepEqual(cp.root, mth(leaves));
  // An altered body, another key, or a key under another name: refused.
  const forged = s.sign(body).replace('\n700\n', '\n699\n');
  await assert.rejects(v.verifyCheckpoint(forged, key), /does not verify/);
  const other = await v.parseVerifierKey(signer(origin).vkey);
  await assert.rejects(v.verifyCheckpoint(s.sign(body), other), /no signature by the pinned key|does not verify/);
  await assert.rejects(v.parseVerifierKey(s.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+')), /hash does not match/);
  await assert.rejects(v.parseVerifierKey('no-plus-signs'), /looks like/);
  await assert.rejects(v.parseVerifierKey(`${origin}+abcd+AQ==`), /looks like/);
  await assert.rejects(v.parseVerifierKey(`${origin}+00000000+AQ==`), /not an Ed25519 key/);
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
