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
 * Errors from the API ({"error": {"message", "field"}}) show inline: their sentence only.
 *
 * Redis losing its data strands no one either: the router is rebuilt (routing/recovery.py)
 * knowing only the calls still bridged, and asks every page to post its presence again
 * (`event: reannounce`). The desk does so then, and whenever a state document says the
 * router does not know the agent (offline without `since`: after the stream or the
 * softphone came back from a break, the event may have gone by): what the agent last chose
 * here, available or away with its reason (see reannounce below).
 *
 * A reload mid-call strands no one: the page asks GET /api/agents/me/desk (console/desk.py)
 * once it loads, and rebuilds from it the call's controls (muted, on hold, consulting), the
 * script at the step it was on, and takes the agent's softphone leg back (Softphone's
 * adopt: the carrier kept it up) so Hang up works; the disposition form comes back from its
 * draft (GET /api/agents/me/call/draft, console/wrapup.py), which the form saves as the
 * agent types (PUT, ~700 ms after the last key, and when the field or the tab loses focus).
 * Everything a person reads goes through console/static/format.js (Fmt): national phone
 * numbers (E.164 on hover), times in the viewer's zone, labels instead of enum values.
 * Appointment and callback times are typed in the dealership's zone (the pop's time_zone)
 * and say so; they are sent as UTC.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("desk-settings").textContent);
  const REOPEN_AFTER_MS = 1000;
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
    restored: null, // GET /api/agents/me/desk at load: the call's controls, script step, leg
    wanted: null, // the presence to post again if the router forgets the agent (Redis lost)
    reannouncing: false,
    reannounced: 0, // how many times this page posted its presence again
  };
  const STATE_URL = "/api/agents/me/state"; // console/acd_live.py
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

  function when(iso) { return Fmt.time(iso); } // console/static/format.js

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

  /* A message as a person reads it: first letter up, a full stop at the end. */
  function sentence(message) {
    const text = String(message || "Something went wrong; try again").trim();
    const up = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?…]$/.test(up) ? up : `${up}.`;
  }

  function showError(target, error) {
    if (!error) { target.hidden = true; target.textContent = ""; return; }
    target.textContent = sentence(error.message);
    target.hidden = false;
  }

  const consoleApi = ConsoleApi.client(settings.me); // console/static/api.js
  const { post, put } = consoleApi;

  // ------------------------------------------------------------------ presence
  async function setPresence(state) {
    const body = { state };
    if (state === "away") body.reason = el.reason.value;
    const result = await post(settings.presence, body);
    showError(el.error, result.ok ? null : result.error);
  }

  // ------------------------------------------------------------------ re-announcing
  /* What the agent last was, as this page saw it: kept while the router does not know the
   * agent (offline without `since`), forgotten on a real sign-out (offline with `since`). */
  function remember(state) {
    if (state.state !== "offline") desk.wanted = { state: state.state, reason: state.reason || null };
    else if (state.since) desk.wanted = null;
  }

  function unknownToRouter(state) { return !!state && state.state === "offline" && !state.since; }

  /* The presence to post again: available for an agent who was available, ringing, freed
   * or on a call the rebuild did not find (it is over), unless the softphone still carries
   * a call; away with its reason; nothing for wrap-up whose disposition must be saved first
   * (the agent goes available after saving it, as usual). */
  function presenceToAnnounce(wanted) {
    if (!wanted) return null;
    if (wanted.state === "away") return { state: "away", reason: wanted.reason || "break" };
    if (phone.active) return null;
    if (wanted.state === "wrap_up" && desk.state && desk.state.disposition_required) return null;
    return { state: "available" };
  }

  /* Post the agent's presence again if the router does not know the agent. Tried a few
   * times: right after a Redis restart the server may still answer 503. */
  async function reannounce(why) {
    if (desk.reannouncing) return;
    desk.reannouncing = true;
    try {
      for (let attempt = 0; attempt < 6; attempt += 1) {
        let state = null;
        try { state = await consoleApi.getJson(STATE_URL); } catch (err) { state = null; }
        if (state && !unknownToRouter(state)) return; // it knows the agent: nothing to say
        const body = state ? presenceToAnnounce(desk.wanted) : null;
        if (state && !body) return;
        if (body) {
          const result = await post(settings.presence, body);
          if (result.ok) {
            desk.reannounced += 1;
            console.info(`presence posted again (${why}): ${body.state}`);
            return;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    } finally {
      desk.reannouncing = false;
    }
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
  const phone = { handle: null, status: "starting", ringing: null, active: null, waiters: [],
                  rejoining: false };
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
      sp.callText.textContent = `${active.direction === "OUTGOING" ? "calling" : "on a call with"} ${other ? Fmt.phone(other) : "…"}`;
      sp.callText.title = other || "";
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
    call.on("error", (err) => showError(el.error, { message: `The softphone reported a problem: ${err.message}` }));
    call.on("heard", (text) => { sp.heard.textContent = `Hearing: “${text}”`; show(sp.heard, true); });
  }

  function incoming(call) {
    if (phone.rejoining && desk.state && desk.state.connected && !desk.state.offer) {
      rejoined(call); // the call's own conference calling back after a reload: answer it
      return;
    }
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
  function hangUp() {
    if (phone.active) { phone.active.disconnect(); return; }
    showError(el.error, { message: "Your softphone is not on this call: hang up from the phone that carries it" });
  }
  sp.hangup.addEventListener("click", hangUp);
  $("ad-call-hangup").addEventListener("click", hangUp);

  async function dial(number) {
    if (!phoneReady()) { showError(el.error, { message: "the softphone is not available to place calls" }); return; }
    try {
      const call = await phone.handle.device.connect({ params: { To: number } });
      follow(call);
      phone.active = call;
      showError(el.error, null);
      renderPhone();
    } catch (err) {
      showError(el.error, { message: `The call could not be placed: ${err.message}` });
    }
  }

  function dialButton(number) {
    const button = node("button", { type: "button", class: "ad-secondary", "data-dial": number }, "Call");
    button.disabled = !phoneReady();
    button.addEventListener("click", () => dial(number));
    return button;
  }

  /* Twilio: the reloaded page's softphone re-joins the call's conference (console/incall.py:
     the server calls it back as a conference participant, answered here by itself), then
     its leg ends the call again when it leaves. The caller waits on hold meanwhile: the
     agent sees it and resumes. */
  async function rejoin() {
    if (phone.rejoining || phone.active || !(desk.state && desk.state.connected)) return;
    phone.rejoining = true;
    const result = await post(API + "call/rejoin", { call: call.key });
    if (!result.ok) {
      phone.rejoining = false;
      showError(calls.error, result.error);
      return;
    }
    setTimeout(() => { phone.rejoining = false; }, 30000); // it rings within seconds, or not at all
  }

  function rejoined(incomingCall) {
    phone.rejoining = false;
    follow(incomingCall);
    incomingCall.on("accept", async () => {
      const result = await post(API + "call/keep", { keep: false, call: call.key });
      if (!result.ok) showError(calls.error, result.error);
    });
    incomingCall.accept();
  }

  /* Before a Twilio page goes (reload, or leaving), the call is kept up without this leg and
     the caller put on hold; if the page stays after all, that is taken back. keepalive: the
     request outlives the page. */
  function keepCall() {
    if (!(desk.state && desk.state.connected && call.key && phone.active)) return false;
    const meta = document.querySelector('meta[name="csrf-token"]');
    fetch(API + "call/keep", {
      method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": meta ? meta.content : "" },
      body: JSON.stringify({ keep: true, call: call.key }),
    }).catch(() => {});
    const key = call.key;
    setTimeout(async () => { // still here: "Stay on page"
      if (call.key !== key) return;
      const back = await post(API + "call/keep", { keep: false, resume: true, call: key });
      if (back.ok) { call.held = !!back.body.hold; renderControls(); }
    }, 2000);
    return true;
  }
  window.addEventListener("beforeunload", () => {
    if (settings.softphone && settings.softphone.carrier === "twilio") keepCall();
  });

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
      onReconnect: () => reannounce("the softphone is back"),
      onIncoming: incoming,
    }).then((handle) => { phone.handle = handle; renderPhone(); adoptLeg(); });
  }

  /* After a reload mid-call: the agent's leg of the call (the desk document's controls.leg)
     is taken back by the softphone, once both are known, so Hang up works again. */
  function adoptLeg() {
    const doc = desk.restored;
    const leg = doc && doc.controls && doc.controls.leg;
    if (!leg || phone.active || !phone.handle || !phone.handle.adopt) return;
    if (!(desk.state && desk.state.connected)) return;
    const call = phone.handle.adopt({ sid: leg, to: `client:${phone.handle.identity}` });
    if (!call) { rejoin(); return; } // Twilio: the page's WebRTC leg ended with it
    follow(call);
    phone.active = call;
    if (doc.controls.muted) call._muted = true; // the conference has it muted already
    renderPhone();
  }

  // ------------------------------------------------------------------ wrap-up
  const wrapEl = {
    box: $("ad-wrapbox"), line: $("ad-wrap-line"), overdue: $("ad-wrap-overdue"), over: $("ad-wrap-over"),
    saved: $("ad-draft-saved"), later: $("ad-dispo-later"),
  };
  const draft = { callSid: null, timer: null, dirty: false, touched: false, seq: 0, loadedFor: null };
  const DRAFT_DEBOUNCE_MS = 700;

  function dispositionFields() {
    const d = el.disposition.value;
    show(el.apptFields, d === "appointment_set");
    show(el.cbFields, d === "callback");
  }
  el.disposition.addEventListener("change", dispositionFields);

  /* The dealership's zone, in which appointment and callback times are typed: the pop's
     (the lead's dealer, else the queue's, else DEFAULT_TIME_ZONE). */
  function dealerZone() { return (desk.pop && desk.pop.time_zone) || settings.defaultTimeZone || undefined; }

  function zoneWords(zone) {
    let long = "";
    try {
      const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longGeneric" })
        .formatToParts(new Date());
      long = (parts.find((x) => x.type === "timeZoneName") || {}).value || "";
    } catch (err) { long = zone || ""; }
    const short = Fmt.zoneName(zone);
    return long && long !== short ? `${long}, ${short}` : short;
  }

  function renderZone() {
    const words = `(${zoneWords(dealerZone())})`;
    document.querySelectorAll(".ad-zone").forEach((x) => { x.textContent = words; });
  }

  /* Milliseconds the zone is ahead of UTC at the instant `ms`. */
  function zoneOffsetMs(zone, ms) {
    const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) - ms;
  }

  /* <input type=datetime-local> as a wall-clock time in the dealership's zone → ISO UTC. */
  function zonedToIso(value, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let at = wall - zoneOffsetMs(zone, wall);
    at = wall - zoneOffsetMs(zone, at); // across a DST change, the offset at the instant itself
    return new Date(at).toISOString();
  }

  /* ISO UTC → the datetime-local value of that instant in the dealership's zone. */
  function isoToZoned(iso, zone) {
    const ms = Date.parse(iso || "");
    if (Number.isNaN(ms)) return "";
    return new Date(ms + zoneOffsetMs(zone, ms)).toISOString().slice(0, 16);
  }

  function formBody() {
    const body = {};
    const disposition = el.disposition.value;
    if (disposition) body.disposition = disposition;
    if (el.notes.value.trim()) body.notes = el.notes.value.trim();
    const zone = dealerZone();
    if (disposition === "appointment_set") {
      const start = zonedToIso(el.apptAt.value, zone);
      body.appointment = { type: el.apptType.value, ...(start ? { start_at: start } : {}) };
    } else if (disposition === "callback") {
      const due = zonedToIso(el.cbAt.value, zone);
      if (due) body.callback = { due_at: due };
    }
    return body;
  }

  /* The call the form is about: the one connected (notes while talking) or wrapped up. */
  function formCall() {
    const s = desk.state;
    if (!s) return null;
    if (s.connected) return s.connected.call_sid || null;
    return s.state === "wrap_up" ? s.wrap_call_sid : null;
  }

  async function saveDraft() {
    clearTimeout(draft.timer);
    draft.timer = null;
    const callSid = formCall();
    if (!draft.dirty || !callSid || callSid !== draft.callSid) return;
    draft.dirty = false;
    const seq = ++draft.seq;
    const result = await put(settings.draft, { call_sid: callSid, ...formBody() });
    if (seq !== draft.seq) return;
    if (result.ok) {
      wrapEl.saved.textContent = `· Draft saved ${Fmt.time((result.body && result.body.saved_at) || new Date().toISOString())}`;
    } else {
      draft.dirty = true;
      wrapEl.saved.textContent = "· The draft is not saved yet";
    }
  }

  function draftChanged() {
    draft.dirty = true;
    draft.touched = true;
    clearTimeout(draft.timer);
    draft.timer = setTimeout(saveDraft, DRAFT_DEBOUNCE_MS);
  }
  el.form.addEventListener("input", draftChanged);
  el.form.addEventListener("change", draftChanged);
  el.form.addEventListener("focusout", () => { if (draft.dirty) saveDraft(); });
  document.addEventListener("visibilitychange", () => { if (draft.dirty) saveDraft(); });
  window.addEventListener("pagehide", () => { if (draft.dirty) saveDraft(); });

  /* The saved draft of this call back into the form (after a reload), unless typed over. */
  async function loadDraft(callSid) {
    draft.loadedFor = callSid;
    let data = null;
    try {
      const response = await fetch(`${settings.draft}?call_sid=${encodeURIComponent(callSid)}`,
        { credentials: "same-origin", cache: "no-store" });
      if (response.ok) data = await response.json();
    } catch (err) { data = null; }
    if (!data || draft.callSid !== callSid || draft.dirty) return;
    const saved = data.draft;
    if (!saved) return;
    el.disposition.value = saved.disposition || "";
    el.notes.value = saved.notes || "";
    const zone = dealerZone();
    if (saved.appointment) {
      if (saved.appointment.type) el.apptType.value = saved.appointment.type;
      el.apptAt.value = isoToZoned(saved.appointment.start_at, zone);
    }
    if (saved.callback) el.cbAt.value = isoToZoned(saved.callback.due_at, zone);
    dispositionFields();
    draft.touched = true; // a draft on file: kept on the call if wrap-up runs out
    if (data.saved_at) wrapEl.saved.textContent = `· Draft saved ${Fmt.time(data.saved_at)}`;
  }

  /* A new call for the form: a clean form, then its draft if it has one. */
  function formFor(callSid) {
    if (callSid === draft.callSid) return;
    if (draft.dirty) saveDraft(); // the last call's last keys
    draft.callSid = callSid;
    draft.dirty = false;
    draft.touched = false;
    resetForm();
    wrapEl.saved.textContent = "";
    if (callSid) loadDraft(callSid);
  }

  el.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const callSid = desk.state && desk.state.wrap_call_sid;
    if (!callSid || desk.state.state !== "wrap_up") {
      showError(el.dispoError, { message: "You can save the disposition when the call ends" });
      return;
    }
    const disposition = el.disposition.value;
    if (!disposition) {
      showError(el.dispoError, { message: "Choose a disposition", field: "disposition" });
      return;
    }
    const body = formBody();
    if (disposition === "appointment_set" && !(body.appointment && body.appointment.start_at)) {
      showError(el.dispoError, { message: "Give the appointment's date and time" });
      return;
    }
    if (disposition === "callback" && !body.callback) {
      showError(el.dispoError, { message: "Give the callback's date and time" });
      return;
    }
    clearTimeout(draft.timer);
    draft.dirty = false;
    draft.touched = false;
    el.save.disabled = true;
    const saved = await post(`${settings.outcome}${encodeURIComponent(callSid)}/outcome`, body);
    if (!saved.ok) {
      el.save.disabled = false;
      showError(el.dispoError, saved.error);
      return;
    }
    showError(el.dispoError, null);
    show(el.form, false);
    el.dispoDone.textContent = `Saved: ${Fmt.label(disposition)}.`;
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

  function ivrWords(pop) {
    return pop.ivr_steps && pop.ivr_steps.length ? pop.ivr_steps.join(" › ") : null;
  }

  function setNode(id, child) { $(id).replaceChildren(child); }

  function renderPop(pop, key) {
    desk.pop = pop;
    desk.popFor = key;
    show(el.pop, !!pop);
    renderZone();
    mountCard(pop);
    renderCaller();
    if (!pop) return;
    const c = pop.customer;
    const lead = pop.lead;
    setText("pop-name", c ? c.name : "Unknown caller");
    const flags = $("pop-flags");
    flags.replaceChildren();
    if (c && c.do_not_call) flags.append(node("span", { class: "ad-flag" }, "Do not call"));
    if (c && c.special_needs) flags.append(" ", node("span", {}, c.special_needs));
    const phones = $("pop-phone");
    if (c && c.phones.length) {
      phones.replaceChildren(...c.phones.flatMap((p, i) => [...(i ? [", "] : []), Fmt.phoneNode(p.number),
        ` (${Fmt.label(p.kind).toLowerCase()})`]));
    } else {
      phones.replaceChildren(Fmt.phoneNode(pop.phone));
    }
    setText("pop-language", Fmt.label(pop.language || (c && c.language)));
    setText("pop-queue", popQueue(pop));
    setText("pop-waited", pop.waited_seconds === null ? null : Fmt.duration(pop.waited_seconds));
    setText("pop-ivr", ivrWords(pop));
    setText("pop-stage", lead ? Fmt.label(lead.stage) : null);
    setText("pop-temperature", lead && lead.temperature ? Fmt.label(lead.temperature) : null);
    setText("pop-dealer", pop.dealer ? pop.dealer.name : null);
    setText("pop-source", lead ? [Fmt.label(lead.source_type), lead.source_name].filter(Boolean).join(" · ") : null);
    const interest = pop.vehicles.interest.map(vehicleText);
    if (!interest.length && c) {
      const wanted = [...c.preferred_makes, ...c.preferred_models].join(" ");
      if (wanted) interest.push(wanted);
    }
    setText("pop-vehicle", interest.join("; "));
    const money = (n) => `$${Number(n).toLocaleString("en-US")}`;
    setText("pop-trade", pop.vehicles.trade_in.map((v) => vehicleText(v)
      + (v.trade_value !== null ? ` (value ${money(v.trade_value)})` : "")).join("; "));
    list("pop-timeline", pop.timeline, (a) => node("li", {},
      node("span", { class: "when" }, when(a.occurred_at)), a.summary), "nothing yet");
    list("pop-appointments", pop.appointments, (a) => node("li", {},
      node("span", { class: "when" }, Fmt.time(a.start_at, pop.time_zone)),
      `${Fmt.label(a.type)} (${Fmt.label(a.status).toLowerCase()})`), "none");
    list("pop-tasks", pop.tasks, (t) => node("li", {},
      node("span", { class: "when" }, when(t.due_at)), t.title), "none");
  }

  function popQueue(pop) {
    if (!pop.queue) return null;
    return pop.queue_display_name && pop.queue_display_name !== pop.queue ? pop.queue_display_name : queueName(pop.queue);
  }

  /* Who is on the line, in the ringing panel (before Accept) and the call panel. */
  function renderCaller() {
    const pop = desk.pop;
    const s = desk.state || {};
    const live = s.offer || s.connected;
    const c = pop && pop.customer;
    const name = c ? c.name : "Unknown caller";
    const number = (pop && pop.phone) || (live && live.phone);
    $("ad-ring-name").textContent = name;
    setNode("ad-ring-phone", Fmt.phoneNode(number));
    setText("ad-offer-queue", pop ? popQueue(pop) : live && live.queue && queueName(live.queue));
    setText("ad-ring-language", Fmt.label((pop && pop.language) || (c && c.language)));
    setText("ad-ring-ivr", pop ? ivrWords(pop) : null);
    $("ad-call-name").textContent = pop ? name : "";
    setNode("ad-call-phone", Fmt.phoneNode(number));
    el.callQueue.textContent = pop && pop.queue ? `· ${popQueue(pop)}` : "";
  }

  /* The customer-details panel (console/static/customer-card.js, when it is there): mounted
     once in the customer column, told when the call changes; a change it makes reloads the
     pop. */
  const card = { handle: null };
  function mountCard(pop) {
    const target = { customerId: pop && pop.customer ? pop.customer.id : null,
                     callSid: pop ? pop.call_sid : null, phone: pop ? pop.phone : null };
    if (!window.CustomerCard) return;
    const container = $("ad-customer-card");
    if (!pop) {
      if (card.handle) { card.handle.destroy(); card.handle = null; container.replaceChildren(); }
      return;
    }
    if (card.handle) { card.handle.update(target); return; }
    card.handle = window.CustomerCard.mount(container, {
      ...target,
      api: consoleApi,
      onChange: () => { if (desk.popFor) fetchPop(desk.popFor); },
    });
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

  /* The desk document fetched at load, if it is about the call `key` (CallSid or entry). */
  function restoredFor(key) {
    const doc = desk.restored;
    const live = doc && doc.state && (doc.state.connected || doc.state.offer);
    if (!key || !live) return null;
    return (live.call_sid || live.entry) === key ? doc : null;
  }

  function renderControls() {
    show($("ad-onhold"), call.held);
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
    rec.state.textContent = REC_LABELS[state] || Fmt.label(state).toLowerCase();
    if (state === "paused" && doc.paused_by) {
      const why = { script: `sensitive step${doc.step ? ": " + doc.step : ""}`,
                    path: "payments call", manual: "by you" }[doc.paused_by] || Fmt.label(doc.paused_by).toLowerCase();
      rec.state.textContent += ` (${why})`;
    }
    rec.state.dataset.state = state;
    rec.consent.textContent = doc && doc.consent ? `· consent: ${Fmt.label(doc.consent).toLowerCase()}` : "";
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
    const restored = restoredFor(key);
    if (restored && restored.controls) { // a reload mid-call: the controls as they stand
      call.muted = !!restored.controls.muted;
      call.held = !!restored.controls.held;
      call.consulting = !!restored.controls.consulting;
    }
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
      node("option", { value: `queue:${q.name}` }, queueName(q.name))));
    calls.targetAgents.replaceChildren(...targets.agents.filter((a) => a.transfer).map((a) =>
      node("option", { value: `agent:${a.id}` }, a.name || `agent ${a.id}`)));
    calls.consultAgent.replaceChildren(node("option", { value: "" }, "choose a colleague…"),
      ...targets.agents.map((a) => node("option", { value: String(a.id) },
        (a.name || `agent ${a.id}`) + (a.transfer ? "" : ` (${Fmt.label(a.reason || a.state).toLowerCase()})`))));
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

  /* A queue as a person reads it: its display name, else its name in words. */
  function queueName(name) {
    const shown = (settings.queueNames || {})[name];
    return shown && shown !== name ? shown : Fmt.label(name);
  }

  /* The queues the router says the agent serves, until the transfer targets arrive. */
  function queueNames(state) {
    if (calls.targetQueues.children.length) return;
    const names = new Set(state.queues || []);
    if (desk.pop && desk.pop.queue) names.add(desk.pop.queue);
    calls.targetQueues.replaceChildren(...[...names].filter(Boolean).sort().map((n) =>
      node("option", { value: `queue:${n}` }, queueName(n))));
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
    const restored = restoredFor(key);
    const at = restored && restored.script;
    if (script.main.steps.length && at && at.script === script.main.name) {
      showSteps(at.step); // a reload: the step the script was on (null: its end)
    } else if (script.main.steps.length) showSteps(script.main.start);
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
    sc.name.textContent = `· ${Fmt.label(s.name)}`;
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
    post(API + "script/position", { call_sid: callSid, script: s.name, step: step.next || null });
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
    sc.name.textContent = `· ${Fmt.label(p.name)}`;
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
        [t.title, t.customer && t.customer.name, t.phone && Fmt.phone(t.phone)].filter(Boolean).join(" · "),
        ...(t.phone ? [" ", dialButton(t.phone)] : [])),
        "no callbacks due");
    }
    if (leads) {
      list("ad-leads", leads.leads, (l) => node("li", { "data-lead": l.id },
        node("span", { class: "when" }, `${Fmt.label(l.stage)} · temperature ${l.temperature}`),
        [l.customer ? l.customer.name : "Unknown caller", l.phone && Fmt.phone(l.phone),
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
    remember(state);
    if (unknownToRouter(state) && desk.wanted) reannounce("the router does not know this agent");
    desk.offsetMs = Date.parse(state.now) - Date.now();
    el.state.textContent = Fmt.label(state.state); // the wallboard's words for the same states
    if (state.state === "away" && state.reason) el.state.textContent += ` (${Fmt.label(state.reason).toLowerCase()})`;
    el.state.dataset.state = state.state;
    show(el.ringing, !!state.offer);
    show(el.incall, !!state.connected);
    renderCaller();
    const wrapping = state.state === "wrap_up";
    const formSid = formCall();
    if (formSid) formFor(formSid); // a new call: a clean form, or its saved draft
    if (state.offer) show(el.dispoDone, false); // the next call: the last one's note goes
    show(el.wrap, !!formSid); // notes while talking, the disposition when it ends
    show(wrapEl.box, wrapping);
    show(el.save, wrapping);
    show(wrapEl.later, !wrapping);
    if (!formSid && draft.dirty) saveDraft();
    if (previous && previous.state === "wrap_up" && !wrapping && el.dispoDone.hidden && draft.touched) {
      // Wrap-up ended before Save: the server kept the draft on the call, marked incomplete.
      el.dispoDone.textContent = "Wrap-up time ran out: what you filled in is kept on the call, marked incomplete.";
      show(el.dispoDone, true);
      draft.touched = false;
    }
    if (state.connected && !phone.active) adoptLeg();
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
    if (s.offer && desk.pop) { // the wait so far, counting, before Accept
      const waited = desk.pop.enqueued_at ? secondsSince(desk.pop.enqueued_at) : desk.pop.waited_seconds;
      $("ad-ring-wait").textContent = Fmt.duration(waited);
      $("pop-waited").textContent = Fmt.duration(waited);
    }
    if (s.state === "wrap_up") {
      const left = s.wrap_until ? Math.ceil(secondsUntil(s.wrap_until)) : null;
      // Past its time and still wrapping up: the server waits for a disposition.
      const overdue = !!s.wrap_overdue || (left !== null && left <= 0 && !!s.disposition_required);
      show(wrapEl.line, !overdue);
      show(wrapEl.overdue, overdue);
      el.wrapCountdown.textContent = left === null ? "–" : duration(Math.max(0, left));
      if (overdue) wrapEl.over.textContent = duration(left === null ? 0 : -left);
    }
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
    source.addEventListener("reannounce", () => { desk.events += 1; reannounce("Redis was rebuilt"); });
    source.addEventListener("error", () => {
      connected(false);
      if (source.readyState === EventSource.CLOSED) { // gave up (an HTTP error): start again
        if (closedSince === null) closedSince = Date.now();
        setTimeout(() => { if (desk.source === source) open(); }, REOPEN_AFTER_MS);
      }
    });
  }

  /* The desk as the server has it (GET /api/agents/me/desk): what a reload would lose. */
  async function restore() {
    let doc = null;
    try {
      const response = await fetch(settings.desk, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) doc = await response.json();
    } catch (err) { doc = null; }
    desk.restored = doc;
  }

  // Option labels a person reads (Fmt.label), not the API's values.
  document.querySelectorAll("#ad-disposition option[value], #ad-appt-type option, #ad-reason option")
    .forEach((o) => { if (o.value) o.textContent = Fmt.label(o.value); });

  desk.keepCall = keepCall; // the Twilio reload path, callable on the local carrier by tests
  desk.rejoin = rejoin;
  window.agentDesk = desk; // for the browser tests and for a curious developer
  window.agentPhone = phone; // the softphone: its device and calls (keypad: active.sendDigits)
  restore().then(() => { open(); startPhone(); });
})();
