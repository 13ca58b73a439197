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
 *
 * Each tile also lists its waiting callers (GET /api/acd/waiting, re-read with the
 * snapshots) with a "move to queue" choice, and a chart of the day's service level
 * (GET /api/acd/service-level, drawn by wallboard-chart.js), re-read when the stream says a
 * call was answered, abandoned or ended, and every minute.
 * The agent table's actions (force a state, end wrap-up, listen/whisper/barge, "why this
 * agent?") and the tiles' moves are handled by one listener per container (event
 * delegation: 200 rows cost nothing more); an action's error shows beside it, and stays
 * through re-renders until the next action there. Re-rendering waits while a <select> in
 * the container has the focus, so a refresh never closes a menu being used.
 * The agent table's "QA" column is each agent's average QA score and count over 30 days
 * (GET /api/qa/averages, recording/qa.py), read on load and every few minutes: scores
 * change when a supervisor saves one, not with the calls, so it is not on the stream.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("wallboard-settings").textContent);
  const { getJson, post } = ConsoleApi.client(settings.me); // console/static/api.js
  const REFRESH_DEBOUNCE_MS = 100;
  const REOPEN_AFTER_MS = 1000;
  const CHART_DEBOUNCE_MS = 2000;
  const CHART_EVERY_MS = 60_000;
  const CHART_EVENTS = new Set(["connected", "ended", "abandoned"]);
  const QA_EVERY_MS = 300_000;
  const QA_URL = settings.qaAveragesUrl || "/api/qa/averages?days=30";
  const STATE_LABELS = { // routing.model.AgentState; an unknown state shows as it is
    available: "available", reserved: "ringing", pending: "returning", busy: "on a call",
    wrap_up: "wrap-up", away: "away", offline: "offline",
  };

  const el = {
    queues: document.getElementById("wb-queues"),
    agents: document.querySelector("#wb-agents tbody"),
    banner: document.getElementById("wb-banner"),
    status: document.getElementById("wb-status"),
    monitor: document.getElementById("wb-monitor"),
    why: document.getElementById("wb-why"),
  };
  const state = {
    queues: [],
    agents: [],
    receivedAt: performance.now(), // when `queues` arrived: longest waits tick from here
    waitingAt: performance.now(), // likewise for `waiting`
    serverOffsetMs: 0, // server clock minus this browser's, from the last snapshot
    events: 0,
    snapshots: 0,
    waiting: {}, // queue → [{entry, phone, kind, priority, waited_seconds}]
    levels: {}, // queue → its day from /api/acd/service-level
    charts: {}, // queue → its rendered <svg>, kept across re-renders of the tiles
    errors: {}, // "queue:<name>" | "agent:<id>" | "monitor" → the last action's error
    monitor: null, // {entry, participant, mode, agent}: the call this supervisor is on
    pendingRender: false,
    choices: {}, // "move:<entry>" | "force:<agent id>" → the option chosen, kept across renders
    chartLoads: 0,
    qa: {}, // agent id → {average, count} from /api/qa/averages
    qaLoads: 0,
  };
  let chartTimer = null;
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
      if (v === null || v === undefined) continue;
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
        node("div", { class: "states" }, states),
        state.charts[q.queue] || node("div", { class: "wb-chart-empty" }, "Service level: loading…"),
        callersOf(q),
        errorNode(`queue:${q.queue}`));
    }));
    tickQueues();
  }

  function callersOf(q) {
    const callers = state.waiting[q.queue] || [];
    const targets = settings.moveTargets.filter((t) => t.name !== q.queue);
    const list = node("ul", { class: "wb-callers", "aria-label": `Waiting in ${q.queue}` });
    for (const c of callers) {
      const select = chosen(`move:${c.entry}`, node("select",
        { "aria-label": `Move ${c.phone || c.entry} to queue`, "data-choice": `move:${c.entry}` },
        ...targets.map((t) => node("option", { value: t.name }, t.label))));
      list.append(node("li", { "data-entry": c.entry },
        node("span", { class: "who" }, c.phone || c.entry),
        node("span", { class: "waited", "data-waited": c.waited_seconds }, duration(c.waited_seconds)),
        select,
        node("button", { type: "button", "data-action": "move", disabled: targets.length ? null : "" },
          "Move")));
    }
    return list;
  }

  function chosen(key, select) {
    if (key in state.choices) select.value = state.choices[key];
    return select;
  }

  function errorNode(key) {
    const error = state.errors[key];
    return node("p", { class: "wb-error", role: "alert", hidden: error ? null : "" },
      error ? error.message || "the action failed" : "");
  }

  function tickQueues() {
    for (const q of state.queues) {
      const tile = el.queues.querySelector(`[data-queue="${CSS.escape(q.queue)}"]`);
      if (!tile) continue;
      tile.querySelector(".longest").textContent = duration(longestWait(q));
      const since = (performance.now() - state.waitingAt) / 1000;
      for (const cell of tile.querySelectorAll(".waited")) {
        cell.textContent = duration(Number(cell.dataset.waited) + since);
      }
      const reasons = alertOf(q);
      tile.classList.toggle("alert", reasons.length > 0);
      tile.title = reasons.join("; ");
    }
  }

  function renderAgents() {
    // The call this supervisor monitors has ended (no agent is on it any more): the carrier
    // has dropped their leg with it, so the bar goes and the buttons come back.
    if (state.monitor && !state.agents.some((a) => a.call === state.monitor.entry)) {
      state.monitor = null;
      el.monitor.hidden = true;
    }
    if (!state.agents.length) {
      el.agents.replaceChildren(node("tr", {}, node("td", { colspan: "9", class: "wb-empty" },
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
        node("td", { class: "call", title: a.call || a.offer || "" },
          a.call || (a.offer ? `offered ${a.offer}` : "")),
        node("td", { class: "calls" }, a.calls_today),
        node("td", { class: "aht" }, duration(aht)),
        node("td", { class: "queues" }, (a.queues || []).join(", ")),
        qaCell(a.id),
        node("td", { class: "actions" }, ...actionsOf(a), errorNode(`agent:${a.id}`)));
    }));
    tickAgents();
  }

  function qaCell(id) {
    const qa = state.qa[id];
    if (!qa) return node("td", { class: "qa", title: "no QA score in 30 days" }, "—");
    return node("td", { class: "qa", title: `${qa.count} QA score(s) in 30 days` },
      `${qa.average.toFixed(1)} % (${qa.count})`);
  }

  /* The "QA" header, once: the column sits before "Actions". */
  function addQaHeader() {
    const head = document.querySelector("#wb-agents thead tr");
    if (!head || head.querySelector("th.qa")) return;
    const th = node("th", { scope: "col", class: "qa", title: "average QA score (count), 30 days" },
      "QA (30 d)");
    head.insertBefore(th, head.lastElementChild);
  }

  async function loadQa() {
    try {
      const data = await getJson(QA_URL);
      state.qa = Object.fromEntries(data.agents.map((a) => [a.agent_id, a]));
      state.qaLoads++;
      if (state.agents.length) render(); // before the first snapshot there is no table yet
    } catch (err) {
      console.warn("wallboard: QA averages not read", err);
    }
  }

  const FORCE = [["available", "Available"],
    ...settings.awayReasons.map((r) => [`away:${r}`, `Away (${r.replace("_", " ")})`]),
    ["offline", "Offline"]];

  function actionsOf(a) {
    const out = [];
    if (a.call) {
      const on = state.monitor && state.monitor.entry === a.call;
      for (const [mode, label] of [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge"]]) {
        out.push(node("button", { type: "button", "data-action": "monitor", "data-mode": mode,
          "data-entry": a.call, disabled: state.monitor ? "" : null,
          title: on ? "you are on this call" : null }, label));
      }
      out.push(node("button", { type: "button", "data-action": "why", "data-entry": a.call },
        "Why this agent?"));
    }
    if (a.state === "wrap_up") {
      out.push(node("button", { type: "button", "data-action": "end-wrap-up" }, "End wrap-up"));
    }
    out.push(chosen(`force:${a.id}`, node("select", { "data-role": "force",
      "data-choice": `force:${a.id}`, "aria-label": `State for ${a.name || a.id}` },
      ...FORCE.map(([value, label]) => node("option", { value }, label)))));
    out.push(node("button", { type: "button", "data-action": "force" }, "Set state"));
    return out;
  }

  function tickAgents() {
    const now = Date.now() + state.serverOffsetMs;
    for (const cell of el.agents.querySelectorAll("td.since")) {
      cell.textContent = duration((now - Date.parse(cell.dataset.since)) / 1000);
    }
  }

  function render() {
    // A <select> being used keeps its menu: the render waits until it loses the focus.
    const active = document.activeElement;
    if (active && active.tagName === "SELECT" && (el.queues.contains(active) || el.agents.contains(active))) {
      state.pendingRender = true;
      return;
    }
    state.pendingRender = false;
    renderQueues();
    renderAgents();
  }

  function apply(queues, agents, waiting) {
    state.queues = queues;
    state.agents = agents;
    state.receivedAt = performance.now();
    if (waiting) {
      state.waiting = waiting;
      state.waitingAt = state.receivedAt;
    }
    render();
  }

  // ------------------------------------------------------------------ data
  async function refresh() {
    refreshTimer = null;
    const mine = ++generation;
    try {
      const [q, a, w] = await Promise.all([
        getJson(settings.queuesUrl), getJson(settings.agentsUrl), getJson(settings.waitingUrl)]);
      if (mine === generation) apply(q.queues, a.agents, w.queues);
    } catch (err) {
      console.warn("wallboard refresh failed", err);
      el.status.textContent = "refresh failed; retrying";
      scheduleRefresh(1000);
    }
  }

  async function refreshWaiting() {
    const mine = generation;
    try {
      const w = await getJson(settings.waitingUrl);
      if (mine === generation) {
        state.waiting = w.queues;
        state.waitingAt = performance.now();
        render();
      }
    } catch (err) {
      console.warn("wallboard: waiting callers not read", err);
    }
  }

  async function loadCharts() {
    chartTimer = null;
    try {
      const data = await getJson(settings.serviceLevelUrl);
      for (const day of data.queues) {
        state.levels[day.queue] = day;
        const svg = window.wallboardChart.render(day);
        const old = state.charts[day.queue];
        state.charts[day.queue] = svg;
        const tile = el.queues.querySelector(`[data-queue="${CSS.escape(day.queue)}"]`);
        const slot = old && tile && tile.contains(old) ? old
          : tile && tile.querySelector(".wb-chart-empty");
        if (slot) slot.replaceWith(svg);
      }
      state.chartLoads++;
    } catch (err) {
      console.warn("wallboard: service level not read", err);
    }
  }

  function scheduleCharts(delay) {
    if (chartTimer === null) chartTimer = setTimeout(loadCharts, delay);
  }

  function scheduleRefresh(delay) {
    if (refreshTimer === null) refreshTimer = setTimeout(refresh, delay || REFRESH_DEBOUNCE_MS);
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
      refreshWaiting();
      showConnection();
    });
    source.addEventListener("acd", (event) => {
      state.events++;
      scheduleRefresh();
      let type = null;
      try { type = JSON.parse(event.data).type; } catch (err) { type = null; }
      if (CHART_EVENTS.has(type)) scheduleCharts(CHART_DEBOUNCE_MS);
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

  // ------------------------------------------------------------------ actions
  const url = (template, id, part) =>
    template.replace("ID", encodeURIComponent(id)).replace("PART", encodeURIComponent(part || ""));

  function showError(key, error) {
    if (error) state.errors[key] = error;
    else delete state.errors[key];
    const [kind, id] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    const holder = kind === "agent" ? el.agents.querySelector(`tr[data-agent="${CSS.escape(id)}"] td.actions`)
      : kind === "queue" ? el.queues.querySelector(`.wb-tile[data-queue="${CSS.escape(id)}"]`)
        : el.monitor;
    const slot = holder && holder.querySelector(":scope > .wb-error");
    if (slot) slot.replaceWith(errorNode(key));
  }

  async function act(key, button, target, body) {
    showError(key, null);
    button.disabled = true;
    const result = await post(target, body);
    button.disabled = false;
    showError(key, result.ok ? null : result.error);
    if (result.ok) scheduleRefresh();
    return result;
  }

  el.agents.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr[data-agent]");
    const id = row.dataset.agent;
    const key = `agent:${id}`;
    const action = button.dataset.action;
    if (action === "force") {
      const [state_, reason] = row.querySelector("select[data-role=force]").value.split(":");
      await act(key, button, url(settings.presenceUrl, id), reason ? { state: state_, reason } : { state: state_ });
    } else if (action === "end-wrap-up") {
      await act(key, button, url(settings.presenceUrl, id), { state: "available" });
    } else if (action === "monitor") {
      const entry = button.dataset.entry;
      const result = await act(key, button, url(settings.monitorUrl, entry), { mode: button.dataset.mode });
      if (result.ok) {
        const agent = state.agents.find((a) => String(a.id) === id);
        state.monitor = { ...result.body, agent: agent ? agent.name || `#${agent.id}` : `#${id}` };
        showMonitor();
      }
    } else if (action === "why") {
      await explain(button, id, button.dataset.entry);
    }
  });

  el.queues.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=move]");
    if (!button) return;
    const item = button.closest("li[data-entry]");
    const queue = button.closest(".wb-tile").dataset.queue;
    const target = item.querySelector("select").value;
    await act(`queue:${queue}`, button, url(settings.moveUrl, item.dataset.entry), { queue: target });
  });

  for (const container of [el.queues, el.agents]) {
    container.addEventListener("change", (event) => {
      const key = event.target.dataset && event.target.dataset.choice;
      if (key) state.choices[key] = event.target.value;
    });
    container.addEventListener("focusout", () => {
      if (state.pendingRender) setTimeout(render, 0); // once the focus has really moved
    });
  }

  // The monitoring bar: the mode being used, switch it, leave.
  function showMonitor() {
    const m = state.monitor;
    el.monitor.hidden = !m;
    render();
    if (!m) return;
    el.monitor.querySelector(".what").textContent = `Monitoring ${m.agent}'s call: ${m.mode}`;
    for (const b of el.monitor.querySelectorAll("button[data-mode]")) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === m.mode));
    }
  }

  el.monitor.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    const m = state.monitor;
    if (!button || !m) return;
    if (button.dataset.mode) {
      const result = await act("monitor:", button, url(settings.modeUrl, m.entry, m.participant),
        { mode: button.dataset.mode });
      if (result.ok) state.monitor = { ...m, mode: result.body.mode };
    } else if (button.dataset.action === "leave") {
      const result = await act("monitor:", button, url(settings.leaveUrl, m.entry, m.participant));
      if (result.ok) state.monitor = null;
    }
    showMonitor();
  });

  // "Why this agent?": the router's explanation of the offer, in a popover by the button.
  async function explain(button, agentId, entry) {
    showError(`agent:${agentId}`, null);
    let data;
    try {
      const response = await fetch(url(settings.whyUrl, entry), { credentials: "same-origin" });
      data = await response.json().catch(() => null);
      if (!response.ok) {
        showError(`agent:${agentId}`, (data && data.error) || { message: `HTTP ${response.status}` });
        return;
      }
    } catch (err) {
      showError(`agent:${agentId}`, { message: "the server cannot be reached; try again" });
      return;
    }
    const box = el.why;
    box.querySelector(".title").textContent =
      `${data.agent || `#${data.agent_id}`} for ${data.queue} (${data.strategy}, ${data.eligible} eligible)`;
    box.querySelector("ul").replaceChildren(...(data.reasons || []).map((r) => node("li", {}, r)));
    const rect = button.getBoundingClientRect();
    box.style.top = `${rect.bottom + window.scrollY + 4}px`;
    box.style.left = `${Math.max(8, rect.right + window.scrollX - 320)}px`;
    box.hidden = false;
    box.querySelector("button").focus();
  }

  el.why.querySelector("button").addEventListener("click", () => { el.why.hidden = true; });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") el.why.hidden = true;
  });

  window.wallboard = {
    get source() { return source; },
    state,
    connect,
    loadCharts,
    loadQa,
  };
  addQaHeader();
  connect();
  showConnection();
  loadCharts();
  loadQa();
  setInterval(loadQa, QA_EVERY_MS);
  setInterval(tick, 1000);
  setInterval(() => scheduleCharts(0), CHART_EVERY_MS);
})();
