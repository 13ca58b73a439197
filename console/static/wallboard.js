/* The supervisors' wallboard (templates/wallboard.html), plain JavaScript, no build step.
 *
 * Live through Server-Sent Events from GET /api/acd/stream (console/stream.py):
 *  - `snapshot` (first on every connection that cannot resume): the queues and agents,
 *    rendered as they are, with the server's clock to tick "time in state" against;
 *  - `acd` (one per router event): the figures changed; rather than re-deriving them from
 *    the event here, re-read /api/acd/queues and /api/acd/agents (debounced, so a burst of
 *    events costs one pair of requests) - the same numbers the server computes everywhere.
 * Timers (longest wait, time in state) tick locally every second between updates.
 * While the stream is not open a "reconnecting" banner shows; the browser reconnects by
 * itself (with Last-Event-ID), and when it gives up (an HTTP error) we open a new one.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("wallboard-settings").textContent);
  const REFRESH_DEBOUNCE_MS = 100;
  const REOPEN_AFTER_MS = 1000;
  const STATE_LABELS = { // routing.model.AgentState; an unknown state shows as it is
    available: "available", reserved: "ringing", pending: "returning", busy: "on a call",
    wrap_up: "wrap-up", away: "away", offline: "offline",
  };

  const el = {
    queues: document.getElementById("wb-queues"),
    agents: document.querySelector("#wb-agents tbody"),
    banner: document.getElementById("wb-banner"),
    status: document.getElementById("wb-status"),
  };
  const state = {
    queues: [],
    agents: [],
    receivedAt: performance.now(), // when `queues` arrived: longest waits tick from here
    serverOffsetMs: 0, // server clock minus this browser's, from the last snapshot
    events: 0,
    snapshots: 0,
  };
  let source = null;
  let closedSince = null;
  let refreshTimer = null;
  let generation = 0; // answers to older requests than the newest data are dropped

  // ------------------------------------------------------------------ formatting
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }

  function percent(ratio) {
    return ratio === null || ratio === undefined ? "–" : `${Math.round(ratio * 100)} %`;
  }

  function node(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") n.className = v;
      else n.setAttribute(k, v);
    }
    for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }

  // ------------------------------------------------------------------ rendering
  function longestWait(q) {
    if (!q.waiting) return 0;
    return q.longest_wait_seconds + (performance.now() - state.receivedAt) / 1000;
  }

  function alertOf(q) {
    const reasons = [];
    const sl = q.today.service_level;
    if (sl !== null && sl !== undefined && sl < settings.serviceLevelTarget) {
      reasons.push(`service level ${percent(sl)} below ${percent(settings.serviceLevelTarget)}`);
    }
    const limit = settings.maxWait[q.queue] || settings.longWaitSeconds;
    if (longestWait(q) > limit) reasons.push(`a caller has waited over ${duration(limit)}`);
    return reasons;
  }

  function renderQueues() {
    if (!state.queues.length) {
      el.queues.replaceChildren(node("p", { class: "wb-empty" }, "No queues configured."));
      return;
    }
    el.queues.replaceChildren(...state.queues.map((q) => {
      const t = q.today;
      const order = Object.keys(STATE_LABELS);
      const rank = (s) => (order.includes(s) ? order.indexOf(s) : order.length);
      const states = Object.entries(q.agents)
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([s, n]) => `${STATE_LABELS[s] || s} ${n}`).join(" · ");
      return node("article", { class: "wb-tile", "data-queue": q.queue },
        node("h3", {}, q.display_name || q.queue),
        node("dl", {},
          node("dt", {}, "Waiting"), node("dd", { class: "waiting" }, q.waiting),
          node("dt", {}, "Longest wait"), node("dd", { class: "longest" }, duration(longestWait(q))),
          node("dt", {}, `Service level (${t.service_level_seconds} s)`),
          node("dd", { class: "sl" }, percent(t.service_level)),
          node("dt", {}, "ASA"),
          node("dd", { class: "asa" }, t.asa_seconds === null ? "–" : duration(t.asa_seconds)),
          node("dt", {}, "Answered"), node("dd", { class: "answered" }, t.answered),
          node("dt", {}, "Abandoned"), node("dd", { class: "abandoned" }, t.abandoned)),
        node("div", { class: "states" }, states));
    }));
    tickQueues();
  }

  function tickQueues() {
    for (const q of state.queues) {
      const tile = el.queues.querySelector(`[data-queue="${CSS.escape(q.queue)}"]`);
      if (!tile) continue;
      tile.querySelector(".longest").textContent = duration(longestWait(q));
      const reasons = alertOf(q);
      tile.classList.toggle("alert", reasons.length > 0);
      tile.title = reasons.join("; ");
    }
  }

  function renderAgents() {
    if (!state.agents.length) {
      el.agents.replaceChildren(node("tr", {}, node("td", { colspan: "7", class: "wb-empty" },
        "No agent has logged in.")));
      return;
    }
    el.agents.replaceChildren(...state.agents.map((a) => {
      const label = STATE_LABELS[a.state] || a.state;
      const aht = a.calls_today ? a.talk_seconds_today / a.calls_today : null;
      return node("tr", { class: a.state, "data-agent": a.id },
        node("td", { class: "name" }, a.name || `#${a.id}`),
        node("td", { class: "state" }, a.reason ? `${label} (${a.reason})` : label),
        node("td", { class: "since", "data-since": a.since }, ""),
        node("td", { class: "call" }, a.call || (a.offer ? `offered ${a.offer}` : "")),
        node("td", { class: "calls" }, a.calls_today),
        node("td", { class: "aht" }, duration(aht)),
        node("td", { class: "queues" }, (a.queues || []).join(", ")));
    }));
    tickAgents();
  }

  function tickAgents() {
    const now = Date.now() + state.serverOffsetMs;
    for (const cell of el.agents.querySelectorAll("td.since")) {
      cell.textContent = duration((now - Date.parse(cell.dataset.since)) / 1000);
    }
  }

  function apply(queues, agents) {
    state.queues = queues;
    state.agents = agents;
    state.receivedAt = performance.now();
    renderQueues();
    renderAgents();
  }

  // ------------------------------------------------------------------ data
  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      throw new Error("signed out");
    }
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  async function refresh() {
    refreshTimer = null;
    const mine = ++generation;
    try {
      const [q, a] = await Promise.all([getJson(settings.queuesUrl), getJson(settings.agentsUrl)]);
      if (mine === generation) apply(q.queues, a.agents);
    } catch (err) {
      console.warn("wallboard refresh failed", err);
    }
  }

  function scheduleRefresh() {
    if (refreshTimer === null) refreshTimer = setTimeout(refresh, REFRESH_DEBOUNCE_MS);
  }

  // ------------------------------------------------------------------ the stream
  function showConnection() {
    const open = source !== null && source.readyState === EventSource.OPEN;
    el.banner.classList.toggle("shown", !open);
    el.status.textContent = open ? "live" : "reconnecting…";
    if (open) closedSince = null;
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(settings.stream);
    closedSince = null;
    source.addEventListener("open", showConnection);
    source.addEventListener("error", showConnection);
    source.addEventListener("snapshot", (event) => {
      const data = JSON.parse(event.data);
      state.snapshots++;
      generation++; // whatever is in flight is older than this
      if (refreshTimer !== null) clearTimeout(refreshTimer);
      refreshTimer = null;
      state.serverOffsetMs = Date.parse(data.now) - Date.now();
      apply(data.queues, data.agents);
      showConnection();
    });
    source.addEventListener("acd", () => {
      state.events++;
      scheduleRefresh();
    });
  }

  function tick() {
    tickQueues();
    tickAgents();
    showConnection();
    // The browser retries by itself after a dropped connection, but not after an HTTP
    // error (a proxy's 502 during a deploy) or close(): then open a new stream.
    if (source && source.readyState === EventSource.CLOSED) {
      if (closedSince === null) closedSince = Date.now();
      else if (Date.now() - closedSince >= REOPEN_AFTER_MS) connect();
    }
  }

  window.wallboard = {
    get source() { return source; },
    state,
    connect,
  };
  connect();
  showConnection();
  setInterval(tick, 1000);
})();
