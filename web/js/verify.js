// Verifies the transparency log in the visitor's browser, trusting nothing
// the server says: the checkpoint's Ed25519 signature is checked (WebCrypto)
// with a verifier key the visitor pinned, the tree's root is recomputed from
// the log's hash tiles (C2SP tlog-tiles), inclusion and consistency proofs
// (RFC 9162) are checked against the signed root, and the last checkpoint
// seen is kept in the browser so a log that rewrites its past is caught.
// WebCrypto exists only in secure contexts (https, or http://localhost).
//
// Everything here is a pure function of bytes plus a `fetchBytes(path)`
// the caller supplies, so the same code runs in node for its unit tests.

const enc = new TextEncoder();

export function b64decode(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
export function b64encode(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
export function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''); }
export function equalBytes(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function hasWebCrypto() { return typeof crypto !== 'undefined' && !!crypto.subtle; }

export async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)); }
export async function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), typeof entry === 'string' ? enc.encode(entry) : entry));
}
export async function nodeHash(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }

// ---- signed notes and checkpoints (C2SP signed-note, tlog-checkpoint)

// "name+hash+base64(0x01 || 32-byte Ed25519 key)". A name has no '+', but
// the base64 may: only the first two '+' separate the parts.
export async function parseVerifierKey(text) {
  const t = String(text).trim();
  const p1 = t.indexOf('+');
  const p2 = p1 < 0 ? -1 : t.indexOf('+', p1 + 1);
  const parts = p2 < 0 ? [] : [t.slice(0, p1), t.slice(p1 + 1, p2), t.slice(p2 + 1)];
  if (parts.length !== 3 || !parts[0] || !/^[0-9a-f]{8}$/.test(parts[1]) || !parts[2]) {
    throw new Error('a verifier key looks like name+1a2b3c4d+base64…');
  }
  let key;
  try { key = b64decode(parts[2]); } catch { throw new Error('the verifier key\'s last part is not base64'); }
  if (key.length !== 33 || key[0] !== 1) throw new Error('the verifier key is not an Ed25519 key');
  const id = await keyId(parts[0], key);
  if (hex(id) !== parts[1]) throw new Error('the verifier key\'s hash does not match its name and key');
  return { name: parts[0], id, publicKey: key.slice(1) };
}

async function keyId(name, algAndKey) {
  return (await sha256(concat(enc.encode(name), new Uint8Array([10]), algAndKey))).slice(0, 4);
}

export function parseNote(text) {
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the checkpoint is not a signed note (no blank line before signatures)');
  const body = text.slice(0, split + 1);
  const signatures = [];
  for (const line of text.slice(split + 2).split('\n')) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`a signature line is malformed: ${line.slice(0, 60)}`);
    const raw = b64decode(m[2]);
    if (raw.length < 5) throw new Error('a signature is too short');
    signatures.push({ name: m[1], id: raw.slice(0, 4), signature: raw.slice(4) });
  }
  return { body, signatures };
}

export function parseCheckpoint(body) {
  const lines = body.split('\n');
  if (lines.length < 4 || !/^\d+$/.test(lines[1])) throw new Error('the checkpoint body is malformed');
  const root = b64decode(lines[2]);
  if (root.length !== 32) throw new Error('the checkpoint root is not a SHA-256 hash');
  return { origin: lines[0], size: Number(lines[1]), root };
}

// Checks the note's signature by `vkey` (parseVerifierKey); returns the checkpoint.
export async function verifyCheckpoint(text, vkey) {
  const note = parseNote(text);
  const sig = note.signatures.find((s) => s.name === vkey.name && equalBytes(s.id, vkey.id));
  if (!sig) throw new Error(`no signature by the pinned key ${vkey.name}`);
  const key = await crypto.subtle.importKey('raw', vkey.publicKey, { name: 'Ed25519' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, sig.signature, enc.encode(note.body));
  if (!ok) throw new Error('the checkpoint\'s signature does not verify with the pinned key');
  const cp = parseCheckpoint(note.body);
  if (cp.origin !== vkey.name) throw new Error(`the checkpoint names the log ${cp.origin}, not ${vkey.name}`);
  return cp;
}

// ---- tiles

export function tilePath(level, index, width) {
  let n = String(index % 1000).padStart(3, '0');
  for (let rest = Math.floor(index / 1000); rest > 0; rest = Math.floor(rest / 1000)) {
    n = `x${String(rest % 1000).padStart(3, '0')}/${n}`;
  }
  return `tile/${level}/${n}${width < 256 ? `.p/${width}` : ''}`;
}

// The hashes at tree level 8*level, indices [from, from+count), from one tile.
async function tileHashes(level, from, count, size, fetchBytes, cache) {
  const available = Math.floor(size / 2 ** (8 * level));
  const index = Math.floor(from / 256);
  const width = Math.min(256, available - index * 256);
  const path = tilePath(level, index, width);
  if (!cache.has(path)) {
    const bytes = await fetchBytes(path);
    if (bytes.length !== width * 32) {
      throw new Error(`${path} has ${bytes.length} bytes, not ${width * 32}`);
    }
    cache.set(path, bytes);
  }
  const bytes = cache.get(path);
  const out = [];
  for (let i = from - index * 256; i < from - index * 256 + count; i++) out.push(bytes.slice(i * 32, i * 32 + 32));
  return out;
}

async function hashUp(hashes) {
  let level = hashes;
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(await nodeHash(level[i], level[i + 1]));
    level = next;
  }
  return level[0];
}

// The RFC 9162 root of a tree of `size` leaves, computed from hash tiles.
// Returns the root and the tile paths read.
export async function rootFromTiles(size, fetchBytes) {
  if (size === 0) return { root: await sha256(new Uint8Array(0)), tiles: [] };
  const cache = new Map();
  const subtrees = [];
  let start = 0;
  for (let k = Math.floor(Math.log2(size)); k >= 0; k--) {
    if (size < start + 2 ** k) continue;
    const level = Math.floor(k / 8);
    const span = 2 ** (k - 8 * level);
    const first = start / 2 ** (8 * level);
    subtrees.push(await hashUp(await tileHashes(level, first, span, size, fetchBytes, cache)));
    start += 2 ** k;
  }
  let root = subtrees[subtrees.length - 1];
  for (let i = subtrees.length - 2; i >= 0; i--) root = await nodeHash(subtrees[i], root);
  return { root, tiles: [...cache.keys()] };
}

// ---- proofs (RFC 9162 2.1.3.2 and 2.1.4.2)

export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (index >= size) throw new Error('the index is not inside the tree');
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error('the inclusion proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the inclusion proof is too short');
  return r;
}

export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) throw new Error('the new tree is smaller than the old one');
  if (oldSize === newSize) {
    if (proof.length) throw new Error('a proof between equal sizes must be empty');
    return equalBytes(oldRoot, newRoot);
  }
  if (oldSize === 0) return proof.length === 0;
  let path = proof;
  if ((oldSize & (oldSize - 1)) === 0) path = [oldRoot, ...proof];
  if (!path.length) throw new Error('the consistency proof is empty');
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) throw new Error('the consistency proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}
