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
 * The banner says why when it can: the API answering 503 means the server cannot reach
 * Redis (the live routing store); the figures shown are then the last known. When Redis
 * comes back without its data the router is rebuilt (routing/recovery.py) and says so on
 * the stream (`reannounce`): a notice tells how many callers were put back in line and
 * calls back with their agents, for a minute, and the figures are read again.
 *
 * Each tile lists its waiting callers (GET /api/acd/waiting, re-read with the snapshots:
 * the customer's name by caller ID and the number in national format) with a "Move to…"
 * choice that starts empty, and a chart of the day's service level
 * (GET /api/acd/service-level, drawn by wallboard-chart.js), re-read when the stream says a
 * call was answered, abandoned or ended, and every minute. The same waiting answer names
 * the caller of each agent's current call ("calls"), so the table never shows a CallSid.
 * A totals row sums the queues: waiting, the longest wait, today's service level (answered
 * within the threshold of answered and abandoned, over every queue), answered, abandoned.
 * The agent table's actions (force a state, end wrap-up, end the call, listen/whisper/barge,
 * "why this agent?") and the tiles' moves are handled by one listener per container (event
 * delegation: 200 rows cost nothing more); an action's error shows beside it, and stays
 * through re-renders until the next action there. Re-rendering waits while a <select> in
 * the container has the focus, so a refresh never closes a menu being used.
 * The agent table's "QA" column is each agent's average QA score and count over 30 days
 * (GET /api/qa/averages, recording/qa.py), read on load and every few minutes: scores
 * change when a supervisor saves one, not with the calls, so it is not on the stream.
 * "Calls without a disposition" (GET /api/calls/missing-disposition) is read on load, when
 * a call ends, and every minute.
 * TV mode (the "TV mode" button, through the Fullscreen API, or /wallboard?tv=1 for a
 * screen nobody clicks): large type, no buttons, no navigation bar.
 * Every label goes through Fmt (static/format.js): words, national numbers, the viewer's
 * times, durations.
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
  const MISSING_EVERY_MS = 60_000;
  // routing.model.AgentState in the order the tiles list them; Fmt.label words each.
  const STATE_ORDER = ["available", "reserved", "pending", "busy", "wrap_up", "away", "offline"];
  const stateWord = (s) => Fmt.label(s);

  const el = {
    queues: document.getElementById("wb-queues"),
    agents: document.querySelector("#wb-agents tbody"),
    banner: document.getElementById("wb-banner"),
    status: document.getElementById("wb-status"),
    monitor: document.getElementById("wb-monitor"),
    why: document.getElementById("wb-why"),
    totals: document.getElementById("wb-totals"),
    missing: document.getElementById("wb-missing"),
    tv: document.getElementById("wb-tv"),
  };
  const state = {
    queues: [],
    agents: [],
    receivedAt: performance.now(), // when `queues` arrived: longest waits tick from here
    waitingAt: performance.now(), // likewise for `waiting`
    serverOffsetMs: 0, // server clock minus this browser's, from the last snapshot
    events: 0,
    snapshots: 0,
    redisDown: false, // the API answered 503: the server cannot reach Redis
    recoveries: 0, // rebuilds after a Redis loss this page was told of
    waiting: {}, // queue → [{entry, phone, name, kind, priority, waited_seconds}]
    calls: {}, // an agent's call or offer (entry) → {phone, name, kind, queue}
    notes: {}, // "agent:<id>" → what an action did that is not an error ("offline after the call")
    missing: null, // GET /api/calls/missing-disposition's calls, once read
    missingLoads: 0,
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
    return Fmt.duration(Math.floor(seconds)); // whole seconds tick, never round up early
  }

  /* "Maria Lopez (313) 555-0100", the number on hover; a number alone when nobody has it. */
  function callerNode(call, cls) {
    const box = node("span", { class: cls || "caller" });
    if (!call) return box;
    if (call.name) box.append(node("span", { class: "name" }, call.name), " ");
    if (call.phone) box.append(Fmt.phoneNode(call.phone));
    else if (!call.name) box.append(node("span", { class: "name" }, "Unknown caller"));
    return box;
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
      reasons.push(`Service level ${percent(sl)} is below the ${percent(settings.serviceLevelTarget)} target`);
    }
    const limit = settings.maxWait[q.queue] || settings.longWaitSeconds;
    if (longestWait(q) > limit) reasons.push(`A caller has waited over ${duration(limit)}`);
    return reasons;
  }

  function renderQueues() {
    if (!state.queues.length) {
      el.queues.replaceChildren(node("p", { class: "wb-empty" }, "No queues configured."));
      return;
    }
    el.queues.replaceChildren(...state.queues.map((q) => {
      const t = q.today;
      const rank = (s) => (STATE_ORDER.includes(s) ? STATE_ORDER.indexOf(s) : STATE_ORDER.length);
      const states = Object.entries(q.agents)
        .filter(([, n]) => n > 0)
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([s, n]) => `${stateWord(s)} ${n}`).join(" · ") || "No agent logged in";
      return node("article", { class: "wb-tile", "data-queue": q.queue },
        node("h3", {}, q.display_name || Fmt.label(q.queue)),
        node("dl", {},
          node("dt", {}, "Waiting"), node("dd", { class: "waiting" }, q.waiting),
          node("dt", {}, "Longest wait"), node("dd", { class: "longest" }, duration(longestWait(q))),
          node("dt", { title: `Answered within ${t.service_level_seconds} seconds, of the calls answered or abandoned today` },
            `Service level (${t.service_level_seconds} s)`),
          node("dd", { class: "sl" }, percent(t.service_level)),
          node("dt", { title: "Average speed of answer today" }, "Average answer"),
          node("dd", { class: "asa" }, t.asa_seconds === null ? "–" : duration(t.asa_seconds)),
          node("dt", {}, "Answered"), node("dd", { class: "answered" }, t.answered),
          node("dt", {}, "Abandoned"), node("dd", { class: "abandoned" }, t.abandoned)),
        node("div", { class: "states" }, states),
        state.charts[q.queue] || node("div", { class: "wb-chart-empty" }, "Service level: loading…"),
        callersOf(q),
        errorNode(`queue:${q.queue}`));
    }));
    tickQueues();
    renderTotals();
  }

  /* One row over every queue: the same figures as the tiles, summed. Service level is
   * recomputed from the counts (answered within the threshold, of answered + abandoned),
   * never averaged from the queues' percentages. */
  function totals() {
    const sum = (f) => state.queues.reduce((n, q) => n + (Number(f(q)) || 0), 0);
    const answered = sum((q) => q.today.answered);
    const abandoned = sum((q) => q.today.abandoned);
    const within = sum((q) => q.today.answered_within);
    return {
      waiting: sum((q) => q.waiting),
      longest: state.queues.reduce((m, q) => Math.max(m, longestWait(q)), 0),
      serviceLevel: answered + abandoned ? within / (answered + abandoned) : null,
      answered,
      abandoned,
    };
  }

  function renderTotals() {
    if (!el.totals) return;
    const t = totals();
    const cell = (cls, label, value) => node("div", { class: `wb-total ${cls}` },
      node("span", { class: "label" }, label), node("span", { class: "value" }, value));
    el.totals.replaceChildren(
      cell("waiting", "Waiting", t.waiting),
      cell("longest", "Longest wait", duration(t.longest)),
      cell("sl", "Service level today", percent(t.serviceLevel === null ? null : Math.round(t.serviceLevel * 1000) / 1000)),
      cell("answered", "Answered today", t.answered),
      cell("abandoned", "Abandoned today", t.abandoned));
    const below = t.serviceLevel !== null && t.serviceLevel < settings.serviceLevelTarget;
    el.totals.classList.toggle("alert", below);
  }

  function callersOf(q) {
    const callers = state.waiting[q.queue] || [];
    // Another queue only: moving a caller to the queue they are in does nothing.
    const targets = settings.moveTargets.filter((t) => t.name !== q.queue);
    const list = node("ul", { class: "wb-callers", "aria-label": `Waiting in ${q.display_name || q.queue}` });
    for (const c of callers) {
      const who = c.name ? `${c.name}, ${Fmt.phone(c.phone)}` : Fmt.phone(c.phone);
      const select = chosen(`move:${c.entry}`, node("select",
        { "aria-label": `Move ${who} to another queue`, "data-choice": `move:${c.entry}`,
          disabled: targets.length ? null : "" },
        node("option", { value: "", disabled: "", selected: "" }, "Move to…"),
        ...targets.map((t) => node("option", { value: t.name }, t.label))));
      list.append(node("li", { "data-entry": c.entry },
        node("div", { class: "line" },
          callerNode(c.phone || c.name ? c : null, "who"),
          node("span", { class: "waited", "data-waited": c.waited_seconds }, duration(c.waited_seconds))),
        node("div", { class: "move" },
          select,
          node("button", { type: "button", "data-action": "move", disabled: select.value ? null : "" },
            "Move"))));
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
      const label = stateWord(a.state);
      const aht = a.calls_today ? a.talk_seconds_today / a.calls_today : null;
      return node("tr", { class: a.state, "data-agent": a.id },
        node("td", { class: "name" }, a.name || `Agent ${a.id}`),
        node("td", { class: "state" }, a.reason ? `${label} (${Fmt.label(a.reason).toLowerCase()})` : label,
          a.offline_after_call ? node("span", { class: "after" }, ", signing out after this call") : ""),
        node("td", { class: "since", "data-since": a.since }, ""),
        callCell(a),
        node("td", { class: "calls" }, a.calls_today),
        node("td", { class: "aht" }, duration(aht)),
        node("td", { class: "queues" }, (a.queues || []).map(queueName).join(", ")),
        qaCell(a.id),
        node("td", { class: "actions" }, ...actionsOf(a), noteNode(`agent:${a.id}`),
          errorNode(`agent:${a.id}`)));
    }));
    tickAgents();
  }

  function queueName(name) {
    const q = state.queues.find((x) => x.queue === name);
    return (q && q.display_name) || Fmt.label(name);
  }

  /* Who the agent is talking to (or who is ringing them): the customer's name and number
   * from GET /api/acd/waiting's "calls", never the CallSid. */
  function callCell(a) {
    const entry = a.call || a.offer;
    const td = node("td", { class: "call" });
    if (!entry) return td;
    const call = state.calls[entry];
    const who = callerNode(call && (call.phone || call.name) ? call : { name: "Caller" });
    if (!a.call) td.append(node("span", { class: "ringing" }, "Ringing: "));
    else if (call && call.kind === "callback") td.append(node("span", { class: "ringing" }, "Callback: "));
    td.append(who);
    td.title = who.textContent;
    return td;
  }

  function noteNode(key) {
    const note = state.notes[key];
    return node("p", { class: "wb-note", role: "status", hidden: note ? null : "" }, note || "");
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
    const th = node("th", { scope: "col", class: "qa", title: "Average QA score over 30 days (number of scores)" },
      "QA score");
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

  // Every state is offered in every state: the server says what it makes of it (an agent
  // on a call who is set offline goes offline when the call ends).
  const FORCE = [["available", "Available"],
    ...settings.awayReasons.map((r) => [`away:${r}`, `Away (${Fmt.label(r).toLowerCase()})`]),
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
      out.push(node("button", { type: "button", "data-action": "end-call", "data-entry": a.call,
        class: "danger" }, "End call"));
    }
    if (a.state === "wrap_up") {
      out.push(node("button", { type: "button", "data-action": "end-wrap-up" }, "End wrap-up"));
    }
    out.push(chosen(`force:${a.id}`, node("select", { "data-role": "force",
      "data-choice": `force:${a.id}`, "aria-label": `State for ${a.name || `agent ${a.id}`}` },
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
      state.waiting = waiting.queues;
      state.calls = waiting.calls || {};
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
      state.redisDown = false;
      if (mine === generation) apply(q.queues, a.agents, w);
      showConnection();
    } catch (err) {
      console.warn("wallboard refresh failed", err);
      state.redisDown = /HTTP 503/.test(String(err && err.message));
      showConnection();
      if (!state.redisDown) el.status.textContent = "refresh failed; retrying";
      scheduleRefresh(1000);
    }
  }

  async function refreshWaiting() {
    const mine = generation;
    try {
      const w = await getJson(settings.waitingUrl);
      if (mine === generation) {
        state.waiting = w.queues;
        state.calls = w.calls || {};
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

  /* One refresh pending at a time; a sooner one (an event) replaces a later one (the
   * outage poll), so a poll never holds back what an event asks for. */
  let refreshDue = 0;
  function scheduleRefresh(delay) {
    const due = Date.now() + (delay || REFRESH_DEBOUNCE_MS);
    if (refreshTimer !== null) {
      if (due >= refreshDue) return;
      clearTimeout(refreshTimer);
    }
    refreshDue = due;
    refreshTimer = setTimeout(refresh, due - Date.now());
  }

  // ------------------------------------------------------------------ the stream
  function showConnection() {
    const open = source !== null && source.readyState === EventSource.OPEN;
    const down = !open || state.redisDown;
    el.banner.classList.toggle("shown", down);
    el.banner.textContent = state.redisDown
      ? "Redis is unreachable: the server cannot read the live queues. Callers are kept on hold; "
        + "the figures shown are the last known and come back by themselves."
      : "Reconnecting… the live feed is down; the figures shown may be out of date.";
    el.status.textContent = state.redisDown ? "Redis unreachable" : open ? "live" : "reconnecting…";
    if (open) closedSince = null;
  }

  /* The notice after a rebuild: what came back, in words, for RECOVERY_NOTICE_MS. */
  const RECOVERY_NOTICE_MS = 60000;
  const OUTAGE_POLL_MS = 3000; // the API read this often while the feed is down
  let recoveryTimer = null;
  function showRecovery(event) {
    let notice = document.getElementById("wb-recovery");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "wb-recovery";
      notice.className = "wb-banner wb-recovery";
      notice.setAttribute("role", "status");
      el.banner.after(notice);
    }
    const callers = Number(event.restored) || 0;
    const calls = Number(event.calls) || 0;
    const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
    notice.textContent = "Redis restarted without its data: "
      + `${plural(callers, "caller", "callers")} put back in line, `
      + `${plural(calls, "call", "calls")} back with their agents; today's figures were `
      + "recounted from the database. Agents' pages are signing them back in.";
    notice.classList.add("shown");
    state.recoveries++;
    clearTimeout(recoveryTimer);
    recoveryTimer = setTimeout(() => notice.classList.remove("shown"), RECOVERY_NOTICE_MS);
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
      let data = null;
      try { data = JSON.parse(event.data); type = data.type; } catch (err) { type = null; }
      if (type === "reannounce") { showRecovery(data); scheduleCharts(CHART_DEBOUNCE_MS); }
      if (CHART_EVENTS.has(type)) scheduleCharts(CHART_DEBOUNCE_MS);
      if (type === "ended") scheduleMissing(CHART_DEBOUNCE_MS);
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
    // The feed is down, or Redis was: the API says which (503), and when it is back.
    const open = source !== null && source.readyState === EventSource.OPEN;
    if (!open || state.redisDown) scheduleRefresh(OUTAGE_POLL_MS);
  }

  // ------------------------------------------------------------------ actions
  const url = (template, id, part) =>
    template.replace("ID", encodeURIComponent(id)).replace("PART", encodeURIComponent(part || ""));

  function showNote(key) {
    const [, id] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    const holder = el.agents.querySelector(`tr[data-agent="${CSS.escape(id)}"] td.actions`);
    const slot = holder && holder.querySelector(":scope > .wb-note");
    if (slot) slot.replaceWith(noteNode(key));
  }

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
      delete state.notes[key];
      const result = await act(key, button, url(settings.presenceUrl, id),
        reason ? { state: state_, reason } : { state: state_ });
      if (result.ok && result.body && result.body.offline_after_call) {
        state.notes[key] = result.body.message || "Goes offline when this call ends.";
      }
      showNote(key);
    } else if (action === "end-call") {
      const agent = state.agents.find((a) => String(a.id) === id);
      const call = state.calls[button.dataset.entry];
      const caller = call ? (call.name || Fmt.phone(call.phone)) : "the caller";
      const who = agent ? agent.name || `agent ${agent.id}` : "the agent";
      if (!window.confirm(`End the call between ${who} and ${caller}? Both sides are hung up.`)) return;
      await act(key, button, url(settings.endUrl, button.dataset.entry), {});
    } else if (action === "end-wrap-up") {
      await act(key, button, url(settings.presenceUrl, id), { state: "available" });
    } else if (action === "monitor") {
      const entry = button.dataset.entry;
      const result = await act(key, button, url(settings.monitorUrl, entry), { mode: button.dataset.mode });
      if (result.ok) {
        const agent = state.agents.find((a) => String(a.id) === id);
        state.monitor = { ...result.body, agent: agent ? agent.name || `agent ${agent.id}` : `agent ${id}` };
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
    if (!target) return; // no queue chosen yet (the button is disabled then)
    const result = await act(`queue:${queue}`, button, url(settings.moveUrl, item.dataset.entry), { queue: target });
    if (result.ok) delete state.choices[`move:${item.dataset.entry}`];
  });

  for (const container of [el.queues, el.agents]) {
    container.addEventListener("change", (event) => {
      const key = event.target.dataset && event.target.dataset.choice;
      if (key) state.choices[key] = event.target.value;
      // "Move" waits for a queue to be chosen.
      const move = key && key.startsWith("move:")
        && event.target.closest("li").querySelector("button[data-action=move]");
      if (move) move.disabled = !event.target.value;
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
    const strategy = Fmt.label(data.strategy).toLowerCase();
    const eligible = `${data.eligible} agent${data.eligible === 1 ? "" : "s"} could take it`;
    box.querySelector(".title").textContent =
      `${data.agent || `Agent ${data.agent_id}`} for ${queueName(data.queue)}: offered ${Fmt.time(data.offered_at)}, `
      + `${strategy}, ${eligible}`;
    // Each reason's clock times come apart ({time: ISO}) to show in this viewer's zone.
    const words = (text) => (data.strategy ? text.split(data.strategy).join(strategy) : text);
    const lines = data.reason_parts
      || (data.reasons || []).map((r) => [{ text: r }]);
    box.querySelector("ul").replaceChildren(...lines.map((parts) => node("li", {},
      ...parts.map((p) => (p.time ? node("time", { datetime: p.time }, Fmt.time(p.time)) : words(p.text))))));
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

  // ------------------------------------------------------------------ calls without a disposition
  let missingTimer = null;

  function draftText(draft) {
    if (!draft) return "No draft";
    const bits = [];
    if (draft.disposition) bits.push(Fmt.label(draft.disposition));
    if (draft.notes) bits.push(`“${String(draft.notes).slice(0, 120)}”`);
    if (draft.updated_at || draft.saved_at) bits.push(`saved ${Fmt.relative(draft.updated_at || draft.saved_at)}`);
    return bits.length ? `Draft: ${bits.join(", ")}` : "Draft started";
  }

  function renderMissing() {
    if (!el.missing) return;
    const body = el.missing.querySelector("tbody");
    const count = document.getElementById("wb-missing-count");
    const calls = state.missing || [];
    if (count) {
      count.textContent = state.missing === null ? "" : String(calls.length);
      count.classList.toggle("none", state.missing !== null && !calls.length);
    }
    if (state.missing === null) return;
    if (!calls.length) {
      body.replaceChildren(node("tr", {}, node("td", { colspan: "5", class: "wb-empty" },
        "Every call has its disposition.")));
      return;
    }
    body.replaceChildren(...calls.map((c) => {
      // An inbound call's number is the caller's; an outbound one's "from" is our own line.
      const phone = c.direction === "inbound" ? c.from_number : null;
      const caller = callerNode(c.customer || phone
        ? { name: c.customer && c.customer.name, phone } : null);
      return node("tr", { "data-call": c.id, class: c.incomplete ? "incomplete" : null },
        node("td", { class: "agent" }, c.agent ? c.agent.display_name : "No agent"),
        node("td", { class: "caller" }, caller),
        node("td", { class: "when" }, node("time", { datetime: c.ended_at || c.started_at },
          // "ago" against the server's clock (the snapshot's), like time in state
          `${Fmt.time(c.ended_at || c.started_at)} (${Fmt.relative(c.ended_at || c.started_at,
            Date.now() + state.serverOffsetMs)})`)),
        node("td", { class: "queue" }, `${Fmt.label(c.direction)}${c.queue ? `, ${c.queue_display_name || queueName(c.queue)}` : ""}`),
        node("td", { class: "draft" }, draftText(c.draft),
          c.incomplete ? node("span", { class: "flag" }, " (the wrap-up is not finished)") : ""));
    }));
  }

  async function loadMissing() {
    missingTimer = null;
    if (!el.missing || !settings.missingUrl) return;
    try {
      const data = await getJson(settings.missingUrl);
      state.missing = data.calls || [];
      state.missingLoads++;
      renderMissing();
      el.missing.querySelector(".wb-error").hidden = true;
    } catch (err) {
      const box = el.missing.querySelector(".wb-error");
      box.textContent = "The calls without a disposition could not be read; trying again in a minute.";
      box.hidden = false;
    }
  }

  function scheduleMissing(delay) {
    if (missingTimer === null) missingTimer = setTimeout(loadMissing, delay);
  }

  // ------------------------------------------------------------------ TV mode
  // Large type for a screen across the room: full screen through the Fullscreen API, or
  // always with ?tv=1 (a TV's browser that nobody clicks). Esc (the browser's) leaves it.
  function setTv(on) {
    document.body.classList.toggle("tv", on);
    document.documentElement.classList.toggle("tv", on); // rem-sized type grows with it
    if (el.tv) {
      el.tv.setAttribute("aria-pressed", String(on));
      // ?tv=1 stays in TV mode: its button only goes full screen and back.
      el.tv.textContent = document.fullscreenElement ? "Leave full screen"
        : on && settings.tv ? "Full screen" : on ? "Leave TV mode" : "TV mode";
      el.tv.hidden = on && settings.tv && !document.fullscreenEnabled; // a TV nobody clicks
    }
  }

  if (el.tv) {
    el.tv.addEventListener("click", async () => {
      if (document.fullscreenElement) {
        await document.exitFullscreen().catch(() => null);
        return;
      }
      if (document.body.classList.contains("tv") && !settings.tv) {
        setTv(false); // full screen was refused, TV mode was on without it
        return;
      }
      setTv(true);
      const root = document.documentElement;
      if (root.requestFullscreen) await root.requestFullscreen().catch(() => null);
    });
    document.addEventListener("fullscreenchange", () => {
      setTv(Boolean(document.fullscreenElement) || settings.tv);
    });
  }
  if (settings.tv) setTv(true);

  window.wallboard = {
    get source() { return source; },
    state,
    connect,
    loadCharts,
    loadQa,
    loadMissing,
    totals,
    setTv,
  };
  addQaHeader();
  connect();
  showConnection();
  loadCharts();
  loadQa();
  loadMissing();
  setInterval(loadQa, QA_EVERY_MS);
  setInterval(() => scheduleMissing(0), MISSING_EVERY_MS);
  setInterval(tick, 1000);
  setInterval(() => scheduleCharts(0), CHART_EVERY_MS);
})();
