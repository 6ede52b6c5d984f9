// An independent check of Aperture's signed manifests with Node's own crypto:
// the Sigstore bundle's DSSE envelope verified as ECDSA P-256 over the
// pre-authentication encoding, the root digest recomputed from the
// resources, and every downloaded file hashed and compared, so that one
// changed byte is named. Nothing here uses Aperture's code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'build/aperture');
const model = resolve(root, '../shared/models/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'aperture-manifest-'));
const data = join(dir, 'data');
let server, base, key;

const run = (...args) => execFileSync(bin, [...args, '--data', data], { encoding: 'utf8' }).trim();
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const get = async (path, headers = {}) => {
  const r = await fetch(base + path, { headers: { Authorization: `Bearer ${key}`, ...headers } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
};

before(async () => {
  run('init');
  run('model', 'add', '--id', 'stories', '--path', model, '--public-level', 'download');
  const licence = join(dir, 'LICENSE');
  writeFileSync(licence, 'Apache License, Version 2.0 (the full text)\n');
  run('licence', 'set', '--model', 'stories', '--spdx', 'Apache-2.0', '--file', licence);
  const card = join(dir, 'card.md');
  writeFileSync(card, '# stories260K\nA tiny story model.\n');
  run('model', 'set-card', '--id', 'stories', '--file', card);
  run('principal', 'add', '--name', 'downloader');
  key = run('key', 'create', '--principal', 'downloader');
  server = spawn(bin, ['serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((ok, fail) => {
    server.stdout.on('data', (chunk) => {
      const m = /listening on (http:\/\/\S+)/.exec(String(chunk));
      if (m) ok(m[1]);
    });
    server.on('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
  const licenceInfo = JSON.parse(await get('/v1/models/stories/licence'));
  const accepted = await fetch(base + '/v1/models/stories/licence/accept', {
    method: 'POST', headers: { Authorization: `Bearer ${key}` }, body: JSON.stringify({ sha256: licenceInfo.sha256 }) });
  assert.equal(accepted.status, 200);
});

after(() => {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

// The manifest's statement, after checking the bundle's signature with `pem`.
function verifiedStatement(bundle, pem) {
  assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
  assert.equal(bundle.verificationMaterial.publicKey.hint, sha256(pem));
  const publicKey = createPublicKey(pem);
  assert.equal(publicKey.asymmetricKeyType, 'ec');
  assert.equal(publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1');
  const envelope = bundle.dsseEnvelope;
  assert.equal(envelope.payloadType, 'application/vnd.in-toto+json');
  const payload = Buffer.from(envelope.payload, 'base64');
  const type = Buffer.from(envelope.payloadType);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  const signature = Buffer.from(envelope.signatures[0].sig, 'base64');
  assert.ok(verify('sha256', pae, publicKey, signature), 'the ECDSA P-256 signature over the DSSE PAE verifies');
  return JSON.parse(payload);
}

// The names of the files whose bytes do not match the statement's digests.
function differingFiles(statement, files) {
  const byName = new Map(statement.predicate.resources.map((r) => [r.name, r.digest]));
  return [...files].filter(([name, bytes]) => byName.get(name) !== sha256(bytes)).map(([name]) => name);
}

test('the manifest verifies with node crypto and matches every downloaded file', async () => {
  const pem = (await get('/v1/signing-key')).toString();
  const bundle = JSON.parse(await get('/v1/models/stories/manifest'));
  const statement = verifiedStatement(bundle, pem);
  assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
  assert.equal(statement.predicateType, 'https://model_signing/signature/v1.0');
  assert.equal(statement.predicate.serialization.method, 'files');
  assert.equal(statement.predicate.serialization.hash_type, 'sha256');
  assert.equal(statement.subject.length, 1);
  assert.equal(statement.subject[0].name, 'stories');

  // The root digest, recomputed: SHA-256 over the resources' digests in name order.
  const resources = statement.predicate.resources;
  const names = resources.map((r) => r.name);
  assert.deepEqual(names, [...names].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1)));
  for (const r of resources) assert.equal(r.algorithm, 'sha256');
  const rootDigest = sha256(Buffer.concat(resources.map((r) => Buffer.from(r.digest, 'hex'))));
  assert.equal(rootDigest, statement.subject[0].digest.sha256);

  // Every file the listing offers, downloaded and hashed here.
  const listing = JSON.parse(await get('/v1/models/stories/files'));
  const files = new Map();
  for (const f of listing.data) {
    if (f.name === 'model.sig') continue;
    files.set(f.name, await get(f.url));
  }
  assert.deepEqual([...files.keys()].sort(), [...names].sort());
  assert.deepEqual(differingFiles(statement, files), []);
  assert.equal(files.get('stories260K.gguf').length, listing.data.find((f) => f.name === 'stories260K.gguf').size);

  // One changed byte is named.
  const tokenizer = Buffer.from(files.get('tokenizer.json'));
  tokenizer[20] ^= 1;
  files.set('tokenizer.json', tokenizer);
  assert.deepEqual(differingFiles(statement, files), ['tokenizer.json']);
});

test('an altered statement does not verify', async () => {
  const pem = (await get('/v1/signing-key')).toString();
  const bundle = JSON.parse(await get('/v1/models/stories/manifest'));
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64'));
  statement.predicate.resources[0].digest = '0'.repeat(64);
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  assert.throws(() => verifiedStatement(bundle, pem), /signature over the DSSE PAE verifies/);
});

test('the transparency report is signed with the same key', async () => {
  const pem = (await get('/v1/signing-key')).toString();
  const signed = JSON.parse(await get('/v1/models/stories/report'));
  const payload = Buffer.from(signed.dsse.payload, 'base64');
  const type = Buffer.from(signed.dsse.payloadType);
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
  assert.ok(verify('sha256', pae, createPublicKey(pem), Buffer.from(signed.dsse.signatures[0].sig, 'base64')));
  assert.deepEqual(JSON.parse(payload), signed.report);
});
