// The TravelPlanner chat: starts runs with POST /agents/{agent}/runs and reads each run's stream with EventSource.
// A dropped connection is resumed by the browser itself: it reconnects after the server's `retry:` hint and sends
// Last-Event-ID, and the server continues after that entry, so text is neither lost nor repeated. When the server
// loses Redis it says `unavailable` and ends the stream; the browser's reconnection then meets a 503 and gives up, so
// the page opens the stream again itself, after the last entry it received (?cursor=), until Redis is back.
(function () {
  'use strict';

  const agent = 'TravelPlanner';
  const el = (id) => document.getElementById(id);
  const messages = el('messages');
  const statusLine = el('status');
  const input = el('message');
  const sendButton = el('send');
  const cancelButton = el('cancel');
  const keyForm = el('key-form');

  let conversationId = null;
  let current = null; // { runId, links, source, view, text, reconnects, lastEventId, outageSince }
  const outageWait = 120000; // how long the page keeps reopening a stream after `unavailable`

  const welcome = el('welcome');

  function setStatus(text) {
    statusLine.textContent = text;
    // The badge's colour follows the first word: idle, streaming, reconnecting…, done, error, cancelled, refused.
    statusLine.className = 'badge ' + text.split(/[\s(…]/)[0];
  }

  function bubble(role) {
    const div = document.createElement('div');
    div.className = 'message ' + role;
    messages.appendChild(div);
    div.scrollIntoView({ block: 'end' });
    return div;
  }

  function assistantView() {
    const root = bubble('assistant');
    const chips = document.createElement('div');
    chips.className = 'chips';
    const notes = document.createElement('div');
    const content = document.createElement('div');
    content.className = 'content';
    content.dataset.testid = 'answer';
    root.append(chips, notes, content);
    return { root, chips, notes, content, pending: false };
  }

  function note(view, text, cls) {
    const p = document.createElement('p');
    p.className = cls || 'note';
    p.textContent = text;
    view.notes.appendChild(p);
  }

  function render(run) {
    // Re-render at most once per frame however fast the tokens come.
    if (run.view.pending) {
      return;
    }
    run.view.pending = true;
    requestAnimationFrame(() => {
      run.view.pending = false;
      run.view.content.replaceChildren(window.AgentMarkdown.render(run.text));
      run.view.content.dataset.raw = run.text;
    });
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  function finish(run, state) {
    if (run.source) {
      run.source.close();
    }
    run.view.root.dataset.state = state;
    // Render synchronously so the final text is in the page when the state says it is over.
    run.view.content.replaceChildren(window.AgentMarkdown.render(run.text));
    run.view.content.dataset.raw = run.text;
    if (current === run) {
      current = null;
      cancelButton.disabled = true;
      sendButton.disabled = false;
    }
    setStatus(state);
  }

  function openStream(run, cursor) {
    const url = cursor ? run.links.stream + '?cursor=' + encodeURIComponent(cursor) : run.links.stream;
    const source = new EventSource(url);
    run.source = source;
    let opened = 0;
    // Every entry carries its id; the last one is where a reopened stream continues.
    const on = (type, handler) => source.addEventListener(type, (e) => {
      if (e.lastEventId) {
        run.lastEventId = e.lastEventId;
      }
      handler(e);
    });
    source.onopen = () => {
      opened++;
      if (opened > 1 || run.outageSince) {
        run.reconnects++;
        run.view.root.dataset.reconnects = String(run.reconnects);
      }
      run.outageSince = 0;
      setStatus('streaming');
    };
    on('text', (e) => {
      run.text += e.data;
      render(run);
    });
    on('reset', (e) => {
      const attempt = (parseJson(e.data) || {}).attempt;
      run.text = '';
      run.view.chips.replaceChildren();
      note(run.view, 'The agent restarted its answer' + (attempt ? ' (attempt ' + attempt + ')' : '') + '.');
      render(run);
    });
    on('tool_call', (e) => {
      const call = parseJson(e.data) || {};
      const chip = document.createElement('span');
      chip.className = 'chip';
      chip.textContent = '🔧 ' + (call.name || call.tool || 'tool');
      chip.dataset.callId = call.callId || call.id || '';
      run.view.chips.appendChild(chip);
    });
    on('tool_result', (e) => {
      const result = parseJson(e.data) || {};
      const id = result.callId || result.id || '';
      const chips = Array.from(run.view.chips.children);
      const chip = chips.find((c) => id && c.dataset.callId === id) || chips.find((c) => !c.classList.contains('done'));
      if (chip) {
        chip.classList.add('done');
      }
    });
    on('done', () => finish(run, 'done'));
    on('cancelled', (e) => {
      note(run.view, e.data || 'Cancelled.');
      finish(run, 'cancelled');
    });
    on('expired', (e) => {
      note(run.view, e.data, 'note error');
      finish(run, 'expired');
    });
    on('unavailable', () => {
      run.outageSince = run.outageSince || Date.now();
      setStatus('reconnecting…');
    });
    // "error" is both a stream entry type (a MessageEvent with data) and EventSource's own connection error event.
    source.addEventListener('error', (e) => {
      if (e instanceof MessageEvent) {
        note(run.view, e.data || 'The run failed.', 'note error');
        finish(run, 'error');
      } else if (source.readyState === EventSource.CLOSED) {
        if (run.outageSince && Date.now() - run.outageSince < outageWait && current === run) {
          // After `unavailable`: a 503 until the server has Redis again.
          setStatus('reconnecting…');
          setTimeout(() => {
            if (current === run) {
              openStream(run, run.lastEventId);
            }
          }, 1000);
          return;
        }
        // The server answered with a status that ends the stream (204 after the end, 401, 404, 410).
        finish(run, run.text ? 'closed' : 'unavailable');
      } else {
        setStatus('reconnecting…');
      }
    });
  }

  async function send(message) {
    welcome.hidden = true;
    const view = (() => {
      const user = bubble('user');
      user.textContent = message;
      return assistantView();
    })();
    sendButton.disabled = true;
    setStatus('starting');
    let response;
    try {
      response = await fetch('/agents/' + agent + '/runs', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify({ message, conversationId }),
      });
    } catch (err) {
      note(view, 'Could not reach the server: ' + err, 'note error');
      sendButton.disabled = false;
      setStatus('offline');
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      if (response.status === 401) {
        keyForm.hidden = false;
      }
      note(view, (body.title || response.status) + (body.detail ? ': ' + body.detail : ''), 'note error');
      view.root.dataset.state = 'refused';
      sendButton.disabled = false;
      setStatus('refused (' + response.status + ')');
      return;
    }
    conversationId = body.conversationId;
    view.root.dataset.runId = body.runId;
    const run = { runId: body.runId, links: body.links, source: null, view, text: '', reconnects: 0 };
    current = run;
    cancelButton.disabled = false;
    openStream(run);
  }

  el('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (message && !current) {
      input.value = '';
      send(message);
    }
  });

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      el('composer').requestSubmit();
    }
  });

  for (const suggestion of welcome.querySelectorAll('button[data-prompt]')) {
    suggestion.addEventListener('click', () => {
      if (!current) {
        send(suggestion.dataset.prompt);
      }
    });
  }

  cancelButton.addEventListener('click', async () => {
    if (current) {
      cancelButton.disabled = true;
      setStatus('cancelling');
      await fetch(current.links.cancel, { method: 'POST' }).catch(() => undefined);
    }
  });

  el('new-conversation').addEventListener('click', () => {
    if (!current) {
      conversationId = null;
      messages.replaceChildren(welcome);
      welcome.hidden = false;
      setStatus('idle');
    }
  });

  keyForm.addEventListener('submit', (e) => {
    e.preventDefault();
    window.agentCredentials.save(el('api-key').value);
    keyForm.hidden = true;
    setStatus('key saved');
    showPrincipal();
  });

  // Who the chat runs as: its conversations belong to that principal (the agents page lists them).
  async function showPrincipal() {
    const response = await fetch('/agents/conversations?take=1', { headers: { Accept: 'application/json' } }).catch(() => null);
    if (response && response.status === 401) {
      keyForm.hidden = false;
      return;
    }
    if (response && response.ok) {
      const body = await response.json();
      el('principal').textContent = 'as ' + body.principal;
    }
  }

  showPrincipal();
})();
