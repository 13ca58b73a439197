/* How every console page shows things to people, one copy for all (agent desk, wallboard,
 * QA, recordings): phone numbers in national format, times in the viewer's time zone with
 * relative times, labels instead of the API's enum values, durations.
 *
 * Fmt.phone(e164)            "(313) 555-0100" for +1 numbers, "+44 207 946 0018" otherwise;
 * Fmt.phoneNode(e164)        a <span> with that text and the E.164 number on hover (title);
 * Fmt.time(iso[, zone])      "10:05 AM" (today) or "Mon, Dec 7, 10:05 AM"; zone: an IANA name
 *                            to show another zone than the viewer's (and its abbreviation);
 * Fmt.relative(iso[, now])   "in 2 h", "3 min ago", "just now";
 * Fmt.when(iso[, zone])      time and relative together: "10:05 AM (3 min ago)";
 * Fmt.duration(seconds)      "0:42", "12:05", "1:02:05";
 * Fmt.label(value)           "Appointment set" for "appointment_set" (LABELS, else sentence case);
 * Fmt.zoneName(zone)         "CST" / "GMT-5": the short name of a zone now.
 * Every function answers "–" for null, undefined or "".
 */
(function () {
  "use strict";

  const DASH = "–";

  // Enum values whose sentence-case spelling is not what a person reads.
  const LABELS = {
    wrap_up: "Wrapping up",
    away: "Away",
    offline: "Offline",
    available: "Available",
    pending: "Starting",
    reserved: "Ringing",
    busy: "On a call",
    no_answer: "No answer",
    voicemail: "Voicemail",
    inbound: "Inbound",
    outbound: "Outbound",
    "outbound-dial": "Outbound (click to call)",
    "outbound-api": "Outbound",
    appointment_set: "Appointment set",
    callback_requested: "Callback requested",
    dnc: "Do not call",
    do_not_call: "Do not call",
    sms: "SMS",
    adf: "ADF/XML",
    ivr: "IVR",
    vip: "VIP",
    "en-US": "English",
    "es-MX": "Spanish",
    "es-US": "Spanish",
    "fr-CA": "French",
  };

  function blank(value) { return value === null || value === undefined || value === ""; }

  function phone(e164) {
    if (blank(e164)) return DASH;
    const s = String(e164);
    if (s.startsWith("client:")) return s.slice(7);
    const nanp = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(s);
    if (nanp) return `(${nanp[1]}) ${nanp[2]}-${nanp[3]}`;
    const intl = /^\+(\d{1,3})(\d+)$/.exec(s);
    if (!intl) return s;
    // The country code's real length (ITU E.164: +7, two-digit codes, else three), then
    // the rest in groups from the right: "+44 207 946 0018".
    const digits = s.slice(1);
    const two = /^(2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/;
    const cc = digits.startsWith("7") ? 1 : two.test(digits) ? 2 : 3;
    const rest = digits.slice(cc);
    const groups = [];
    let end = rest.length;
    groups.unshift(rest.slice(Math.max(0, end - 4), end));
    for (end -= 4; end > 0; end -= 3) groups.unshift(rest.slice(Math.max(0, end - 3), end));
    return `+${digits.slice(0, cc)} ${groups.join(" ")}`;
  }

  function phoneNode(e164) {
    const span = document.createElement("span");
    span.className = "phone";
    span.textContent = phone(e164);
    if (!blank(e164)) span.title = String(e164);
    return span;
  }

  function zoneName(zone) {
    try {
      const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone || undefined, timeZoneName: "short" })
        .formatToParts(new Date());
      const part = parts.find((p) => p.type === "timeZoneName");
      return part ? part.value : (zone || "");
    } catch (err) {
      return zone || "";
    }
  }

  function sameDay(a, b, zone) {
    const f = new Intl.DateTimeFormat("en-CA", { timeZone: zone || undefined, dateStyle: "short" });
    return f.format(a) === f.format(b);
  }

  function time(iso, zone) {
    if (blank(iso)) return DASH;
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const opts = { hour: "numeric", minute: "2-digit" };
    if (zone) { opts.timeZone = zone; opts.timeZoneName = "short"; }
    if (!sameDay(d, new Date(), zone)) {
      opts.weekday = "short"; opts.month = "short"; opts.day = "numeric";
      if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
    }
    try {
      return d.toLocaleString("en-US", opts);
    } catch (err) { // an unknown zone name: the viewer's
      delete opts.timeZone; delete opts.timeZoneName;
      return d.toLocaleString("en-US", opts);
    }
  }

  function relative(iso, now) {
    if (blank(iso)) return DASH;
    const then = Date.parse(iso);
    if (Number.isNaN(then)) return DASH;
    const seconds = Math.round((then - (now === undefined ? Date.now() : now)) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return "just now";
    let text;
    if (abs < 3600) text = `${Math.round(abs / 60)} min`;
    else if (abs < 86400) text = `${Math.round(abs / 3600)} h`;
    else text = `${Math.round(abs / 86400)} d`;
    return seconds > 0 ? `in ${text}` : `${text} ago`;
  }

  function when(iso, zone) {
    if (blank(iso)) return DASH;
    return `${time(iso, zone)} (${relative(iso)})`;
  }

  function duration(seconds) {
    if (blank(seconds) || Number.isNaN(Number(seconds))) return DASH;
    const s = Math.max(0, Math.round(Number(seconds)));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return `${h ? h + ":" : ""}${mm}:${String(r).padStart(2, "0")}`;
  }

  function label(value) {
    if (blank(value)) return DASH;
    const s = String(value);
    if (Object.prototype.hasOwnProperty.call(LABELS, s)) return LABELS[s];
    const words = s.replace(/[_-]+/g, " ").trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  window.Fmt = { phone, phoneNode, time, relative, when, duration, label, zoneName, LABELS };
})();
