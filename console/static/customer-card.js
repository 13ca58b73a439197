/* The customer card of the agent desk: who the caller is, filled in or corrected during
 * the call, with every change on the customer's timeline, and a merge offered when the
 * phone or e-mail matches another customer.
 *
 *   const card = CustomerCard.mount(container, {customerId, callSid, phone, api, onChange});
 *   card.update({customerId, callSid, phone});   // another call, or the same one moving on
 *   card.destroy();
 *
 * customerId: the call's customer (null for a caller nobody knows: the card offers to add
 * them, linking the call); callSid: the call the agent is on (linked to the customer when
 * it has none); phone: the caller's number (E.164); api: ConsoleApi.client("/api/me");
 * onChange(customer): called with the customer after every save or merge.
 * Needs window.Fmt (format.js) and window.ConsoleApi (api.js) loaded first.
 */
(function () {
  "use strict";

  const LANGUAGES = [["en-US", "English"], ["es-US", "Spanish"], ["fr-CA", "French"]];
  const CHANNELS = [["voice", "Phone call"], ["sms", "Text message"], ["email", "E-mail"]];
  const CUSTOMER_FIELDS = [
    "first_name", "last_name", "email", "language", "address_line1", "city", "state",
    "postal_code", "contact_hours_start", "contact_hours_end", "preferred_channel",
  ];
  const VEHICLES = {
    vehicle_of_interest: {
      legend: "Vehicle of interest",
      fields: [["year", "Year", "number"], ["make", "Make"], ["model", "Model"], ["trim", "Trim"],
               ["vin", "VIN", "wide"]],
    },
    trade_in: {
      legend: "Trade-in",
      fields: [
        ["year", "Year", "number"], ["make", "Make"], ["model", "Model"], ["trim", "Trim"],
        ["vin", "VIN", "wide"], ["odometer", "Miles", "number"],
        ["trade_payoff", "Payoff ($)", "number"], ["trade_value", "Value ($)", "number"],
      ],
    },
  };
  const NUMBER_HINTS = {
    year: "Enter the year as four digits, such as 2021.",
    odometer: "Enter the miles as a whole number, such as 84000.",
    trade_payoff: "Enter the payoff in whole dollars, such as 4000.",
    trade_value: "Enter the value in whole dollars, such as 9000.",
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function blank(v) { return v === null || v === undefined || v === ""; }

  function languageWord(tag) {
    const known = LANGUAGES.find(([value]) => value === tag);
    return known ? known[1] : window.Fmt.label(tag);
  }

  function channelWord(value) {
    const known = CHANNELS.find(([v]) => v === value);
    return known ? known[1].toLowerCase() : window.Fmt.label(value);
  }

  function clock(hhmm) { // "17:30" or "17:30:00" → "5:30 PM"
    if (blank(hhmm)) return null;
    const [h, m] = String(hhmm).split(":").map(Number);
    return `${h % 12 || 12}:${String(m).padStart(2, "0")} ${h < 12 ? "AM" : "PM"}`;
  }

  function bestTime(c) {
    const from = clock(c.contact_hours_start), to = clock(c.contact_hours_end);
    let text = from && to ? `${from} to ${to}` : from ? `after ${from}` : to ? `before ${to}` : "";
    if (c.preferred_channel && (text || c.preferred_channel !== "voice")) {
      text = text ? `${text}, by ${channelWord(c.preferred_channel)}` : `By ${channelWord(c.preferred_channel)}`;
    }
    return text || null;
  }

  function address(c) {
    const street = [c.address_line1, c.address_line2].filter((x) => !blank(x)).join(", ");
    const place = [c.city, [c.state, c.postal_code].filter((x) => !blank(x)).join(" ")]
      .filter((x) => !blank(x)).join(", ");
    return [street, place].filter((x) => !blank(x)).join(", ") || null;
  }

  function nameless(c) { return !c || (blank(c.first_name) && blank(c.last_name)); }

  function sentence(text) {
    let s = String(text || "").trim();
    if (!s) return "Something went wrong; try again.";
    if (/^(is|are|must|should|cannot) /.test(s)) s = `This ${s}`;
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : `${s}.`;
  }

  function matchWords(on) {
    const words = { phone: "phone number", email: "e-mail address" };
    return on.map((m) => words[m] || m).join(" and ");
  }

  function mount(container, options) {
    const api = options.api;
    let props = { customerId: options.customerId || null, callSid: options.callSid || null,
                  phone: options.phone || null };
    let customer = null;      // the card's customer, as GET /api/customers/<id> gives it
    let mode = "view";        // "view" | "edit"
    let message = null;       // {kind: "error" | "done", text}
    let duplicates = [];      // offered for a merge after a save
    let confirming = null;    // the duplicate whose merge is being confirmed
    let retry = null;         // an edit to save again once the merge it waited for is done
    let busy = false;
    let generation = 0;       // a load started for older props is ignored when it ends
    let destroyed = false;

    const root = el("section", { class: "cc", "aria-label": "Customer" });
    container.append(root);

    async function load() {
      const mine = ++generation;
      let found = null;
      let id = props.customerId;
      try {
        if (!id && props.phone) {
          const pop = await api.getJson(`/api/customers?phone=${encodeURIComponent(props.phone)}`);
          id = pop.customers.length ? pop.customers[0].id : null;
        }
        if (id) found = await api.getJson(`/api/customers/${id}`);
      } catch (err) {
        found = null; // a withheld number, or a customer no longer on file: unknown
      }
      if (mine !== generation || destroyed) return;
      const editing = mode === "edit" && customer && found && customer.id === found.id;
      customer = found;
      if (!editing) render(); // never wipe what the agent is typing about this customer
    }

    function render() {
      if (destroyed) return;
      root.replaceChildren();
      root.append(mode === "edit" ? form() : view());
      if (message) {
        root.append(el("p", { class: `cc-message cc-${message.kind}`,
                              role: message.kind === "error" ? "alert" : "status",
                              text: message.text }));
      }
      if (duplicates.length && mode === "view") root.append(mergeOffer());
    }

    // --------------------------------------------------------------------- the card

    function view() {
      const unknown = nameless(customer);
      const head = el("div", { class: "cc-head" },
        el("h2", { class: "cc-name", text: unknown ? "Unknown caller" : customer.name }));
      if (!unknown) {
        head.append(el("button", { type: "button", class: "cc-edit cc-secondary",
                                   onclick: () => edit() }, "Edit"));
      }
      const body = el("div", { class: "cc-view" }, head);
      if (unknown) {
        body.append(el("button", { type: "button", class: "cc-add", onclick: () => edit() },
                       "Add customer details"));
      }
      const facts = el("dl", { class: "cc-facts" });
      const phones = customer && customer.phones.length
        ? customer.phones.map((p) => p.number)
        : (props.phone ? [props.phone] : []);
      fact(facts, "Phone", phones.length ? phones.flatMap((n, i) =>
        i ? [", ", window.Fmt.phoneNode(n)] : [window.Fmt.phoneNode(n)]) : null);
      if (customer) {
        fact(facts, "E-mail", customer.email);
        fact(facts, "Language", languageWord(customer.language));
        fact(facts, "Address", address(customer));
        fact(facts, "Best time", bestTime(customer));
        fact(facts, "Vehicle of interest",
             customer.vehicle_of_interest ? customer.vehicle_of_interest.text : null);
        fact(facts, "Trade-in", customer.trade_in ? customer.trade_in.text : null);
      }
      body.append(facts);
      if (customer && customer.timeline && customer.timeline.length) {
        const list = el("ul", { class: "cc-history", "aria-label": "Recent changes" });
        for (const a of customer.timeline.slice(0, 3)) list.append(historyItem(a));
        body.append(el("h3", { text: "Latest on the timeline" }), list);
      }
      return body;
    }

    function fact(dl, label, value) {
      dl.append(el("dt", { text: label }),
                el("dd", {}, blank(value) || (Array.isArray(value) && !value.length)
                  ? el("span", { class: "cc-none", text: "not given" }) : value));
    }

    function historyItem(a) {
      let text = a.summary;
      const changes = a.data && a.data.changes;
      if (changes && / more changes?\.$/.test(text)) { // the line was cut: the whole edit
        const who = text.slice(0, text.indexOf(" changed ") + 9);
        text = who + changes.map((c) => `${c.label} from ${c.old} to ${c.new}`).join("; ") + ".";
      }
      return el("li", { class: "cc-entry" },
        el("span", { class: "cc-when", text: window.Fmt.when(a.occurred_at) }), " ",
        el("span", { class: "cc-what", text }));
    }

    // --------------------------------------------------------------------- the form

    function input(name, label, attrs, wide) {
      const id = `cc-${name.replace(/\./g, "-")}-${uid}`;
      return el("div", { class: wide ? "cc-field cc-wide" : "cc-field" },
        el("label", { for: id, text: label }),
        el("input", { id, name, ...attrs }),
        el("p", { class: "cc-field-error", "data-error-for": name, role: "alert", hidden: true }));
    }

    function select(name, label, choices, current) {
      const id = `cc-${name}-${uid}`;
      const options = choices.slice();
      if (!blank(current) && !options.some(([v]) => v === current)) {
        options.push([current, window.Fmt.label(current)]);
      }
      const node = el("select", { id, name },
        options.map(([v, text]) => el("option", { value: v, selected: v === current }, text)));
      return el("div", { class: "cc-field" }, el("label", { for: id, text: label }), node,
        el("p", { class: "cc-field-error", "data-error-for": name, role: "alert", hidden: true }));
    }

    function value(v) { return blank(v) ? "" : String(v); }
    function hhmm(v) { return blank(v) ? "" : String(v).slice(0, 5); }

    function form() {
      const c = customer || {};
      const creating = !customer;
      const phoneLabel = creating ? "Phone" : "Add a phone number";
      const phoneValue = creating && props.phone ? window.Fmt.phone(props.phone) : "";
      const node = el("form", { class: "cc-form", novalidate: true,
                                "aria-label": creating ? "New customer" : "Edit customer",
                                onsubmit: (e) => { e.preventDefault(); save(node); } },
        el("h2", { class: "cc-name", text: creating || nameless(customer)
          ? "Add customer details" : `Edit ${customer.name}` }),
        el("p", { class: "cc-field-error cc-form-error", "data-error-for": "", role: "alert",
                  hidden: true }),
        el("div", { class: "cc-row cc-two" },
          input("first_name", "First name", { value: value(c.first_name), autocomplete: "off" }),
          input("last_name", "Last name", { value: value(c.last_name), autocomplete: "off" })),
        el("div", { class: "cc-row cc-two" },
          input("email", "E-mail", { type: "email", value: value(c.email), autocomplete: "off" }),
          input("phone", phoneLabel, { type: "tel", value: phoneValue, autocomplete: "off" })),
        el("div", { class: "cc-row cc-two" },
          select("language", "Language", LANGUAGES, c.language || "en-US"),
          select("preferred_channel", "Reach by", CHANNELS, c.preferred_channel || "voice")),
        el("div", { class: "cc-row cc-two" },
          input("contact_hours_start", "Best time from", { type: "time",
                                                           value: hhmm(c.contact_hours_start) }),
          input("contact_hours_end", "to", { type: "time", value: hhmm(c.contact_hours_end) })),
        input("address_line1", "Street address", { value: value(c.address_line1),
                                                   autocomplete: "off" }),
        el("div", { class: "cc-row cc-three" },
          input("city", "City", { value: value(c.city), autocomplete: "off" }),
          input("state", "State", { value: value(c.state), autocomplete: "off" }),
          input("postal_code", "ZIP code", { value: value(c.postal_code), inputmode: "numeric",
                                             autocomplete: "off" })),
        Object.entries(VEHICLES).map(([key, spec]) => {
          const current = c[key] || {};
          return el("fieldset", { class: "cc-vehicle" }, el("legend", { text: spec.legend }),
            el("div", { class: "cc-row cc-three" }, spec.fields.map(([f, label, kind]) =>
              input(`${key}.${f}`, label, { value: value(current[f]),
                                            inputmode: kind === "number" ? "numeric" : null,
                                            maxlength: f === "vin" ? 17 : null,
                                            autocomplete: "off" }, kind === "wide"))),
            el("p", { class: "cc-field-error", "data-error-for": key, role: "alert",
                      hidden: true }));
        }),
        el("div", { class: "cc-actions" },
          el("button", { type: "submit", class: "cc-save", disabled: busy }, "Save"),
          el("button", { type: "button", class: "cc-secondary",
                         onclick: () => { mode = "view"; message = null; render(); } }, "Cancel")));
      return node;
    }

    function edit() {
      mode = "edit"; message = null; duplicates = []; confirming = null; retry = null;
      render();
      const first = root.querySelector("input");
      if (first) first.focus();
    }

    function fieldError(formNode, field, text) {
      if (field.startsWith("phones")) field = "phone"; // a new customer's numbers: one box
      let slot = formNode.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      if (!slot && field.includes(".")) {
        slot = formNode.querySelector(`[data-error-for="${CSS.escape(field.split(".")[0])}"]`);
      }
      if (!slot) slot = formNode.querySelector('[data-error-for=""]');
      slot.textContent = sentence(text);
      slot.hidden = false;
      const box = slot.closest(".cc-field");
      if (box) box.classList.add("cc-invalid");
    }

    function focusFirstError(formNode) { // the column scrolls: bring the first one into view
      const first = formNode.querySelector(".cc-invalid input, .cc-invalid select")
        || formNode.querySelector(".cc-form-error:not([hidden])");
      if (!first) return;
      if (first.focus) first.focus();
      first.scrollIntoView({ block: "nearest" });
    }

    function clearErrors(formNode) {
      for (const slot of formNode.querySelectorAll("[data-error-for]")) {
        slot.hidden = true; slot.textContent = "";
      }
      for (const box of formNode.querySelectorAll(".cc-invalid")) box.classList.remove("cc-invalid");
    }

    // What the form says, as the API's body: for an edit only what differs from the card.
    function collect(formNode) {
      const read = (name) => formNode.elements.namedItem(name).value.trim();
      const c = customer || {};
      const body = {};
      const problems = [];
      for (const name of CUSTOMER_FIELDS) {
        const now = read(name);
        const was = name.startsWith("contact_hours") ? hhmm(c[name]) : value(c[name]);
        if (customer ? now !== was : now !== "") body[name] = now === "" ? null : now;
      }
      if (!customer && body.language === undefined) body.language = read("language");
      const phone = read("phone");
      if (phone) {
        if (customer) body.phone = phone; else body.phones = [phone];
      }
      for (const [key, spec] of Object.entries(VEHICLES)) {
        const current = c[key] || {};
        const part = {};
        for (const [f, , kind] of spec.fields) {
          const now = read(`${key}.${f}`);
          let out = now === "" ? null : now;
          if (kind === "number" && out !== null) {
            const digits = out.replace(/[$,\s]/g, "");
            if (!/^\d{1,9}$/.test(digits)) {
              problems.push([`${key}.${f}`, NUMBER_HINTS[f]]);
              continue;
            }
            out = Number(digits);
          }
          const was = blank(current[f]) ? null : (kind === "number" ? Number(current[f]) : String(current[f]));
          if (out !== was) part[f] = out;
        }
        if (Object.keys(part).length) body[key] = part;
      }
      if (props.callSid && (!customer || nameless(customer))) body.call_sid = props.callSid;
      return { body, problems };
    }

    async function save(formNode) {
      if (busy) return;
      clearErrors(formNode);
      const { body, problems } = collect(formNode);
      if (problems.length) {
        for (const [field, text] of problems) fieldError(formNode, field, text);
        focusFirstError(formNode);
        return;
      }
      if (customer && !Object.keys(body).filter((k) => k !== "call_sid").length) {
        mode = "view"; message = { kind: "done", text: "Nothing changed." }; render();
        return;
      }
      busy = true;
      formNode.querySelector(".cc-save").disabled = true;
      const result = customer
        ? await api.patch(`/api/customers/${customer.id}`, body)
        : await api.post("/api/customers", body);
      busy = false;
      if (destroyed) return;
      if (!result.ok) {
        formNode.querySelector(".cc-save").disabled = false;
        showErrors(formNode, result.error);
        focusFirstError(formNode);
        if (customer && result.error.id === "duplicate-phone" && result.error.details) {
          await offerFromConflict(result.error.details.customer_id, body);
        }
        return;
      }
      const saved = result.body;
      props.customerId = saved.id;
      mode = "view";
      message = { kind: "done", text: `Saved ${saved.name}'s details.` };
      await load();
      if (options.onChange) options.onChange(customer || saved);
      await findDuplicates();
    }

    function showErrors(formNode, error) {
      const list = error.details && error.details.problems;
      if (list && list.length) {
        for (const p of list) fieldError(formNode, p.field || "", p.message);
      } else {
        const field = error.field || "";
        const prefix = `${field}: `;
        const text = error.message && error.message.startsWith(prefix)
          ? error.message.slice(prefix.length) : error.message;
        fieldError(formNode, field === "phones" ? "phone" : field, text);
      }
    }

    // The number being added belongs to someone else: offer to merge them in, and once
    // merged, save the rest of what was typed (the refused edit stored nothing).
    async function offerFromConflict(otherId, body) {
      const found = await duplicatesOf(customer.id, { phone: body.phone });
      if (destroyed || mode !== "edit") return;
      duplicates = found.filter((d) => d.id === otherId);
      if (!duplicates.length) return;
      const rest = { ...body };
      delete rest.phone;
      retry = Object.keys(rest).length ? rest : null;
      root.append(mergeOffer());
    }

    // -------------------------------------------------------------------- the merge

    async function duplicatesOf(id, query) {
      const qs = new URLSearchParams(query).toString();
      try {
        const body = await api.getJson(`/api/customers/${id}/duplicates${qs ? `?${qs}` : ""}`);
        return body.duplicates;
      } catch (err) {
        return [];
      }
    }

    async function findDuplicates() {
      if (!customer) return;
      duplicates = await duplicatesOf(customer.id, {});
      confirming = null;
      render();
    }

    function mergeOffer() {
      const box = el("div", { class: "cc-merge", role: "region", "aria-label": "Possible duplicate" });
      for (const d of duplicates.slice(0, 3)) {
        if (confirming && confirming.id === d.id) {
          box.append(el("div", { class: "cc-confirm" },
            el("p", { text: `Merge ${d.name} into this customer? Their phone numbers, leads, ` +
                            "calls, appointments, tasks, vehicles and history move here, and " +
                            `${d.name}'s separate record is removed. This cannot be undone.` }),
            el("button", { type: "button", class: "cc-danger", onclick: () => merge(d) },
               `Yes, merge ${d.name}`),
            el("button", { type: "button", class: "cc-secondary",
                           onclick: () => { confirming = null; render(); } }, "Not now")));
          continue;
        }
        const contact = d.last_contact ? ` Last contact ${window.Fmt.relative(d.last_contact)}.` : "";
        box.append(el("div", { class: "cc-dup" },
          el("p", {},
            el("strong", { text: d.name }), ` has the same ${matchWords(d.matched_on)} — Merge?`,
            el("span", { class: "cc-muted", text: contact })),
          el("button", { type: "button", class: "cc-merge-yes",
                         onclick: () => { confirming = d; mode = "view"; render(); } }, "Merge…"),
          el("button", { type: "button", class: "cc-secondary",
                         onclick: () => { duplicates = duplicates.filter((x) => x !== d); render(); } },
             "Not the same person")));
      }
      return box;
    }

    async function merge(d) {
      if (busy || !customer) return;
      busy = true;
      // On a call the agent merges into the call's customer (the one this card shows);
      // away from a call only supervisors merge (the customer's own route).
      const result = props.callSid
        ? await api.post(`/api/calls/${encodeURIComponent(props.callSid)}/customer/merge`,
                         { other_id: d.id, customer_id: customer.id })
        : await api.post(`/api/customers/${customer.id}/merge`, { other_id: d.id });
      busy = false;
      if (destroyed) return;
      confirming = null;
      if (!result.ok) {
        message = { kind: "error", text: sentence(result.error.message) };
        render();
        return;
      }
      duplicates = duplicates.filter((x) => x.id !== d.id);
      message = { kind: "done", text: `Merged ${d.name} into this customer.` };
      if (retry) {
        const again = await api.patch(`/api/customers/${customer.id}`, retry);
        retry = null;
        if (!again.ok) message = { kind: "error", text: sentence(again.error.message) };
      }
      await load();
      if (options.onChange) options.onChange(customer || result.body);
    }

    const uid = Math.random().toString(36).slice(2, 8);
    render();
    load();

    return {
      update(next) {
        const changed = ["customerId", "callSid", "phone"].some(
          (k) => k in next && (next[k] || null) !== props[k]);
        if (!changed) return;
        const sameCustomer = (next.customerId || null) === props.customerId && props.customerId;
        props = { ...props, ...Object.fromEntries(
          Object.entries(next).map(([k, v]) => [k, v || null])) };
        if (!sameCustomer) { mode = "view"; message = null; duplicates = []; confirming = null; }
        load();
      },
      destroy() {
        destroyed = true;
        generation += 1;
        root.remove();
      },
    };
  }

  window.CustomerCard = { mount };
})();
