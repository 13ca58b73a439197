/* The QA pages (templates/qa.html, recording/qa.py), plain JavaScript, no build step.
 *
 * "review" (/qa, supervisors): the newest stored recordings come in the page's settings;
 * choosing one loads its audio (GET /api/recordings/<id>/media, served with its access
 * checks by recording/access.py), the scorecard form (GET /api/qa/scorecards) and the
 * scores already given (GET /api/recordings/<id>/scores). Saving POSTs the answers; the
 * server validates them and computes the total (the preview here uses the same formula,
 * but the saved total is the server's). An error names the criterion it is about.
 * "mine" (/qa/mine, any agent): GET /api/agents/me/scores, with the scorecards' labels,
 * and a player for each call still stored (an agent may play the calls they handled).
 * Beside a call, the script the agent read on it (the server's choice by the call's
 * direction and queue, scripts/choice.py): a criterion names the step of THAT script it is
 * about, and names none when the call's script has no such step.
 * Every number, time, length and label goes through Fmt (static/format.js).
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("qa-settings").textContent);
  const LANG = (navigator.language || "en-US").toLowerCase().startsWith("es") ? "es-MX" : "en-US";
  const state = { cards: {}, recording: null, saving: false };
  const $ = (id) => document.getElementById(id);

  const node = window.Dom.node; // dom.js

  const url = (template, id) => template.replace("ID", encodeURIComponent(id));
  const when = (iso) => Fmt.time(iso);
  const percent = (value) => `${Number(value).toFixed(1)} %`;
  const duration = (seconds) => Fmt.duration(seconds);

  /* "Inbound from (313) 555-0100", "Outbound to (313) 555-0142": the other party. */
  function callText(call) {
    if (!call || !call.direction) return "";
    const inbound = call.direction === "inbound";
    return `${inbound ? "Inbound" : "Outbound"} ${inbound ? "from" : "to"} ${Fmt.phone(inbound ? call.from : call.to)}`
      + (call.queue ? `, ${Fmt.label(call.queue)} queue` : "");
  }

  function scriptName(script) {
    return script ? Fmt.label(script.name) : "";
  }

  /* Where a criterion points in the call's own script, or null (the step is not in it). */
  function reference(c, script) {
    if (!script) return null;
    if (c.step && script.steps.includes(c.step)) return `${scriptName(script)} script, step “${Fmt.label(c.step)}”`;
    if (c.section && script.sections.includes(c.section)) {
      return `${scriptName(script)} script, section “${Fmt.label(c.section)}”`;
    }
    return null;
  }
  const label = (criterion) => criterion.label[LANG] || criterion.label["en-US"] || criterion.id;

  const { getJson, post } = ConsoleApi.client(settings.me); // console/static/api.js

  function showError(message) {
    const box = $("qa-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function loadCards() {
    const data = await getJson(settings.scorecardsUrl);
    for (const card of data.scorecards) state.cards[card.name] = card;
  }

  /* One saved score: total, who and when, each criterion's points, the comments. */
  function scoreItem(score, extra) {
    const card = state.cards[score.scorecard];
    const criteria = card ? card.criteria : [];
    const byId = Object.fromEntries(criteria.map((c) => [c.id, c]));
    // In the scorecard's order (the JSON object's is not), criteria it no longer has last.
    const rank = (id) => (id in byId ? criteria.indexOf(byId[id]) : criteria.length);
    const entries = Object.entries(score.answers).sort(([a], [b]) => rank(a) - rank(b));
    const lines = entries.map(([id, points]) => {
      const c = byId[id];
      const max = c ? c.max_points : "?";
      return [node("dt", {}, c ? label(c) : Fmt.label(id)),
        node("dd", {}, points === null ? "Not applicable" : `${points} of ${max}`)];
    });
    return node("li", { class: "qa-score", "data-score": score.id },
      node("div", { class: "head" },
        node("span", { class: "total" }, percent(score.total)),
        node("span", { class: "who" },
          `${when(score.created_at)} · reviewed by ${score.reviewer.name || "a supervisor"}`)),
      extra || null,
      node("dl", {}, ...lines.flat()),
      score.comments ? node("p", { class: "comments" }, node("strong", {}, "Comments: "), score.comments) : null);
  }

  // ------------------------------------------------------------------ review (/qa)
  function renderRecordings() {
    const body = $("qa-recordings").querySelector("tbody");
    if (!settings.recordings.length) {
      body.replaceChildren(node("tr", {}, node("td", { colspan: "7", class: "qa-empty" },
        "No stored recording yet.")));
      return;
    }
    body.replaceChildren(...settings.recordings.map((r) => {
      const call = r.call || {};
      return node("tr", { "data-recording": r.id,
        class: state.recording === r.id ? "selected" : null },
        node("td", {}, when(r.started_at)),
        node("td", {}, r.agent.name || "No agent"),
        node("td", { class: "call" }, callText(call)),
        node("td", { class: "script" }, scriptName(call.script)),
        node("td", {}, duration(r.duration_seconds)),
        node("td", { class: "count" }, r.scores),
        node("td", {}, node("button", { type: "button", "data-action": "review" }, "Score")));
    }));
  }

  function selectedScript() {
    const recording = settings.recordings.find((r) => r.id === state.recording);
    return recording && recording.call ? recording.call.script : null;
  }

  function renderForm() {
    const card = state.cards[$("qa-scorecard").value];
    const script = selectedScript();
    const rows = (card ? card.criteria : []).map((c) => {
      const choices = [node("option", { value: "" }, "Choose…"), node("option", { value: "na" }, "Not applicable")];
      for (let p = 0; p <= c.max_points; p++) choices.push(node("option", { value: String(p) }, p));
      const ref = reference(c, script);
      return node("tr", { "data-criterion": c.id },
        node("td", {}, node("label", { for: `qa-c-${c.id}` }, label(c)),
          ref ? node("span", { class: "ref" }, ref) : null),
        node("td", {}, c.weight),
        node("td", {}, node("select", { id: `qa-c-${c.id}`, name: c.id }, ...choices)));
    });
    $("qa-criteria").querySelector("tbody").replaceChildren(...rows);
    updateTotal();
  }

  function answers() {
    const out = {};
    for (const select of $("qa-criteria").querySelectorAll("select")) {
      if (select.value === "na") out[select.name] = null;
      else if (select.value !== "") out[select.name] = Number(select.value);
    }
    return out;
  }

  function updateTotal() {
    const card = state.cards[$("qa-scorecard").value];
    const given = answers();
    let got = 0;
    let weight = 0;
    for (const c of card ? card.criteria : []) {
      const points = given[c.id];
      if (points === null || points === undefined) continue;
      got += (c.weight * points) / c.max_points;
      weight += c.weight;
    }
    $("qa-total").textContent = weight ? percent((100 * got) / weight) : "–";
  }

  async function loadScores(id) {
    const data = await getJson(url(settings.scoresUrl, id));
    const list = $("qa-scores");
    list.replaceChildren(...(data.scores.length ? data.scores.map((s) => scoreItem(s))
      : [node("li", { class: "qa-empty" }, "Not scored yet.")]));
    return data.scores.length;
  }

  async function review(id) {
    state.recording = id;
    renderRecordings();
    const recording = settings.recordings.find((r) => r.id === id);
    $("qa-review").hidden = false;
    $("qa-review-title").textContent = recording
      ? `${recording.agent.name || "No agent"}'s call, ${when(recording.started_at)}`
      : `Recording ${id}`;
    const script = recording && recording.call ? recording.call.script : null;
    const about = $("qa-call-script");
    about.textContent = recording && recording.call
      ? `${callText(recording.call)}, ${duration(recording.duration_seconds)}. `
        + (script ? `The agent's script on this call: ${scriptName(script)}`
          + `${script.description ? ` (${script.description.replace(/\.$/, "")})` : ""}.` : "")
      : "";
    const player = $("qa-player");
    player.src = url(settings.mediaUrl, id);
    $("qa-comments").value = "";
    $("qa-saved").textContent = "";
    showError(null);
    renderForm();
    try {
      await loadScores(id);
    } catch (err) {
      showError(`The saved scores could not be read (${err.message}).`);
    }
  }

  async function save(event) {
    event.preventDefault();
    if (state.saving || state.recording === null) return;
    state.saving = true;
    $("qa-save").disabled = true;
    showError(null);
    for (const row of $("qa-criteria").querySelectorAll("tr.invalid")) row.classList.remove("invalid");
    const result = await post(url(settings.scoresUrl, state.recording), {
      scorecard: $("qa-scorecard").value,
      answers: answers(),
      comments: $("qa-comments").value,
    });
    state.saving = false;
    $("qa-save").disabled = false;
    if (!result.ok) {
      const field = result.error.field || "";
      const id = field.startsWith("answers.") ? field.slice(8) : null;
      const row = id && $("qa-criteria").querySelector(`tr[data-criterion="${CSS.escape(id)}"]`);
      if (row) row.classList.add("invalid");
      showError(result.error.message);
      return;
    }
    $("qa-saved").textContent = `Saved: ${percent(result.body.total)}`;
    const count = await loadScores(state.recording).catch(() => null);
    const recording = settings.recordings.find((r) => r.id === state.recording);
    if (recording && count !== null) recording.scores = count;
    renderRecordings();
  }

  async function startReview() {
    renderRecordings();
    $("qa-recordings").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action=review]");
      if (button) review(Number(button.closest("tr").dataset.recording));
    });
    $("qa-form").addEventListener("submit", save);
    $("qa-criteria").addEventListener("change", updateTotal);
    $("qa-scorecard").addEventListener("change", renderForm);
    try {
      await loadCards();
    } catch (err) {
      showError(`The scorecards could not be read (${err.message}).`);
      return;
    }
    const names = Object.keys(state.cards).sort();
    $("qa-scorecard").replaceChildren(...names.map((n) =>
      node("option", { value: n, selected: n === settings.defaultScorecard ? "" : null },
        state.cards[n].description || Fmt.label(n))));
    document.getElementById("qa").dataset.ready = "1";
    if (settings.selected) review(settings.selected);
  }

  // ------------------------------------------------------------------ mine (/qa/mine)
  async function startMine() {
    const list = $("qa-mine");
    try {
      const [, data] = await Promise.all([loadCards(), getJson(settings.myScoresUrl)]);
      list.replaceChildren(...(data.scores.length ? data.scores.map((s) => {
        const call = s.call || {};
        const about = node("p", { class: "about" },
          `Call of ${when(call.created_at || s.recording.started_at)}` +
          (call.direction ? ` · ${callText(call)}` : "") +
          (s.recording.duration_seconds ? ` · ${duration(s.recording.duration_seconds)}` : "") +
          (call.script ? ` · script: ${scriptName(call.script)}` : ""));
        // The agent may play their own calls (recording/access.py checks); a deleted
        // recording keeps its score but has no audio.
        if (s.recording.status === "stored") {
          about.append(node("audio", { controls: "", preload: "none", class: "qa-audio",
            src: url(settings.mediaUrl, s.recording.id) }));
        }
        return scoreItem(s, about);
      }) : [node("li", { class: "qa-empty" }, "No score yet.")]));
    } catch (err) {
      list.replaceChildren();
      showError(`Your scores could not be read (${err.message}).`);
    }
    document.getElementById("qa").dataset.ready = "1";
  }

  window.qa = { state, settings };
  if (settings.mode === "review") startReview();
  else startMine();
})();
