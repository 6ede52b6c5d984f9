// The browser's own record for verifying the log: the verifier key the
// visitor pinned and the last checkpoint this browser verified, kept in
// localStorage (never sent anywhere). Verdicts come from verify.js, which
// checks everything itself; the server only supplies bytes.
import * as v from './verify.js';

const KEY = 'aperture.log.verifier_key';
const LAST = 'aperture.log.last_checkpoint';

export function pinnedKey() { return localStorage.getItem(KEY); }
export async function pinKey(text) {
  await v.parseVerifierKey(text);  // refuse a malformed key before keeping it
  localStorage.setItem(KEY, text.trim());
}
export function unpinKey() { localStorage.removeItem(KEY); localStorage.removeItem(LAST); }
export function lastSeen() {
  try { return JSON.parse(localStorage.getItem(LAST) || 'null'); } catch { return null; }
}

export async function fetchBytes(path) {
  const r = await fetch(`/log/${path}`, { cache: 'no-store' });
  if (!r.ok) throw new Error(`/log/${path}: ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}
async function fetchText(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.text();
}
async function fetchJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error && body.error.message) || `${path}: ${r.status}`);
  return body;
}

// Verifies the log's current head. Returns {ok, checks: [{name, ok, detail}],
// checkpoint}; `ok` only when every check passed. Saves the checkpoint as
// the last seen when it is verified.
export async function verifyHead() {
  const checks = [];
  const check = (name, ok, detail) => { checks.push({ name, ok, detail }); return ok; };
  const done = (checkpoint) => ({ ok: checks.every((c) => c.ok), checks, checkpoint });
  if (!v.hasWebCrypto()) {
    check('WebCrypto', false, 'This page is not in a secure context (https, or http://localhost), so the browser offers no WebCrypto.');
    return done(null);
  }
  const keyText = pinnedKey();
  if (!check('Pinned verifier key', !!keyText, keyText || 'No key pinned: pin the log\'s verifier key first.')) return done(null);
  let checkpoint;
  try {
    const vkey = await v.parseVerifierKey(keyText);
    const text = await fetchText('/log/checkpoint');
    checkpoint = await v.verifyCheckpoint(text, vkey);
    check('Signature', true, `The checkpoint is signed by ${vkey.name} (Ed25519, checked in this browser).`);
  } catch (e) {
    check('Signature', false, e.message);
    return done(null);
  }
  try {
    const { root, tiles } = await v.rootFromTiles(checkpoint.size, fetchBytes);
    check('Tree from tiles', v.equalBytes(root, checkpoint.root), v.equalBytes(root, checkpoint.root)
      ? `The root recomputed from ${tiles.length} tile(s) equals the signed root of ${checkpoint.size} entries.`
      : `The root recomputed from the tiles (${v.b64encode(root)}) differs from the signed root (${v.b64encode(checkpoint.root)}): the server served altered data.`);
  } catch (e) {
    check('Tree from tiles', false, e.message);
  }
  const last = lastSeen();
  if (!last || last.origin !== checkpoint.origin) {
    check('Consistency', true, 'First checkpoint this browser has seen from this log: kept, to check the next one against.');
  } else if (last.size > checkpoint.size) {
    check('Consistency', false, `This browser saw the log at ${last.size} entries; it now claims ${checkpoint.size}: it was rolled back or forked.`);
  } else {
    try {
      const proof = last.size === checkpoint.size ? { proof: [] }
        : await fetchJson(`/log/proof/consistency?old=${last.size}&new=${checkpoint.size}`);
      const ok = await v.verifyConsistency(last.size, checkpoint.size, v.b64decode(last.root), checkpoint.root,
        proof.proof.map(v.b64decode));
      check('Consistency', ok, ok ? `Extends the checkpoint of ${last.size} entries this browser saw ${new Date(last.seen).toISOString()}: nothing was rewritten.`
        : `Does not extend the checkpoint of ${last.size} entries this browser saw: the log rewrote its past.`);
    } catch (e) {
      check('Consistency', false, e.message);
    }
  }
  const result = done(checkpoint);
  if (result.ok) {
    localStorage.setItem(LAST, JSON.stringify({ origin: checkpoint.origin, size: checkpoint.size,
      root: v.b64encode(checkpoint.root), seen: Date.now() }));
  }
  return result;
}

// Whether `entry` (text) sits at `index` under a verified checkpoint, by the
// proof given (base64 hashes): {ok, detail}.
export async function verifyEntry(entry, index, proof, checkpoint) {
  const leaf = await v.leafHash(entry);
  const root = await v.rootFromInclusionProof(index, checkpoint.size, leaf, proof.map(v.b64decode));
  const ok = v.equalBytes(root, checkpoint.root);
  return { ok, leaf: v.hex(leaf), detail: ok ? `Entry ${index} is in the signed tree of ${checkpoint.size} entries.`
    : `Entry ${index} does not hash up to the signed root: it is not what the log committed to.` };
}

// Fetches an inclusion proof for `index` at the checkpoint's size and checks it.
export async function verifyIndex(entry, index, checkpoint) {
  const p = await fetchJson(`/log/proof/inclusion?index=${index}&size=${checkpoint.size}`);
  return verifyEntry(entry, index, p.proof, checkpoint);
}
