/* The agent's softphone: one object the desk uses, whatever carries the voice.
 *
 *   Softphone.start({tokenUrl, simulatorUrl, onState, onIncoming}) → Promise<phone>
 *
 * It fetches the access token (GET /api/agents/me/softphone-token, console/softphone.py) and
 * builds the device the token is for: with carrier "twilio", Twilio.Device from the official
 * Voice JavaScript SDK (console/static/vendor/, loaded by the page only then); with carrier
 * "simulator", SimDevice below, the same interface over the local carrier's device API
 * (telephony/simulator/softphones.py), so the page works offline and in tests. The token is
 * fetched again `refresh_after_seconds` after each issue (and on the SDK's
 * tokenWillExpire) and handed to device.updateToken(), before it expires.
 *
 * The subset of the SDK both devices offer, and all the desk uses:
 *   Device: new Device(token, options), register(), unregister(), updateToken(token),
 *     connect({params}) → Promise<Call>, destroy(); events registered, unregistered,
 *     error(error), incoming(call), tokenWillExpire.
 *   Call: accept(), reject(), disconnect(), mute(bool), isMuted(), sendDigits(digits),
 *     status(), parameters {CallSid, From, To}, customParameters (Map); events accept,
 *     disconnect, cancel, reject, mute(bool), error(error). SimDevice's calls also emit
 *     heard(text): what the simulated line says to the agent (there is no audio).
 * onState({status: "starting" | "registered" | "offline", reason}) says how the phone is.
 * onReconnect() is called when the phone is registered again after a break (the carrier or
 * the network was away): the desk then posts the agent's presence again if the router has
 * forgotten the agent meanwhile (a Redis that lost its data, routing/recovery.py).
 */
(function () {
  "use strict";

  const POLL_WAIT_SECONDS = 20; // the device API holds a poll this long when nothing happens
  const RETRY_MS = 2000;

  class Emitter {
    constructor() { this.handlers = {}; }

    on(name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); return this; }

    off(name, fn) {
      this.handlers[name] = (this.handlers[name] || []).filter((h) => h !== fn);
      return this;
    }

    emit(name, ...args) {
      for (const fn of (this.handlers[name] || []).slice()) {
        try { fn(...args); } catch (err) { console.error(err); } // one handler cannot stop the rest
      }
    }
  }

  function twilioError(body, status) {
    const err = new Error((body && body.message) || `HTTP ${status}`);
    err.code = (body && body.code) || 31000;
    err.status = status;
    return err;
  }

  /* ------------------------------------------------------------- simulator mode */
  class SimCall extends Emitter {
    constructor(device, info, direction, params) {
      super();
      this.device = device;
      this.direction = direction; // "INCOMING" | "OUTGOING", as Call.CallDirection
      this.parameters = { CallSid: info.sid, From: info.from, To: info.to };
      this.customParameters = new Map(Object.entries(params || {}));
      this._status = direction === "INCOMING" ? "pending" : "connecting";
      this._muted = false;
      this._rejected = false;
    }

    status() { return this._status; }

    isMuted() { return this._muted; }

    async _act(action, body) {
      try {
        return await this.device._post(`/calls/${encodeURIComponent(this.parameters.CallSid)}/${action}`, body);
      } catch (err) {
        // Rejecting or hanging up a call the carrier has already ended is a no-op, as in the SDK.
        if (!(err.status === 409 && (action === "reject" || action === "hangup"))) this.emit("error", err);
        return null;
      }
    }

    accept() {
      if (this._status !== "pending") return;
      this._status = "connecting";
      this._act("accept");
    }

    reject() {
      if (this._status !== "pending") return;
      this._rejected = true;
      this._status = "closed";
      this._act("reject");
      this.emit("reject");
    }

    ignore() { if (this._status === "pending") { this._status = "closed"; this.emit("cancel"); } }

    disconnect() {
      if (this._status === "pending") { this.reject(); return; }
      if (this._status === "closed") return;
      this._act("hangup");
    }

    mute(shouldMute = true) {
      const muted = !!shouldMute;
      if (muted === this._muted) return;
      this._muted = muted;
      this.emit("mute", muted, this);
      if (this._status === "open") this._act("mute", { muted });
    }

    sendDigits(digits) {
      if (this._status !== "open") throw new Error("the call is not connected");
      if (!/^[0-9*#w]{1,32}$/.test(String(digits))) throw new Error("digits are 0-9, *, # and w");
      this._act("digits", { digits: String(digits) });
    }

    _update(event) {
      const info = event.call;
      if (event.type === "heard") { this.emit("heard", event.text, event.kind); return; }
      if (info.status === "in-progress" && this._status !== "open" && this._status !== "closed") {
        this._status = "open";
        this.emit("accept", this);
        return;
      }
      if (["completed", "busy", "failed", "no-answer", "canceled"].includes(info.status)) {
        const before = this._status;
        this._status = "closed";
        if (before === "open") this.emit("disconnect", this);
        else if (this._rejected || info.rejected) { /* reject() already said so */ }
        else if (this.direction === "INCOMING") this.emit("cancel");
        else {
          this.emit("error", twilioError({ message: `the call ended: ${info.status}`, code: 31480 }, 0));
          this.emit("disconnect", this);
        }
      }
    }
  }

  class SimDevice extends Emitter {
    /* options.simulatorUrl: the device API's base, e.g. "/simulator/softphone". */
    constructor(token, options) {
      super();
      this.token = token;
      this.base = (options && options.simulatorUrl) || "/simulator/softphone";
      this.state = "unregistered";
      this.calls = new Map(); // CallSid → SimCall
      this.cursor = 0;
      this.polling = false;
      this.lost = false; // polls failing: shown as unregistered until one succeeds
      this.identity = null;
    }

    async _request(method, path, body) {
      const response = await fetch(this.base + path, {
        method,
        headers: Object.assign({ Authorization: `Bearer ${this.token}` },
          body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
      let data = null;
      try { data = await response.json(); } catch (err) { data = null; }
      if (!response.ok) throw twilioError(data, response.status);
      return data;
    }

    _post(path, body) { return this._request("POST", path, body === undefined ? {} : body); }

    async register() {
      this.state = "registering";
      try {
        const answer = await this._post("/register");
        this.identity = answer.identity;
        this.cursor = answer.cursor;
      } catch (err) {
        this.state = "unregistered";
        this.emit("error", err);
        throw err;
      }
      this.state = "registered";
      this.emit("registered");
      if (!this.polling) this._poll();
    }

    async unregister() {
      this.state = "unregistered";
      try { await this._post("/unregister"); } catch (err) { /* gone already */ }
      this.emit("unregistered");
    }

    updateToken(token) { this.token = token; }

    destroy() {
      for (const call of this.calls.values()) call.disconnect();
      this.state = "destroyed";
      this.emit("destroyed");
    }

    /* A call this device was already on when the page was loaded again (the desk knows its
       CallSid from the server): followed again, as open, so Hang up, mute and the keypad
       work on it and its end arrives as a disconnect. */
    adopt(info) {
      const known = this.calls.get(info.sid);
      if (known) return known;
      const call = new SimCall(this, { sid: info.sid, from: info.from || "", to: info.to || "" },
        info.direction || "INCOMING", {});
      call._status = "open";
      this.calls.set(info.sid, call);
      return call;
    }

    async connect(options) {
      const params = (options && options.params) || {};
      const info = await this._post("/calls", { params });
      const call = new SimCall(this, info, "OUTGOING", params);
      this.calls.set(info.sid, call);
      return call;
    }

    async _poll() {
      this.polling = true;
      while (this.state === "registered") {
        let answer;
        try {
          answer = await this._request("GET", `/events?after=${this.cursor}&wait=${POLL_WAIT_SECONDS}`);
        } catch (err) {
          if (this.state !== "registered") break;
          this.emit("error", err);
          if (err.status === 409) { // the carrier forgot us (restarted): register again
            try { await this.register(); } catch (again) { /* reported */ }
            break;
          }
          if (!this.lost) { this.lost = true; this.emit("unregistered"); } // carrier unreachable
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          continue;
        }
        if (this.lost) { this.lost = false; this.emit("registered"); }
        this.cursor = answer.cursor;
        for (const event of answer.events) this._dispatch(event);
      }
      this.polling = false;
    }

    _dispatch(event) {
      const sid = event.call.sid;
      let call = this.calls.get(sid);
      if (event.type === "incoming") {
        if (call && call.status() !== "closed") return;
        call = new SimCall(this, event.call, "INCOMING", {});
        this.calls.set(sid, call);
        this.emit("incoming", call);
        return;
      }
      if (!call) return;
      call._update(event);
      if (call.status() === "closed") this.calls.delete(sid);
    }
  }

  /* ------------------------------------------------------------- the one object */
  async function fetchToken(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const message = (data && data.error && data.error.message) || `HTTP ${response.status}`;
      throw new Error(message);
    }
    return data;
  }

  async function start(options) {
    const onState = options.onState || (() => {});
    const phone = { device: null, identity: null, carrier: null, status: "starting", reason: null };
    const say = (status, reason) => {
      phone.status = status;
      phone.reason = reason || null;
      onState({ status, reason: phone.reason });
    };
    say("starting");
    let grant;
    try {
      grant = await fetchToken(options.tokenUrl);
    } catch (err) {
      say("offline", `no softphone token: ${err.message}`);
      return phone;
    }
    phone.identity = grant.identity;
    phone.carrier = grant.carrier;
    let device;
    if (grant.carrier === "twilio") {
      if (!(window.Twilio && window.Twilio.Device)) {
        say("offline", "the Twilio Voice SDK did not load");
        return phone;
      }
      device = new window.Twilio.Device(grant.token, { closeProtection: true });
    } else {
      device = new SimDevice(grant.token, { simulatorUrl: options.simulatorUrl });
    }
    phone.device = device;

    let timer = null;
    const refresh = async () => {
      clearTimeout(timer);
      try {
        const fresh = await fetchToken(options.tokenUrl);
        device.updateToken(fresh.token);
        schedule(fresh.refresh_after_seconds);
      } catch (err) {
        say("offline", `the softphone token could not be renewed: ${err.message}`);
        schedule(60); // try again in a minute: the current token may still be good
      }
    };
    const schedule = (seconds) => {
      clearTimeout(timer);
      timer = setTimeout(refresh, Math.max(5, Number(seconds) || 60) * 1000);
    };
    schedule(grant.refresh_after_seconds);

    /* A call in progress when the page was reloaded: the carrier kept the agent's leg up
       (the simulator's device survives the page), so the reloaded page takes it back.
       Twilio's WebRTC leg ends with the page: there is nothing to adopt (null). */
    phone.adopt = (info) => (typeof device.adopt === "function" ? device.adopt(info) : null);
    let registeredOnce = false;
    let broken = false;
    device.on("registered", () => {
      const back = registeredOnce && broken;
      registeredOnce = true;
      broken = false;
      say("registered");
      if (back && options.onReconnect) options.onReconnect();
    });
    device.on("unregistered", () => {
      broken = true;
      say("offline", "not registered with the carrier");
    });
    device.on("error", (err) => {
      if (device.state !== "registered") say("offline", err.message || String(err));
    });
    device.on("tokenWillExpire", refresh);
    device.on("incoming", (call) => { if (options.onIncoming) options.onIncoming(call); });
    try {
      await device.register();
    } catch (err) {
      say("offline", `could not register with the carrier: ${err.message || err}`);
    }
    return phone;
  }

  window.Softphone = { start, SimDevice, SimCall };
})();
