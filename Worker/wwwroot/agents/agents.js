// The agents page: the durable state of the agents (conversations, their history and runs) and a live view of a run's
// Redis Stream. It reads only the Worker's own API: GET /agents/conversations, GET /agents/{agent}/conversations/{id}
// and the run's SSE stream, which Streaming.Core serves — there is no second copy of the stream format here.
(function () {
  'use strict';

  const el = (id) => document.getElementById(id);
  let dashboardUrl = null;
  let selected = null; // { agent, conversationId }
  let live = null; // { source, runId }

  function text(tag, value, cls) {
    const node = document.createElement(tag);
    if (cls) {
      node.className = cls;
    }
    node.textContent = value == null ? '' : String(value);
    return node;
  }

  function badge(status) {
    return text('span', status || 'unknown', 'badge ' + (status || ''));
  }

  function when(iso) {
    if (!iso) {
      return '—';
    }
    const date = new Date(iso);
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 60) {
      return seconds + ' s ago';
    }
    if (seconds < 3600) {
      return Math.round(seconds / 60) + ' min ago';
    }
    return date.toLocaleString();
  }

  function duration(run) {
    if (!run.startedAt) {
      return '—';
    }
    const end = run.completedAt ? new Date(run.completedAt) : new Date();
    return ((end - new Date(run.startedAt)) / 1000).toFixed(1) + ' s';
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' } });
    if (response.status === 401) {
      el('key-form').hidden = false;
      throw new Error('This server requires a sign-in token or an API key.');
    }
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error((problem.title || response.status) + (problem.detail ? ': ' + problem.detail : ''));
    }
    return response.json();
  }

  async function loadConversations() {
    const list = el('conversations');
    let body;
    try {
      body = await getJson('/agents/conversations');
    } catch (err) {
      list.replaceChildren(text('li', String(err.message || err), 'muted'));
      return;
    }
    dashboardUrl = body.dashboardUrl;
    // Whose conversations these are: the caller's own, or everyone's for an admin.
    el('principal').textContent = body.admin
      ? 'Everyone\'s conversations (you are ' + body.principal + ', an admin)'
      : body.principal + '\'s conversations';
    const link = el('dashboard-link');
    link.replaceChildren();
    if (dashboardUrl) {
      const a = text('a', 'Aspire dashboard ↗');
      a.href = dashboardUrl;
      a.target = '_blank';
      link.appendChild(a);
    }
    el('empty').hidden = body.conversations.length > 0;
    list.replaceChildren(...body.conversations.map((c) => {
      const li = document.createElement('li');
      li.dataset.conversationId = c.conversationId;
      li.classList.toggle('selected', selected && selected.conversationId === c.conversationId);
      li.appendChild(text('div', c.firstMessage || '(no message)', 'first'));
      const meta = document.createElement('div');
      meta.className = 'meta';
      meta.append(text('span', c.agent), text('span', c.turns + (c.turns === 1 ? ' turn' : ' turns')), text('span', when(c.lastActivity)));
      if (c.lastRunStatus) {
        meta.appendChild(badge(c.lastRunStatus));
      }
      li.appendChild(meta);
      li.addEventListener('click', () => select(c.agent, c.conversationId));
      return li;
    }));
  }

  function toolDetails(call) {
    const details = document.createElement('details');
    details.className = 'tool';
    details.appendChild(text('summary', '⚙ ' + call.name));
    if (call.arguments) {
      details.appendChild(text('pre', 'arguments: ' + call.arguments));
    }
    if (call.result) {
      details.appendChild(text('pre', 'result: ' + call.result));
    }
    return details;
  }

  function renderHistory(history) {
    el('history').replaceChildren(...history.map((m) => {
      const card = document.createElement('article');
      card.className = 'card turn ' + m.role;
      const who = text('div', m.role === 'user' ? 'User' : 'Assistant', 'who');
      if (m.cancelled) {
        who.appendChild(badge('cancelled'));
      }
      if (m.failed) {
        who.appendChild(badge('failed'));
      }
      who.appendChild(text('span', when(m.createdAt), 'muted'));
      card.appendChild(who);
      for (const call of m.toolCalls || []) {
        card.appendChild(toolDetails(call));
      }
      if (m.role === 'assistant') {
        const content = document.createElement('div');
        content.className = 'content';
        content.appendChild(window.AgentMarkdown.render(m.text));
        card.appendChild(content);
      } else {
        card.appendChild(text('div', m.text, 'text'));
      }
      return card;
    }));
  }

  function renderRuns(agent, runs) {
    el('runs').replaceChildren(...runs.slice().reverse().map((run) => {
      const tr = document.createElement('tr');
      tr.dataset.runId = run.runId;
      tr.appendChild(text('td', run.runId.slice(0, 12) + '…', 'mono'));
      const status = document.createElement('td');
      status.appendChild(badge(run.status));
      if (run.error) {
        status.appendChild(text('div', run.error, 'error-text'));
      }
      tr.appendChild(status);
      tr.appendChild(text('td', run.attempts));
      tr.appendChild(text('td', when(run.startedAt || run.createdAt)));
      tr.appendChild(text('td', duration(run)));
      const trace = document.createElement('td');
      if (run.traceId && dashboardUrl) {
        const a = text('a', 'trace ↗');
        a.href = dashboardUrl + '/traces/detail/' + run.traceId;
        a.target = '_blank';
        a.dataset.testid = 'trace-link';
        trace.appendChild(a);
      } else if (run.traceId) {
        trace.appendChild(text('span', run.traceId.slice(0, 8), 'mono muted'));
      }
      tr.appendChild(trace);
      const actions = document.createElement('td');
      const watch = text('button', run.status === 'running' || run.status === 'queued' ? 'Watch live' : 'Replay stream');
      watch.type = 'button';
      watch.addEventListener('click', () => openLive(agent, run.runId));
      actions.appendChild(watch);
      tr.appendChild(actions);
      return tr;
    }));
  }

  async function select(agent, conversationId) {
    selected = { agent, conversationId };
    for (const li of el('conversations').children) {
      li.classList.toggle('selected', li.dataset.conversationId === conversationId);
    }
    el('placeholder').hidden = true;
    el('conversation').hidden = false;
    el('conversation-title').textContent = agent;
    el('conversation-id').textContent = conversationId;
    try {
      const conversation = await getJson('/agents/' + encodeURIComponent(agent) + '/conversations/' + encodeURIComponent(conversationId));
      renderRuns(agent, conversation.runs);
      renderHistory(conversation.history);
    } catch (err) {
      el('history').replaceChildren(text('p', String(err.message || err), 'muted'));
    }
  }

  function closeLive() {
    if (live && live.source) {
      live.source.close();
    }
    live = null;
    el('live').hidden = true;
  }

  function openLive(agent, runId) {
    closeLive();
    const state = { source: null, runId, text: '' };
    live = state;
    el('live').hidden = false;
    el('live-run').textContent = runId;
    el('live-chips').replaceChildren();
    el('live-notes').replaceChildren();
    el('live-content').replaceChildren();
    const status = el('live-status');
    const setStatus = (value) => {
      status.textContent = value;
      status.className = 'badge ' + value;
      el('live').dataset.state = value;
    };
    setStatus('connecting');
    const render = () => el('live-content').replaceChildren(window.AgentMarkdown.render(state.text));
    const end = (value, message) => {
      state.source.close();
      setStatus(value);
      if (message) {
        el('live-notes').appendChild(text('p', message, 'note' + (value === 'error' ? ' error' : '')));
      }
      render();
      if (selected) {
        select(selected.agent, selected.conversationId);
      }
      loadConversations();
    };
    // EventSource resumes by itself after a drop, sending Last-Event-ID; the server continues after that entry.
    const source = new EventSource('/agents/' + encodeURIComponent(agent) + '/runs/' + encodeURIComponent(runId) + '/stream');
    state.source = source;
    source.onopen = () => setStatus('streaming');
    source.onerror = () => {
      if (live === state && source.readyState !== EventSource.CLOSED) {
        setStatus('reconnecting');
      }
    };
    source.addEventListener('text', (e) => {
      state.text += e.data;
      render();
    });
    source.addEventListener('reset', () => {
      // A new attempt: the interrupted one's text is shown struck through, then dropped.
      if (state.text) {
        el('live-notes').appendChild(text('div', state.text, 'struck'));
      }
      el('live-notes').appendChild(text('p', 'The worker running this answer stopped; a new attempt starts over.', 'note'));
      state.text = '';
      render();
    });
    const chip = (label, cls) => el('live-chips').appendChild(text('span', label, 'chip' + (cls ? ' ' + cls : '')));
    source.addEventListener('tool_call', (e) => {
      const call = JSON.parse(e.data || '{}');
      chip('⚙ ' + (call.name || 'tool'));
    });
    source.addEventListener('tool_result', (e) => {
      const result = JSON.parse(e.data || '{}');
      chip('✓ ' + (result.name || 'result'), 'done');
    });
    source.addEventListener('done', () => end('done'));
    source.addEventListener('error', (e) => {
      if (e.data !== undefined) {
        end('error', e.data);
      }
    });
    source.addEventListener('cancelled', (e) => end('cancelled', e.data));
    for (const ending of ['expired', 'not_found', 'unavailable']) {
      source.addEventListener(ending, (e) => end('error', e.data || ending));
    }
  }

  el('live-close').addEventListener('click', closeLive);
  el('refresh').addEventListener('click', () => {
    loadConversations();
    if (selected) {
      select(selected.agent, selected.conversationId);
    }
  });
  el('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    window.agentCredentials.save(el('api-key').value);
    el('key-form').hidden = true;
    loadConversations();
  });

  const params = new URLSearchParams(location.search);
  loadConversations().then(() => {
    if (params.get('conversation')) {
      select(params.get('agent') || 'TravelPlanner', params.get('conversation'));
    }
  });
})();
