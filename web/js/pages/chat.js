// Chat: multi-turn, streamed, with a stop button; the level's limits and
// what a higher level adds are shown, and a refusal says how to ask.
import { ApiError, api, currentSession, levelIndex, streamChat } from '../api.js';
import { clear, field, h, levelBadge, notice, show } from '../dom.js';
import { render as markdown } from '../markdown.js';

export async function render(id) {
  const enc = encodeURIComponent(id);
  const [model, levels] = await Promise.all([api('GET', `/v1/models/${enc}`), api('GET', '/v1/levels')]);
  const mine = levels.data.find((l) => l.level === model.level) || { capabilities: [], max_tokens: 0 };
  const canChat = mine.capabilities.includes('chat');
  const higher = levels.data.filter((l) => levelIndex(l.level) > levelIndex(model.level));
  const logprobsLevel = levels.data.find((l) => l.max_top_logprobs > 0);
  const askLink = () => (currentSession().principal
    ? h('a', { href: `/models/${enc}/request` }, 'Ask for a higher level')
    : h('span', {}, h('a', { href: `/signin?next=/models/${enc}/request` }, 'Sign in'), ' with an API key, then ask for a higher level'));

  const limits = h('details', { class: 'limits', open: true },
    h('summary', {}, 'Your level here: ', levelBadge(model.level)),
    h('ul', {},
      h('li', {}, `At most ${mine.max_tokens} tokens per answer`),
      h('li', {}, mine.max_top_logprobs ? `Token alternatives: up to ${mine.max_top_logprobs}` : 'No token alternatives (logprobs)'),
      higher.length ? h('li', {}, 'Higher levels add: ',
        higher.map((l) => `${l.level} (${l.capabilities.filter((c) => !mine.capabilities.includes(c)).join(', ') || 'higher limits'})`).join('; '),
        '. ', askLink()) : null));

  const conversation = h('ol', { class: 'conversation', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const status = h('div', { class: 'chat-status', role: 'status' });
  const input = h('textarea', { rows: 3, required: true, placeholder: 'Write a message. Enter sends, Shift+Enter adds a line.' });
  const temperature = h('input', { type: 'number', min: 0, max: 2, step: 0.1, value: 0.8 });
  const topP = h('input', { type: 'number', min: 0, max: 1, step: 0.05, value: 0.95 });
  const maxTokens = h('input', { type: 'number', min: 1, max: mine.max_tokens || 1, value: Math.min(128, mine.max_tokens || 1) });
  const alternatives = h('input', { type: 'checkbox', id: 'alternatives' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', disabled: true }, 'Stop');
  const messages = [];
  let controller = null;

  const settings = h('details', { class: 'settings' }, h('summary', {}, 'Sampling settings'),
    h('div', { class: 'grid' },
      field('Temperature', temperature), field('Top p', topP),
      field('Max tokens', maxTokens, `Your level allows up to ${mine.max_tokens}.`)),
    h('div', { class: 'field check' }, alternatives,
      h('label', { for: 'alternatives' }, 'Show the top alternatives for each token'),
      h('p', { class: 'hint' }, mine.max_top_logprobs ? `Up to ${mine.max_top_logprobs} at your level.`
        : `Needs level ${logprobsLevel ? logprobsLevel.level : 'api'} or higher; the server will say no at yours.`)));

  function bubble(role, content) {
    const body = h('div', { class: 'content' });
    const li = h('li', { class: `msg ${role}` }, h('span', { class: 'role' }, role === 'user' ? 'You' : id), body);
    if (content) body.append(role === 'assistant' ? markdown(content) : content);
    conversation.append(li);
    return body;
  }

  async function submit(ev) {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text || controller) return;
    clear(status);
    messages.push({ role: 'user', content: text });
    bubble('user', text);
    input.value = '';
    const body = bubble('assistant', '');
    body.classList.add('streaming');
    const request = { model: id, messages: [...messages], temperature: Number(temperature.value),
      top_p: Number(topP.value), max_tokens: Number(maxTokens.value) };
    if (alternatives.checked) { request.logprobs = true; request.top_logprobs = Math.max(1, Math.min(5, mine.max_top_logprobs || 5)); }
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    let answer = '';
    const tokens = h('p', { class: 'tokens' });
    body.append(tokens);
    try {
      const finish = await streamChat(request, {
        signal: controller.signal,
        onDelta: (delta, choice) => {
          answer += delta;
          const alts = choice.logprobs && choice.logprobs.content ? choice.logprobs.content : null;
          const span = h('span', { class: 'token' }, delta);
          if (alts && alts[0] && alts[0].top_logprobs) {
            span.title = alts[0].top_logprobs.map((t) => `${JSON.stringify(t.token)} ${Math.exp(t.logprob).toFixed(3)}`).join('\n');
          }
          tokens.append(span);
        },
      });
      messages.push({ role: 'assistant', content: answer });
      clear(body).append(markdown(answer));
      status.append(finish === 'length' ? 'Stopped at the token limit.' : 'Done.');
    } catch (e) {
      if (e.name === 'AbortError') {
        messages.push({ role: 'assistant', content: answer });
        status.append('Stopped.');
      } else {
        messages.pop();
        body.parentElement.remove();
        status.append(refusal(e));
      }
    } finally {
      body.classList.remove('streaming');
      controller = null;
      send.disabled = false;
      stop.disabled = true;
      input.focus();
    }
  }

  function refusal(e) {
    const parts = [h('strong', {}, e instanceof ApiError ? `Refused (${e.status}): ` : 'Failed: '), e.message];
    if (e instanceof ApiError && (e.status === 403 || e.status === 429)) parts.push(h('p', {}, 'How to get more: ', askLink(), '.'));
    return notice('error', ...parts);
  }

  stop.addEventListener('click', () => controller && controller.abort());
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  const form = h('form', { class: 'composer', onsubmit: submit },
    field('Message', input), h('div', { class: 'actions' }, send, stop));

  show(h('h1', {}, `Chat with ${id}`),
    h('p', {}, h('a', { href: `/models/${enc}` }, `About ${id}`), currentSession().principal ? '' : ' · You are chatting anonymously.'),
    limits,
    canChat ? [conversation, status, form, settings]
      : notice('warn', `Your level (${model.level}) does not include chat. `, askLink(), '.'));
}
