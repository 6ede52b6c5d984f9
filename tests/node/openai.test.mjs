// The official `openai` package against a real Aperture server serving
// ../shared/models/stories260K.gguf: chat, streamed chat, completions with
// logprobs, embeddings, and a level refusal as the client's own error type.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'build/aperture');
const model = resolve(root, '../shared/models/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'aperture-node-'));
const data = join(dir, 'data');
let server, baseURL, memberKey;

const run = (...args) => execFileSync(bin, [...args, '--data', data], { encoding: 'utf8' }).trim();

before(async () => {
  run('init');
  run('model', 'add', '--id', 'stories', '--path', model, '--public-level', 'hosted');
  run('principal', 'add', '--name', 'dev');
  memberKey = run('key', 'create', '--principal', 'dev');
  run('grant', '--principal', 'dev', '--model', 'stories', '--level', 'api', '--reason', 'node test');
  server = spawn(bin, ['serve', '--data', data, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  baseURL = await new Promise((ok, fail) => {
    server.stdout.on('data', (chunk) => {
      const m = /listening on (http:\/\/\S+)/.exec(String(chunk));
      if (m) ok(m[1] + '/v1');
    });
    server.on('exit', (code) => fail(new Error(`server exited with ${code}`)));
  });
});

after(() => {
  server?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

const client = () => new OpenAI({ apiKey: memberKey, baseURL, maxRetries: 0 });

test('chat', async () => {
  const r = await client().chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 16);
});

test('streamed chat', async () => {
  const stream = await client().chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Once upon a time' }], max_tokens: 16, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  let text = '', usage;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(text.length > 0);
  assert.equal(usage.completion_tokens, 16);
});

test('completions with logprobs', async () => {
  const r = await client().completions.create({
    model: 'stories', prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 8);
  assert.equal(Object.keys(lp.top_logprobs[0]).length, 3);
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
});

test('embeddings', async () => {
  const r = await client().embeddings.create({ model: 'stories', input: ['a cat', 'a dog'] });
  assert.equal(r.data.length, 2);
  const norm = Math.hypot(...r.data[0].embedding);
  assert.ok(Math.abs(norm - 1) < 1e-3);
});

test('a level refusal is the client\'s PermissionDeniedError', async () => {
  await assert.rejects(
    client().chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'hi' }], logprobs: true, top_logprobs: 10 }),
    (err) => err instanceof OpenAI.PermissionDeniedError && err.status === 403 && /research/.test(err.message));
  const anonymous = new OpenAI({ apiKey: 'not-a-key', baseURL, maxRetries: 0 });
  await assert.rejects(anonymous.models.list(), (err) => err instanceof OpenAI.AuthenticationError);
});
