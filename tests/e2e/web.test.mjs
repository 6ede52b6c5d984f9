// The web interface in a real browser (Debian's chromium): the stories the
// issue names, each against a real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAll, launch, newPage, offOrigin, open, root, shot, startServer } from './harness.mjs';

let chrome;
let server;
let memberKey;
let researcherKey;
const seen = [];  // every request every page made, with its server

before(async () => {
  chrome = await launch();
  server = await startServer({ config: '[access_requests]\nretry_wait = "0s"\n' });
  server.run('model', 'set-request-fields', '--id', 'stories', '--fields',
    JSON.stringify([{ name: 'affiliation', type: 'text', required: true },
      { name: 'use', type: 'select', options: ['research', 'teaching'], required: true }]));
  server.run('principal', 'add', '--name', 'mia', '--role', 'member');
  memberKey = server.run('key', 'create', '--principal', 'mia');
  server.run('principal', 'add', '--name', 'rhea', '--role', 'member');
  researcherKey = server.run('key', 'create', '--principal', 'rhea');
  server.run('grant', '--principal', 'rhea', '--model', 'stories', '--level', 'research', '--reason', 'interpretability');
});

after(async () => {
  await closeAll();
  await chrome?.close();
  server?.stop();
});

async function page(url = server.url, options) {
  const p = await newPage(url, options);
  seen.push({ url, requests: p.requests });
  return p;
}

async function signIn(p, key) {
  await open(p.page, '/signin');
  await p.page.getByLabel('API key').fill(key);
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.waitForURL('**/me');
  await p.page.waitForSelector('body[data-ready="true"]');
}

test('an anonymous visitor sees the level, ceiling and reasons, chats with streamed tokens, and a refusal says how to ask', async () => {
  const p = await page();
  await open(p.page, '/');
  await p.page.getByRole('link', { name: 'stories', exact: true }).click();
  await p.page.waitForSelector('text=Where it stands');
  const standing = p.page.locator('section', { has: p.page.getByRole('heading', { name: 'Where it stands' }) });
  assert.match(await standing.innerText(), /Public level\s+hosted/);
  assert.match(await standing.innerText(), /Ceiling\s+open/);
  assert.match(await standing.innerText(), /No reason holds it lower|ceiling/);
  assert.ok(await p.page.locator('svg.gradient').count() >= 1);
  assert.match(await p.page.locator('main').innerText(), /Parameters\s+292\.8 k/);
  await shot(p.page, 'model-page');

  await p.page.getByRole('link', { name: 'Chat with it' }).click();
  await p.page.waitForSelector('text=Your level here');
  await p.page.getByLabel('Message').fill('Once upon a time');
  // Count the streamed pieces as they arrive.
  await p.page.evaluate(() => {
    window.__tokens = 0;
    new MutationObserver((ms) => { for (const m of ms) window.__tokens += [...m.addedNodes].filter((n) => n.classList && n.classList.contains('token')).length; })
      .observe(document.querySelector('.conversation'), { childList: true, subtree: true });
  });
  await p.page.getByRole('button', { name: 'Send' }).click();
  await p.page.locator('.chat-status', { hasText: /Done\.|token limit/ }).waitFor();
  const tokens = await p.page.evaluate(() => window.__tokens);
  assert.ok(tokens > 3, `expected the answer to stream in pieces, saw ${tokens}`);
  const answer = await p.page.locator('.msg.assistant .content').last().innerText();
  assert.ok(answer.trim().length > 0);
  await shot(p.page, 'chat');

  // More than hosted allows: token alternatives.
  await p.page.locator('summary', { hasText: 'Sampling settings' }).click();
  await p.page.getByLabel('Show the top alternatives for each token').check();
  await p.page.getByLabel('Message').fill('And then?');
  await p.page.getByRole('button', { name: 'Send' }).click();
  const refusal = p.page.locator('.notice.error');
  await refusal.waitFor();
  const text = await refusal.innerText();
  assert.match(text, /Refused \(403\)/);
  assert.match(text, /level 'api'/);
  assert.match(text, /How to get more/);
  assert.ok(await refusal.getByRole('link', { name: 'Sign in' }).count() === 1);
  await shot(p.page, 'chat-refused');
  assert.deepEqual(p.problems, []);
  await p.context.close();
});

test('the stop button ends a stream', async () => {
  const p = await page();
  await open(p.page, '/models/stories/chat');
  await p.page.locator('summary', { hasText: 'Sampling settings' }).click();
  await p.page.getByLabel('Max tokens').fill('512');
  await p.page.getByLabel('Message').fill('Tell a long story');
  // The small model writes 512 tokens in well under a second, faster than a
  // click travels: the page itself presses Stop when the first token shows.
  await p.page.evaluate(() => {
    const stop = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Stop');
    const seen = new MutationObserver(() => {
      if (document.querySelector('.token')) { seen.disconnect(); stop.click(); }
    });
    seen.observe(document.querySelector('.conversation'), { childList: true, subtree: true });
  });
  await p.page.getByRole('button', { name: 'Send' }).click();
  await p.page.locator('.chat-status', { hasText: 'Stopped.' }).waitFor();
  assert.equal(await p.page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
  const pieces = await p.page.locator('.msg.assistant .token').count();
  assert.ok(pieces >= 1 && pieces < 200, `stopped after ${pieces} pieces`);
  await p.context.close();
});

test('a member asks for research, an owner approves api for 30 days; a denial shows its reason and the member asks again', async () => {
  const member = await page();
  await signIn(member, memberKey);
  await shot(member.page, 'my-access');
  await open(member.page, '/models/stories/request');
  await member.page.getByLabel('Level asked for').selectOption('research');
  await member.page.getByLabel('affiliation (required)').fill('Example University');
  await member.page.getByLabel('use (required)').selectOption('research');
  await member.page.getByLabel('Why you need it').fill('Interpretability study of small story models.');
  await shot(member.page, 'request-access');
  await member.page.getByRole('button', { name: 'Send the request' }).click();
  await member.page.waitForSelector('.notice.ok');

  const owner = await page();
  await signIn(owner, server.ownerKey);
  await open(owner.page, '/console');
  const item = owner.page.locator('.queue > li', { hasText: 'mia asks for' });
  assert.match(await item.innerText(), /Example University/);
  await shot(owner.page, 'console');
  await item.getByLabel('Approve at').selectOption('api');
  await item.getByLabel('Expires').selectOption('30d');
  await item.getByRole('button', { name: /^Approve / }).click();
  await owner.page.waitForSelector('text=No request is waiting.');

  await open(member.page, '/me');
  const row = member.page.locator('tr', { has: member.page.getByRole('link', { name: 'stories' }) });
  const rowText = await row.innerText();
  assert.match(rowText, /api/);
  const expiry = new Date(Date.now() + 30 * 86400 * 1000).toISOString().slice(0, 10);
  assert.ok(rowText.includes(expiry), `expected the expiry ${expiry} in: ${rowText}`);
  const answer = await member.page.locator('li.request.approved').innerText();
  assert.match(answer, /Approved for less: api \(you asked for research\), until /);
  assert.ok(answer.includes(expiry), `expected the expiry ${expiry} in: ${answer}`);
  await shot(member.page, 'my-access-approved');

  // Now ask for research again, and be denied with a reason.
  await open(member.page, '/models/stories/request');
  await member.page.getByLabel('Level asked for').selectOption('research');
  await member.page.getByLabel('affiliation (required)').fill('Example University');
  await member.page.getByLabel('use (required)').selectOption('research');
  await member.page.getByLabel('Why you need it').fill('Activation patching.');
  await member.page.getByRole('button', { name: 'Send the request' }).click();
  await member.page.waitForSelector('.notice.ok');
  await open(owner.page, '/console');
  const pending = owner.page.locator('.queue > li', { hasText: 'mia asks for' });
  await pending.getByLabel('Reason').fill('Please name the supervising lab.');
  await pending.getByRole('button', { name: /^Deny / }).click();
  await owner.page.waitForSelector('text=No request is waiting.');

  await open(member.page, '/me');
  const denied = member.page.locator('li.request.denied');
  const deniedText = await denied.innerText();
  assert.match(deniedText, /Denied, because: “Please name the supervising lab\.”/);
  assert.match(deniedText, /You may ask again now/);  // the configured wait is zero here
  await shot(member.page, 'my-access-denied');
  await denied.getByRole('link', { name: 'Ask again' }).click();
  await member.page.waitForSelector('text=was denied');
  assert.match(await member.page.locator('main').innerText(), /You may ask again now/);
  await shot(member.page, 'request-again');
  await member.page.getByLabel('Level asked for').selectOption('research');
  await member.page.getByLabel('affiliation (required)').fill('Example University, Lab of Small Models');
  await member.page.getByLabel('use (required)').selectOption('research');
  await member.page.getByLabel('Why you need it').fill('Activation patching, supervised by the Lab of Small Models.');
  await member.page.getByRole('button', { name: 'Send the request' }).click();
  await member.page.waitForSelector('.notice.ok');
  await open(owner.page, '/console');
  assert.match(await owner.page.locator('.queue').innerText(), /Lab of Small Models/);
  assert.deepEqual([...member.problems, ...owner.problems], []);
  await member.context.close();
  await owner.context.close();
});

test('the owner proposes open with no evaluations run and sees every reason it is refused', async () => {
  const guarded = await startServer({ policy: join(root, 'examples/policy.toml') });
  try {
    const p = await page(guarded.url);
    await signIn(p, guarded.ownerKey);
    await open(p.page, '/console');
    const panel = p.page.locator('.proposal');
    await p.page.getByLabel('Propose public level').selectOption('open');
    await p.page.getByRole('button', { name: 'Check stories' }).click();
    const refused = panel.locator('.notice.error');
    await refused.waitFor();
    const text = await refused.innerText();
    assert.match(text, /Not allowed: hosted → open/);
    assert.match(text, /Nothing was changed/);
    // Every suite of examples/policy.toml is unevaluated; each is named.
    for (const suite of ['hazard-proxy-placeholder', 'reading', 'arithmetic']) assert.ok(text.includes(suite), `${suite} missing in ${text}`);
    assert.match(text, /above_ceiling/);
    const reasons = await refused.locator('ul.reasons li').count();
    assert.ok(reasons >= 4, `expected every reason, got ${reasons}: ${text}`);
    // The same reasons as the API gives, and no way to apply it.
    const api = await (await fetch(`${guarded.url}/v1/models/stories/release`, {
      method: 'POST', headers: { Authorization: `Bearer ${guarded.ownerKey}` }, body: '{"level":"open","dry_run":true}',
    })).json();
    assert.equal(reasons, api.reasons.length);
    assert.equal(await panel.getByRole('button', { name: /^Apply / }).count(), 0);
    await shot(p.page, 'console-release-refused');
    // Nothing changed: the level, and the model's history.
    const release = async () => (await fetch(`${guarded.url}/v1/models/stories/release`,
      { headers: { Authorization: `Bearer ${guarded.ownerKey}` } })).json();
    assert.equal((await release()).public_level, 'hosted');
    const history = (await release()).history.length;

    // An allowed level (lowering always is) waits for the owner's confirmation.
    await p.page.getByLabel('Propose public level').selectOption('staged');
    await p.page.getByRole('button', { name: 'Check stories' }).click();
    await panel.locator('.notice.ok', { hasText: 'Allowed: hosted → staged' }).waitFor();
    assert.match(await panel.innerText(), /Nothing is applied until you confirm/);
    assert.equal((await release()).public_level, 'hosted');
    await shot(p.page, 'console-release-confirm');
    // Cancel leaves it alone; checking again and confirming applies it.
    await panel.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await panel.innerText(), '');
    await p.page.getByRole('button', { name: 'Check stories' }).click();
    // Keyboard: the confirmation takes the focus, so Enter applies.
    const apply = panel.getByRole('button', { name: 'Apply hosted → staged to stories' });
    await apply.waitFor();
    assert.equal(await apply.evaluate((b) => b === document.activeElement), true);
    await p.page.keyboard.press('Enter');
    await p.page.locator('.proposal .notice.ok', { hasText: 'Applied: hosted → staged' }).waitFor();
    const after = await release();
    assert.equal(after.public_level, 'staged');
    assert.equal(after.history.length, history + 1);
    await shot(p.page, 'console-release-applied');

    // The model page says why the ceiling is where it is and shows the change.
    await open(p.page, '/models/stories');
    const main = await p.page.locator('main').innerText();
    assert.match(main, /Public level\s+staged/);
    assert.match(main, /changed\s+hosted\s+→\s+staged/);
    assert.match(main, /Not run yet/);
    await shot(p.page, 'model-page-policy');
    assert.deepEqual(p.problems, []);
    await p.context.close();
  } finally {
    guarded.stop();
  }
});

test('an owner runs an evaluation from the console and watches its progress live, then sees the result on the model page', async () => {
  // A policy with one suite long enough (1,500 items of reading.jsonl) that
  // the console's once-a-second refresh sees it running.
  const dir = mkdtempSync(join(tmpdir(), 'aperture-e2e-policy-'));
  const [header, ...items] = readFileSync(join(root, 'examples/suites/reading.jsonl'), 'utf8').trim().split('\n');
  const head = JSON.parse(header);
  head.suite.name = 'long-reading';
  writeFileSync(join(dir, 'long-reading.jsonl'),
    [JSON.stringify(head), ...Array.from({ length: 1500 }, (_, i) => items[i % items.length])].join('\n'));
  writeFileSync(join(dir, 'policy.toml'), ['unknown_ceiling = "hosted"', '[ceilings]', 'low = "open"', 'medium = "api"',
    'high = "hosted"', 'critical = "closed"', '[[domains]]', 'name = "general"', '[[domains.suites]]',
    'name = "long-reading"', 'file = "long-reading.jsonl"', 'metric = "acc"',
    'thresholds = { medium = 0.5, high = 0.7, critical = 0.9 }', ''].join('\n'));
  const evaluated = await startServer({ policy: join(dir, 'policy.toml') });
  try {
    const p = await page(evaluated.url);
    await signIn(p, evaluated.ownerKey);
    await open(p.page, '/console');
    const panel = p.page.locator('section', { has: p.page.getByRole('heading', { name: 'Evaluations' }) });
    assert.match(await panel.innerText(), /No evaluation has run yet/);
    // Record every progress bar the page shows, as it shows it.
    await p.page.evaluate(() => {
      window.__progress = [];
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('progress')) window.__progress.push([bar.value, bar.max]);
      }).observe(document.getElementById('main'), { childList: true, subtree: true });
    });
    await panel.getByLabel('Suite').selectOption('long-reading');
    await panel.getByRole('button', { name: 'Run' }).click();
    await p.page.locator('progress').first().waitFor();
    await shot(p.page, 'console-eval-running');
    const row = p.page.locator('tr', { hasText: 'long-reading' });
    await row.locator('td', { hasText: /^finished/ }).waitFor({ timeout: 120000 });
    const seen = await p.page.evaluate(() => window.__progress);
    const running = seen.filter(([value, max]) => max === 1500 && value < max);
    assert.ok(running.length >= 1, `the console never showed the run in progress: ${JSON.stringify(seen)}`);
    assert.ok(new Set(running.map(([value]) => value)).size >= 2, `progress did not move live: ${JSON.stringify(running)}`);
    const result = await row.innerText();
    assert.match(result, /1500\/1500/);
    assert.match(result, /acc \d\.\d{3}/);
    assert.match(result, /general: (low|medium|high|critical)/);
    await shot(p.page, 'console-eval-finished');
    // The score, against its thresholds, on the model page.
    await open(p.page, '/models/stories');
    const evals = p.page.locator('section', { has: p.page.getByRole('heading', { name: 'Evaluations' }) });
    assert.match(await evals.innerText(), /long-reading[\s\S]*Score \d\.\d{3}/);
    assert.ok(await evals.locator('svg').count() >= 1, 'no chart of the score against its thresholds');
    const timeline = p.page.locator('section', { has: p.page.getByRole('heading', { name: 'History' }) });
    assert.match(await timeline.innerText(), /evaluated long-reading \([a-z-]+\): acc \d\.\d{3}.* tier general/);
    await shot(p.page, 'model-page-evaluated');
    assert.deepEqual(p.problems, []);
    await p.context.close();
  } finally {
    evaluated.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a researcher reads the logit lens as a heatmap and an attention pattern, and steers the model with a slider', async () => {
  const key = researcherKey;
  const p = await page();
  await signIn(p, key);
  await open(p.page, '/models/stories');
  await p.page.getByRole('link', { name: 'Research playground' }).click();
  await p.page.waitForSelector('body[data-ready="true"]');
  const part = (name) => p.page.locator('section', { has: p.page.getByRole('heading', { name, exact: true }) });

  // The logit lens: one row per layer, one column per position.
  await p.page.getByLabel('Prompt').fill('Once upon a time, there was a little dog');
  await p.page.getByRole('button', { name: 'Inspect' }).click();
  const lens = part('Logit lens');
  await lens.locator('svg.heatmap').waitFor();
  const direct = await (await fetch(`${server.url}/v1/research/run`, {
    method: 'POST', headers: { Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'stories', input: 'Once upon a time, there was a little dog', return: { top_k: 1 } }),
  })).json();
  const layers = direct.config.n_layers;
  const positions = direct.tokens.length;
  assert.equal(await lens.locator('svg.heatmap rect.cell').count(), layers * positions);
  // The last layer's lens at the last position is the model's own prediction.
  const lastRow = await lens.locator('details table tbody tr').last().locator('td').last().textContent();
  const predicted = direct.top_logprobs[0].text.replace(/^ /, '·').replace(/ /g, '·');
  assert.ok(lastRow.startsWith(predicted), `lens says ${lastRow}, the model ${predicted}`);
  assert.match(await lens.innerText(), /On the record: log entry #\d+/);

  // An attention pattern: a row per query; each row's weights sum to 1.
  const attention = part('Attention pattern');
  await attention.locator('svg.heatmap').waitFor();
  await attention.getByLabel('Head', { exact: true }).selectOption('3');
  await attention.getByLabel('Layer', { exact: true }).selectOption(String(layers - 1));
  await attention.locator('.receipt').waitFor();
  const label = await attention.locator('svg.heatmap').getAttribute('aria-label');
  assert.match(label, new RegExp(`layer ${layers - 1}, head 3`));
  const weights = await attention.locator('svg.heatmap rect.cell title').allTextContents();
  assert.equal(weights.length, positions * positions);
  const lastQuery = weights.filter((t) => t.startsWith(`query ${positions - 1} `) && t.includes('weight'))
    .map((t) => Number(/weight ([0-9.]+)/.exec(t)[1]));
  assert.equal(lastQuery.length, positions);
  assert.ok(Math.abs(lastQuery.reduce((x, y) => x + y, 0) - 1) < 0.01, `the last query's weights sum to ${lastQuery}`);
  await shot(p.page, 'research-playground');

  // Steering: a direction, then the slider from one end to the other, by keyboard.
  const steer = part('Steering');
  await steer.getByRole('button', { name: 'Find the direction' }).click();
  await steer.locator('text=/Strength 0 at blocks\\.\\d+\\.hook_resid_post/').waitFor();
  const plain = await steer.locator('.generated').innerText();
  await steer.getByLabel('Strength', { exact: true }).focus();
  await p.page.keyboard.press('End');
  await steer.locator('text=/Strength 12 at/').waitFor();
  const pushed = await steer.locator('.generated').innerText();
  await p.page.keyboard.press('Home');
  await steer.locator('text=/Strength -12 at/').waitFor();
  const pulled = await steer.locator('.generated').innerText();
  assert.ok(new Set([plain, pushed, pulled]).size >= 2, `steering changed nothing: ${plain} | ${pushed} | ${pulled}`);
  await shot(p.page, 'research-steering');
  assert.deepEqual(p.problems, []);

  // A member whose level cannot look inside is told what would let them.
  const member = await page();
  await signIn(member, memberKey);
  await open(member.page, '/models/stories/research');
  assert.match(await member.page.locator('main').innerText(), /needs research/);
  assert.equal(await member.page.getByRole('link', { name: 'Ask for it' }).count(), 1);
  await member.context.close();
  await p.context.close();
});

test('a downloader reads how open the model is, accepts its licence in the form, and only then downloads the weights', async () => {
  const licenceDir = mkdtempSync(join(tmpdir(), 'aperture-licence-'));
  writeFileSync(join(licenceDir, 'LICENSE'), 'Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n');
  server.run('licence', 'set', '--model', 'stories', '--spdx', 'Apache-2.0', '--file', join(licenceDir, 'LICENSE'));
  rmSync(licenceDir, { recursive: true, force: true });
  server.run('principal', 'add', '--name', 'dana', '--role', 'member');
  const danaKey = server.run('key', 'create', '--principal', 'dana');
  server.run('grant', '--principal', 'dana', '--model', 'stories', '--level', 'download', '--reason', 'a mirror');

  const dana = await page();
  await signIn(dana, danaKey);
  await open(dana.page, '/models/stories');
  const openness = dana.page.locator('section', { has: dana.page.getByRole('heading', { name: 'How open it is' }) });
  assert.equal(await openness.locator('tbody tr').count(), 17);  // the framework's components
  const row = await openness.locator('tr', { hasText: 'Inference code' }).innerText();
  assert.match(row, /verified: served by this server/);
  assert.match(await openness.innerText(), /No class reached yet/);  // hosted: the weights are not public
  assert.ok(await openness.locator('img.openness-badge').evaluate((img) => img.complete && img.naturalWidth > 0));

  const downloads = dana.page.locator('section', { has: dana.page.getByRole('heading', { name: 'Licence and downloads' }) });
  assert.match(await downloads.innerText(), /Apache License 2\.0 \(Apache-2\.0\)/);
  const weights = downloads.locator('tr', { hasText: 'stories260K.gguf' });
  const listed = (await weights.locator('code').innerText()).trim();
  const fetchWeights = () => dana.page.evaluate(async () => {
    const r = await fetch('/v1/models/stories/files/stories260K.gguf', { credentials: 'same-origin' });
    if (!r.ok) return { status: r.status, body: await r.text() };
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await r.arrayBuffer()));
    return { status: r.status, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
  });
  const before = await fetchWeights();
  assert.equal(before.status, 403);  // no byte before the licence is accepted
  assert.match(before.body, /licence_not_accepted/);
  await shot(dana.page, 'model-licence-form');
  await downloads.getByLabel(/I accept the terms of Apache License 2\.0/).check();
  await downloads.getByRole('button', { name: 'Accept the licence' }).click();
  await dana.page.waitForSelector('text=You accepted this licence.');
  const after = await fetchWeights();
  assert.equal(after.status, 200);
  assert.equal(after.sha256, listed);
  await shot(dana.page, 'model-downloads');
  assert.deepEqual(dana.problems, []);
  await dana.context.close();
});

test('the log page verifies a real log in the browser', async () => {
  const p = await page();
  await open(p.page, '/log');
  await p.page.getByRole('button', { name: 'Pin the key this server publishes' }).click();
  await p.page.waitForSelector('text=This browser checks checkpoints with the key you pinned');
  await p.page.getByRole('button', { name: 'Verify in this browser' }).click();
  const verdict = p.page.locator('.verdict-box');
  await verdict.waitFor();
  const text = await verdict.innerText();
  assert.match(text, /✓ Verified/, text);
  assert.match(text, /Signature/);
  assert.match(text, /root recomputed from \d+ tile/);
  assert.match(text, /First checkpoint this browser has seen/);
  await shot(p.page, 'log-verified');
  // Again later: consistency with the checkpoint this browser kept.
  await server.run('principal', 'add', '--name', `later${Date.now()}`, '--role', 'member');
  await open(p.page, '/log');
  await p.page.getByRole('button', { name: 'Verify in this browser' }).click();
  await p.page.locator('.verdict-box').waitFor();
  assert.match(await p.page.locator('.verdict-box').innerText(), /Extends the checkpoint of \d+ entries/);

  // Search by an entry's (leaf) hash: found, and checked against the verified checkpoint.
  const { entries } = await (await fetch(`${server.url}/log/entries?start=3&end=4`)).json();
  const leafHash = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(entries[0].entry)])).digest('hex');
  await p.page.getByRole('button', { name: 'Verify in this browser' }).click();
  await p.page.locator('.verdict-box.ok').waitFor();
  await p.page.getByLabel('Entry (leaf) hash').fill(leafHash);
  await p.page.getByRole('button', { name: 'Find' }).click();
  await p.page.locator('.card', { hasText: '#3' }).waitFor();
  await p.page.locator('.card', { hasText: /✓ Entry 3 is in the signed tree of \d+ entries/ }).waitFor();
  await p.page.getByLabel('Entry (leaf) hash').fill('00'.repeat(32));
  await p.page.getByRole('button', { name: 'Find' }).click();
  await p.page.locator('.notice.error').waitFor();
  await shot(p.page, 'log-search');

  // My entries verify too.
  await signIn(p, memberKey);
  const first = p.page.getByRole('button', { name: /^Verify #/ }).first();
  await first.click();
  await p.page.waitForSelector('.entries .verdict.ok');
  await p.context.close();
});

test('the log page shows a failure when the server alters one byte of a tile', async () => {
  const target = new URL(server.url);
  // A test server in front of the real one that flips a byte in every hash tile.
  const proxy = http.createServer((req, res) => {
    const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        let body = Buffer.concat(chunks);
        if (/^\/log\/tile\/\d/.test(req.url) && body.length) { body = Buffer.from(body); body[body.length - 1] ^= 0x01; }
        const headers = { ...r.headers };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        res.writeHead(r.statusCode, headers);
        res.end(body);
      });
    });
    req.pipe(up);
  });
  await new Promise((ok) => proxy.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${proxy.address().port}`;
  try {
    const p = await page(url);
    await open(p.page, '/log');
    await p.page.getByRole('button', { name: 'Pin the key this server publishes' }).click();
    await p.page.waitForSelector('text=This browser checks checkpoints with the key you pinned');
    await p.page.getByRole('button', { name: 'Verify in this browser' }).click();
    const verdict = p.page.locator('.verdict-box');
    await verdict.waitFor();
    const text = await verdict.innerText();
    assert.match(text, /✗ Not verified/, text);
    assert.match(text, /✓ Signature/);
    assert.match(text, /✗ Tree from tiles: .*differs from the signed root.*altered/);
    await shot(p.page, 'log-altered-tile');
    await p.context.close();
  } finally {
    proxy.close();
  }
});

test('the session is refused without the CSRF token and after sign-out', async () => {
  const p = await page();
  await signIn(p, memberKey);
  const call = (headers) => p.page.evaluate(async (h) => {
    const r = await fetch('/v1/me/keys', { method: 'POST', headers: { 'Content-Type': 'application/json', ...h }, body: '{}' });
    return { status: r.status, body: await r.json() };
  }, headers);
  const without = await call({});
  assert.equal(without.status, 403);
  assert.equal(without.body.error.code, 'csrf_token');
  const wrong = await call({ 'X-CSRF-Token': '0'.repeat(64) });
  assert.equal(wrong.status, 403);
  const token = await p.page.evaluate(async () => (await (await fetch('/v1/session')).json()).csrf_token);
  const withToken = await call({ 'X-CSRF-Token': token });
  assert.equal(withToken.status, 201);
  // The cookie is out of the page's reach.
  assert.equal(await p.page.evaluate(() => document.cookie), '');
  const cookies = await p.context.cookies();
  const session = cookies.find((c) => c.name === 'aperture_session');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');

  // Keys of my own from my page: shown once, then revoked.
  await open(p.page, '/me');
  await p.page.getByRole('button', { name: 'Create a key' }).click();
  const shown = p.page.locator('.notice.ok code.secret');
  await shown.waitFor();
  assert.match(await shown.innerText(), /^ak_[A-Za-z0-9]{36}$/);
  const created = (await p.page.locator('.notice.ok').innerText()).match(/New key (key_[0-9a-f]+)/)[1];
  await shot(p.page, 'my-access-new-key');
  p.page.once('dialog', (d) => d.accept());
  await p.page.getByRole('button', { name: `Revoke ${created}` }).click();
  await p.page.locator('tr', { hasText: created }).filter({ hasText: 'revoked' }).waitFor();
  const usable = await fetch(`${server.url}/v1/me`, { headers: { Authorization: `Bearer ${await shown.innerText().catch(() => '')}` } });
  assert.equal(usable.status, 401);

  await p.page.getByRole('button', { name: 'Sign out' }).click();
  await p.page.waitForURL(`${server.url}/`);
  await p.page.waitForSelector('body[data-ready="true"]');
  assert.match(await p.page.locator('#who').innerText(), /Not signed in/);
  // The old cookie, replayed, is refused by the server.
  const replay = await fetch(`${server.url}/v1/me`, { headers: { Cookie: `aperture_session=${session.value}` } });
  assert.equal(replay.status, 401);
  assert.equal((await replay.json()).error.code, 'session_ended');
  await open(p.page, '/me');
  assert.match(await p.page.locator('main').innerText(), /Sign in/);
  await p.context.close();
});

test('the session is refused after it expires', async () => {
  const short = await startServer({ config: '[sessions]\nttl = "2s"\n' });
  try {
    short.run('principal', 'add', '--name', 'sam');
    const key = short.run('key', 'create', '--principal', 'sam');
    const p = await page(short.url);
    await signIn(p, key);
    const session = (await p.context.cookies()).find((c) => c.name === 'aperture_session');
    await new Promise((ok) => setTimeout(ok, 2500));
    const r = await fetch(`${short.url}/v1/me`, { headers: { Cookie: `aperture_session=${session.value}` } });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, 'session_expired');
    await open(p.page, '/me');
    assert.match(await p.page.locator('main').innerText(), /Sign in/);
    await p.context.close();
  } finally {
    short.stop();
  }
});

test('pages send the CSP header and every page fits a phone', async () => {
  for (const path of ['/', '/models/stories', '/models/stories/chat', '/models/stories/request', '/signin', '/log', '/me', '/console']) {
    const r = await fetch(`${server.url}${path}`);
    const csp = r.headers.get('content-security-policy');
    assert.ok(csp && csp.includes("script-src 'self'") && !csp.includes('unsafe'), `${path}: ${csp}`);
  }
  // Every page, anonymous and signed in (the owner sees the most), on a
  // 390 px wide screen: nothing may scroll sideways but a wide table inside
  // its own scrolling box.
  const phone = await page(server.url, { mobile: true });
  const fits = async (path, name) => {
    await open(phone.page, path);
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${path} scrolls sideways on a phone (${width}px)`);
    await shot(phone.page, `${name}-phone`);
  };
  await fits('/', 'home');
  await fits('/models/stories', 'model-page');
  await fits('/models/stories/chat', 'chat');
  await fits('/signin', 'signin');
  await fits('/log', 'log');
  await signIn(phone, server.ownerKey);
  await fits('/me', 'my-access');
  await fits('/console', 'console');
  await signIn(phone, memberKey);
  await fits('/models/stories/request', 'request-access');
  await signIn(phone, researcherKey);
  await fits('/models/stories/research', 'research');
  await phone.page.getByRole('button', { name: 'Inspect' }).click();
  await phone.page.locator('svg.heatmap').first().waitFor();
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the research page with its heatmaps scrolls sideways on a phone (${width}px)`);
  await shot(phone.page, 'research-phone');
  const desk = await page();
  await open(desk.page, '/');
  await shot(desk.page, 'home');
  await open(desk.page, '/signin');
  await shot(desk.page, 'signin');
  await open(desk.page, '/log');
  await shot(desk.page, 'log');
  assert.deepEqual([...phone.problems, ...desk.problems], []);
  await phone.context.close();
  await desk.context.close();
});

test('everything works from the keyboard: skip link, sign in, chat, and a visible focus', async () => {
  const p = await page();
  await open(p.page, '/');
  // The skip link leads to the content.
  await p.page.focus('a.skip');
  await p.page.keyboard.press('Enter');
  assert.equal(await p.page.evaluate(() => document.activeElement.id), 'main');
  // Tab from the content reaches the first model's link.
  await p.page.keyboard.press('Tab');
  assert.equal(await p.page.evaluate(() => document.activeElement.closest('main') !== null), true);
  // Sign in: the page puts the focus in the key field; Tab and Shift+Tab
  // move through the form, and a focused control shows a ring.
  await open(p.page, '/signin');
  assert.equal(await p.page.evaluate(() => document.activeElement.labels[0].textContent), 'API key');
  await p.page.keyboard.press('Tab');
  assert.equal(await p.page.evaluate(() => document.activeElement.textContent), 'Sign in');
  await p.page.keyboard.press('Shift+Tab');
  assert.equal(await p.page.evaluate(() => document.activeElement.labels[0].textContent), 'API key');
  assert.equal(await p.page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'solid');
  await p.page.keyboard.type(memberKey);
  await p.page.keyboard.press('Enter');
  await p.page.waitForURL('**/me');
  await p.page.waitForSelector('body[data-ready="true"]');
  // Chat: Enter sends, and the answer streams in.
  await open(p.page, '/models/stories/chat');
  await p.page.getByLabel('Message').focus();
  await p.page.keyboard.type('Once upon a time');
  await p.page.keyboard.press('Enter');
  await p.page.locator('.chat-status', { hasText: /Done\.|token limit/ }).waitFor();
  assert.ok((await p.page.locator('.msg.assistant .content').last().innerText()).trim().length > 0);
  // A second turn carries the conversation so far.
  const sent = [];
  p.page.on('request', (r) => { if (r.url().endsWith('/v1/chat/completions')) sent.push(JSON.parse(r.postData())); });
  await p.page.keyboard.type('And then?');
  await p.page.keyboard.press('Enter');
  await p.page.locator('.chat-status', { hasText: /Done\.|token limit/ }).waitFor();
  assert.equal(await p.page.locator('.msg.assistant').count(), 2);
  assert.deepEqual(sent.at(-1).messages.map((m) => m.role), ['user', 'assistant', 'user']);
  assert.equal(sent.at(-1).messages[0].content, 'Once upon a time');
  // Every control on the page can be reached with Tab: none is taken out of
  // the order, and none is a click-only element.
  const unreachable = await p.page.evaluate(() => [...document.querySelectorAll('main button, main a, main input, main select, main textarea, main summary')]
    .filter((el) => el.tabIndex < 0 && !el.disabled).map((el) => el.outerHTML.slice(0, 80)));
  assert.deepEqual(unreachable, []);
  const clickOnly = await p.page.evaluate(() => [...document.querySelectorAll('main div[onclick], main span[onclick]')].length);
  assert.equal(clickOnly, 0);
  assert.deepEqual(p.problems, []);
  await p.context.close();
});

test('no page loads anything from outside the server', () => {
  let total = 0;
  for (const { url, requests } of seen) {
    assert.deepEqual(offOrigin(requests, url), [], `requests left ${url}`);
    total += requests.length;
  }
  assert.ok(total > 50, `expected the tests to have made many requests, saw ${total}`);
});
