/* The agent's desk (templates/agent.html), plain JavaScript, no build step.
 *
 * Live through Server-Sent Events from GET /api/agents/me/stream (console/desk.py): each
 * `state` event is the agent's whole state document, so the page just renders it:
 *  - presence (available, away with a reason, offline) through POST /api/agents/me/presence;
 *  - an offer: the ringing panel with a countdown to the offer's deadline, Accept / Reject,
 *    and the screen pop (GET /api/agents/me/screen-pop) fetched at once, without a click;
 *    the offer's call rings the softphone (static/softphone.js: Twilio.Device, or SimDevice
 *    on the local carrier) and Accept answers it; without a softphone, the API path;
 *  - the softphone's status, the call it carries (Hang up), and click-to-call in the lists;
 *  - connected: the call timer and the pop;
 *  - wrap-up: a countdown to `wrap_until` and the disposition form, saved through
 *    POST /api/calls/<CallSid>/outcome, then POST /api/agents/me/wrap-up/end.
 *  - in-call controls: mute, hold, the keypad (tones to the caller), cold transfer to a
 *    queue or an available colleague, consult a colleague then complete (warm transfer)
 *    or cancel (POST /api/agents/me/call/…, GET /api/agents/me/transfer-targets;
 *    console/incall.py and console/transfer.py);
 *  - the script beside the call (GET /api/agents/me/script, console/call_script.py): steps
 *    with clickable answers (POST /api/agents/me/script/answer), or the timed elevator pitch;
 *    "Next" on a step without answers tells the server (POST /api/agents/me/script/step);
 *  - the recording: recording / paused / not recorded, the consent, Pause / Resume
 *    (GET and POST /api/agents/me/call/recording[/pause|/resume], recording/control_views.py;
 *    a sensitive script step pauses it on the server, leaving it resumes);
 *  - when idle: my callbacks due and my leads (console/worklists.py).
 * Times count against the server's clock (each document carries `now`), not this browser's.
 * Errors from the API ({"error": {"message", "field"}}) show inline.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("desk-settings").textContent);
  const REOPEN_AFTER_MS = 1000;
  const STATE_LABELS = { // routing.model.AgentState; an unknown state shows as it is
    available: "available", reserved: "ringing", pending: "returning", busy: "on a call",
    wrap_up: "wrap-up", away: "away", offline: "offline",
  };
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("ad-status"), banner: $("ad-banner"), state: $("ad-state"), since: $("ad-since"),
    reason: $("ad-reason"), error: $("ad-error"),
    ringing: $("ad-ringing"), countdown: $("ad-countdown"), offerQueue: $("ad-offer-queue"),
    accept: $("ad-accept"), reject: $("ad-reject"),
    incall: $("ad-incall"), timer: $("ad-timer"), callQueue: $("ad-call-queue"),
    wrap: $("ad-wrap"), wrapCountdown: $("ad-wrap-countdown"), form: $("ad-dispo"),
    disposition: $("ad-disposition"), apptFields: $("ad-appt-fields"),
    apptAt: $("ad-appt-at"), apptType: $("ad-appt-type"), cbFields: $("ad-cb-fields"),
    cbAt: $("ad-cb-at"), notes: $("ad-notes"), dispoError: $("ad-dispo-error"),
    dispoDone: $("ad-dispo-done"), save: $("ad-dispo-save"),
    pop: $("ad-pop"),
  };
  const desk = {
    state: null, // the last state document
    offsetMs: 0, // server clock minus this browser's, from the last document
    pop: null, // the screen pop shown, and the call it is for
    popFor: null,
    popWanted: null,
    source: null,
    events: 0,
  };
  let closedSince = null;

  // ------------------------------------------------------------------ helpers
  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }

  function serverNow() { return Date.now() + desk.offsetMs; }

  function secondsUntil(iso) { return iso ? (Date.parse(iso) - serverNow()) / 1000 : null; }

  function secondsSince(iso) { return iso ? (serverNow() - Date.parse(iso)) / 1000 : null; }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–";
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

  function show(elem, shown) { elem.hidden = !shown; }

  function showError(target, error) {
    if (!error) { target.hidden = true; target.textContent = ""; return; }
    target.textContent = error.field ? `${error.message} (${error.field})` : error.message;
    target.hidden = false;
  }

  const { post } = ConsoleApi.client(settings.me); // console/static/api.js

  // ------------------------------------------------------------------ presence
  async function setPresence(state) {
    const body = { state };
    if (state === "away") body.reason = el.reason.value;
    const result = await post(settings.presence, body);
    showError(el.error, result.ok ? null : result.error);
  }

  document.querySelectorAll("[data-presence]").forEach((button) => {
    button.addEventListener("click", () => setPresence(button.dataset.presence));
  });

  // ------------------------------------------------------------------ softphone and offers
  /* The softphone (static/softphone.js): an offer rings it as a call to client:<identity>;
   * answering that call IS the accept (the router bridges it into the caller's
   * conference), rejecting it is busy. Without a working softphone the screen's API path
   * still accepts and rejects, and the page says the audio will not come here. */
  const sp = {
    status: $("ad-sp-status"), reason: $("ad-sp-reason"), callBox: $("ad-sp-call"),
    callText: $("ad-sp-call-text"), hangup: $("ad-sp-hangup"), heard: $("ad-sp-heard"),
    ringNote: $("ad-ring-note"),
  };
  const phone = { handle: null, status: "starting", ringing: null, active: null, waiters: [] };
  const SP_LABELS = { starting: "starting…", registered: "ready", offline: "offline" };
  const RING_WAIT_MS = 3000; // an offer shows before its call reaches the phone: wait this long

  function phoneReady() { return phone.status === "registered" && phone.handle && phone.handle.device; }

  function renderPhone() {
    sp.status.textContent = SP_LABELS[phone.status] || phone.status;
    sp.status.dataset.status = phone.status;
    sp.reason.textContent = phone.status === "offline" && phone.reason ? `— ${phone.reason}` : "";
    const active = phone.active;
    show(sp.callBox, !!active);
    if (active) {
      const p = active.parameters || {};
      // An ACD leg comes From the dealer's own number: the caller is the router's entry's.
      const live = desk.state && (desk.state.connected || desk.state.offer);
      const other = active.direction === "OUTGOING"
        ? (active.customParameters && active.customParameters.get("To")) || p.To
        : (live && live.phone) || p.From;
      sp.callText.textContent = `${active.direction === "OUTGOING" ? "calling" : "on a call with"} ${other || "…"}`;
    }
    if (phoneReady()) sp.ringNote.textContent = phone.ringing ? "Ringing on your softphone." : "";
    else if (phone.status === "starting") sp.ringNote.textContent = "";
    else sp.ringNote.textContent = "The softphone is not available: Accept connects the call on screen only, "
      + "and its audio will not come to this page.";
    document.querySelectorAll("button[data-dial]").forEach((b) => { b.disabled = !phoneReady(); });
  }

  function follow(call) {
    const done = () => {
      if (phone.ringing === call) phone.ringing = null;
      if (phone.active === call) { phone.active = null; show(sp.heard, false); }
      renderPhone();
    };
    call.on("accept", () => {
      if (phone.ringing === call) phone.ringing = null;
      phone.active = call;
      renderPhone();
    });
    ["disconnect", "cancel", "reject"].forEach((name) => call.on(name, done));
    call.on("error", (err) => showError(el.error, { message: `softphone: ${err.message}` }));
    call.on("heard", (text) => { sp.heard.textContent = `Hearing: “${text}”`; show(sp.heard, true); });
  }

  function incoming(call) {
    follow(call);
    phone.ringing = call;
    phone.waiters.splice(0).forEach((resolve) => resolve(call));
    renderPhone();
  }

  function ringingCall(waitMs) {
    if (phone.ringing || !phoneReady() || !waitMs) return Promise.resolve(phone.ringing);
    return new Promise((resolve) => {
      phone.waiters.push(resolve);
      setTimeout(() => resolve(phone.ringing), waitMs);
    });
  }

  async function answerOffer(how) {
    const offer = desk.state && desk.state.offer;
    if (!offer) return;
    el.accept.disabled = el.reject.disabled = true;
    const call = await ringingCall(how === "accept" ? RING_WAIT_MS : 0);
    let result = { ok: true };
    if (how === "accept" && call) {
      call.accept(); // the carrier answers the leg: the router's accept and the bridge follow
    } else {
      result = await post(`${settings.offers}${encodeURIComponent(offer.entry)}/${how}`);
      if (how === "reject" && call && call.status() === "pending") call.reject();
    }
    el.accept.disabled = el.reject.disabled = false;
    showError(el.error, result.ok ? null : result.error);
  }

  el.accept.addEventListener("click", () => answerOffer("accept"));
  el.reject.addEventListener("click", () => answerOffer("reject"));
  sp.hangup.addEventListener("click", () => { if (phone.active) phone.active.disconnect(); });

  async function dial(number) {
    if (!phoneReady()) { showError(el.error, { message: "the softphone is not available to place calls" }); return; }
    try {
      const call = await phone.handle.device.connect({ params: { To: number } });
      follow(call);
      phone.active = call;
      showError(el.error, null);
      renderPhone();
    } catch (err) {
      showError(el.error, { message: `the call could not be placed: ${err.message}` });
    }
  }

  function dialButton(number) {
    const button = node("button", { type: "button", class: "ad-secondary", "data-dial": number }, "Call");
    button.disabled = !phoneReady();
    button.addEventListener("click", () => dial(number));
    return button;
  }

  function startPhone() {
    const options = settings.softphone;
    if (!options || !window.Softphone) {
      phone.status = "offline";
      phone.reason = "the softphone script did not load";
      renderPhone();
      return;
    }
    window.Softphone.start({
      tokenUrl: options.token,
      simulatorUrl: options.simulator,
      onState: (state) => { phone.status = state.status; phone.reason = state.reason; renderPhone(); },
      onIncoming: incoming,
    }).then((handle) => { phone.handle = handle; renderPhone(); });
  }

  // ------------------------------------------------------------------ wrap-up
  function dispositionFields() {
    const d = el.disposition.value;
    show(el.apptFields, d === "appointment_set");
    show(el.cbFields, d === "callback");
  }
  el.disposition.addEventListener("change", dispositionFields);

  function localToIso(value) { // <input type=datetime-local> is local time, no offset
    if (!value) return null;
    const at = new Date(value);
    return isNaN(at) ? null : at.toISOString();
  }

  el.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const callSid = desk.state && desk.state.wrap_call_sid;
    if (!callSid) {
      showError(el.dispoError, { message: "there is no call to wrap up" });
      return;
    }
    const disposition = el.disposition.value;
    if (!disposition) {
      showError(el.dispoError, { message: "choose a disposition", field: "disposition" });
      return;
    }
    const body = { disposition };
    if (el.notes.value.trim()) body.notes = el.notes.value.trim();
    if (disposition === "appointment_set") {
      const start = localToIso(el.apptAt.value);
      if (!start) {
        showError(el.dispoError, { message: "give the appointment's date and time",
                                   field: "appointment.start_at" });
        return;
      }
      body.appointment = { type: el.apptType.value, start_at: start };
    } else if (disposition === "callback") {
      const due = localToIso(el.cbAt.value);
      if (!due) {
        showError(el.dispoError, { message: "give the callback's date and time",
                                   field: "callback.due_at" });
        return;
      }
      body.callback = { due_at: due };
    }
    el.save.disabled = true;
    const saved = await post(`${settings.outcome}${encodeURIComponent(callSid)}/outcome`, body);
    if (!saved.ok) {
      el.save.disabled = false;
      showError(el.dispoError, saved.error);
      return;
    }
    showError(el.dispoError, null);
    show(el.form, false);
    el.dispoDone.textContent = `Saved: ${disposition.replace(/_/g, " ")}.`;
    show(el.dispoDone, true);
    const ended = await post(settings.wrapUpEnd);
    el.save.disabled = false;
    showError(el.error, ended.ok ? null : ended.error);
  });

  function resetForm() {
    el.form.reset();
    dispositionFields();
    showError(el.dispoError, null);
    show(el.form, true);
    show(el.dispoDone, false);
  }

  // ------------------------------------------------------------------ screen pop
  function callKey(state) {
    if (!state) return null;
    const live = state.offer || state.connected;
    if (live) return live.call_sid || live.entry;
    return state.wrap_call_sid || null;
  }

  async function fetchPop(key) {
    desk.popWanted = key;
    let response;
    try {
      response = await fetch(settings.screenPop, { credentials: "same-origin" });
    } catch (err) {
      return;
    }
    if (desk.popWanted !== key) return; // the call changed meanwhile
    if (!response.ok) { renderPop(null, null); return; }
    renderPop(await response.json(), key);
  }

  function setText(id, value) { $(id).textContent = value === null || value === undefined || value === "" ? "–" : value; }

  function vehicleText(v) {
    return [v.year, v.make, v.model, v.trim].filter(Boolean).join(" ") || "vehicle";
  }

  function list(id, items, render, empty) {
    const ul = $(id);
    ul.replaceChildren(...(items.length ? items.map(render) : [node("li", { class: "ad-muted" }, empty)]));
  }

  function renderPop(pop, key) {
    desk.pop = pop;
    desk.popFor = key;
    show(el.pop, !!pop);
    if (!pop) return;
    const c = pop.customer;
    const lead = pop.lead;
    setText("pop-name", c ? c.name : "Unknown caller");
    const flags = $("pop-flags");
    flags.replaceChildren();
    if (c && c.do_not_call) flags.append(node("span", { class: "ad-flag" }, "Do not call"));
    if (c && c.special_needs) flags.append(" ", node("span", {}, c.special_needs));
    const phones = c && c.phones.length ? c.phones.map((p) => `${p.number} (${p.kind})`).join(", ") : pop.phone;
    setText("pop-phone", phones);
    setText("pop-language", pop.language || (c && c.language));
    setText("pop-queue", pop.queue);
    setText("pop-waited", pop.waited_seconds === null ? null : duration(pop.waited_seconds));
    setText("pop-ivr", pop.ivr_path);
    setText("pop-script", pop.script ? `${pop.script.name} ${pop.script.version || ""}`.trim() : null);
    setText("pop-stage", lead ? lead.stage.replace(/_/g, " ") : null);
    setText("pop-temperature", lead ? lead.temperature : null);
    setText("pop-source", lead ? [lead.source_type, lead.source_name].filter(Boolean).join(" · ") : null);
    const interest = pop.vehicles.interest.map(vehicleText);
    if (!interest.length && c) {
      const wanted = [...c.preferred_makes, ...c.preferred_models].join(" ");
      if (wanted) interest.push(wanted);
    }
    setText("pop-vehicle", interest.join("; "));
    setText("pop-trade", pop.vehicles.trade_in.map((v) => vehicleText(v)
      + (v.trade_value !== null ? ` (value ${v.trade_value})` : "")).join("; "));
    list("pop-timeline", pop.timeline, (a) => node("li", {},
      node("span", { class: "when" }, when(a.occurred_at)), a.summary), "nothing yet");
    list("pop-appointments", pop.appointments, (a) => node("li", {},
      node("span", { class: "when" }, when(a.start_at)), `${a.type.replace(/_/g, " ")} (${a.status})`),
      "none");
    list("pop-tasks", pop.tasks, (t) => node("li", {},
      node("span", { class: "when" }, when(t.due_at)), t.title), "none");
  }

  // ------------------------------------------------------------------ in-call controls
  const API = "/api/agents/me/";
  const calls = {
    mute: $("ad-mute"), hold: $("ad-hold"), target: $("ad-transfer-target"),
    targetQueues: $("ad-transfer-queues"), targetAgents: $("ad-transfer-agents"),
    transfer: $("ad-transfer"), consultAgent: $("ad-consult-agent"), consult: $("ad-consult"),
    consultComplete: $("ad-consult-complete"), consultCancel: $("ad-consult-cancel"),
    keypad: $("ad-keypad"), keyed: $("ad-keyed"), error: $("ad-call-error"),
  };
  const call = { key: null, muted: false, held: false, consulting: false, targetsAt: 0 };

  function renderControls() {
    calls.mute.textContent = call.muted ? "Unmute" : "Mute";
    calls.mute.setAttribute("aria-pressed", String(call.muted));
    calls.hold.textContent = call.held ? "Resume" : "Hold";
    calls.hold.setAttribute("aria-pressed", String(call.held));
    show(calls.consult, !call.consulting);
    show(calls.consultComplete, call.consulting);
    show(calls.consultCancel, call.consulting);
    calls.transfer.disabled = call.consulting; // complete or cancel the consult first
  }

  // The recording of my call: what the server says, and the Pause / Resume button.
  const rec = { state: $("ad-rec-state"), consent: $("ad-rec-consent"), toggle: $("ad-rec-toggle"),
                doc: null };
  const REC_LABELS = { recording: "recording", paused: "paused", not_recorded: "not recorded",
                       no_call: "–" };

  function renderRecording(doc) {
    if (doc && !doc.consent && rec.doc && rec.doc.call_sid === doc.call_sid) { // a partial update
      doc = { ...doc, consent: rec.doc.consent, consent_rule: rec.doc.consent_rule };
    }
    rec.doc = doc;
    const state = doc ? doc.state : "no_call";
    rec.state.textContent = REC_LABELS[state] || state;
    if (state === "paused" && doc.paused_by) {
      const why = { script: `sensitive step${doc.step ? ": " + doc.step : ""}`,
                    path: "payments call", manual: "by you" }[doc.paused_by] || doc.paused_by;
      rec.state.textContent += ` (${why})`;
    }
    rec.state.dataset.state = state;
    rec.consent.textContent = doc && doc.consent ? `· consent: ${doc.consent.replace("_", " ")}` : "";
    rec.consent.title = (doc && doc.consent_rule) || "";
    show(rec.toggle, state === "recording" || state === "paused");
    rec.toggle.textContent = state === "paused" ? "Resume recording" : "Pause recording";
  }

  async function loadRecording() {
    const key = call.key;
    const doc = key ? await getJson(API + "call/recording") : null;
    if (call.key === key) renderRecording(doc);
  }
  rec.toggle.addEventListener("click", () => {
    const paused = rec.doc && rec.doc.state === "paused";
    callAction(rec.toggle, `call/recording/${paused ? "resume" : "pause"}`, { call: call.key },
      (b) => renderRecording(b));
  });
  setInterval(() => { if (call.key) loadRecording(); }, 10000); // a script step may pause it

  function resetControls(key) {
    call.key = key;
    renderRecording(null);
    if (key) loadRecording();
    call.muted = call.held = call.consulting = false;
    calls.target.value = "";
    calls.consultAgent.value = "";
    calls.keyed.textContent = "";
    showError(calls.error, null);
    renderControls();
    if (key) loadTargets();
  }

  /* Queues and colleagues to transfer to (GET /api/agents/me/transfer-targets): available
     colleagues take a transfer, away ones only a consult. Asked again when a list opens. */
  async function loadTargets() {
    if (Date.now() - call.targetsAt < 3000) return;
    call.targetsAt = Date.now();
    const targets = await getJson(API + "transfer-targets");
    if (!targets) return;
    const chosen = calls.target.value, consulted = calls.consultAgent.value;
    calls.targetQueues.replaceChildren(...targets.queues.map((q) =>
      node("option", { value: `queue:${q.name}` }, q.name)));
    calls.targetAgents.replaceChildren(...targets.agents.filter((a) => a.transfer).map((a) =>
      node("option", { value: `agent:${a.id}` }, a.name || `agent ${a.id}`)));
    calls.consultAgent.replaceChildren(node("option", { value: "" }, "choose a colleague…"),
      ...targets.agents.map((a) => node("option", { value: String(a.id) },
        (a.name || `agent ${a.id}`) + (a.transfer ? "" : ` (${a.reason || a.state})`))));
    calls.target.value = chosen;
    calls.consultAgent.value = consulted;
  }
  calls.target.addEventListener("focus", loadTargets);
  calls.consultAgent.addEventListener("focus", loadTargets);

  async function callAction(button, path, body, done) {
    button.disabled = true;
    const result = await post(API + path, body);
    button.disabled = false;
    showError(calls.error, result.ok ? null : result.error);
    if (result.ok && done) done(result.body || {});
    renderControls();
  }

  calls.mute.addEventListener("click", () => callAction(calls.mute, "call/mute", { muted: !call.muted },
    (b) => {
      call.muted = b.muted === undefined ? !call.muted : !!b.muted;
      if (phone.active) phone.active.mute(call.muted); // the microphone too (softphone)
    }));
  calls.hold.addEventListener("click", () => callAction(calls.hold, "call/hold", { hold: !call.held },
    (b) => { call.held = b.hold === undefined ? !call.held : !!b.hold; }));
  calls.transfer.addEventListener("click", () => {
    const [kind, value] = calls.target.value.split(/:(.*)/s);
    if (!value) { showError(calls.error, { message: "choose a queue or an agent to transfer to", field: "queue" }); return; }
    callAction(calls.transfer, "call/transfer", kind === "agent" ? { agent: parseInt(value, 10) } : { queue: value });
  });
  calls.consult.addEventListener("click", () => {
    const agentId = parseInt(calls.consultAgent.value, 10);
    if (!(agentId > 0)) { showError(calls.error, { message: "choose a colleague to consult", field: "agent_id" }); return; }
    callAction(calls.consult, "call/consult", { agent_id: agentId }, () => { call.consulting = true; call.held = true; });
  });
  calls.consultComplete.addEventListener("click", () => callAction(calls.consultComplete,
    "call/consult/complete", {}, () => { call.consulting = false; call.held = false; }));
  calls.consultCancel.addEventListener("click", () => callAction(calls.consultCancel, "call/consult/cancel", {},
    () => { call.consulting = false; call.held = false; }));
  calls.keypad.addEventListener("click", (event) => {
    const key = event.target.closest("button[data-key]");
    if (!key) return;
    callAction(key, "call/digits", { digits: key.dataset.key },
      () => { calls.keyed.textContent = (calls.keyed.textContent + key.dataset.key).slice(-16); });
  });

  /* The queues the router says the agent serves, until the transfer targets arrive. */
  function queueNames(state) {
    if (calls.targetQueues.children.length) return;
    const names = new Set(state.queues || []);
    if (desk.pop && desk.pop.queue) names.add(desk.pop.queue);
    calls.targetQueues.replaceChildren(...[...names].filter(Boolean).sort().map((n) =>
      node("option", { value: `queue:${n}` }, n)));
  }

  // ------------------------------------------------------------------ the script
  const sc = {
    panel: $("ad-script"), name: $("ad-script-name"), pitchButton: $("ad-script-pitch"),
    mainButton: $("ad-script-main"), steps: $("ad-script-steps"), stepText: $("ad-step-text"),
    answers: $("ad-step-answers"), pitch: $("ad-pitch"), pitchTimer: $("ad-pitch-timer"),
    pitchTotal: $("ad-pitch-total"), sections: $("ad-pitch-sections"), restart: $("ad-pitch-restart"),
    error: $("ad-script-error"),
  };
  const script = { key: null, wanted: null, main: null, pitch: null, showing: null, step: null,
                   pitchStarted: null, busy: false };

  async function fetchScript(name) {
    const url = API + "script" + (name ? `?name=${encodeURIComponent(name)}` : "");
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin" });
    } catch (err) {
      return { ok: false, error: { message: "the server cannot be reached; try again" } };
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (response.ok) return { ok: true, body: data };
    return { ok: false, error: (data && data.error) || { message: `HTTP ${response.status}` } };
  }

  async function loadScript(key) {
    script.wanted = key;
    const result = await fetchScript(null);
    if (script.wanted !== key) return; // the call changed meanwhile
    script.key = key;
    script.main = result.ok ? result.body : null;
    script.pitch = null;
    showError(sc.error, result.ok ? null : result.error);
    show(sc.panel, true);
    if (!script.main) { show(sc.steps, false); show(sc.pitch, false); return; }
    if (script.main.steps.length) showSteps(script.main.start);
    else { script.pitch = script.main; showPitch(); }
  }

  function clearScript() {
    script.key = script.wanted = script.main = script.pitch = script.showing = script.step = null;
    script.pitchStarted = null;
    show(sc.panel, false);
  }

  function showSteps(stepId) {
    const s = script.main;
    script.showing = "steps";
    script.step = stepId;
    show(sc.steps, true);
    show(sc.pitch, false);
    show(sc.pitchButton, true);
    show(sc.mainButton, false);
    sc.name.textContent = `· ${s.name} v${s.version}`;
    const step = s.steps.find((x) => x.id === stepId);
    sc.answers.replaceChildren();
    if (!step) {
      sc.stepText.textContent = "End of the script.";
      sc.stepText.dataset.step = "";
      return;
    }
    sc.stepText.textContent = step.text;
    sc.stepText.dataset.step = step.id;
    for (const a of step.answers) {
      const button = node("button", { type: "button", "data-answer": a.id }, a.label);
      button.addEventListener("click", () => answer(step, a));
      sc.answers.append(button);
    }
    if (!step.answers.length) {
      const button = node("button", { type: "button", class: "ad-secondary" }, step.next ? "Next" : "Done");
      button.addEventListener("click", () => nextStep(step));
      sc.answers.append(button);
    }
  }

  /* "Next" on a step without answers: the server hears where the script is now (a
     sensitive step pauses the recording, leaving one resumes it), then the next step. */
  async function nextStep(step) {
    const s = script.main;
    const callSid = (s.call && s.call.call_sid) || script.key;
    showSteps(step.next);
    if (!call.key || !callSid) return;
    const result = await post(API + "script/step", { call_sid: callSid, step: step.next || null, script: s.name });
    if (result.ok && result.body.recording) renderRecording(result.body.recording);
  }

  async function answer(step, chosen) {
    if (script.busy) return;
    const s = script.main;
    const callSid = (s.call && s.call.call_sid) || script.key;
    script.busy = true;
    sc.answers.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const result = await post(API + "script/answer",
      { call_sid: callSid, step: step.id, answer: chosen.id, script: s.name });
    script.busy = false;
    sc.answers.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    showError(sc.error, result.ok ? null : result.error);
    if (result.ok && result.body.recording && call.key) {
      renderRecording(result.body.recording);
      if (result.body.recording.error) showError(calls.error, { message: result.body.recording.error });
    }
    if (result.ok && script.main === s && script.step === step.id) {
      showSteps(result.body.next !== undefined ? result.body.next : chosen.next);
    }
  }

  async function switchToPitch() {
    if (!script.pitch) {
      const key = script.key;
      const result = await fetchScript("elevator_pitch");
      if (script.key !== key) return;
      showError(sc.error, result.ok ? null : result.error);
      if (!result.ok) return;
      script.pitch = result.body;
    }
    script.pitchStarted = Date.now();
    showPitch();
  }

  function showPitch() {
    const p = script.pitch;
    script.showing = "pitch";
    if (script.pitchStarted === null) script.pitchStarted = Date.now();
    show(sc.steps, false);
    show(sc.pitch, true);
    show(sc.pitchButton, false);
    show(sc.mainButton, !!(script.main && script.main.steps.length));
    sc.name.textContent = `· ${p.name} v${p.version}`;
    sc.pitchTotal.textContent = duration(p.duration_seconds || 60);
    sc.sections.replaceChildren(...p.sections.map((x) => node("li", { "data-section": x.id },
      node("span", { class: "when" }, `${duration(x.starts_at)}–${duration(x.starts_at + x.seconds)}`),
      x.text)));
    tickPitch();
  }

  function tickPitch() {
    if (script.showing !== "pitch" || !script.pitch || script.pitchStarted === null) return;
    const total = script.pitch.duration_seconds || 60;
    const elapsed = Math.min(total, (Date.now() - script.pitchStarted) / 1000);
    sc.pitchTimer.textContent = duration(elapsed);
    script.pitch.sections.forEach((x, i) => {
      const li = sc.sections.children[i];
      if (!li) return;
      const current = elapsed >= x.starts_at && (elapsed < x.starts_at + x.seconds
                      || (elapsed >= total && i === script.pitch.sections.length - 1));
      li.classList.toggle("current", current);
      li.classList.toggle("done", !current && elapsed >= x.starts_at + x.seconds);
    });
  }

  sc.pitchButton.addEventListener("click", switchToPitch);
  sc.restart.addEventListener("click", () => { script.pitchStarted = Date.now(); tickPitch(); });
  sc.mainButton.addEventListener("click", () => {
    if (script.main && script.main.steps.length) showSteps(script.step || script.main.start);
  });

  // ------------------------------------------------------------------ idle lists
  const idle = { panel: $("ad-idle"), callbacks: $("ad-callbacks"), leads: $("ad-leads"), seq: 0 };

  async function getJson(url) {
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) return null;
      return await response.json();
    } catch (err) {
      return null;
    }
  }

  async function refreshLists() {
    const seq = ++idle.seq;
    const [callbacks, leads] = await Promise.all([getJson(API + "callbacks"), getJson(API + "leads")]);
    if (seq !== idle.seq) return;
    if (callbacks) {
      list("ad-callbacks", callbacks.callbacks, (t) => node("li", { "data-task": t.id },
        node("span", { class: "when" }, when(t.due_at) + (t.overdue ? " (overdue)" : "")),
        [t.title, t.customer && t.customer.name, t.phone].filter(Boolean).join(" · "),
        ...(t.phone ? [" ", dialButton(t.phone)] : [])),
        "no callbacks due");
    }
    if (leads) {
      list("ad-leads", leads.leads, (l) => node("li", { "data-lead": l.id },
        node("span", { class: "when" }, `${l.stage.replace(/_/g, " ")} · ${l.temperature}`),
        [l.customer ? l.customer.name : "unknown", l.phone,
         l.last_touch_at ? `last touch ${when(l.last_touch_at)}` : null,
         l.next_appointment_at ? `next visit ${when(l.next_appointment_at)}` : null]
          .filter(Boolean).join(" · "),
        ...(l.phone ? [" ", dialButton(l.phone)] : [])),
        "no open leads");
    }
  }

  // ------------------------------------------------------------------ state
  function render(state) {
    const previous = desk.state;
    desk.state = state;
    desk.offsetMs = Date.parse(state.now) - Date.now();
    el.state.textContent = STATE_LABELS[state.state] || state.state;
    if (state.state === "away" && state.reason) el.state.textContent += ` (${state.reason})`;
    el.state.dataset.state = state.state;
    show(el.ringing, !!state.offer);
    if (state.offer) el.offerQueue.textContent = state.offer.queue ? `· ${state.offer.queue}` : "";
    show(el.incall, !!state.connected);
    if (state.connected) el.callQueue.textContent = state.connected.queue ? `· ${state.connected.queue}` : "";
    const wrapping = state.state === "wrap_up";
    if (wrapping && !(previous && previous.state === "wrap_up"
                      && previous.wrap_call_sid === state.wrap_call_sid)) resetForm();
    if (state.offer) show(el.dispoDone, false); // the next call: the last one's note goes
    show(el.wrap, wrapping);
    const liveKey = state.connected ? (state.connected.call_sid || state.connected.entry) : null;
    if (liveKey !== call.key) resetControls(liveKey);
    if (state.connected) queueNames(state);
    const offered = state.offer || state.connected;
    const scriptKey = offered ? (offered.call_sid || offered.entry) : null;
    if (scriptKey) {
      if (scriptKey !== script.key && scriptKey !== script.wanted) loadScript(scriptKey);
    } else if (!(wrapping && script.key && script.key === state.wrap_call_sid)) {
      clearScript(); // kept while wrapping up the same call
    }
    const isIdle = !state.offer && !state.connected && !wrapping;
    show(idle.panel, isIdle);
    if (!previous || previous.state !== state.state) refreshLists();
    const key = callKey(state);
    if (!key) {
      desk.popWanted = null;
      renderPop(null, null);
    } else if (key !== desk.popFor && key !== desk.popWanted) {
      fetchPop(key);
    } else if (state.connected && previous && previous.offer && !previous.connected) {
      fetchPop(key); // answered: the pop's wait now ends at the answer, not at the ring
    }
    tick();
  }

  function tick() {
    const s = desk.state;
    if (!s) return;
    el.since.textContent = s.since ? `for ${duration(secondsSince(s.since))}` : "";
    if (s.offer) {
      const left = secondsUntil(s.offer.deadline);
      el.countdown.textContent = left === null ? "–" : `${Math.max(0, Math.ceil(left))} s`;
    }
    if (s.connected) el.timer.textContent = duration(secondsSince(s.connected.answered_at));
    if (s.state === "wrap_up") el.wrapCountdown.textContent = duration(Math.ceil(secondsUntil(s.wrap_until)));
  }
  setInterval(() => { tick(); tickPitch(); }, 250);

  // ------------------------------------------------------------------ the stream
  function connected(open) {
    el.status.textContent = open ? "live" : "reconnecting…";
    el.banner.classList.toggle("shown", !open);
  }

  function open() {
    const source = new EventSource(settings.stream);
    desk.source = source;
    source.addEventListener("open", () => { closedSince = null; connected(true); });
    source.addEventListener("state", (event) => {
      desk.events += 1;
      connected(true);
      render(JSON.parse(event.data));
    });
    source.addEventListener("error", () => {
      connected(false);
      if (source.readyState === EventSource.CLOSED) { // gave up (an HTTP error): start again
        if (closedSince === null) closedSince = Date.now();
        setTimeout(() => { if (desk.source === source) open(); }, REOPEN_AFTER_MS);
      }
    });
  }

  window.agentDesk = desk; // for the browser tests and for a curious developer
  window.agentPhone = phone; // the softphone: its device and calls (keypad: active.sendDigits)
  open();
  startPhone();
})();
