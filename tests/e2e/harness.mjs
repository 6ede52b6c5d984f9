// Shared set-up for the browser tests: a real aperture server over a fresh
// data directory, Debian's chromium driven by playwright-core, every
// request the browser makes checked to stay on the server's origin, and a
// screenshot helper (build/e2e-screenshots/, not committed).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const root = resolve(import.meta.dirname, '../..');
export const bin = join(root, 'build/aperture');
export const model = resolve(root, '../shared/models/stories260K.gguf');
export const shots = join(root, 'build/e2e-screenshots');
mkdirSync(shots, { recursive: true });

// A server: init, the stories model at `publicLevel`, optional config and policy.
export async function startServer({ config = '', policy = null, publicLevel = 'hosted' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aperture-e2e-'));
  const data = join(dir, 'data');
  const run = (...args) => execFileSync(bin, [...args, '--data', data], { encoding: 'utf8' }).trim();
  const ownerKey = run('init');
  run('model', 'add', '--id', 'stories', '--path', model, '--public-level', publicLevel);
  const configPath = join(dir, 'config.toml');
  writeFileSync(configPath, `[rate_limits]\nanonymous_requests_per_minute = 100000\nprincipal_requests_per_minute = 100000\n${config}`);
  const args = ['serve', '--data', data, '--listen', '127.0.0.1:0', '--config', configPath];
  if (policy) args.push('--policy', policy);
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (c) => { log += c; });
  const url = await new Promise((ok, fail) => {
    proc.stdout.on('data', (chunk) => {
      log += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(String(chunk));
      if (m) ok(m[1]);
    });
    proc.on('exit', (code) => fail(new Error(`server exited with ${code}: ${log}`)));
  });
  return {
    url, data, ownerKey, run,
    log: () => log,
    stop: () => { proc.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); },
  };
}

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Checks the browser is there; each page then gets a browser of its own.
export async function launch() {
  if (!existsSync('/usr/bin/chromium')) throw new Error('Debian\'s chromium is missing: run make deps');
  return { close: async () => {} };
}

// Browsers a test left open (it failed before closing them): closed after
// the run, so that one failure cannot keep the run from ending.
const openContexts = new Set();
export async function closeAll() {
  for (const c of [...openContexts]) await c.close().catch(() => {});
}

// A fresh browser profile (its own --user-data-dir: cookies, storage) whose
// every request is recorded, so a test can assert that nothing left the
// server's origin. Closing the context ends that browser.
export async function newPage(baseURL, { mobile = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'aperture-chromium-'));
  // Playwright passes the profile to chromium as --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', args: ARGS, headless: true, baseURL,
    viewport: mobile ? { width: 390, height: 844 } : { width: 1280, height: 900 },
  });
  const page = context.pages()[0] || await context.newPage();
  const requests = [];
  const problems = [];
  context.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  const close = context.close.bind(context);
  context.close = async () => {
    openContexts.delete(context);
    await close();
    rmSync(profile, { recursive: true, force: true });
  };
  openContexts.add(context);
  return { context, page, requests, problems };
}

export async function open(page, path) {
  await page.goto(path);
  await page.waitForSelector('body[data-ready="true"]');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

export function offOrigin(requests, url) {
  const origin = new URL(url).origin;
  return requests.filter((r) => !r.startsWith(`${origin}/`) && !r.startsWith('data:'));
}
