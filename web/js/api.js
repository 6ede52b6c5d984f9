// The pages' one way to the server: the same JSON API every client uses.
// A signed-in browser is authenticated by its HttpOnly session cookie (the
// page never sees it); calls that change state carry the session's CSRF
// token, which the page learns from GET /v1/session.

export class ApiError extends Error {
  constructor(status, message, code, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let session = { principal: null };
const listeners = [];

export function currentSession() { return session; }
export function onSessionChange(fn) { listeners.push(fn); }
function setSession(s) {
  session = s || { principal: null };
  for (const fn of listeners) fn(session);
}

const SESSION_CODES = new Set(['session_expired', 'session_ended', 'unknown_session', 'malformed_session',
  'revoked_key', 'expired_key', 'unknown_key']);

export async function api(method, path, body, { signal, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin', cache: 'no-store', signal,
  });
  if (raw && r.ok) return r;
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    if (r.status === 401 && SESSION_CODES.has(err.code) && session.via === 'session') setSession(null);
    throw new ApiError(r.status, err.message || `${r.status} ${r.statusText}`, err.code, data);
  }
  return data;
}

export async function loadSession() {
  try {
    setSession(await api('GET', '/v1/session'));
  } catch (e) {
    setSession(null);
    if (!(e instanceof ApiError && e.status === 401)) throw e;
  }
  return session;
}

export async function signIn(key) {
  const r = await fetch('/v1/session', {
    method: 'POST', credentials: 'same-origin', cache: 'no-store',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'aperture', Accept: 'application/json' },
    body: JSON.stringify({ key }),
  });
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(r.status, err.message || r.statusText, err.code, data);
  }
  setSession(data);
  return data;
}

export async function signOut() {
  try { await api('DELETE', '/v1/session'); } finally { setSession(null); }
}

// Streams a chat completion: calls onDelta(text, chunk) per chunk; resolves
// with the finish reason. `signal` stops it (the server then cancels).
export async function streamChat(body, { signal, onDelta }) {
  const r = await api('POST', '/v1/chat/completions', { ...body, stream: true }, { signal, raw: true });
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let finish = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const payload = line.slice(6);
        if (payload === '[DONE]') return finish;
        const chunk = JSON.parse(payload);
        if (chunk.error) throw new ApiError(500, chunk.error.message, chunk.error.code, chunk);
        const choice = chunk.choices && chunk.choices[0];
        if (!choice) continue;
        if (choice.delta && choice.delta.content) onDelta(choice.delta.content, choice);
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    }
  }
  return finish;
}

export const LEVELS = ['closed', 'staged', 'hosted', 'api', 'research', 'download', 'open'];
export function levelIndex(level) { return LEVELS.indexOf(level); }
