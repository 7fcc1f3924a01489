// AgentStreaming dashboard: plain JS, no build step, no external resources.
// Every piece of text from the system goes into the DOM through textContent (never innerHTML), and links are built
// only from '#' routes or http(s) URLs, so user and model text can never become markup.
(() => {
  "use strict";

  // ---------- DOM helpers ----------
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") el.className = value;
        else if (key === "text") el.textContent = String(value);
        else if (key === "href") el.setAttribute("href", safeHref(value));
        else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
        else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
        else el.setAttribute(key, value === true ? "" : String(value));
      }
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  function add(el, ...children) { return append(el, children); }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function safeHref(url) {
    const s = String(url);
    if (s.startsWith("#")) return s;
    try {
      const u = new URL(s, location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : "#";
    } catch { return "#"; }
  }
  const enc = encodeURIComponent;

  // ---------- formatting ----------
  const palette = ["#4b5bdc", "#17a2a2", "#e0782f", "#8e44ad", "#2e8b57", "#c2185b", "#607d8b", "#b8860b", "#1e88e5", "#6d4c41"];
  const serviceColors = new Map();
  function colorOf(name) {
    if (!serviceColors.has(name)) {
      let hash = 0;
      for (const c of String(name)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
      serviceColors.set(name, palette[hash % palette.length]);
    }
    return serviceColors.get(name);
  }
  function chip(service) { return h("span", { class: "chip", style: { background: colorOf(service) }, text: service }); }
  function time(value) { const d = new Date(value); return isNaN(d) ? "" : d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0"); }
  function dateTime(value) { const d = new Date(value); return isNaN(d) ? "" : d.toLocaleString([], { hour12: false }); }
  function ms(value) {
    if (value === null || value === undefined || isNaN(value)) return "";
    if (value < 1) return value.toFixed(2) + " ms";
    if (value < 1000) return value.toFixed(value < 10 ? 1 : 0) + " ms";
    if (value < 60000) return (value / 1000).toFixed(2) + " s";
    return Math.floor(value / 60000) + " min " + Math.round((value % 60000) / 1000) + " s";
  }
  function ago(value) {
    const s = Math.max(0, (Date.now() - new Date(value).getTime()) / 1000);
    if (s < 60) return Math.floor(s) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function uptime(startedAt) {
    if (!startedAt) return "";
    let s = Math.max(0, Math.floor((Date.now() - new Date(startedAt).getTime()) / 1000));
    const d = Math.floor(s / 86400); s %= 86400;
    const hh = Math.floor(s / 3600); s %= 3600;
    const mm = Math.floor(s / 60); s %= 60;
    return (d ? d + "d " : "") + (d || hh ? hh + "h " : "") + (d || hh || mm ? mm + "m " : "") + s + "s";
  }
  function stateClass(state) {
    switch (state) {
      case "Healthy": case "completed": case "done": return "ok";
      case "Running": case "Starting": case "Waiting": case "Restarting": case "running": case "queued": case "streaming": case "waiting": return "info";
      case "Exited": case "Stopped": case "Stopping": case "cancelled": case "expired": return "warn";
      case "FailedToStart": case "failed": case "error": case "missing": return "bad";
      default: return "";
    }
  }
  function badge(text, cls) { return h("span", { class: "badge " + (cls ?? stateClass(text)), text }); }
  function shortId(id) { return id && id.length > 12 ? id.slice(0, 8) + "…" : id; }

  // ---------- HTTP ----------
  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = response.statusText;
      try { const p = await response.json(); detail = p.detail || p.title || detail; } catch { /* not JSON */ }
      throw new Error(response.status + " " + detail);
    }
    return response.json();
  }
  async function post(path) {
    const response = await fetch(path, { method: "POST", headers: { "X-Dashboard-Request": "1", Accept: "application/json" } });
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    return response.json().catch(() => null);
  }
  function query(params) {
    const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => enc(k) + "=" + enc(v));
    return parts.length ? "?" + parts.join("&") : "";
  }
  function debounce(fn, wait) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), wait); };
  }

  // ---------- shared live state (/api/events) ----------
  const shared = { resources: [], telemetry: null };
  let current = null; // the view on screen: { dispose, onResources, onTelemetry }
  const liveEl = document.getElementById("live");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => { liveEl.textContent = "live"; liveEl.className = "live on"; });
  events.addEventListener("error", () => { liveEl.textContent = "reconnecting…"; liveEl.className = "live off"; });
  events.addEventListener("resources", e => {
    shared.resources = JSON.parse(e.data);
    if (current && current.onResources) current.onResources(shared.resources);
  });
  events.addEventListener("telemetry", e => {
    shared.telemetry = JSON.parse(e.data);
    liveEl.title = `spans ${shared.telemetry.spans} · logs ${shared.telemetry.logs} · series ${shared.telemetry.series} · rejected OTLP requests ${shared.telemetry.rejected}`;
    if (current && current.onTelemetry) current.onTelemetry(shared.telemetry);
  });

  // ---------- router ----------
  const view = document.getElementById("view");
  const routes = [
    [/^\/resources$/, resourcesView],
    [/^\/console(?:\/([^/]+))?$/, consoleView],
    [/^\/logs$/, logsView],
    [/^\/traces$/, tracesView],
    [/^\/traces\/([0-9a-fA-F]+)$/, traceView],
    [/^\/metrics$/, metricsView],
    [/^\/agents$/, agentsView],
    [/^\/agents\/([^/]+)\/([^/]+)$/, conversationView],
    [/^\/runs\/([^/]+)$/, runView],
  ];
  function route() {
    const raw = location.hash.replace(/^#/, "") || "/resources";
    const [path, search] = raw.split("?");
    const params = new URLSearchParams(search || "");
    if (current && current.dispose) current.dispose();
    current = null;
    clear(view);
    const tab = path.split("/")[1];
    for (const a of document.querySelectorAll("#nav a")) {
      const mapped = tab === "runs" ? "agents" : tab;
      a.classList.toggle("active", a.dataset.tab === mapped);
    }
    for (const [pattern, render] of routes) {
      const match = pattern.exec(path);
      if (match) {
        current = render(view, params, ...match.slice(1).map(s => s === undefined ? undefined : decodeURIComponent(s))) || {};
        if (current.onResources && shared.resources.length) current.onResources(shared.resources);
        return;
      }
    }
    view.appendChild(h("p", { class: "empty", text: "Unknown page." }));
  }
  window.addEventListener("hashchange", route);

  // ---------- Resources ----------
  function resourcesView(root) {
    const tbody = h("tbody");
    add(root, h("h1", { text: "Resources" }), h("div", { class: "panel" },
      h("table", { "data-testid": "resources" },
        h("thead", null, h("tr", null, ["Name", "Kind", "State", "Uptime", "PID", "Exit code", "Restarts", "Endpoints", ""].map(t => h("th", { text: t })))),
        tbody)));
    function actions(r) {
      const act = (label, verb, cls) => h("button", {
        class: cls, text: label, "data-action": verb,
        onclick: async ev => {
          ev.target.disabled = true;
          try { await post(`/api/resources/${enc(r.name)}/${verb}`); } catch (err) { alert(err.message); } finally { ev.target.disabled = false; }
        },
      });
      const running = !["Exited", "Stopped", "FailedToStart", "NotStarted"].includes(r.state);
      return [h("a", { href: `#/console/${enc(r.name)}`, text: "console" }), " ",
        r.kind === "external" ? null : act("Restart", "restart"), " ",
        r.kind === "external" ? null : running ? act("Stop", "stop", "danger") : act("Start", "start")];
    }
    function endpoints(r) {
      return Object.entries(r.endpoints || {}).map(([k, v]) => h("div", null, h("span", { class: "muted", text: k + " " }),
        /^https?:\/\//.test(v) ? h("a", { href: v, target: "_blank", rel: "noopener noreferrer", text: v }) : h("span", { class: "mono", text: v })));
    }
    function render(resources) {
      clear(tbody);
      if (!resources.length) add(tbody, h("tr", null, h("td", { colspan: 9, class: "empty", text: "No resources yet." })));
      for (const r of resources) {
        add(tbody, h("tr", { "data-resource": r.name, "data-state": r.state },
          h("td", null, h("strong", { text: r.name }), r.resource !== r.name ? h("div", { class: "muted", text: r.resource }) : null),
          h("td", { text: r.kind }),
          h("td", { "data-testid": "state" }, badge(r.state)),
          h("td", { class: "uptime", "data-started": r.startedAt && ["Running", "Healthy"].includes(r.state) ? r.startedAt : "" }),
          h("td", { class: "num", text: r.processId ?? "" }),
          h("td", { class: "num", text: r.exitCode ?? "" }),
          h("td", { class: "num", text: r.restarts }),
          h("td", null, endpoints(r)),
          h("td", null, actions(r))));
      }
      tick();
    }
    function tick() { for (const td of tbody.querySelectorAll("td.uptime")) td.textContent = td.dataset.started ? uptime(td.dataset.started) : ""; }
    const timer = setInterval(tick, 1000);
    api("/api/resources").then(render).catch(err => add(tbody, h("tr", null, h("td", { colspan: 9, class: "error-text", text: err.message }))));
    return { onResources: render, dispose: () => clearInterval(timer) };
  }

  // ---------- Console logs ----------
  function consoleView(root, params, name) {
    const select = h("select", { "aria-label": "Resource", onchange: () => { location.hash = "#/console/" + enc(select.value); } });
    const follow = h("input", { type: "checkbox", checked: true, id: "follow" });
    const status = h("span", { class: "muted" });
    const pre = h("pre", { class: "console", "data-testid": "console" });
    add(root, h("h1", { text: "Console logs" }),
      h("div", { class: "toolbar" }, select, h("label", null, follow, " follow"), h("span", { class: "grow" }), status,
        h("button", { text: "Clear view", onclick: () => clear(pre) })),
      pre);
    let source = null;
    function fillSelect(resources) {
      const names = resources.map(r => r.name);
      if (select.options.length === names.length) return;
      clear(select);
      for (const n of names) add(select, h("option", { value: n, text: n, selected: n === name }));
      if (!name && names.length) { location.replace("#/console/" + enc(names[0])); }
    }
    if (name) {
      source = new EventSource(`/api/resources/${enc(name)}/console/stream`);
      let count = 0;
      source.addEventListener("line", e => {
        const line = JSON.parse(e.data);
        add(pre, h("div", { class: line.error ? "err" : null }, h("span", { class: "seq", text: time(line.time) }), line.text));
        if (++count > 5000) pre.removeChild(pre.firstChild);
        if (follow.checked) pre.scrollTop = pre.scrollHeight;
      });
      source.addEventListener("caught-up", () => { status.textContent = "live"; });
      source.addEventListener("error", () => { status.textContent = "reconnecting…"; });
    }
    return { onResources: fillSelect, dispose: () => source && source.close() };
  }

  // ---------- Structured logs ----------
  function logsView(root, params) {
    const resource = h("select", { "aria-label": "Resource" }, h("option", { value: "", text: "All resources" }));
    const level = h("select", { "aria-label": "Level" }, ["", "Trace", "Debug", "Information", "Warning", "Error", "Critical"].map(l => h("option", { value: l, text: l || "All levels" })));
    const text = h("input", { type: "search", placeholder: "Text", value: params.get("text") || "" });
    const traceId = h("input", { type: "search", placeholder: "Trace id", class: "mono", size: 34, value: params.get("traceId") || "" });
    const live = h("input", { type: "checkbox", checked: true });
    const count = h("span", { class: "muted" });
    const tbody = h("tbody");
    const detail = h("div");
    level.value = params.get("level") || "";
    const initialResource = params.get("resource") || "";
    add(root, h("h1", { text: "Structured logs" }),
      h("div", { class: "toolbar" }, resource, level, text, traceId, h("label", null, live, " live"), h("span", { class: "grow" }), count),
      detail,
      h("div", { class: "panel" }, h("table", { "data-testid": "logs" },
        h("thead", null, h("tr", null, ["Time", "Resource", "Level", "Category", "Message", "Trace"].map(t => h("th", { text: t })))), tbody)));
    async function load() {
      const q = { resource: resource.options.length > 1 ? resource.value : initialResource, level: level.value, text: text.value.trim(), traceId: traceId.value.trim(), take: 1000 };
      try {
        const logs = await api("/api/logs" + query(q));
        clear(tbody);
        count.textContent = logs.length + " entries";
        for (const l of logs.reverse()) {
          const row = h("tr", { class: "clickable", onclick: () => showDetail(l, row) },
            h("td", { class: "mono", text: time(l.time) }),
            h("td", null, chip(l.service), l.instance && l.instance !== l.service ? h("span", { class: "muted", text: l.instance }) : null),
            h("td", { class: "level-" + l.level, text: l.level }),
            h("td", { class: "muted", text: l.category }),
            h("td", { class: "msg", text: l.message }),
            h("td", null, l.traceId ? h("a", { href: "#/traces/" + l.traceId, class: "mono", text: shortId(l.traceId), onclick: e => e.stopPropagation() }) : null));
          add(tbody, row);
        }
        if (!logs.length) add(tbody, h("tr", null, h("td", { colspan: 6, class: "empty", text: "No log entries match." })));
      } catch (err) { count.textContent = err.message; }
    }
    function showDetail(l, row) {
      for (const r of tbody.querySelectorAll("tr.selected")) r.classList.remove("selected");
      row.classList.add("selected");
      add(clear(detail), h("div", { class: "panel" }, h("div", { class: "toolbar" }, h("strong", { text: l.level + " · " + l.category }), h("span", { class: "grow" }),
        h("button", { text: "Close", onclick: () => { clear(detail); row.classList.remove("selected"); } })),
      h("p", { class: "msg", text: l.message }),
      kv(Object.assign({ time: l.time, service: l.service, instance: l.instance ?? "", traceId: l.traceId ?? "", spanId: l.spanId ?? "" }, l.attributes)),
      l.traceId ? h("p", null, h("a", { href: "#/traces/" + l.traceId, text: "Open trace →" })) : null));
    }
    const refresh = debounce(load, 250);
    for (const el of [resource, level]) el.addEventListener("change", load);
    for (const el of [text, traceId]) el.addEventListener("input", refresh);
    load();
    return {
      onResources(resources) {
        if (resource.options.length > 1) return;
        const names = [...new Set(resources.flatMap(r => [r.resource, r.name]))];
        for (const n of names) add(resource, h("option", { value: n, text: n, selected: n === initialResource }));
      },
      onTelemetry: debounce(() => { if (live.checked) load(); }, 1000),
    };
  }
  function kv(obj) {
    return h("div", { class: "kv" }, Object.entries(obj).flatMap(([k, v]) => [h("div", { class: "k", text: k }), h("div", { class: "v", text: v ?? "" })]));
  }

  // ---------- Traces ----------
  function tracesView(root, params) {
    const search = h("input", { type: "search", placeholder: "Search name, attribute value or trace id", size: 40, value: params.get("search") || "" });
    const service = h("select", { "aria-label": "Service" }, h("option", { value: "", text: "All services" }));
    const errors = h("input", { type: "checkbox" });
    const count = h("span", { class: "muted" });
    const tbody = h("tbody");
    add(root, h("h1", { text: "Traces" }),
      h("div", { class: "toolbar" }, search, service, h("label", null, errors, " errors only"), h("span", { class: "grow" }), count),
      h("div", { class: "panel" }, h("table", { "data-testid": "traces" },
        h("thead", null, h("tr", null, ["Time", "Name", "Services", "Spans", "Duration", "Errors"].map(t => h("th", { text: t })))), tbody)));
    const services = new Set();
    async function load() {
      try {
        const traces = await api("/api/traces" + query({ search: search.value.trim(), service: service.value, errors: errors.checked ? "true" : "" }));
        clear(tbody);
        count.textContent = traces.length + " traces";
        for (const t of traces) {
          for (const s of t.services) if (!services.has(s)) { services.add(s); add(service, h("option", { value: s, text: s })); }
          add(tbody, h("tr", { class: "clickable", "data-trace": t.traceId, onclick: () => { location.hash = "#/traces/" + t.traceId; } },
            h("td", { class: "mono", text: time(t.start) }),
            h("td", null, h("a", { href: "#/traces/" + t.traceId, text: t.name })),
            h("td", null, t.services.map(chip)),
            h("td", { class: "num", text: t.spans }),
            h("td", { class: "num", text: ms(t.durationMs) }),
            h("td", { class: "num" }, t.errors ? badge(String(t.errors), "bad") : "")));
        }
        if (!traces.length) add(tbody, h("tr", null, h("td", { colspan: 6, class: "empty", text: "No traces yet. Services send them to /v1/traces (OTLP/HTTP protobuf)." })));
      } catch (err) { count.textContent = err.message; }
    }
    search.addEventListener("input", debounce(load, 250));
    service.addEventListener("change", load);
    errors.addEventListener("change", load);
    load();
    return { onTelemetry: debounce(load, 1000) };
  }

  function traceView(root, params, traceId) {
    const header = h("div");
    const legend = h("div", { class: "legend" });
    const rows = h("div", { class: "waterfall", "data-testid": "waterfall" });
    const detail = h("div", { class: "panel details", "data-testid": "span-detail" }, h("span", { class: "muted", text: "Click a span to see its attributes." }));
    add(root, h("p", null, h("a", { href: "#/traces", text: "← Traces" })), header,
      h("div", { class: "panel" }, legend, rows), detail);
    let selected = params.get("span");
    let lastCount = -1;
    const expanded = new Set();
    async function load() {
      let spans;
      try { spans = await api("/api/traces/" + enc(traceId)); } catch (err) { add(clear(header), h("p", { class: "error-text", text: err.message })); return; }
      if (spans.length === lastCount) return;
      lastCount = spans.length;
      const start = Math.min(...spans.map(s => Date.parse(s.start)));
      const end = Math.max(...spans.map(s => Date.parse(s.end)));
      const total = Math.max(end - start, 0.001);
      const byId = new Map(spans.map(s => [s.spanId, s]));
      const children = new Map();
      const roots = [];
      for (const s of spans) {
        if (s.parentSpanId && byId.has(s.parentSpanId)) {
          if (!children.has(s.parentSpanId)) children.set(s.parentSpanId, []);
          children.get(s.parentSpanId).push(s);
        } else roots.push(s);
      }
      // Long runs of same-named leaf siblings (a stream's batched appends) fold into one expandable row.
      const ordered = [];
      const walk = (s, depth) => {
        ordered.push({ span: s, depth });
        const kids = (children.get(s.spanId) || []).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
        for (let i = 0; i < kids.length;) {
          let j = i;
          while (j < kids.length && kids[j].name === kids[i].name && kids[j].service === kids[i].service && !children.has(kids[j].spanId)) j++;
          if (j - i > 5) {
            const key = s.spanId + "/" + kids[i].service + "/" + kids[i].name;
            ordered.push({ group: kids.slice(i, j), depth: depth + 1, key });
            if (expanded.has(key)) for (const k of kids.slice(i, j)) ordered.push({ span: k, depth: depth + 2 });
            i = j;
          } else { walk(kids[i], depth + 1); i++; }
        }
      };
      for (const r of roots) walk(r, 0);
      const services = [...new Set(spans.map(s => s.service))];
      const root0 = roots[0] || spans[0];
      add(clear(header), h("h1", null, root0.service + ": " + root0.name),
        h("div", { class: "stats" },
          stat("Duration", ms(total)), stat("Spans", spans.length), stat("Services", services.length),
          stat("Errors", spans.filter(s => s.status === "Error").length), stat("Started", dateTime(start))),
        h("p", null, h("span", { class: "mono muted", text: "trace " + traceId + " " }), " ", h("a", { href: "#/logs?traceId=" + traceId, text: "logs of this trace →" })));
      add(clear(legend), services.map(s => h("span", { "data-service": s }, h("span", { class: "sw", style: { background: colorOf(s) } }), s)));
      clear(rows);
      for (const { span: s, depth, group, key } of ordered) {
        if (group) {
          const g0 = Math.min(...group.map(g => Date.parse(g.start))), g1 = Math.max(...group.map(g => Date.parse(g.end)));
          const errorsIn = group.filter(g => g.status === "Error").length;
          add(rows, h("div", { class: "wf-row group", "data-service": group[0].service, "data-group": group.length, title: "Click to " + (expanded.has(key) ? "fold" : "expand"),
            onclick: () => { if (expanded.has(key)) expanded.delete(key); else expanded.add(key); lastCount = -1; load(); } },
          h("div", { class: "wf-label", style: { paddingLeft: (6 + depth * 14) + "px" } }, (expanded.has(key) ? "▾ " : "▸ "), chip(group[0].service), `${group[0].name} × ${group.length}`, errorsIn ? badge(errorsIn + " errors", "bad") : null),
          h("div", { class: "wf-track" }, group.map(g => h("div", { class: "wf-bar" + (g.status === "Error" ? " error" : ""), style: {
            left: ((Date.parse(g.start) - start) / total) * 100 + "%", width: Math.max(((Date.parse(g.end) - Date.parse(g.start)) / total) * 100, 0.15) + "%", background: colorOf(g.service), opacity: 0.7 } }))),
          h("div", { class: "wf-dur", text: ms(g1 - g0) })));
          continue;
        }
        const left = ((Date.parse(s.start) - start) / total) * 100;
        const width = Math.max(((Date.parse(s.end) - Date.parse(s.start)) / total) * 100, 0.2);
        const row = h("div", { class: "wf-row" + (s.spanId === selected ? " selected" : ""), "data-span": s.spanId, "data-service": s.service, onclick: () => select(s, row) },
          h("div", { class: "wf-label", title: s.service + ": " + s.name, style: { paddingLeft: (6 + depth * 14) + "px" } }, chip(s.service), s.name),
          h("div", { class: "wf-track" }, h("div", { class: "wf-bar" + (s.status === "Error" ? " error" : ""), style: { left: left + "%", width: Math.min(width, 100 - left) + "%", background: colorOf(s.service) } })),
          h("div", { class: "wf-dur", text: ms(Date.parse(s.end) - Date.parse(s.start)) }));
        add(rows, row);
        if (s.spanId === selected) showSpan(s);
      }
    }
    function select(s, row) {
      selected = s.spanId;
      for (const r of rows.querySelectorAll(".wf-row.selected")) r.classList.remove("selected");
      row.classList.add("selected");
      showSpan(s);
    }
    function showSpan(s) {
      add(clear(detail), h("h2", null, chip(s.service), s.name, " ", s.status === "Error" ? badge("Error", "bad") : null),
        kv({ kind: s.kind, service: s.service, instance: s.instance ?? "", scope: s.scope, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "",
          start: s.start, duration: ms(Date.parse(s.end) - Date.parse(s.start)), status: s.status + (s.statusMessage ? ": " + s.statusMessage : "") }),
        h("h2", { text: "Attributes" }), Object.keys(s.attributes).length ? kv(s.attributes) : h("span", { class: "muted", text: "none" }),
        s.events.length ? [h("h2", { text: "Events" }), s.events.map(e => h("div", null, h("strong", { text: e.name + " " }), h("span", { class: "muted", text: time(e.time) }), kv(e.attributes)))] : null);
    }
    load();
    return { onTelemetry: debounce(load, 1000) };
  }
  // Tool data is JSON whose result is often JSON in a string: show it unescaped (as text, never markup).
  function readable(data) {
    if (!data) return "";
    try {
      const value = JSON.parse(data);
      if (value && typeof value.result === "string") { try { value.result = JSON.parse(value.result); } catch { /* plain text */ } }
      return JSON.stringify(value);
    } catch { return data; }
  }
  function stat(k, v) { return h("div", null, h("span", { class: "v", text: v }), h("span", { class: "k", text: k })); }

  // ---------- Metrics ----------
  const featured = [
    { name: "agent_streaming.run.time_to_first_chunk", title: "Time to first chunk", mode: "mean" },
    { name: "agent_streaming.run.chunks", title: "Chunks written", mode: "rate" },
    { name: "agent_streaming.run.duration", title: "Run duration", mode: "mean" },
    { name: "agent_streaming.runs", title: "Runs by outcome", mode: "total" },
  ];
  function metricsView(root, params) {
    const picker = h("select", { "aria-label": "Metric" }, h("option", { value: "", text: "Any metric…" }));
    const grid = h("div", { class: "charts" });
    const generic = h("div");
    add(root, h("h1", { text: "Metrics" }), grid, h("div", { class: "toolbar" }, h("strong", { text: "Chart any series: " }), picker), generic);
    const charts = featured.map(f => chartPanel(f.title, f.name, f.mode));
    add(grid, charts.map(c => c.el));
    let genericChart = null;
    picker.addEventListener("change", () => {
      clear(generic);
      genericChart = picker.value ? chartPanel(picker.value, picker.value, "auto") : null;
      if (genericChart) { add(generic, genericChart.el); genericChart.load(); }
      history.replaceState(null, "", "#/metrics" + (picker.value ? "?metric=" + enc(picker.value) : ""));
    });
    async function loadNames() {
      try {
        const names = await api("/api/metrics/names");
        const keep = picker.value || params.get("metric") || "";
        add(clear(picker), h("option", { value: "", text: "Any metric…" }), names.map(n => h("option", { value: n.name, text: `${n.name} (${n.type}${n.unit ? ", " + n.unit : ""}) · ${n.services.join(", ")}` })));
        if (keep && names.some(n => n.name === keep)) {
          const changed = picker.value !== keep || !genericChart;
          picker.value = keep;
          if (changed) picker.dispatchEvent(new Event("change"));
        }
      } catch { /* shown by the charts */ }
    }
    function loadAll() { for (const c of charts) c.load(); if (genericChart) genericChart.load(); loadNames(); }
    loadAll();
    const onResize = debounce(() => { for (const c of charts) c.redraw(); if (genericChart) genericChart.redraw(); }, 150);
    window.addEventListener("resize", onResize);
    return { onTelemetry: debounce(loadAll, 1500), dispose: () => window.removeEventListener("resize", onResize) };
  }

  function seriesLabel(s) {
    const attrs = Object.entries(s.attributes || {}).map(([k, v]) => k.replace(/^agent_streaming\.run\./, "") + "=" + v).join(", ");
    return s.service + (attrs ? " · " + attrs : "");
  }

  // Turns stored points into what a chart shows. Sums and histograms from the .NET exporter are cumulative, so
  // "mean" is the mean of each interval (Δsum/Δcount) and "rate" the increase per interval; a drop means a restart.
  function transform(series, mode) {
    const type = series.type;
    if (mode === "auto") mode = type === "histogram" ? "mean" : type === "counter" ? "rate" : "value";
    const pts = series.points.map(p => ({ t: Date.parse(p.time), value: p.value, count: p.count, sum: p.sum }));
    const out = [];
    for (let i = 0; i < pts.length; i++) {
      const p = pts[i], prev = pts[i - 1];
      if (mode === "mean" && type === "histogram") {
        if (!prev || p.count < prev.count) { if (p.count) out.push({ t: p.t, v: (p.sum ?? 0) / p.count }); continue; }
        const dc = p.count - prev.count;
        if (dc > 0) out.push({ t: p.t, v: ((p.sum ?? 0) - (prev.sum ?? 0)) / dc });
      } else if (mode === "rate") {
        out.push({ t: p.t, v: !prev || p.value < prev.value ? p.value : p.value - prev.value });
      } else {
        out.push({ t: p.t, v: type === "histogram" ? p.count ?? p.value : p.value });
      }
    }
    return out;
  }

  function chartPanel(title, name, mode) {
    const canvas = h("canvas", { "data-metric": name, role: "img", "aria-label": title });
    const legend = h("div", { class: "legend" });
    const note = h("div", { class: "muted" });
    const summary = h("table", { class: "summary", "data-testid": "summary" });
    const el = h("div", { class: "panel chart", "data-chart": name }, h("h2", { text: title }), h("div", { class: "muted mono", text: name }), canvas, legend, note, summary);
    let data = [];
    let unit = "";
    async function load() {
      try {
        const series = await api("/api/metrics?name=" + enc(name));
        unit = series[0]?.unit || "";
        const effective = mode === "auto" ? (series[0]?.type === "histogram" ? "mean" : series[0]?.type === "counter" ? "rate" : "value") : mode;
        data = series.map(s => ({ label: seriesLabel(s), color: colorOf(seriesLabel(s)), points: transform(s, effective === "total" ? "value" : effective), raw: s }));
        note.textContent = !series.length ? "No data yet." :
          effective === "mean" ? `Mean per export interval (${unit}).` : effective === "rate" ? `Increase per export interval (${unit}).` :
          effective === "total" ? `Cumulative total (${unit}).` : unit;
        clear(summary);
        if (series.length) {
          add(summary, h("tr", null, h("th", { text: "Series" }), h("th", { text: series[0].type === "histogram" ? "Count / mean" : "Latest" })));
          for (const d of data) {
            const last = d.raw.points[d.raw.points.length - 1];
            const value = d.raw.type === "histogram" ? `${last?.count ?? 0} / ${fmt(last?.count ? (last.sum ?? 0) / last.count : 0)} ${unit}` : `${fmt(last?.value ?? 0)} ${unit}`;
            add(summary, h("tr", { "data-series": d.label }, h("td", null, h("span", { class: "sw", style: { background: d.color, display: "inline-block", width: "10px", height: "10px", marginRight: "6px" } }), d.label), h("td", { class: "num", text: value })));
          }
        }
        redraw();
      } catch (err) { note.textContent = err.message; }
    }
    function redraw() {
      add(clear(legend), data.map(d => h("span", null, h("span", { class: "sw", style: { background: d.color } }), d.label)));
      if (mode === "total") drawBars(canvas, data.map(d => ({ label: d.label, color: d.color, v: d.points.length ? d.points[d.points.length - 1].v : 0 })), unit);
      else drawLines(canvas, data, unit);
    }
    return { el, load, redraw };
  }

  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    if (Number.isInteger(v)) return String(v);
    if (a >= 100) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  }
  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 500, height = canvas.clientHeight || 220;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx, width, height };
  }
  function drawLines(canvas, data, unit) {
    const { ctx, width, height } = setupCanvas(canvas);
    const all = data.flatMap(d => d.points);
    const pad = { l: 52, r: 12, t: 10, b: 24 };
    if (!all.length) { ctx.fillStyle = "#98a2b3"; ctx.fillText("no data yet", width / 2 - 28, height / 2); return; }
    let t0 = Math.min(...all.map(p => p.t)), t1 = Math.max(...all.map(p => p.t));
    if (t1 - t0 < 1000) { t0 -= 30000; t1 += 1000; }
    const vMax = Math.max(...all.map(p => p.v), 0) * 1.1 || 1;
    const x = t => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
    const y = v => height - pad.b - (v / vMax) * (height - pad.t - pad.b);
    ctx.strokeStyle = "#e3e6eb"; ctx.fillStyle = "#667085"; ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = (vMax / 4) * i, yy = Math.round(y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(width - pad.r, yy); ctx.stroke();
      ctx.fillText(fmt(v) + (i === 4 && unit ? " " + unit : ""), 4, yy + 4);
    }
    for (let i = 0; i <= 4; i++) {
      const t = t0 + ((t1 - t0) / 4) * i;
      const label = new Date(t).toLocaleTimeString([], { hour12: false });
      ctx.fillText(label, Math.min(x(t) - 20, width - 52), height - 6);
    }
    for (const d of data) {
      if (!d.points.length) continue;
      ctx.strokeStyle = d.color; ctx.fillStyle = d.color; ctx.lineWidth = 2;
      ctx.beginPath();
      d.points.forEach((p, i) => i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v)));
      ctx.stroke();
      for (const p of d.points) { ctx.beginPath(); ctx.arc(x(p.t), y(p.v), 2.5, 0, Math.PI * 2); ctx.fill(); }
    }
  }
  function drawBars(canvas, bars, unit) {
    const { ctx, width, height } = setupCanvas(canvas);
    if (!bars.length) { ctx.fillStyle = "#98a2b3"; ctx.fillText("no data yet", width / 2 - 28, height / 2); return; }
    const pad = { l: 12, r: 12, t: 16, b: 40 };
    const vMax = Math.max(...bars.map(b => b.v), 0) * 1.15 || 1;
    const slot = (width - pad.l - pad.r) / bars.length;
    const bw = Math.min(80, slot * 0.6);
    bars.forEach((b, i) => {
      const hgt = (b.v / vMax) * (height - pad.t - pad.b);
      const x0 = pad.l + slot * i + (slot - bw) / 2;
      ctx.fillStyle = b.color; ctx.fillRect(x0, height - pad.b - hgt, bw, hgt);
      ctx.fillStyle = "#1d2330"; ctx.fillText(fmt(b.v) + (unit ? " " + unit : ""), x0, height - pad.b - hgt - 4);
      ctx.fillStyle = "#667085";
      const label = b.label.length > 28 ? b.label.slice(0, 27) + "…" : b.label;
      ctx.fillText(label, pad.l + slot * i + 2, height - pad.b + 14);
    });
  }

  // ---------- Agents ----------
  function agentsView(root) {
    const tbody = h("tbody");
    const status = h("span", { class: "muted" });
    add(root, h("h1", { text: "Agents" }),
      h("div", { class: "toolbar" }, h("span", { class: "muted", text: "Conversations by last activity (Redis index), details from a Worker's HTTP API." }), h("span", { class: "grow" }), status, h("button", { text: "Refresh", onclick: () => load() })),
      h("div", { class: "panel" }, h("table", { "data-testid": "conversations" },
        h("thead", null, h("tr", null, ["Agent", "Conversation", "Turns", "Runs", "Last run", "Last activity", "First message"].map(t => h("th", { text: t })))), tbody)));
    async function load() {
      try {
        const result = await api("/api/agents/conversations");
        clear(tbody);
        status.textContent = `${result.conversations.length} conversations · service ${result.serviceId}` + (result.worker ? "" : " · no worker running");
        for (const c of result.conversations) {
          const href = `#/agents/${enc(c.agent)}/${enc(c.conversationId)}`;
          add(tbody, h("tr", { class: "clickable", "data-conversation": c.conversationId, onclick: () => { location.hash = href; } },
            h("td", { text: c.agent }),
            h("td", null, h("a", { href, class: "mono", text: c.conversationId })),
            h("td", { class: "num", text: c.turns ?? "?" }),
            h("td", { class: "num", text: c.runs ?? "?" }),
            h("td", null, c.lastRunStatus ? badge(c.lastRunStatus) : ""),
            h("td", { title: dateTime(c.lastActivity), text: ago(c.lastActivity) }),
            h("td", { class: "msg muted", text: c.firstMessage ?? "" })));
        }
        if (!result.conversations.length) add(tbody, h("tr", null, h("td", { colspan: 7, class: "empty", text: "No conversations yet." })));
      } catch (err) { status.textContent = err.message; }
    }
    load();
    return { onTelemetry: debounce(load, 2000) };
  }

  function conversationView(root, params, agent, conversationId) {
    const body = h("div");
    const status = h("span", { class: "muted" });
    add(root, h("p", null, h("a", { href: "#/agents", text: "← Agents" })),
      h("h1", null, agent + " · ", h("span", { class: "mono", text: conversationId })),
      h("div", { class: "toolbar" }, status, h("span", { class: "grow" }), h("button", { text: "Refresh", onclick: () => load() })), body);
    let active = true;
    async function load() {
      let c;
      try { c = await api(`/api/agents/${enc(agent)}/conversations/${enc(conversationId)}`); } catch (err) { status.textContent = err.message; return; }
      status.textContent = `${c.history.length} messages · ${c.runs.length} runs · last activity ${c.lastActivity ? dateTime(c.lastActivity) : "?"}`;
      active = c.runs.some(r => r.status === "queued" || r.status === "running");
      const runs = h("tbody");
      for (const r of c.runs) {
        const duration = r.completedAt && r.startedAt ? Date.parse(r.completedAt) - Date.parse(r.startedAt) : null;
        add(runs, h("tr", { "data-run": r.runId, "data-status": r.status },
          h("td", null, h("a", { href: `#/runs/${enc(r.runId)}?agent=${enc(agent)}&conversation=${enc(conversationId)}`, class: "mono", text: shortId(r.runId) })),
          h("td", null, badge(r.status), r.cancelRequested && r.status !== "cancelled" ? badge("cancel requested", "warn") : null),
          h("td", { class: "num", text: r.attempts }),
          h("td", { text: r.createdAt ? dateTime(r.createdAt) : "" }),
          h("td", { class: "num", text: ms(duration) }),
          h("td", { class: "msg error-text", text: r.error ?? "" }),
          h("td", null, r.traceId ? h("a", { href: "#/traces/" + r.traceId, "data-testid": "trace-link", text: "trace" }) : h("span", { class: "muted", text: r.streamAvailable === false ? "stream expired" : "" }))));
      }
      const history = h("div", { class: "history", "data-testid": "history" });
      for (const m of c.history) {
        add(history, h("div", { class: "msg " + m.role, "data-role": m.role },
          h("div", { class: "who" }, h("strong", { text: m.role }), h("span", { text: dateTime(m.createdAt) }),
            h("a", { href: `#/runs/${enc(m.runId)}?agent=${enc(agent)}&conversation=${enc(conversationId)}`, class: "mono", text: "run " + shortId(m.runId) }),
            m.cancelled ? badge("cancelled", "warn") : null),
          h("div", { class: "text", text: m.text }),
          m.toolCalls && m.toolCalls.length ? h("div", { class: "tools" }, m.toolCalls.map(t => h("div", { class: "tool" },
            h("strong", { text: t.name }), " ", h("code", { text: t.arguments ?? "" }), t.result ? h("div", { class: "muted", text: "→ " + t.result }) : null))) : null));
      }
      if (!c.history.length) add(history, h("p", { class: "empty", text: "No messages yet." }));
      add(clear(body), 
        h("h2", { text: "Runs" }),
        h("div", { class: "panel" }, h("table", { "data-testid": "runs" }, h("thead", null, h("tr", null, ["Run", "State", "Attempts", "Accepted", "Duration", "Error", "Trace"].map(t => h("th", { text: t })))), runs)),
        h("h2", { text: "History" }), history);
    }
    load();
    return { onTelemetry: debounce(() => { if (active) load(); }, 1500) };
  }

  // ---------- Live run view ----------
  function runView(root, params, runId) {
    const agent = params.get("agent");
    const conversation = params.get("conversation");
    const state = h("span", { "data-testid": "run-state" });
    const counters = h("div", { class: "stats" });
    const text = h("pre", { class: "run-text", "data-testid": "run-text" });
    const dropped = h("div");
    const log = h("ol", { class: "events", "data-testid": "run-events" });
    const links = h("p");
    const cancel = agent ? h("button", { class: "danger", text: "Cancel run", onclick: async () => {
      cancel.disabled = true;
      try { await post(`/api/agents/${enc(agent)}/runs/${enc(runId)}/cancel`); } catch (err) { alert(err.message); cancel.disabled = false; }
    } }) : null;
    add(root, 
      h("p", null, conversation && agent ? h("a", { href: `#/agents/${enc(agent)}/${enc(conversation)}`, text: "← Conversation" }) : h("a", { href: "#/agents", text: "← Agents" })),
      h("h1", null, "Run ", h("span", { class: "mono", text: runId }), " ", state),
      h("div", { class: "toolbar" }, links, h("span", { class: "grow" }), cancel),
      counters, dropped, text, h("h2", { text: "Events" }), log);
    const view = { state: "connecting", attempt: 0, entries: 0, chars: 0, resets: 0, tools: 0, first: null, last: null };
    function setState(s) {
      view.state = s;
      root.dataset.runState = s;
      state.dataset.state = s;
      add(clear(state), badge(s));
      if (cancel && ["done", "error", "cancelled", "expired", "missing"].includes(s)) cancel.disabled = true;
    }
    function renderCounters() {
      add(clear(counters), stat("Attempt", view.attempt || "–"), stat("Entries", view.entries), stat("Characters", view.chars),
        stat("Resets", view.resets), stat("Tool events", view.tools), stat("Elapsed", view.first && view.last ? ms(view.last - view.first) : "–"));
      text.dataset.length = String(view.chars);
    }
    function event(kind, detail, cls) {
      add(log, h("li", { "data-kind": kind }, h("span", { class: "mono muted", text: time(Date.now()) + " " }), badge(kind, cls), " ", detail ?? ""));
    }
    setState("connecting");
    renderCounters();
    const source = new EventSource(`/api/runs/${enc(runId)}/stream`);
    source.addEventListener("waiting", () => { setState("waiting"); event("waiting", "no entries yet; following the stream key"); });
    source.addEventListener("entry", e => {
      const entry = JSON.parse(e.data);
      view.entries++;
      view.first ??= entry.timestamp; view.last = entry.timestamp ?? view.last;
      if (entry.attempt) view.attempt = entry.attempt;
      if (entry.traceId && !links.dataset.trace) {
        links.dataset.trace = entry.traceId;
        add(links, h("a", { href: "#/traces/" + entry.traceId, "data-testid": "run-trace", text: "trace of this run →" }), " ",
          h("a", { href: "#/logs?traceId=" + entry.traceId, text: "logs →" }));
      }
      switch (entry.type) {
        case "text":
          if (view.state !== "streaming") setState("streaming");
          add(text, entry.text);
          view.chars += entry.text.length;
          if (text.scrollHeight - text.scrollTop - text.clientHeight < 80) text.scrollTop = text.scrollHeight;
          break;
        case "reset": {
          view.resets++;
          const old = text.textContent;
          add(dropped, h("details", { class: "panel" }, h("summary", { text: `Attempt ${view.attempt - 1 || "?"} was interrupted: ${old.length} characters dropped (reset to attempt ${entry.attempt})` }), h("div", { class: "dropped", text: old })));
          clear(text); view.chars = 0;
          event("reset", `attempt ${entry.attempt} restarts the answer`, "warn");
          break;
        }
        case "tool_call": case "tool_result": view.tools++; event(entry.type, readable(entry.data), "info"); break;
        case "usage": event("usage", entry.data ?? ""); break;
        case "done": setState("done"); event("done", "terminal entry", "ok"); break;
        case "error": setState("error"); event("error", entry.error ?? "", "bad"); break;
        case "cancelled": setState("cancelled"); event("cancelled", entry.error ?? "", "warn"); break;
        default: event(entry.type, entry.data ?? entry.text ?? "");
      }
      renderCounters();
    });
    const finish = reason => () => { source.close(); if (!["done", "error", "cancelled"].includes(view.state)) setState(reason); };
    source.addEventListener("end", finish("ended"));
    source.addEventListener("expired", () => { finish("expired")(); event("expired", "the stream expired (its TTL passed) while being read", "warn"); });
    source.addEventListener("missing", () => { finish("missing")(); event("missing", "no stream with this run id appeared", "bad"); });
    source.addEventListener("error", () => { if (source.readyState !== EventSource.CLOSED) event("disconnected", "reconnecting; resumes after the last entry id", "warn"); });
    return { dispose: () => source.close() };
  }

  route();
})();
