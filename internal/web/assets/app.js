// Blackwell dashboard: plain JavaScript, no framework, no build step.
//
// It reads the REST API (/v1) with the same authentication as any client
// and follows /v1/stream for live updates. Views (by location hash):
//   #/                      every stack: status, drifts, last verified, consistency
//   #/stacks/{client}/{id}  one stack: composition graph, drifts, passes, heals
//   #/approvals             approval requests, approve and reject
//   #/dashboards/reconciliation  passes, drift detections, heals, durations over time
//   #/clients, #/clients/{client}  every client; one client's health
//   #/dashboards/system     health score, alerts that would fire, ingest, store, process
// The stream only says what changed; the page then re-reads the changed
// stacks from the API (level-triggered, like the reconciler), so a lost
// event costs nothing but a moment: after a reconnect everything is
// re-read.
"use strict";

(() => {
  const TOKEN_KEY = "blackwell.token";
  const PASSES_KEPT = 20; // per stack, for the consistency score
  const EVENTS_KEPT = 15; // recent stream events shown on the overview
  const POLL_MS = 15000;  // re-read period while the stream is down

  const state = {
    stacks: new Map(),   // "client/stack" -> state record
    passes: new Map(),   // "client/stack" -> results, newest first
    pending: null,       // pending approvals (count in the nav)
    events: [],          // recent stream events, newest first
    dirty: new Set(),    // stacks to re-read
    dirtyAll: false,     // re-read everything
    flushTimer: 0,
    loaded: false,       // the overview was read once
    streamGen: 0,        // bumped to stop the current stream loop
    streamState: "connecting",
    authWanted: false,   // the token form is showing
    view: null,          // {name, client, stack}
    caller: null,        // GET /v1/whoami: the token's role and client scope
    reportStatus: null,  // {client, text}: the KPI report link's last word
  };

  // ---------------------------------------------------------------- DOM

  // h builds an element: h("td", {class: "x"}, "text", child...). Text is
  // always set as text, never parsed as HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, children);
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  const $ = (sel) => document.querySelector(sel);

  // WRAP is the box around a wide table: it scrolls sideways on a narrow
  // screen, and takes keyboard focus so that the keys can scroll it.
  const WRAP = { class: "wrap", tabindex: "0" };

  function notice(msg) {
    const n = $("#notice");
    n.textContent = msg;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(() => { n.textContent = ""; }, 6000);
  }

  // ---------------------------------------------------------------- API

  class APIError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter || 0; // seconds, from Retry-After
    }
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra);
    const tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers.Authorization = "Bearer " + tok;
    return headers;
  }

  async function api(path, opts) {
    const o = opts || {};
    const headers = authHeaders({ Accept: "application/json" });
    let body;
    if (o.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    const resp = await fetch(path, { method: o.method || "GET", headers, body, cache: "no-store" });
    const text = await resp.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (!resp.ok) {
      const e = (data && data.error) || {};
      const err = new APIError(resp.status, e.code || "http_" + resp.status, e.message || resp.statusText,
        Number(resp.headers.get("Retry-After")) || 0);
      if (resp.status === 401) askForToken(err.message);
      throw err;
    }
    return data;
  }

  // listAll reads every page of a list, up to max items.
  async function listAll(path, max) {
    const items = [];
    let cursor = "";
    for (;;) {
      const sep = path.includes("?") ? "&" : "?";
      const page = await api(path + sep + "limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items.push(...(page.items || []));
      cursor = page.next_cursor || "";
      if (!cursor || items.length >= (max || 10000)) return items;
    }
  }

  const enc = encodeURIComponent;
  const keyOf = (c, s) => c + "/" + s;
  const stackPath = (c, s) => "/v1/stacks/" + enc(c) + "/" + enc(s);

  // ---------------------------------------------------------------- auth

  function askForToken(message) {
    if (sessionStorage.getItem(TOKEN_KEY)) {
      // The token was refused (unknown or revoked): forget it.
      sessionStorage.removeItem(TOKEN_KEY);
    }
    $("#login-message").textContent = message || "This server needs an API token.";
    if (state.authWanted) return;
    state.authWanted = true;
    stopStream();
    $("#main").hidden = true;
    $("#login").hidden = false;
    $("#forget-token").hidden = true;
    $("#token-input").focus();
  }

  function tokenSubmitted(ev) {
    ev.preventDefault();
    const input = $("#token-input");
    const tok = input.value.trim();
    if (!tok) return;
    sessionStorage.setItem(TOKEN_KEY, tok);
    state.caller = null;
    input.value = "";
    state.authWanted = false;
    $("#login").hidden = true;
    $("#main").hidden = false;
    $("#forget-token").hidden = false;
    startStream();
    route();
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.caller = null;
    $("#forget-token").hidden = true;
    askForToken("The token was forgotten. Enter a token to go on.");
  }

  // ---------------------------------------------------------------- formatting

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (isNaN(d)) return "—";
    return h("time", { datetime: d.toISOString(), title: d.toLocaleString(), "data-rel": "" }, relTime(d));
  }

  function relTime(d) {
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < -5) return "in " + dur(-s);
    if (s < 5) return "just now";
    return dur(s) + " ago";
  }

  function dur(s) {
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }

  function refreshRelTimes() {
    for (const t of document.querySelectorAll("time[data-rel]")) {
      t.textContent = relTime(new Date(t.getAttribute("datetime")));
    }
  }

  function fmtValue(v) {
    if (v === undefined || v === null || v === "") return "—";
    if (typeof v === "string") return v;
    return JSON.stringify(v);
  }

  function badge(text, cls) {
    return h("span", { class: "badge " + (cls || text) }, String(text).replace(/_/g, " "));
  }

  const SEVERITIES = ["low", "medium", "high", "critical"];
  const sevRank = (s) => SEVERITIES.indexOf(s) + 1;
  function worst(drifts) {
    let w = "";
    for (const d of drifts) if (sevRank(d.severity) > sevRank(w)) w = d.severity;
    return w;
  }

  // consistency is the share of a stack's recent passes that succeeded and
  // found no drift.
  function consistency(passes) {
    if (!passes || passes.length === 0) return null;
    const good = passes.filter((p) => p.status === "success" && !p.drift_count).length;
    return { good, total: passes.length, ratio: good / passes.length };
  }

  function plural(n, one, many) { return n === 1 ? one : many; }

  function pct(r) { return Math.round(r * 100) + "%"; }

  // ---------------------------------------------------------------- composition graph

  // buildGraph turns a stack's desired composition and its drifts into
  // nodes (with a column and the drifts on each) and edges: providers
  // (cms, ecommerce) feed their webhook integrations, which feed the build
  // (ssg), which feeds the site's resources and its content. A drift whose
  // cause names another component adds a cause edge from that component.
  // Pure, so that it can be tested on its own.
  function buildGraph(desired, drifts) {
    const spec = desired || {};
    const providers = spec.providers || {};
    const integrations = spec.integrations || {};
    const resources = spec.resources || {};
    const contentTypes = spec.content_types || [];
    const nodes = new Map();
    const edges = [];
    const add = (id, col, label, sub, declared) => {
      if (!nodes.has(id)) nodes.set(id, { id, col, label, sub, declared: declared !== false, drifts: [] });
      return nodes.get(id);
    };
    const hasSSG = Object.prototype.hasOwnProperty.call(providers, "ssg");
    const roles = Object.keys(providers).filter((r) => r !== "ssg").sort();
    for (const role of roles) add("provider:" + role, 0, role, providers[role].name || "");
    if (hasSSG) add("provider:ssg", 2, "build", providers.ssg.name || "ssg");
    const fed = new Set();
    for (const name of Object.keys(integrations).sort()) {
      const role = integrations[name].provider || "";
      add("integration:" + name, 1, name, "webhook · " + role);
      if (role === "ssg") {
        edges.push({ from: "provider:ssg", to: "integration:" + name });
        continue;
      }
      if (!nodes.has("provider:" + role)) add("provider:" + role, 0, role, "not declared", false);
      edges.push({ from: "provider:" + role, to: "integration:" + name });
      if (hasSSG) edges.push({ from: "integration:" + name, to: "provider:ssg" });
      fed.add(role);
    }
    if (hasSSG) {
      for (const role of roles) if (!fed.has(role)) edges.push({ from: "provider:" + role, to: "provider:ssg" });
    }
    for (const name of Object.keys(resources).sort()) {
      add("resource:" + name, 3, name, (resources[name].probe || "") + " probe");
      if (hasSSG) edges.push({ from: "provider:ssg", to: "resource:" + name });
    }
    if (contentTypes.length > 0) {
      add("content", 3, "content", contentTypes.slice().sort().join(", "));
      if (hasSSG) edges.push({ from: "provider:ssg", to: "content" });
    }

    // nodeOf names the node a component is on, for a drift of a type.
    const nodeOf = (type, component) => {
      switch (type) {
        case "provider": return "provider:" + component;
        case "integration": return "integration:" + component;
        case "resource": return "resource:" + component;
        case "content": return "content";
      }
      return "";
    };
    // causeNode resolves a drift's cause: a provider role, an
    // integration or a resource.
    const causeNode = (cause) => {
      for (const id of ["provider:" + cause, "integration:" + cause, "resource:" + cause]) {
        if (nodes.has(id)) return id;
      }
      return "";
    };
    const causes = [];
    for (const d of drifts || []) {
      const id = nodeOf(d.type, d.component);
      if (!id) continue;
      if (!nodes.has(id)) {
        const col = { provider: 0, integration: 1, resource: 3, content: 3 }[d.type];
        add(id, col, d.component, "not declared", false);
      }
      nodes.get(id).drifts.push(d);
      if (d.cause) {
        const from = causeNode(d.cause);
        if (from && from !== id && !causes.some((c) => c.from === from && c.to === id)) {
          causes.push({ from, to: id, cause: d.cause, code: d.code });
        }
      }
    }
    for (const n of nodes.values()) n.severity = worst(n.drifts);
    return { nodes: [...nodes.values()], edges, causes };
  }

  const COLS = ["providers", "webhooks", "build", "site"];
  const NODE_W = 196, NODE_H = 50, COL_GAP = 64, ROW_GAP = 22, PAD = 16, TITLE_H = 24;

  function renderGraph(title, g) {
    const byCol = [[], [], [], []];
    for (const n of g.nodes) byCol[n.col].push(n);
    const rows = Math.max(1, ...byCol.map((c) => c.length));
    const height = PAD * 2 + TITLE_H + rows * NODE_H + (rows - 1) * ROW_GAP;
    const width = PAD * 2 + 4 * NODE_W + 3 * COL_GAP;
    const pos = new Map();
    byCol.forEach((col, ci) => {
      const colH = col.length * NODE_H + Math.max(0, col.length - 1) * ROW_GAP;
      const top = PAD + TITLE_H + (rows * NODE_H + (rows - 1) * ROW_GAP - colH) / 2;
      col.forEach((n, ri) => pos.set(n.id, { x: PAD + ci * (NODE_W + COL_GAP), y: top + ri * (NODE_H + ROW_GAP) }));
    });
    const drifted = g.nodes.filter((n) => n.drifts.length > 0);
    const desc = g.nodes.length === 0 ? "The stack declares no components." :
      (drifted.length === 0 ? "No drift on any component. " : "Drift on " +
        drifted.map((n) => n.label + " (" + n.severity + ": " + n.drifts.map((d) => d.code).join(", ") + ")").join("; ") + ". ") +
      g.causes.map((c) => c.cause + " is the cause of drift on " + c.to.replace(/^[a-z]+:/, "") + ".").join(" ");

    const root = svg("svg", {
      class: "graph", viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-labelledby": "graph-title graph-desc", id: "graph",
    });
    root.append(svg("title", { id: "graph-title" }, title));
    root.append(svg("desc", { id: "graph-desc" }, desc));
    const defs = svg("defs");
    for (const kind of ["plain", "cause"]) {
      defs.append(svg("marker", {
        id: "arrow-" + kind, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
      }, svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: kind === "cause" ? "arrow cause" : "arrow" })));
    }
    root.append(defs);
    COLS.forEach((t, ci) => {
      if (byCol[ci].length === 0) return;
      root.append(svg("text", { class: "col-title", x: PAD + ci * (NODE_W + COL_GAP) + NODE_W / 2, y: PAD + 12, "text-anchor": "middle" }, t));
    });
    const link = (from, to, cls, extraBend) => {
      const a = pos.get(from), b = pos.get(to);
      if (!a || !b) return null;
      let x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      if (b.x < a.x) { x1 = a.x; x2 = b.x + NODE_W; }
      if (b.x === a.x) { x1 = a.x + NODE_W; x2 = b.x + NODE_W; }
      const bend = Math.max(40, Math.abs(x2 - x1) / 2) + (extraBend || 0);
      const dir = x2 >= x1 && b.x !== a.x ? 1 : -1;
      const c1 = b.x === a.x ? x1 + bend : x1 + dir * bend;
      const c2 = b.x === a.x ? x2 + bend : x2 - dir * bend;
      const d = "M " + x1 + " " + y1 + " C " + c1 + " " + (y1 + (extraBend ? 18 : 0)) + ", " + c2 + " " + (y2 + (extraBend ? 18 : 0)) + ", " + x2 + " " + y2;
      return svg("path", { d, class: cls, "marker-end": "url(#arrow-" + (cls.includes("cause") ? "cause" : "plain") + ")" });
    };
    for (const e of g.edges) {
      const p = link(e.from, e.to, "edge", 0);
      if (p) root.append(p);
    }
    for (const c of g.causes) {
      const p = link(c.from, c.to, "edge cause", 24);
      if (!p) continue;
      p.setAttribute("data-from", c.from);
      p.setAttribute("data-to", c.to);
      p.append(svg("title", {}, c.cause + " caused " + c.code));
      root.append(p);
    }
    for (const n of g.nodes) {
      const p = pos.get(n.id);
      const sub = n.drifts.length === 0 ? n.sub :
        (n.drifts.length === 1 ? n.drifts[0].code : n.drifts.length + " drifts") + " · " + n.severity;
      const cls = "node" + (n.severity ? " sev-" + n.severity : "") + (n.declared ? "" : " undeclared");
      const tip = n.label + (n.sub ? " (" + n.sub + ")" : "") + (n.drifts.length === 0 ? ": no drift" :
        ": " + n.drifts.map((d) => d.code + " " + d.severity + (d.cause ? ", caused by " + d.cause : "")).join("; "));
      root.append(svg("g", { class: cls, "data-node": n.id, "data-severity": n.severity || "none", transform: "translate(" + p.x + " " + p.y + ")" },
        svg("title", {}, tip),
        svg("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
        svg("text", { x: 10, y: 20 }, clip(n.label, 26)),
        svg("text", { x: 10, y: 38, class: "sub" }, clip(sub, 30))));
    }
    return root;
  }

  function clip(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  function legend() {
    const item = (cls, text) => h("li", {}, h("span", { class: "swatch " + cls, "aria-hidden": "true" }), text);
    return h("ul", { class: "legend", "aria-label": "Legend" },
      item("ok", "no drift"), item("low", "low"), item("medium", "medium"), item("high", "high"),
      item("critical", "critical"), item("cause", "cause of a drift"));
  }

  // ---------------------------------------------------------------- views

  // setView replaces the content of main. Focus stays on the same
  // control when the new content has it (a live re-render must not throw
  // a keyboard user back to the top).
  const FOCUS_KEYS = ["id", "data-approve", "data-reject", "data-ack", "href"];
  function setView(title, ...content) {
    const main = $("#main");
    let refocus = "";
    const active = document.activeElement;
    if (active && active !== main && main.contains(active)) {
      for (const k of FOCUS_KEYS) {
        if (active.hasAttribute(k)) {
          refocus = active.tagName.toLowerCase() + "[" + k + '="' + CSS.escape(active.getAttribute(k)) + '"]';
          break;
        }
      }
    }
    main.replaceChildren(...content.flat(Infinity).filter((x) => x !== null && x !== undefined && x !== false));
    document.title = title + " · Blackwell";
    if (refocus) {
      const again = main.querySelector(refocus);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function errorView(err) {
    if (err instanceof APIError && err.status === 401) return; // the token form shows
    setView("Error", h("h1", {}, "Could not load"), h("p", { class: "error", role: "alert" }, err.message || String(err)));
  }

  // Overview ------------------------------------------------------------

  async function loadOverview() {
    const recs = await listAll("/v1/stacks");
    state.stacks = new Map(recs.map((r) => [keyOf(r.client_id, r.stack_id), r]));
    await Promise.all(recs.map((r) => loadPasses(r.client_id, r.stack_id)));
    state.loaded = true;
  }

  async function loadPasses(c, s) {
    const page = await api("/v1/clients/" + enc(c) + "/reconciliations?stack_id=" + enc(s) + "&limit=" + PASSES_KEPT);
    state.passes.set(keyOf(c, s), page.items || []);
  }

  async function loadPending() {
    const page = await api("/v1/approvals?status=pending&limit=100");
    state.pending = { items: page.items || [], more: !!page.next_cursor };
    const el = $("#pending-count");
    const n = state.pending.items.length;
    el.hidden = n === 0;
    el.textContent = n + (state.pending.more ? "+" : "");
    el.setAttribute("aria-label", n + (state.pending.more ? " or more" : "") + " pending");
  }

  function renderOverview() {
    const recs = [...state.stacks.values()].sort((a, b) => keyOf(a.client_id, a.stack_id).localeCompare(keyOf(b.client_id, b.stack_id)));
    const healthy = recs.filter((r) => r.status === "healthy").length;
    const drifts = recs.reduce((n, r) => n + (r.drift_details || []).length, 0);
    const score = recs.length ? healthy / recs.length : 1;
    const pendingN = state.pending ? state.pending.items.length : 0;

    const rows = recs.map((r) => {
      const key = keyOf(r.client_id, r.stack_id);
      const ds = r.drift_details || [];
      const w = worst(ds);
      const cons = consistency(state.passes.get(key));
      return h("tr", { "data-stack": key, "data-status": r.status, "data-drifts": ds.length },
        h("th", { scope: "row" }, h("a", { href: "#/stacks/" + enc(r.client_id) + "/" + enc(r.stack_id) }, key)),
        h("td", { class: "hide-narrow" }, r.environment || "—"),
        h("td", {}, badge(r.status)),
        h("td", { class: "num" }, ds.length === 0 ? "0" : [String(ds.length), " ", badge(w)]),
        h("td", {}, fmtTime(r.last_verified)),
        h("td", { class: "num", title: cons ? cons.good + " of the last " + cons.total + " passes found no drift" : "no pass yet" },
          cons ? pct(cons.ratio) : "—"),
        h("td", { class: "hide-narrow mono" }, r.state_version || "—"),
        h("td", { class: "hide-narrow" }, r.last_error ? h("span", { class: "error" }, clip(r.last_error, 80)) : ""));
    });

    const table = recs.length === 0 ? h("p", {}, "No stacks yet. Apply a configuration with ", h("code", {}, "blackwell apply"), ".") :
      h("div", WRAP, h("table", { id: "stacks" },
        h("caption", {}, "Every stack. Consistency: the share of the stack's last " + PASSES_KEPT + " passes that found no drift."),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Stack"), h("th", { scope: "col", class: "hide-narrow" }, "Environment"),
          h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Drifts"),
          h("th", { scope: "col" }, "Last verified"), h("th", { scope: "col", class: "num" }, "Consistency"),
          h("th", { scope: "col", class: "hide-narrow" }, "Version"), h("th", { scope: "col", class: "hide-narrow" }, "Last error"))),
        h("tbody", {}, rows)));

    const events = state.events.map((e) => h("li", {},
      fmtTime(e.timestamp), h("strong", {}, e.kind), " ", e.stack_id ? keyOf(e.client_id, e.stack_id) : e.client_id, " ", eventText(e)));

    setView("Stacks",
      h("h1", {}, "Stacks"),
      h("ul", { class: "summary", "aria-label": "Summary" },
        h("li", {}, h("strong", {}, String(recs.length)), plural(recs.length, " stack", " stacks")),
        h("li", {}, h("strong", {}, String(healthy)), " healthy"),
        h("li", {}, h("strong", { id: "open-drifts" }, String(drifts)), plural(drifts, " open drift", " open drifts")),
        h("li", { title: "healthy stacks / stacks, like blackwell_state_consistency_score" },
          "consistency score ", h("strong", { id: "consistency-score" }, pct(score))),
        h("li", {}, h("a", { href: "#/approvals" }, h("strong", {}, String(pendingN)), plural(pendingN, " pending approval", " pending approvals")))),
      table,
      h("h2", {}, "Live events"),
      events.length === 0 ? h("p", { class: "muted" }, "Drift, heal and pass events appear here as they happen.") :
        h("ul", { class: "events", id: "events" }, events));
  }

  function eventText(e) {
    const d = e.data || {};
    if (e.kind.startsWith("drift.")) return [d.code, " on ", d.component, e.severity ? " (" + e.severity + ")" : ""].join("");
    if (e.kind.startsWith("heal.")) return [d.heal_action, " for ", (d.drift_detail || {}).code || "", d.error_message ? ": " + d.error_message : ""].join("");
    if (e.kind === "reconciliation.completed") return d.status + ", " + (d.drift_count || 0) + " drifts (" + d.trigger + ")";
    if (e.kind === "forecast.raised") return [d.code, " on ", d.component, " forecast by ", new Date(d.eta).toLocaleString()].join("");
    if (e.kind === "forecast.updated") return [d.code, " on ", d.component, " now forecast by ", new Date(d.eta).toLocaleString()].join("");
    if (e.kind === "forecast.cleared") return [d.code, " on ", d.component, ": forecast cleared"].join("");
    return "";
  }

  // Stack page ----------------------------------------------------------

  async function showStack(c, s) {
    const key = keyOf(c, s);
    const [rec, ds, passes, heals, approvals, forecasts] = await Promise.all([
      api(stackPath(c, s)),
      api("/v1/clients/" + enc(c) + "/drift"),
      api("/v1/clients/" + enc(c) + "/reconciliations?stack_id=" + enc(s) + "&limit=" + PASSES_KEPT),
      listAll("/v1/heals?client_id=" + enc(c) + "&stack_id=" + enc(s), 5000),
      api("/v1/approvals?status=pending&client_id=" + enc(c) + "&stack_id=" + enc(s) + "&limit=100"),
      listAll("/v1/clients/" + enc(c) + "/forecasts?stack_id=" + enc(s), 1000),
    ]);
    const [promos, rel] = await Promise.all([
      rec.app ? orError(api("/v1/clients/" + enc(c) + "/apps/" + enc(rec.app) + "/promotions?limit=" + PROMOTIONS_KEPT)) : null,
      loadRelease(c, s, rec),
    ]);
    if (!viewIs("stack", c, s)) return;
    state.stacks.set(key, rec);
    state.passes.set(key, passes.items || []);
    const drifts = (ds.drift_details || []).filter((d) => d.stack_id === s);
    const lastHeal = new Map(); // drift id -> newest attempt (the list is oldest first)
    for (const a of heals) lastHeal.set(a.drift_id, a);
    const awaiting = new Map((approvals.items || []).map((a) => [a.drift_id, a]));
    let desired = {};
    try { desired = typeof rec.desired === "string" ? JSON.parse(rec.desired) : (rec.desired || {}); } catch (_) { desired = {}; }
    const graph = buildGraph(desired, drifts);
    const cons = consistency(passes.items);

    const driftRows = drifts.map((d) => h("tr", { "data-drift": d.id, "data-code": d.code, "data-component": d.component },
      h("td", {}, badge(d.severity)),
      h("td", { class: "mono" }, d.code),
      h("td", {}, d.component),
      h("td", { class: "value" }, fmtValue(d.expected)),
      h("td", { class: "value" }, fmtValue(d.observed)),
      h("td", {}, d.cause || "—"),
      h("td", {}, healCell(d, awaiting, lastHeal)),
      h("td", {}, fmtTime(d.first_seen || d.detected_at)),
      h("td", { class: "evidence" }, evidenceCell(d)),
      h("td", {}, d.acknowledged ? "by " + (d.acknowledged_by || "someone") : ackControl(c, d))));

    const passRows = (passes.items || []).map((p) => h("tr", { "data-pass": p.reconciliation_id },
      h("td", {}, fmtTime(p.started_at)),
      h("td", {}, p.trigger),
      h("td", {}, badge(p.status)),
      h("td", { class: "num" }, String(p.drift_count || 0)),
      h("td", { class: "num" }, p.auto_heal_attempted ? String(p.auto_heal_success_count || 0) + " ok" : "—"),
      h("td", { class: "num" }, durMs(p.started_at, p.completed_at)),
      h("td", { class: "value" }, (p.errors || []).join("; ") || "—")));

    const healRows = heals.slice(-PASSES_KEPT).reverse().map((a) => h("tr", { "data-heal": a.id },
      h("td", {}, fmtTime(a.created_at)),
      h("td", { class: "mono" }, a.code),
      h("td", {}, a.component),
      h("td", { class: "mono" }, a.heal_action),
      h("td", { class: "num" }, String(a.attempt)),
      h("td", {}, badge(a.status)),
      h("td", { class: "value" }, a.error_message ? h("span", { class: "error" }, a.error_message) : (a.detail || "—"))));

    const table = (id, caption, cols, rows, empty) => rows.length === 0 ? h("p", { class: "muted", id: id + "-empty" }, empty) :
      h("div", WRAP, h("table", { id },
        h("caption", {}, caption),
        h("thead", {}, h("tr", {}, cols.map((c) => c.startsWith("#") ?
          h("th", { scope: "col", class: "num" }, c.slice(1)) : h("th", { scope: "col" }, c)))),
        h("tbody", {}, rows)));

    const reconcileBtn = h("button", { type: "button", id: "reconcile-now", onclick: (ev) => reconcileNow(ev.currentTarget, c, s) }, "Reconcile now");

    setView(key,
      h("p", {}, h("a", { href: "#/" }, "← All stacks")),
      h("h1", {}, "Stack ", h("span", { class: "mono" }, key), " ", badge(rec.status)),
      h("dl", { class: "meta" },
        meta("Environment", rec.environment || "—"),
        meta("State version", h("span", { class: "mono" }, rec.state_version || "—")),
        meta("Last verified", fmtTime(rec.last_verified)),
        meta("Last applied", fmtTime(rec.last_applied)),
        meta("Desired = applied", rec.desired_hash && rec.desired_hash === rec.applied_hash ? "yes" : "no"),
        meta("Consistency", cons ? pct(cons.ratio) + " of the last " + cons.total + " passes" : "—"),
        meta("Auto-heal", rec.reconciliation_policy && rec.reconciliation_policy.auto_heal ? "on" : "off"),
        rec.last_error ? meta("Last error", h("span", { class: "error" }, rec.last_error)) : null),
      h("div", { class: "actions" }, reconcileBtn),
      h("h2", { id: "graph-heading" }, "Composition"),
      h("div", { class: "graph-box" }, renderGraph("Composition graph of " + key, graph), legend()),
      h("h2", {}, "Drifts"),
      table("drifts", "Confirmed open drifts of this stack.",
        ["Severity", "Code", "Component", "Expected", "Observed", "Cause", "Heal", "Since", "Evidence", "Acknowledged"], driftRows,
        "No open drift."),
      h("h2", {}, "Last known"),
      table("last-known", "What the passes last knew of each provider and resource. An observation that could not be made never replaces a known one.",
        ["Observed", "Last known", "Last seen", "Now"], lastKnownRows(rec.last_known),
        "Nothing observed yet."),
      h("h2", {}, "Recent passes"),
      table("passes", "The last " + PASSES_KEPT + " reconcile passes, newest first.",
        ["Started", "Trigger", "Status", "#Drifts", "#Heals", "#Duration", "Errors"], passRows, "No pass yet."),
      h("h2", {}, "Forecasts"),
      table("forecasts", "Open forecasts: drift expected before it happens, soonest first.",
        ["Code", "Component", "Expected by", "#Confidence", "Class", "Evidence", "Raised"], forecastRows(forecasts, false),
        "No open forecast."),
      promotionsPanel(c, s, rec.app, promos, table),
      releasePanel(c, s, rec, rel, promos),
      h("h2", {}, "Heal attempts"),
      table("heals", "The newest heal attempts, newest first (a heal run ahead of a forecast is triggered by it).",
        ["Created", "Code", "Component", "Action", "#Attempt", "Status", "Detail"], healRows, "No heal attempt."));
  }

  // healCell is a drift's heal: awaiting approval, exhausted, or its
  // newest attempt.
  function healCell(d, awaiting, lastHeal) {
    if (awaiting.has(d.id)) return h("a", { href: "#/approvals" }, badge("awaiting approval", "pending"));
    if (d.heal_status === "heal_exhausted") return badge("exhausted", "failed");
    const a = lastHeal.get(d.id);
    if (!a) return "—";
    return [badge(a.status), " ", h("span", { class: "muted" }, "attempt " + a.attempt)];
  }

  const PROMOTIONS_KEPT = 20;

  // promotionsPanel lists the newest promotions of the stack's application
  // (GET .../apps/{app}/promotions), the ones into or out of this stack
  // marked; a stack without an environment belongs to no application.
  function promotionsPanel(c, s, app, list, table) {
    const head = h("h2", {}, "Promotions");
    if (!app) return [head, h("p", { class: "muted", id: "promotions-empty" }, "This stack has no environment, so it belongs to no application and is never promoted.")];
    if (list.error) return [head, panelError("promotions", "The promotions of " + app, list.error)];
    const stackCell = (env, stack) => stack === s ? h("strong", {}, env + " (this stack)") :
      [env + " (", h("a", { href: "#/stacks/" + enc(c) + "/" + enc(stack) }, stack), ")"];
    return [head, table("promotions", "The newest " + PROMOTIONS_KEPT + " promotions of application " + app + ", newest first.",
      ["Created", "From", "To", "Status", "Version", "By", "Detail"],
      (list.items || []).map((p) => h("tr", { "data-promotion": p.id, "data-status": p.status },
        h("td", {}, fmtTime(p.created_at)),
        h("td", {}, stackCell(p.from, p.from_stack)),
        h("td", {}, stackCell(p.to, p.to_stack)),
        h("td", {}, p.approval_id && p.status === "awaiting_approval" ? h("a", { href: "#/approvals" }, badge(p.status, "pending")) : badge(p.status)),
        h("td", { class: "mono" }, p.new_version || p.from_version || "—"),
        h("td", {}, p.requested_by || "—"),
        h("td", {}, p.error ? h("span", { class: "error" }, p.error) : p.completed_at ? ["done ", fmtTime(p.completed_at)] : "—"))),
      "No promotion of application " + app + " yet.")];
  }

  // Promote and roll back -------------------------------------------------
  //
  // The release panel of a stack page: promote the stack's application
  // from this environment to the next (POST .../apps/{app}/promotions: the
  // plan of a dry run first, then a confirmation), roll the stack back to
  // a version or a known-good snapshot with an optional hold (POST
  // .../rollback), and end a hold (POST .../unpin). Only a token that may
  // act (GET /v1/whoami: operator or admin, unscoped or of this client) is
  // offered the controls; the API decides anyway, and a refusal is shown
  // with its reason. The forms are built once per stack and kept across
  // the page's live re-renders, so that a choice, a typed hold or a plan
  // under review is not lost when a pass completes.

  const ENV_ORDER = ["dev", "staging", "prod"];
  const VERSIONS_OFFERED = 20;
  const rel = { key: "", can: null, el: null, stacks: null }; // stacks: {key, at, list}, the client's, for a while
  const STACKS_KEPT_MS = 30000;

  async function loadCaller() {
    if (!state.caller) state.caller = await api("/v1/whoami");
    return state.caller;
  }

  // mayAct reports whether the caller's token may promote, roll back and
  // unpin the client's stacks.
  function mayAct(caller, c) {
    return !!caller && !caller.error && (caller.role === "operator" || caller.role === "admin") &&
      (!caller.client_id || caller.client_id === c);
  }

  function envRank(env) {
    const i = ENV_ORDER.indexOf(env);
    return i < 0 ? ENV_ORDER.length : i;
  }

  // loadRelease reads what the panel offers: the caller, the other
  // environments of the stack's application, the stack's versions and
  // known-good snapshots.
  async function loadRelease(c, s, rec) {
    // The client's stacks (for the application's environments) are read
    // again at most every STACKS_KEPT_MS, not on every live re-render.
    const fresh = rel.stacks && rel.stacks.key === keyOf(c, s) && Date.now() - rel.stacks.at < STACKS_KEPT_MS;
    const [caller, stacks, versions, snaps] = await Promise.all([
      orError(loadCaller()),
      !rec.app ? [] : fresh ? rel.stacks.list : orError(listAll("/v1/stacks?client_id=" + enc(c), 5000)),
      orError(api(stackPath(c, s) + "/versions?limit=" + VERSIONS_OFFERED)),
      orError(api(stackPath(c, s) + "/snapshots?limit=" + VERSIONS_OFFERED)),
    ]);
    if (Array.isArray(stacks) && rec.app && !fresh) rel.stacks = { key: keyOf(c, s), at: Date.now(), list: stacks };
    const envs = (Array.isArray(stacks) ? stacks : [])
      .filter((x) => x.app === rec.app && x.stack_id !== s && x.environment && x.environment !== rec.environment)
      .map((x) => ({ env: x.environment, stack: x.stack_id }))
      .sort((a, b) => envRank(a.env) - envRank(b.env) || a.env.localeCompare(b.env));
    return { caller, envs, versions: versions.error ? [] : versions.items || [], snaps: snaps.error ? [] : snaps.items || [],
      readError: stacks.error || versions.error || snaps.error };
  }

  // refusal says why the API did not do what a button asked.
  function refusal(what, err) {
    if (err.status === 403) return what + " refused (403 forbidden): " + err.message;
    if (err.code === "soaking") {
      return "Not yet (409 soaking): " + err.message + (err.retryAfter ? ". Try again in " + dur(err.retryAfter) + "." : "");
    }
    return what + " failed (" + err.status + " " + err.code + "): " + err.message;
  }

  // releaseSay shows what a control of the panel did (a panel replaced
  // since, by another stack's, is not shown).
  function releaseSay(panel, msg, bad) {
    const p = panel.querySelector("#release-result");
    p.textContent = msg;
    p.classList.toggle("error", !!bad);
  }

  // releasePanel is the stack's release section, kept across re-renders
  // of the same stack; what it shows of the stack (its hold, the targets
  // offered) is brought up to date each time.
  function releasePanel(c, s, rec, info, promos) {
    const key = keyOf(c, s);
    const can = mayAct(info.caller, c);
    if (rel.key !== key || rel.can !== can || !rel.el) {
      rel.key = key;
      rel.can = can;
      rel.el = buildRelease(c, s, rec, info, can);
    }
    updateRelease(c, s, rec, info, promos, can);
    return rel.el;
  }

  function buildRelease(c, s, rec, info, can) {
    const panel = h("section", { id: "release", "aria-labelledby": "release-heading", "data-stack": keyOf(c, s) });
    const field = (id, label, control, hint) => h("div", { class: "field" },
      h("label", { for: id }, label), control, hint ? h("p", { class: "muted hint", id: id + "-hint" }, hint) : null);
    const kids = [
      h("h2", { id: "release-heading" }, "Promote and roll back"),
      h("p", { id: "hold" }),
      h("p", { id: "promotion-awaiting", hidden: true }),
    ];
    if (!can) {
      const role = info.caller && !info.caller.error ? info.caller.role : "unknown";
      kids.push(h("p", { class: "muted", id: "release-readonly" },
        "This token (" + role + (info.caller && info.caller.client_id ? ", client " + info.caller.client_id : "") +
        ") may look but not promote, roll back or unpin: that needs an operator or admin token of this client."));
    } else {
      if (rec.app) {
        kids.push(h("h3", {}, "Promote"),
          h("form", { id: "promote-form", class: "release-form", onsubmit: (ev) => { ev.preventDefault(); planPromotion(panel, c, s, rec.app, rec.environment); } },
            field("promote-to", "Promote application " + rec.app + " from " + rec.environment + " to",
              h("select", { id: "promote-to", name: "to" })),
            h("button", { type: "submit", id: "promote-plan" }, "Show the plan")),
          h("div", { id: "promote-review", class: "review", hidden: true }));
      }
      kids.push(h("h3", {}, "Roll back"),
        h("form", { id: "rollback-form", class: "release-form", onsubmit: (ev) => { ev.preventDefault(); reviewRollback(panel, c, s); } },
          field("rollback-to", "Roll back to", h("select", { id: "rollback-to", name: "to", required: true })),
          field("rollback-hold", "Hold (optional)", h("input", { id: "rollback-hold", name: "hold", type: "text", inputmode: "text",
            autocomplete: "off", spellcheck: "false", placeholder: "2h", size: "8", "aria-describedby": "rollback-hold-hint" }),
          "Pins the stack at the restored state for this long (at most 7d): config applied meanwhile leaves it as it is, auto-heal heals toward it. Empty: no hold."),
          h("button", { type: "submit", id: "rollback-review" }, "Review the rollback")),
        h("div", { id: "rollback-confirm-box", class: "review", hidden: true }));
    }
    kids.push(h("p", { id: "release-result", role: "status", "aria-live": "polite" }));
    append(panel, kids);
    return panel;
  }

  // setOptions replaces a select's options when they changed, keeping the
  // chosen one when it is still offered (else choosing want).
  function setOptions(sel, groups, want) {
    const sig = JSON.stringify(groups);
    if (sel.dataset.sig === sig) return;
    const keep = sel.value;
    sel.dataset.sig = sig;
    sel.replaceChildren(...groups.filter((g) => g.options.length > 0).map((g) => {
      const opts = g.options.map((o) => h("option", { value: o.value }, o.label));
      return g.label ? h("optgroup", { label: g.label }, opts) : opts;
    }).flat());
    const values = groups.flatMap((g) => g.options.map((o) => o.value));
    sel.value = values.includes(keep) && sel.dataset.chosen ? keep : (want && values.includes(want) ? want : values[0] || "");
  }

  function updateRelease(c, s, rec, info, promos, can) {
    const el = rel.el;
    const hold = rec.hold && new Date(rec.hold.until) > new Date() ? rec.hold : null;
    const holdP = el.querySelector("#hold");
    holdP.dataset.pinned = hold ? "true" : "false";
    holdP.replaceChildren();
    if (hold) {
      append(holdP, [h("strong", {}, "Pinned"), " at ", h("span", { class: "mono" }, hold.version),
        " (restored ", h("span", { class: "mono" }, hold.restored), hold.snapshot ? [" from snapshot ", h("span", { class: "mono" }, hold.snapshot)] : "",
        ") until ", fmtTime(hold.until), ", by " + (hold.by || "someone") +
        ": config applied meanwhile leaves the stack as it is and auto-heal heals toward it.",
        can ? [" ", h("button", { type: "button", id: "unpin", onclick: (ev) => unpin(el, ev.currentTarget, c, s) }, "Unpin")] : ""]);
    } else {
      append(holdP, ["Not pinned: the stack follows its newest desired state."]);
    }
    const waiting = promos && !promos.error ? (promos.items || []).filter((p) => p.status === "awaiting_approval") : [];
    const aw = el.querySelector("#promotion-awaiting");
    aw.hidden = waiting.length === 0;
    aw.replaceChildren(...waiting.map((p) => h("span", { "data-promotion": p.id },
      "The promotion from " + p.from + " to " + p.to + " awaits approval: ", h("a", { href: "#/approvals" }, "decide it on the Approvals page"), ". ")));
    if (!can) return;
    const to = el.querySelector("#promote-to");
    if (to) {
      const next = info.envs.find((e) => envRank(e.env) > envRank(rec.environment));
      setOptions(to, [{ options: info.envs.map((e) => ({ value: e.env, label: e.env + " (" + e.stack + ")" })) }], next && next.env);
      to.disabled = info.envs.length === 0;
      el.querySelector("#promote-plan").disabled = info.envs.length === 0;
      if (info.envs.length === 0) to.replaceChildren(h("option", { value: "" }, "no other environment"));
    }
    const versions = info.versions.filter((v) => v.version !== rec.state_version).map((v) => ({ value: "version:" + v.version,
      label: v.version + (v.snapshot ? " (known good)" : "") + " · " + new Date(v.created_at).toLocaleString() + " · " + (v.created_by || "") }));
    const snaps = info.snaps.map((x) => ({ value: "snapshot:" + x.id,
      label: x.id + " of " + x.state_version + " · verified " + new Date(x.confirmed_at || x.taken_at).toLocaleString() }));
    const sel = el.querySelector("#rollback-to");
    setOptions(sel, [{ label: "Versions", options: versions }, { label: "Known-good snapshots", options: snaps }], "");
    el.querySelector("#rollback-review").disabled = versions.length + snaps.length === 0;
    if (!sel.onchange) sel.onchange = () => { sel.dataset.chosen = "1"; };
    if (info.readError && !el.querySelector("#release-result").textContent) releaseSay(el, "Some of what the panel offers could not be read: " + info.readError.message, true);
  }

  // planPromotion asks for the plan (a dry run) and shows it with a
  // confirmation.
  async function planPromotion(panel, c, s, app, from) {
    const box = panel.querySelector("#promote-review");
    const to = panel.querySelector("#promote-to").value;
    const btn = panel.querySelector("#promote-plan");
    btn.disabled = true;
    box.hidden = true;
    releaseSay(panel, "Planning the promotion of " + app + " from " + from + " to " + to + "…");
    try {
      const ans = await api("/v1/clients/" + enc(c) + "/apps/" + enc(app) + "/promotions", { method: "POST", body: { from, to, dry_run: true, by: "dashboard" } });
      const p = ans.plan || {};
      const opWord = { "+": "added", "-": "removed", "~": "changed" };
      const changes = p.changes || [];
      box.replaceChildren(
        h("h4", { id: "promote-plan-heading" }, "Plan: " + p.from + " (" + (p.from_version || "—") + ") to " + p.to + " (" + p.to_stack + " at " + (p.to_version || "—") + ")"),
        changes.length === 0 ? h("p", { id: "promote-changes-none" }, "The desired state of " + p.to_stack + " would not change.") :
          h("div", WRAP, h("table", { id: "promote-changes" },
            h("caption", {}, "What changes in the desired state of " + p.to_stack + "."),
            h("thead", {}, h("tr", {}, ["Change", "Path", "Now", "After"].map((x) => h("th", { scope: "col" }, x)))),
            h("tbody", {}, changes.map((ch) => h("tr", { "data-path": ch.path, "data-op": ch.op },
              h("td", {}, opWord[ch.op] || ch.op), h("td", { class: "mono" }, ch.path),
              h("td", { class: "value" }, ch.op === "+" ? "—" : fmtValue(ch.from)), h("td", { class: "value" }, ch.op === "-" ? "—" : fmtValue(ch.to))))))),
        h("p", { id: "promote-approval", "data-needs-approval": p.needs_approval ? "true" : "false" }, p.needs_approval ?
          "The " + p.to + " stage needs approval: the promotion waits on the Approvals page until someone approves it." :
          "No approval needed: it is applied at once, then verified on fresh passes of the new revision (rolled back if that fails)."),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "primary", id: "promote-confirm", onclick: (ev) => promote(panel, ev.currentTarget, c, s, app, from, to) },
            "Promote to " + to),
          h("button", { type: "button", id: "promote-cancel", onclick: () => { box.hidden = true; releaseSay(panel, "Promotion cancelled: nothing was changed."); panel.querySelector("#promote-plan").focus(); } }, "Cancel")));
      box.hidden = false;
      releaseSay(panel, "The plan is shown: confirm or cancel.");
      box.querySelector("#promote-confirm").focus();
    } catch (err) {
      if (err.status !== 401) releaseSay(panel, refusal("Promotion", err), true);
    } finally {
      btn.disabled = false;
    }
  }

  async function promote(panel, btn, c, s, app, from, to) {
    btn.disabled = true;
    try {
      const ans = await api("/v1/clients/" + enc(c) + "/apps/" + enc(app) + "/promotions", { method: "POST", body: { from, to, by: "dashboard" } });
      const p = ans.promotion || {};
      panel.querySelector("#promote-review").hidden = true;
      releaseSay(panel, p.status === "awaiting_approval" ?
        "Promotion " + p.id + " of " + app + " to " + to + " awaits approval (Approvals page); nothing is applied before." :
        "Promotion " + p.id + " of " + app + " from " + from + " to " + to + " started (" + p.status + "); it is verified on fresh passes.");
      markDirty(c, s);
      loadPending().catch(() => {});
    } catch (err) {
      if (err.status !== 401) releaseSay(panel, refusal("Promotion", err), true);
    } finally {
      btn.disabled = false;
    }
  }

  // reviewRollback shows what the rollback would do and asks to confirm.
  function reviewRollback(panel, c, s) {
    const choice = panel.querySelector("#rollback-to").value;
    const hold = panel.querySelector("#rollback-hold").value.trim();
    const box = panel.querySelector("#rollback-confirm-box");
    if (!choice) { releaseSay(panel, "Choose a version or a snapshot to roll back to.", true); return; }
    if (hold && !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/.test(hold)) {
      releaseSay(panel, "A hold is a duration such as 30m, 2h or 3d.", true);
      panel.querySelector("#rollback-hold").focus();
      return;
    }
    const [kind, target] = [choice.slice(0, choice.indexOf(":")), choice.slice(choice.indexOf(":") + 1)];
    box.replaceChildren(
      h("p", { id: "rollback-what" }, "Roll " + keyOf(c, s) + " back to " + kind + " ", h("span", { class: "mono" }, target),
        hold ? " and pin it there for " + hold + "." : " without a hold (the next config applied may move it again).",
        kind === "snapshot" || /known good/.test(panel.querySelector("#rollback-to").selectedOptions[0].textContent) ?
          " What the providers ran is restored too." : " Only the desired state is restored: no known-good snapshot of it is kept."),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", id: "rollback-confirm", onclick: (ev) => rollBack(panel, ev.currentTarget, c, s, kind, target, hold) }, "Roll back"),
        h("button", { type: "button", id: "rollback-cancel", onclick: () => { box.hidden = true; releaseSay(panel, "Rollback cancelled: nothing was changed."); panel.querySelector("#rollback-review").focus(); } }, "Cancel")));
    box.hidden = false;
    releaseSay(panel, "Confirm or cancel the rollback.");
    box.querySelector("#rollback-confirm").focus();
  }

  async function rollBack(panel, btn, c, s, kind, target, hold) {
    btn.disabled = true;
    releaseSay(panel, "Rolling back " + keyOf(c, s) + " to " + target + "…");
    try {
      const body = { by: "dashboard" };
      body[kind] = target;
      if (hold) body.hold = hold;
      const ans = await api(stackPath(c, s) + "/rollback", { method: "POST", body });
      panel.querySelector("#rollback-confirm-box").hidden = true;
      const r = ans.rollback;
      releaseSay(panel, "Rolled back: " + keyOf(c, s) + " is now " + ans.state_version + " (the document of " + ans.restored_version + ")" +
        (r ? "; providers " + r.status : "") + (ans.hold ? "; pinned until " + new Date(ans.hold.until).toLocaleString() : "") + "." +
        (ans.warnings && ans.warnings.length ? " " + ans.warnings.join(" ") : ""), r && r.status === "failed");
      markDirty(c, s);
    } catch (err) {
      if (err.status !== 401) releaseSay(panel, refusal("Rollback", err), true);
    } finally {
      btn.disabled = false;
    }
  }

  async function unpin(panel, btn, c, s) {
    btn.disabled = true;
    try {
      const ans = await api(stackPath(c, s) + "/unpin", { method: "POST" });
      releaseSay(panel, ans.unpinned ? "Unpinned: the hold on " + keyOf(c, s) + " ended; its desired state stays until the next change." +
        (ans.warnings && ans.warnings.length ? " " + ans.warnings.join(" ") : "") : "The stack had no hold.");
      markDirty(c, s);
    } catch (err) {
      if (err.status !== 401) releaseSay(panel, refusal("Unpin", err), true);
    } finally {
      btn.disabled = false;
    }
  }

  // forecastRows are the rows of open forecasts, soonest eta first; with
  // stacks, a first column links each to its stack page.
  function forecastRows(list, stacks) {
    return [...list].sort((a, b) => new Date(a.eta) - new Date(b.eta)).map((f) => h("tr", {
      "data-forecast": f.id, "data-code": f.code, "data-component": f.component, "data-class": f.class },
      stacks ? h("td", {}, h("a", { href: "#/stacks/" + enc(f.client_id) + "/" + enc(f.stack_id) }, f.stack_id)) : null,
      h("td", { class: "mono" }, f.code),
      h("td", {}, f.component),
      h("td", {}, fmtTime(f.eta)),
      h("td", { class: "num" }, pct(f.confidence || 0)),
      h("td", {}, badge(f.class, f.class === "dated" ? "medium" : "pending")),
      h("td", { class: "evidence", title: (f.evidence && f.evidence.indicator) || "" }, (f.evidence && f.evidence.detail) || "—"),
      h("td", {}, fmtTime(f.raised_at))));
  }

  function meta(label, value) { return h("div", {}, h("dt", {}, label), h("dd", {}, value)); }

  // evidenceCell shows a drift's confidence and the observations behind
  // it: "confirmed · 3 observations over 1m30s", the last observed value
  // in the title.
  function evidenceCell(d) {
    const e = d.evidence;
    const conf = d.confidence || (d.confirmed ? "confirmed" : "suspected");
    if (!e) return badge(conf);
    const n = e.observations === 1 ? "1 observation" : e.observations + " observations";
    return h("span", { title: "last observed: " + fmtValue(e.last_observed), "data-confidence": conf },
      badge(conf), " ", n + " over " + e.span);
  }

  // lastKnownRows are the rows of a stack's last known observations, by
  // provider role then resource name.
  function lastKnownRows(lk) {
    const rows = [];
    const add = (kind, m) => Object.keys(m || {}).sort().forEach((name) => {
      const s = m[name];
      let now = "known";
      if (!s.known) {
        now = "unknown" + (s.reason ? " (" + s.reason + ")" : "");
        if (s.unknown_since) now += " since " + relTime(new Date(s.unknown_since));
      }
      rows.push(h("tr", { "data-observed": kind + ":" + name },
        h("td", { class: "mono" }, kind + ":" + name),
        h("td", {}, s.value ? badge(s.value) : "—", s.detail ? h("span", { class: "muted" }, " " + s.detail) : null),
        h("td", {}, s.seen_at ? fmtTime(s.seen_at) : "never"),
        h("td", {}, s.known ? now : h("span", { class: "warn" }, now))));
    });
    add("provider", lk && lk.providers);
    add("resource", lk && lk.resources);
    return rows;
  }

  function durMs(a, b) {
    if (!a || !b) return "—";
    const ms = new Date(b) - new Date(a);
    return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
  }

  async function reconcileNow(btn, c, s) {
    btn.disabled = true;
    try {
      await api(stackPath(c, s) + "/reconcile", { method: "POST" });
      notice("A pass of " + keyOf(c, s) + " was requested.");
    } catch (err) {
      if (err.status !== 401) notice("Reconcile failed: " + err.message);
    } finally {
      btn.disabled = false;
    }
  }

  // ackControl is a drift's acknowledge control: the reason (required by
  // the API; it feeds the KPI report's false-positive rate) and a button.
  function ackControl(c, d) {
    const reason = h("select", { "data-ack-reason": d.id, "aria-label": "Reason" },
      h("option", { value: "" }, "Reason…"),
      h("option", { value: "false_positive" }, "False positive"),
      h("option", { value: "accepted" }, "Accepted"),
      h("option", { value: "fixed_by_hand" }, "Fixed by hand"));
    const btn = h("button", { type: "button", "data-ack": d.id, onclick: () => ackDrift(c, d, reason.value) }, "Acknowledge");
    return h("span", { class: "ack" }, reason, " ", btn);
  }

  async function ackDrift(c, d, reason) {
    if (!reason) {
      notice("Choose why the drift is acknowledged: false positive, accepted or fixed by hand.");
      return;
    }
    try {
      await api("/v1/clients/" + enc(c) + "/drift/" + enc(d.id) + "/ack", { method: "POST", body: { by: "dashboard", reason } });
      notice("Drift " + d.code + " on " + d.component + " acknowledged (" + reason.replace(/_/g, " ") + ").");
      markDirty(c, d.stack_id);
    } catch (err) {
      if (err.status !== 401) notice("Acknowledge failed: " + err.message);
    }
  }

  // Approvals -----------------------------------------------------------

  async function showApprovals() {
    const [pending, decided] = await Promise.all([
      api("/v1/approvals?status=pending&limit=100"),
      api("/v1/approvals?status=approved,rejected,expired,executed&limit=20"),
    ]);
    if (!viewIs("approvals")) return;
    const items = pending.items || [];
    const diff = (a) => {
      const d = a.diff || {};
      return [h("div", {}, "expected: ", h("span", { class: "mono" }, fmtValue(d.expected))),
        h("div", {}, "observed: ", h("span", { class: "mono" }, fmtValue(d.observed)))];
    };
    const stackLink = (a) => h("a", { href: "#/stacks/" + enc(a.client_id) + "/" + enc(a.stack_id) }, keyOf(a.client_id, a.stack_id));
    const pendingRows = items.map((a) => h("tr", { "data-approval": a.id },
      h("td", {}, stackLink(a)),
      h("td", {}, h("span", { class: "mono" }, a.code), " on ", a.component),
      h("td", { class: "mono" }, a.heal_action),
      h("td", {}, a.approval_class),
      h("td", { class: "value" }, diff(a)),
      h("td", {}, fmtTime(a.created_at)),
      h("td", {}, fmtTime(a.expires_at)),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", "data-approve": a.id, "aria-label": "Approve " + a.heal_action + " of " + a.component + " on " + keyOf(a.client_id, a.stack_id), onclick: (ev) => approve(ev.currentTarget, a) }, "Approve"),
        h("button", { type: "button", class: "danger", "data-reject": a.id, "aria-label": "Reject " + a.heal_action + " of " + a.component + " on " + keyOf(a.client_id, a.stack_id), onclick: () => openReject(a) }, "Reject")))));
    const decidedRows = (decided.items || []).map((a) => h("tr", { "data-approval": a.id },
      h("td", {}, stackLink(a)),
      h("td", {}, h("span", { class: "mono" }, a.code), " on ", a.component),
      h("td", { class: "mono" }, a.heal_action),
      h("td", {}, badge(a.status)),
      h("td", {}, a.decided_by || "—"),
      h("td", { class: "value" }, a.reason || "—"),
      h("td", {}, fmtTime(a.decided_at || a.expires_at))));
    const th = (cols) => h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c))));
    setView("Approvals",
      h("h1", {}, "Approvals"),
      h("p", { class: "muted" }, "Heals that policy holds for a person. Approving lets the next pass run the heal once; rejecting records the reason."),
      h("h2", {}, "Pending"),
      pendingRows.length === 0 ? h("p", { id: "no-pending" }, "Nothing waits for approval.") :
        h("div", WRAP, h("table", { id: "pending" }, h("caption", {}, "Pending approval requests, newest first."),
          th(["Stack", "Drift", "Heal action", "Class", "Change", "Requested", "Expires", "Decision"]), h("tbody", {}, pendingRows))),
      h("h2", {}, "Recently decided"),
      decidedRows.length === 0 ? h("p", { class: "muted" }, "None yet.") :
        h("div", WRAP, h("table", { id: "decided" }, h("caption", {}, "The last 20 decided requests."),
          th(["Stack", "Drift", "Heal action", "Status", "By", "Reason", "When"]), h("tbody", {}, decidedRows))));
  }

  async function approve(btn, a) {
    btn.disabled = true;
    try {
      await api("/v1/approvals/" + enc(a.id) + "/approve", { method: "POST", body: { by: "dashboard" } });
      notice("Approved: the next pass of " + keyOf(a.client_id, a.stack_id) + " runs " + a.heal_action + ".");
    } catch (err) {
      if (err.status !== 401) notice("Approve failed: " + err.message);
    }
    await refreshApprovals();
  }

  let rejecting = null;
  function openReject(a) {
    rejecting = a;
    $("#reject-what").textContent = a.heal_action + " of " + a.component + " on " + keyOf(a.client_id, a.stack_id) + " (" + a.code + ")";
    $("#reject-reason").value = "";
    $("#reject-error").textContent = "";
    $("#reject-dialog").showModal();
    $("#reject-reason").focus();
  }

  async function rejectSubmitted(ev) {
    ev.preventDefault();
    const a = rejecting;
    const reason = $("#reject-reason").value.trim();
    if (!a) return;
    if (!reason) {
      $("#reject-error").textContent = "A rejection needs a reason.";
      return;
    }
    const btn = $("#reject-confirm");
    btn.disabled = true;
    try {
      await api("/v1/approvals/" + enc(a.id) + "/reject", { method: "POST", body: { by: "dashboard", reason } });
      $("#reject-dialog").close();
      rejecting = null;
      notice("Rejected " + a.heal_action + " on " + keyOf(a.client_id, a.stack_id) + ".");
      await refreshApprovals();
    } catch (err) {
      $("#reject-error").textContent = err.message;
    } finally {
      btn.disabled = false;
    }
  }

  async function refreshApprovals() {
    await Promise.all([loadPending().catch(() => {}), viewIs("approvals") ? showApprovals().catch(errorView) : null]);
  }

  // Dashboards ----------------------------------------------------------
  //
  // Reconciliation, Client health and System overview, from
  // /v1/dashboard/...: the server aggregates, the page draws plain SVG
  // (charts.js) and re-reads the view when the stream says something
  // happened, at most every DASH_MIN_MS.

  const DASH_MIN_MS = 2000;
  const SPANS = ["1h", "24h", "7d", "30d"];
  const TYPES = ["provider", "integration", "resource", "content", "configuration"];

  function spanPicker(current, onpick) {
    return h("div", { class: "spans", role: "group", "aria-label": "Time window" },
      SPANS.map((s) => h("button", { type: "button", class: "link", "data-span": s, "aria-pressed": s === current ? "true" : "false",
        onclick: () => onpick(s) }, "last " + s)));
  }

  function tiles(items) {
    return h("dl", { class: "tiles" }, items.map(([label, value, attrs]) =>
      h("div", Object.assign({ class: "tile" }, attrs || {}), h("dt", {}, label), h("dd", {}, value))));
  }

  const pctOrNone = (r) => (r === null || r === undefined ? "no data" : pct(r));
  const secs = (d) => (!d ? "no data" : (d.above ? "> " : "") + fmtSecs(d.seconds));
  function fmtSecs(s) { return s < 1 ? Math.round(s * 1000) + " ms" : (Math.round(s * 10) / 10) + " s"; }
  const numOrNone = (v) => (v === null || v === undefined ? "no data" : String(Math.round(v * 100) / 100));
  const C = () => window.BlackwellCharts;

  // throughput is passes per minute over the window, per hour when fewer.
  function throughput(n, v) {
    const minutes = (new Date(v.until) - new Date(v.since)) / 60000;
    if (!(minutes > 0)) return "no data";
    const perMin = n / minutes;
    return perMin >= 1 ? (Math.round(perMin * 10) / 10) + " passes/min" : (Math.round(perMin * 600) / 10) + " passes/hour";
  }

  function windowNote(v) {
    return h("p", { class: "muted" }, "From ", fmtTime(v.since), " to ", fmtTime(v.until), ", in buckets of ", dur(v.step_seconds), ".");
  }

  function passCharts(prefix, v) {
    const b = v.buckets, step = v.step_seconds;
    const col = (f) => b.map(f);
    return [
      C().lineChart({ id: prefix + "-passes", title: "Passes per bucket", buckets: b, step, fmt: (x) => String(Math.round(x)),
        series: [{ name: "passes", values: col((x) => x.passes) }, { name: "failed", values: col((x) => x.failed) },
          { name: "found drift", values: col((x) => x.drift_detected) }] }),
      C().barChart({ id: prefix + "-detections", title: "Drift detections by type", buckets: b, step,
        series: TYPES.map((t) => ({ name: t, values: col((x) => (x.detections || {})[t] || 0) })).filter((s) => s.values.some((n) => n > 0)),
        empty: "No drift detected in this window." }),
      C().lineChart({ id: prefix + "-heals", title: "Heal success rate", buckets: b, step, yMax: 1, fmt: (x) => pct(x),
        series: [{ name: "succeeded of judged heals", values: col((x) => x.heals.success_rate) }], empty: "No heal was judged in this window." }),
      C().lineChart({ id: prefix + "-durations", title: "Pass duration", buckets: b, step, fmt: fmtSecs,
        series: [{ name: "p50", values: col((x) => (x.p50 ? x.p50.seconds : null)) }, { name: "p99", values: col((x) => (x.p99 ? x.p99.seconds : null)) }] }),
    ];
  }

  async function showReconciliation() {
    const span = state.span || "24h";
    const v = await api("/v1/dashboard/reconciliation?since=" + enc(span));
    if (!viewIs("reconciliation")) return;
    const t = v.totals;
    setView("Reconciliation",
      h("h1", {}, "Reconciliation"),
      spanPicker(span, (s) => { state.span = s; route(); }),
      windowNote(v),
      tiles([
        ["Passes in flight", numOrNone(v.in_flight), { "data-tile": "in-flight" }],
        ["Queue depth", numOrNone(v.queue_depth), { "data-tile": "queue" }],
        ["Throughput", throughput(t.passes, v), { "data-tile": "throughput" }],
        ["Passes", String(t.passes), { "data-tile": "passes" }],
        ["Failure rate", pctOrNone(t.failure_rate), { "data-tile": "failure-rate" }],
        ["Duration p50 / p99", secs(t.p50) + " / " + secs(t.p99), { "data-tile": "durations" }],
        ["Heal success", pctOrNone(t.heals.success_rate) + " (" + t.heals.succeeded + " of " + (t.heals.succeeded + t.heals.failed) + ")", { "data-tile": "heal-rate" }],
      ]),
      h("div", { class: "charts" }, passCharts("rec", v)));
  }

  async function showClients() {
    if (!state.loaded) await loadOverview();
    if (!viewIs("clients")) return;
    const clients = new Map();
    for (const r of state.stacks.values()) {
      const c = clients.get(r.client_id) || { stacks: 0, healthy: 0 };
      c.stacks++;
      if (r.status === "healthy") c.healthy++;
      clients.set(r.client_id, c);
    }
    const rows = [...clients.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([id, c]) =>
      h("tr", { "data-client": id }, h("th", { scope: "row" }, h("a", { href: "#/clients/" + enc(id) }, id)),
        h("td", { class: "num" }, String(c.stacks)), h("td", { class: "num" }, c.healthy + " healthy")));
    setView("Clients", h("h1", {}, "Clients"),
      rows.length === 0 ? h("p", { class: "nodata" }, "No stacks yet.") :
        h("div", WRAP, h("table", { id: "clients" }, h("caption", {}, "Every client with stacks; open one for its health."),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Client"), h("th", { scope: "col" }, "Stacks"), h("th", { scope: "col" }, "Healthy"))),
          h("tbody", {}, rows))));
  }

  async function showClientHealth(c) {
    const span = state.span || "24h";
    const cursor = state.clientCursor && state.clientCursor.client === c ? state.clientCursor.cursor : "";
    const period = reportPeriod();
    const [v, forecasts, comp, kpi, exc] = await Promise.all([
      api("/v1/dashboard/clients/" + enc(c) + "/health?since=" + enc(span) + (cursor ? "&cursor=" + enc(cursor) : "")),
      listAll("/v1/clients/" + enc(c) + "/forecasts", 1000),
      orError(api("/v1/compliance?client_id=" + enc(c))),
      orError(api(reportPath(c, period, "json"))),
      orError(api("/v1/clients/" + enc(c) + "/compliance/exceptions")),
    ]);
    if (!viewIs("client", c)) return;
    // A column named [name, class] has that class (hide-narrow).
    const th = (cols) => h("thead", {}, h("tr", {}, cols.map((x) => Array.isArray(x) ? h("th", { scope: "col", class: x[1] }, x[0]) : h("th", { scope: "col" }, x))));
    const table = (id, caption, cols, rows, empty) => rows.length === 0 ? h("p", { class: "nodata", id: id + "-none" }, empty) :
      h("div", WRAP, h("table", { id }, h("caption", {}, caption), th(cols), h("tbody", {}, rows)));
    const stackLink = (s) => h("a", { href: "#/stacks/" + enc(c) + "/" + enc(s) }, s);
    const groups = (list) => list.map((g) => h("tr", { "data-code": g.code, "data-component": g.component },
      h("td", { class: "mono" }, g.component), h("td", { class: "mono" }, g.code), h("td", {}, badge(g.severity)),
      h("td", { class: "num" }, String(g.count)), h("td", { class: "num" }, String(g.stacks))));
    const by = v.stacks.by_status || {};
    const page = v.stacks_page.map((s) => h("tr", { "data-stack": s.stack_id, "data-status": s.status },
      h("th", { scope: "row" }, stackLink(s.stack_id)), h("td", { class: "hide-narrow" }, s.environment || "—"),
      h("td", {}, badge(s.status)),
      h("td", { class: "num" }, s.drifts === 0 ? "0" : [String(s.drifts), " ", badge(s.worst_severity)]),
      h("td", {}, Object.keys(s.resources).length === 0 ? "—" : Object.keys(s.resources).sort().map((name) =>
        h("span", { class: "res" }, name + " ", badge(s.resources[name].value || "unknown")))),
      h("td", { class: "hide-narrow" }, fmtTime(s.last_verified))));
    const pager = h("div", { class: "actions" },
      cursor ? h("button", { type: "button", id: "stacks-first", onclick: () => { state.clientCursor = null; route(); } }, "First page") : null,
      v.next_cursor ? h("button", { type: "button", id: "stacks-next", onclick: () => { state.clientCursor = { client: c, cursor: v.next_cursor }; route(); } }, "Next page") : null);
    setView("Health of " + c,
      h("h1", {}, "Client health: ", h("span", { class: "mono" }, c)),
      spanPicker(span, (s) => { state.span = s; route(); }),
      windowNote(v),
      tiles([
        ["Stacks", String(v.stacks.total), { "data-tile": "stacks" }],
        ["Healthy now", pctOrNone(v.stacks.healthy) + " (" + (by.healthy || 0) + ")", { "data-tile": "healthy" }],
        ["Drift detected", String(by.drift_detected || 0), { "data-tile": "drifted" }],
        ["Consistency in window", pctOrNone(v.totals.consistency), { "data-tile": "consistency" }],
        ["Heals", v.totals.heals.succeeded + " succeeded, " + v.totals.heals.failed + " failed", { "data-tile": "heals" }],
      ]),
      h("div", { class: "charts" },
        C().lineChart({ id: "client-consistency", title: "Consistency over time (passes that found no drift)", buckets: v.buckets, step: v.step_seconds,
          yMax: 1, fmt: (x) => pct(x), series: [{ name: "consistency", values: v.buckets.map((b) => b.consistency) }] }),
        C().barChart({ id: "client-detections", title: "Drift detections by type", buckets: v.buckets, step: v.step_seconds,
          series: TYPES.map((t) => ({ name: t, values: v.buckets.map((b) => (b.detections || {})[t] || 0) })).filter((s) => s.values.some((n) => n > 0)),
          empty: "No drift detected in this window." })),
      h("h2", {}, "Resource health"),
      table("resource-health", "Open drift of the client's resources, by component.", ["Resource", "Drift", "Severity", "Open", "Stacks"],
        groups(v.resource_health), "Every resource is as declared (no open resource drift)."),
      h("h2", {}, "Open drift"),
      table("open-drifts", "Open confirmed drift, the largest groups first.", ["Component", "Drift", "Severity", "Open", "Stacks"],
        groups(v.open_drifts), "No open drift."),
      h("h2", {}, "Recent drift events"),
      table("recent-drifts", "Drifts seen in the window, newest first (at most 20).", ["Stack", "Drift", "Severity", "Last seen", "State"],
        v.recent_drifts.map((d) => h("tr", { "data-code": d.code, "data-component": d.component },
          h("td", {}, stackLink(d.stack_id)), h("td", {}, h("span", { class: "mono" }, d.code), " on ", d.component),
          h("td", {}, badge(d.severity)), h("td", {}, fmtTime(d.last_seen)),
          h("td", {}, d.resolved_at ? ["resolved ", fmtTime(d.resolved_at)] : badge(d.confirmed ? "open" : "suspected", d.confirmed ? "high" : "medium")))),
        "No drift in this window."),
      h("h2", {}, "Heal history"),
      table("heal-history", "Heal attempts of the window, newest first (at most 20).", ["Stack", "Action", "Attempt", "Status", "Created"],
        v.heals.map((x) => h("tr", { "data-heal": x.id, "data-status": x.status },
          h("td", {}, stackLink(x.stack_id)), h("td", {}, h("span", { class: "mono" }, x.heal_action), " on ", x.component),
          h("td", { class: "num" }, String(x.attempt)), h("td", {}, badge(x.status)), h("td", {}, fmtTime(x.created_at)))),
        "No heal in this window."),
      h("h2", {}, "Stacks"),
      table("client-stacks", "The client's stacks, " + v.stacks_page.length + " on this page.", ["Stack", ["Environment", "hide-narrow"], "Status", "Drifts", "Resources (last known)", ["Last verified", "hide-narrow"]],
        page, "No stacks."),
      pager,
      h("h2", {}, "Forecasts"),
      table("forecasts", "Open forecasts of the client's stacks, soonest first.",
        ["Stack", "Code", "Component", "Expected by", "Confidence", "Class", "Evidence", "Raised"], forecastRows(forecasts, true),
        "No open forecast."),
      compliancePanel(c, comp, table),
      exceptionsPanel(c, exc, table),
      reportPanel(c, period, kpi, table));
  }

  // orError is a panel's answer, or {error} when its read failed: one
  // panel that cannot be read does not take the page down with it.
  const orError = (p) => p.catch((e) => ({ error: e }));
  const panelError = (id, what, e) => h("p", { class: "error", id: id + "-error" }, what + " could not be read: " + e.message);

  // compliancePanel is the client's compliance over the last 30 days
  // (GET /v1/compliance): the score of the evaluated time, the unknown
  // time apart (it is never counted as compliant), and the (rule, stack)
  // pairs non-compliant now.
  function compliancePanel(c, rep, table) {
    const head = h("h2", {}, "Rule compliance");
    if (rep.error) return [head, panelError("compliance", "Rule compliance", rep.error)];
    const now = { compliant: 0, noncompliant: 0, unknown: 0, excepted: 0 };
    for (const it of rep.items) if (it.current) now[it.status in now ? it.status : "unknown"]++;
    const sec = rep.seconds;
    const total = sec.evaluated + sec.unknown + sec.excepted;
    const bad = rep.items.filter((it) => it.current && it.status === "noncompliant");
    return [head,
      h("p", { class: "muted", id: "compliance-what" }, "The organisation's rules over the last 30 days: the score counts rule time, compliant (rule, stack)-seconds over evaluated ones; " +
        "unknown time (a rule that could not be evaluated) is counted apart, never as compliant. " +
        "The KPI report's configuration compliance is another figure: drift-free time, the share of the stacks' time with no open drift."),
      tiles([
        ["Rule compliance score (rule time)", rep.score === null ? "no data (nothing evaluated)" : pct(rep.score), { "data-tile": "compliance-score" }],
        ["Non-compliant now", String(now.noncompliant), { "data-tile": "noncompliant" }],
        ["Unknown now", now.unknown + (total > 0 ? " (" + pct(sec.unknown / total) + " of the time)" : ""), { "data-tile": "compliance-unknown" }],
        ["Compliant now", String(now.compliant), { "data-tile": "compliant" }],
        ["Excepted now", String(now.excepted), { "data-tile": "excepted" }],
      ]),
      table("noncompliant", "Rules the client's stacks break now, by rule.", ["Rule", "Stack", "Mode", "Message", "Since"],
        bad.map((it) => h("tr", { "data-rule": it.rule, "data-stack": it.stack_id },
          h("td", { class: "mono" }, it.rule),
          h("td", {}, h("a", { href: "#/stacks/" + enc(c) + "/" + enc(it.stack_id) }, it.stack_id)),
          h("td", {}, badge(it.mode, it.mode === "enforce" ? "high" : "low")),
          h("td", {}, it.message || "—"),
          h("td", {}, fmtTime(it.since)))),
        rep.items.length === 0 ? "No rule applies to the client's stacks." : "No rule is broken now.")];
  }

  // exceptionsPanel lists the client's compliance exceptions (GET
  // .../compliance/exceptions): those the OrganizationPolicy declares and
  // those added with blackwell exception add, each holding or expired (an
  // expired one exempts nothing).
  function exceptionsPanel(c, list, table) {
    const head = h("h3", {}, "Exceptions");
    if (list.error) return [head, panelError("exceptions", "The exceptions", list.error)];
    return [head, table("exceptions", "Exceptions to the organisation's rules for this client's stacks, by rule. Add or remove them with blackwell exception add|remove, or in the OrganizationPolicy.",
      ["Rule", "Stack", "Expires", "State", "From", "Owner", "Ticket", "Reason"],
      (list.items || []).map((x) => h("tr", { "data-rule": x.rule, "data-stack": x.stack_id || "", "data-expired": x.expired ? "true" : "false" },
        h("td", { class: "mono" }, x.rule),
        h("td", {}, x.stack_id ? h("a", { href: "#/stacks/" + enc(c) + "/" + enc(x.stack_id) }, x.stack_id) : "every stack"),
        h("td", {}, fmtTime(x.expires)),
        h("td", {}, x.expired ? badge("expired", "failed") : badge("holds", "ok")),
        h("td", {}, x.source === "api" ? "API" : "OrganizationPolicy"),
        h("td", {}, x.owner),
        h("td", {}, x.ticket || "—"),
        h("td", {}, x.reason))),
      "No exception: every rule applies to every stack of the client.")];
  }

  // reportPeriod is the 30 days to now, whole seconds.
  function reportPeriod() {
    const to = new Date(Math.floor(Date.now() / 1000) * 1000);
    return { from: new Date(to.getTime() - 30 * 86400 * 1000).toISOString(), to: to.toISOString() };
  }

  const reportPath = (c, p, format) => "/v1/reports?client_id=" + enc(c) + "&from=" + enc(p.from) + "&to=" + enc(p.to) + "&format=" + format;

  // reportPanel links the client's KPI report of the period as HTML (the
  // API's own page, saved with the token the dashboard holds) and shows
  // its KPIs from the JSON.
  function reportPanel(c, period, rep, table) {
    const href = reportPath(c, period, "html");
    // The status outlives the page's live re-renders (a fetch may end
    // after the panel was drawn again).
    const status = h("span", { id: "report-status", role: "status" },
      state.reportStatus && state.reportStatus.client === c ? state.reportStatus.text : "");
    const link = h("a", { href, id: "report-link", "data-report": "html", onclick: (ev) => { ev.preventDefault(); saveReport(c, href, status); } },
      "Download the KPI report of the last 30 days (HTML)");
    const out = [h("h2", {}, "KPI report"), h("p", {}, link, " ", status)];
    if (rep.error) return out.concat(panelError("kpis", "The report's figures", rep.error));
    const f = rep.overall || {};
    const fmt = (k) => k.value === null ? "no data" : k.unit === "ratio" ? pct(k.value) : fmtSecs(k.value);
    return out.concat(tiles([
      ["Drifts detected", String(f.drifts_detected || 0), { "data-tile": "report-detected" }],
      ["Drifts resolved", String(f.drifts_resolved || 0), { "data-tile": "report-resolved" }],
      ["Open at the end", String(f.drifts_open_at_end || 0), { "data-tile": "report-open" }],
    ]), table("kpis", "The KPIs of the last 30 days, from the audit log, against their targets.", ["KPI", "Value", "Target", "Met", "Samples"],
      (f.kpis || []).map((k) => h("tr", { "data-kpi": k.name },
        h("td", {}, k.label), h("td", { class: "num" }, fmt(k)),
        h("td", {}, k.target_op + " " + (k.unit === "ratio" ? pct(k.target_value) : fmtSecs(k.target_value))),
        h("td", {}, k.met === null ? "no data" : k.met ? badge("met", "ok") : badge("missed", "failed")),
        h("td", { class: "num" }, String(k.samples)))),
      "No KPI in the report."));
  }

  // saveReport fetches the HTML report with the dashboard's token and
  // saves it as a file: the API's page needs the token a link cannot carry,
  // and opened as a file it keeps its inline styles, which this page's
  // Content-Security-Policy would refuse.
  async function saveReport(c, href, first) {
    const say = (text) => {
      state.reportStatus = { client: c, text };
      const el = document.getElementById("report-status") || first;
      el.textContent = text;
    };
    say("Preparing the report…");
    try {
      const resp = await fetch(href, { headers: authHeaders({ Accept: "text/html" }), cache: "no-store" });
      if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
      const url = URL.createObjectURL(await resp.blob());
      const a = h("a", { href: url, download: "blackwell-report-" + c + ".html", hidden: "" });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      say("Report saved.");
    } catch (e) {
      say("The report could not be fetched: " + e.message);
    }
  }

  async function showSystem() {
    const v = await api("/v1/dashboard/system");
    if (!viewIs("system")) return;
    const score = v.health.score;
    const firing = v.alerts.filter((a) => a.firing);
    const mib = (b) => (b / 1048576).toFixed(1) + " MiB";
    setView("System",
      h("h1", {}, "System overview"),
      h("div", { class: "score", id: "health-score", "data-score": score === null ? "" : score },
        h("span", { class: "big" }, score === null ? "no data" : String(score)), h("span", { class: "muted" }, " / 100 health")),
      h("div", WRAP, h("table", { id: "health-components" }, h("caption", {}, "What the health score is made of (a part without data is left out)."),
        h("thead", {}, h("tr", {}, ["Part", "Score", "Weight", "What"].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, v.health.components.map((c) => h("tr", { "data-component": c.name },
          h("th", { scope: "row" }, c.name), h("td", { class: "num" }, c.score === null ? "no data" : pct(c.score)),
          h("td", { class: "num" }, pct(c.weight)), h("td", {}, c.detail)))))),
      h("h2", {}, "Alerts"),
      h("p", { id: "alerts-summary", role: "status" }, firing.length === 0 ? "No alert would be firing." :
        firing.length + " " + plural(firing.length, "alert", "alerts") + " would be firing: " + firing.map((a) => a.name).join(", ") + "."),
      h("div", WRAP, h("table", { id: "alerts" }, h("caption", {}, "A subset of deploy/prometheus/blackwell-rules.yml, evaluated on this page's numbers."),
        h("thead", {}, h("tr", {}, ["Alert", "Severity", "State", "Value", "Threshold", "Evaluated as"].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, v.alerts.map((a) => h("tr", { "data-alert": a.name, "data-firing": a.firing ? "true" : "false" },
          h("th", { scope: "row", class: "mono" }, a.name), h("td", {}, badge(a.severity === "critical" ? "critical" : "medium", a.severity === "critical" ? "critical" : "medium")),
          h("td", {}, a.firing ? badge("firing", "critical") : badge("ok", "ok")),
          h("td", { class: "num" }, numOrNone(a.value)), h("td", { class: "num" }, String(a.threshold)), h("td", {}, a.how)))))),
      h("h2", {}, "Now"),
      tiles([
        ["Stacks", v.stacks.total + " (" + pctOrNone(v.stacks.healthy) + " healthy)", { "data-tile": "stacks" }],
        ["Event ingest", (v.ingest.capped ? "≥ " : "") + v.ingest.per_minute + " events/min (last 5 min)", { "data-tile": "ingest" }],
        ["Event lag p99", v.ingest.lag_p99_seconds === null ? "no data" : fmtSecs(v.ingest.lag_p99_seconds) + " since start", { "data-tile": "lag" }],
        ["Queue depth", numOrNone(v.ingest.queue_depth), { "data-tile": "queue" }],
        ["Passes in flight", numOrNone(v.ingest.in_flight), { "data-tile": "in-flight" }],
        ["Store latency", v.store.error ? v.store.error : "ping " + v.store.ping_ms + " ms, queries " + v.store.query_ms + " ms", { "data-tile": "store" }],
        ["Memory", mib(v.process.memory_bytes) + " (heap " + mib(v.process.heap_bytes) + ")", { "data-tile": "memory" }],
        ["Goroutines", String(v.process.goroutines), { "data-tile": "goroutines" }],
        ["Pass failures (30 min)", pctOrNone(v.passes.failure_rate), { "data-tile": "errors" }],
        ["Webhooks rejected", numOrNone(v.errors.webhooks_rejected) + " since start", { "data-tile": "webhooks-rejected" }],
        ["Notifications failed", numOrNone(v.errors.notifications_failed) + " since start", { "data-tile": "notifications-failed" }],
      ]),
      h("div", { class: "charts" },
        C().lineChart({ id: "sys-passes", title: "Passes, last 30 minutes", buckets: v.buckets, step: v.step_seconds, fmt: (x) => String(Math.round(x)),
          series: [{ name: "passes", values: v.buckets.map((b) => b.passes) }, { name: "failed", values: v.buckets.map((b) => b.failed) }] })));
  }

  // refreshDashboard re-reads the dashboard showing, at most every
  // DASH_MIN_MS.
  function refreshDashboard() {
    const wait = (state.dashAt || 0) + DASH_MIN_MS - Date.now();
    if (wait > 0) {
      if (!state.dashTimer) state.dashTimer = setTimeout(() => { state.dashTimer = 0; refreshDashboard(); }, wait);
      return Promise.resolve();
    }
    state.dashAt = Date.now();
    return render().catch((err) => { if (err.status !== 401) notice("Could not refresh: " + err.message); });
  }

  // ---------------------------------------------------------------- routing

  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    if (parts[0] === "stacks" && parts.length === 3 && parts[1] && parts[2]) return { name: "stack", client: parts[1], stack: parts[2] };
    if (parts[0] === "approvals") return { name: "approvals" };
    if (parts[0] === "dashboards" && parts[1] === "reconciliation") return { name: "reconciliation" };
    if (parts[0] === "dashboards" && parts[1] === "system") return { name: "system" };
    if (parts[0] === "clients" && parts.length === 2 && parts[1]) return { name: "client", client: parts[1] };
    if (parts[0] === "clients") return { name: "clients" };
    return { name: "overview" };
  }

  function viewIs(name, c, s) {
    const v = state.view;
    return v && v.name === name && (c === undefined || (v.client === c && (s === undefined || v.stack === s)));
  }

  // NAV_OF is the navigation entry of each view.
  const NAV_OF = { overview: "stacks", stack: "stacks", approvals: "approvals", reconciliation: "reconciliation",
    clients: "clients", client: "clients", system: "system" };

  async function route() {
    if (state.authWanted) return;
    state.view = parseHash();
    rel.key = ""; // a stack's release panel is drawn anew when it is navigated to
    for (const a of document.querySelectorAll("[data-nav]")) {
      const on = a.dataset.nav === NAV_OF[state.view.name];
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    loadPending().catch(() => {});
    try {
      await render();
    } catch (err) {
      errorView(err);
    }
    $("#main").focus({ preventScroll: true });
  }

  async function render() {
    const v = state.view;
    switch (v.name) {
      case "stack": return showStack(v.client, v.stack);
      case "approvals": return showApprovals();
      case "reconciliation": return showReconciliation();
      case "clients": return showClients();
      case "client": return showClientHealth(v.client);
      case "system": return showSystem();
      default:
        await loadOverview();
        if (viewIs("overview")) renderOverview();
    }
  }

  // ---------------------------------------------------------------- live updates

  function markDirty(c, s) {
    if (c && s) state.dirty.add(keyOf(c, s));
    else state.dirtyAll = true;
    scheduleFlush();
  }

  function scheduleFlush() {
    clearTimeout(state.flushTimer);
    state.flushTimer = setTimeout(flush, 150);
  }

  // flush re-reads what the stream said changed, for the view showing.
  async function flush() {
    const dirty = [...state.dirty];
    const all = state.dirtyAll;
    state.dirty.clear();
    state.dirtyAll = false;
    if (state.authWanted) return;
    try {
      await loadPending();
      const v = state.view || {};
      if (v.name === "stack") {
        if (all || dirty.includes(keyOf(v.client, v.stack))) await showStack(v.client, v.stack);
      } else if (v.name === "approvals") {
        await showApprovals();
      } else if (["reconciliation", "client", "system"].includes(v.name)) {
        await refreshDashboard();
      } else if (v.name === "clients") {
        if (all || !state.loaded) await loadOverview();
        if (viewIs("clients")) await showClients();
      } else if (all || !state.loaded) {
        await loadOverview();
        if (viewIs("overview")) renderOverview();
      } else {
        await Promise.all(dirty.map(async (key) => {
          const [c, s] = splitKey(key);
          try {
            state.stacks.set(key, await api(stackPath(c, s)));
            if (!state.passes.has(key)) await loadPasses(c, s);
          } catch (err) {
            if (err.status === 404) { state.stacks.delete(key); state.passes.delete(key); } else throw err;
          }
        }));
        if (viewIs("overview")) renderOverview();
      }
    } catch (err) {
      if (err.status !== 401) notice("Could not refresh: " + err.message);
    }
  }

  function splitKey(key) {
    const i = key.indexOf("/");
    return [key.slice(0, i), key.slice(i + 1)];
  }

  function onEvent(ev) {
    state.events.unshift(ev);
    state.events.length = Math.min(state.events.length, EVENTS_KEPT);
    if (ev.kind === "reconciliation.completed" && ev.data && ev.stack_id) {
      const key = keyOf(ev.client_id, ev.stack_id);
      const list = (state.passes.get(key) || []).filter((p) => p.reconciliation_id !== ev.data.reconciliation_id);
      list.unshift(ev.data);
      state.passes.set(key, list.slice(0, PASSES_KEPT));
      // A pass that found what the overview shows already changes only
      // the time of the last verification: no need to re-read the stack.
      const rec = state.stacks.get(key);
      if (viewIs("overview") && rec && ev.data.status === "success" && !state.dirty.has(key) &&
          (rec.drift_details || []).length === (ev.data.drift_count || 0) &&
          (rec.status === "healthy") === !ev.data.drift_count) {
        rec.last_verified = ev.data.completed_at;
        scheduleFlush();
        return;
      }
    }
    markDirty(ev.client_id, ev.stack_id);
  }

  function setStream(s, text) {
    state.streamState = s;
    const el = $("#stream-status");
    el.dataset.state = s;
    el.textContent = text;
  }

  function stopStream() {
    state.streamGen++;
    if (state.streamAbort) state.streamAbort.abort();
    state.streamAbort = null;
  }

  function startStream() {
    stopStream();
    streamLoop(state.streamGen);
  }

  // streamLoop reads /v1/stream with fetch (so that it carries the
  // Authorization header), parses server-sent events and reconnects with
  // Last-Event-ID; after each reconnect it re-reads everything.
  async function streamLoop(gen) {
    let lastID = "";
    let retry = 2000;
    while (gen === state.streamGen) {
      const ctl = new AbortController();
      state.streamAbort = ctl;
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastID) headers["Last-Event-ID"] = lastID;
        const resp = await fetch("/v1/stream", { headers, signal: ctl.signal, cache: "no-store" });
        if (resp.status === 401) {
          const data = await resp.json().catch(() => ({}));
          askForToken(((data || {}).error || {}).message);
          return;
        }
        if (!resp.ok || !resp.body) throw new Error("stream answered " + resp.status);
        setStream("live", "Live");
        markDirty(); // re-read what changed while not connected
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done || gen !== state.streamGen) break;
          buf += value.replace(/\r\n?/g, "\n");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const msg = parseSSE(block);
            if (msg.retry) retry = msg.retry;
            if (msg.id) lastID = msg.id;
            if (msg.data) {
              try { onEvent(JSON.parse(msg.data)); } catch (_) { /* not an event */ }
            }
          }
        }
      } catch (_) {
        // aborted, or the connection dropped: reconnect below
      }
      if (gen !== state.streamGen) return;
      setStream("reconnecting", "Reconnecting…");
      await new Promise((r) => setTimeout(r, retry));
    }
  }

  function parseSSE(block) {
    const msg = { data: "" };
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      switch (field) {
        case "id": msg.id = value; break;
        case "event": msg.event = value; break;
        case "data": data.push(value); break;
        case "retry": if (/^\d+$/.test(value)) msg.retry = Number(value); break;
      }
    }
    msg.data = data.join("\n");
    return msg;
  }

  // ---------------------------------------------------------------- start

  // takeTokenFromURL keeps a token handed over in the URL's fragment
  // (#token=..., as blackwell demo prints it with the bootstrap token; a
  // browser never sends a fragment to the server) like a typed one, and
  // removes it from the address bar and the history.
  function takeTokenFromURL() {
    const m = /^#token=([A-Za-z0-9_.~-]+)$/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, m[1]);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function start() {
    takeTokenFromURL();
    $("#login-form").addEventListener("submit", tokenSubmitted);
    $("#forget-token").addEventListener("click", forgetToken);
    $("#reject-form").addEventListener("submit", rejectSubmitted);
    $("#reject-cancel").addEventListener("click", () => { rejecting = null; $("#reject-dialog").close(); });
    $("#forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
    window.addEventListener("hashchange", route);
    setInterval(refreshRelTimes, 5000);
    // While the stream is down, poll.
    setInterval(() => { if (state.streamState !== "live" && !state.authWanted) markDirty(); }, POLL_MS);
    startStream();
    route();
  }

  // For tests: the pure parts.
  window.blackwellDashboard = { buildGraph, renderGraph, parseSSE, consistency };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
