/* The demo's pages (console/demo.py), plain JavaScript, no build step.
 *
 * Browser phone (templates/demo_phone.html): POST /demo/api/calls places a call from the
 * chosen number; then GET /demo/api/calls/<sid>?after=N every half second returns what the
 * caller heard since entry N (the simulator party's transcript) and where the call is. Keys
 * and words go to POST …/digits and …/speech, the hang-up to …/hangup. With "Read aloud" on,
 * each prompt is spoken by window.speechSynthesis (off by default). Leaving or reloading the
 * page hangs the call up, as putting a phone down does (navigator.sendBeacon to …/hangup on
 * pagehide or beforeunload, the CSRF token in the form): the carrier ends it as the caller's
 * hang-up (completed), and the page comes back idle.
 * Traffic switch (templates/demo_traffic.html): GET/POST /demo/api/traffic, polled every
 * two seconds. Errors ({"error": {"message", "field"}}) show inline.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("demo-settings").textContent);
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const POLL_MS = 500;
  const TRAFFIC_POLL_MS = 2000;

  async function call(method, url, body) {
    const options = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrf },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return data;
  }

  function showError(el, error) {
    el.textContent = error ? String(error.message || error) : "";
    el.hidden = !error;
  }

  // ------------------------------------------------------------------ the browser phone
  function phone() {
    const el = {
      dial: $("dp-dial"), from: $("dp-from"), call: $("dp-call"), hangup: $("dp-hangup"),
      state: $("dp-state"), speech: $("dp-speech"), words: $("dp-words"), say: $("dp-say"),
      voice: $("dp-voice"), error: $("dp-error"), transcript: $("dp-transcript"),
      keys: Array.from(document.querySelectorAll(".dp-key")),
    };
    const line = { sid: null, next: 0, timer: null, busy: false };

    function url(suffix) {
      return `${settings.calls}/${encodeURIComponent(line.sid)}${suffix || ""}`;
    }

    function inCall(on) {
      el.call.disabled = on;
      el.from.disabled = on;
      el.hangup.disabled = !on;
      el.words.disabled = !on;
      el.say.disabled = !on;
      el.keys.forEach((k) => { k.disabled = !on; });
    }

    function describe(entry) {
      const kind = entry.kind;
      if (kind === "heard say") return { cls: "say", text: entry.text, speak: true };
      if (kind === "heard play") return { cls: "music", text: "♪ music or a recording plays" };
      if (kind === "heard beep") return { cls: "note", text: "(beep)" };
      if (kind === "heard reject") return { cls: "note", text: `(the call is rejected: ${entry.text})` };
      if (kind === "pressed") return { cls: "you", text: `You pressed ${entry.text}` };
      if (kind === "said") return { cls: "you", text: `You said “${entry.text}”` };
      if (kind === "hung up") return { cls: "you", text: "You hung up" };
      if (kind === "dialed") return { cls: "note", text: `Calling ${entry.text}…` };
      if (kind === "joined conference") return { cls: "note", text: "Connected to an agent" };
      if (kind === "call ended") return { cls: "note", text: `Call ended (${entry.text})` };
      return { cls: "note", text: `${kind} ${entry.text}`.trim() };
    }

    function speak(text) {
      if (!el.voice.checked || !("speechSynthesis" in window) || !text) return;
      window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
    }

    function render(view) {
      el.state.textContent = view.state;
      for (const entry of view.entries) {
        const shown = describe(entry);
        const item = document.createElement("li");
        item.className = `dp-${shown.cls}`;
        const at = document.createElement("span");
        at.className = "dp-at";
        at.textContent = `${entry.at.toFixed(1)} s`;
        item.append(at, document.createTextNode(" " + shown.text));
        el.transcript.append(item);
        if (shown.speak) speak(entry.text);
      }
      if (view.entries.length) el.transcript.lastElementChild.scrollIntoView({ block: "nearest" });
      line.next = view.next;
      if (view.ended) stop();
    }

    async function poll() {
      if (!line.sid || line.busy) return;
      line.busy = true;
      try {
        render(await call("GET", url(`?after=${line.next}`)));
        showError(el.error, null);
      } catch (error) {
        showError(el.error, error);
      } finally {
        line.busy = false;
      }
    }

    function stop() {
      clearInterval(line.timer);
      line.timer = null;
      inCall(false);
    }

    async function send(suffix, body) {
      if (!line.sid) return;
      try {
        const view = await call("POST", url(suffix), body);
        el.state.textContent = view.state;
        showError(el.error, null);
      } catch (error) {
        showError(el.error, error);
      }
      poll();
    }

    el.dial.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const placed = await call("POST", settings.calls, { from: el.from.value });
        line.sid = placed.sid;
        line.next = 0;
        el.transcript.textContent = "";
        if ("speechSynthesis" in window) window.speechSynthesis.cancel();
        showError(el.error, null);
        inCall(true);
        el.state.textContent = "ringing";
        line.timer = setInterval(poll, POLL_MS);
        poll();
      } catch (error) {
        showError(el.error, error);
      }
    });
    el.hangup.addEventListener("click", () => send("/hangup", {}));

    // The page goes away (reload, another page, the tab closed): the phone is put down.
    // sendBeacon is the one request a leaving page is sure to get out; it cannot set
    // headers, so the CSRF token travels as a form field.
    function putDown() {
      if (!line.sid || !line.timer) return; // no call, or it has ended
      const form = new FormData();
      form.append("csrf_token", csrf);
      navigator.sendBeacon(url("/hangup"), form);
      stop();
      line.sid = null;
    }
    window.addEventListener("pagehide", putDown);
    window.addEventListener("beforeunload", putDown);
    // Back to a page kept in the browser's memory (back/forward): idle, like a fresh load.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      line.sid = null;
      stop();
      el.state.textContent = "not in a call";
      el.transcript.textContent = "";
    });
    el.keys.forEach((key) => key.addEventListener("click", () => {
      if ("speechSynthesis" in window) window.speechSynthesis.cancel(); // barge-in
      send("/digits", { digits: key.dataset.key });
    }));
    el.speech.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = el.words.value.trim();
      if (!text) return;
      el.words.value = "";
      send("/speech", { text });
    });
    document.addEventListener("keydown", (event) => {
      if (!line.timer || event.target === el.words || !/^[0-9*#]$/.test(event.key)) return;
      send("/digits", { digits: event.key });
    });
  }

  // ------------------------------------------------------------------ the traffic switch
  function traffic() {
    const el = {
      form: $("tr"), rate: $("tr-rate"), agents: $("tr-agents"), stop: $("tr-stop"),
      error: $("tr-error"), fields: Array.from(document.querySelectorAll("#tr-state dd")),
    };

    function render(state) {
      for (const dd of el.fields) {
        const value = state[dd.dataset.field];
        if (Array.isArray(value)) dd.textContent = value.length ? value.join(", ") : "none";
        else if (typeof value === "boolean") dd.textContent = value ? "yes" : "no";
        else dd.textContent = String(value);
      }
    }

    async function refresh() {
      try {
        render(await call("GET", settings.traffic));
        showError(el.error, null);
      } catch (error) {
        showError(el.error, error);
      }
    }

    async function switchTo(body) {
      try {
        render(await call("POST", settings.traffic, body));
        showError(el.error, null);
      } catch (error) {
        showError(el.error, error);
      }
    }

    el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      switchTo({
        running: true,
        callers_per_minute: Number(el.rate.value),
        agents: Number(el.agents.value),
      });
    });
    el.stop.addEventListener("click", () => switchTo({ running: false }));
    refresh();
    setInterval(refresh, TRAFFIC_POLL_MS);
  }

  if ($("dp")) phone();
  if ($("tr")) traffic();
})();
