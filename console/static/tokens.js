/* The administrators' API tokens page (templates/tokens.html, console/tokens.py), plain
 * JavaScript, no build step.
 *
 * The list comes from GET /api/tokens (with ?revoked=1 when revoked ones are shown): who a
 * token acts as by name, its times in the viewer's time zone (Fmt), its state in words. The
 * form POSTs /api/tokens and shows the new token once; Revoke sends DELETE /api/tokens/<id>
 * after a confirmation. Errors are the API's sentences.
 */
(function () {
  "use strict";

  const settings = JSON.parse(document.getElementById("tokens-settings").textContent);
  const api = ConsoleApi.client(settings.me);
  const $ = (id) => document.getElementById(id);
  const STATES = {
    active: "Works",
    expired: "Expired",
    revoked: "Revoked",
    "user deactivated": "User deactivated",
  };

  const node = window.Dom.node; // dom.js

  function when(iso, none) {
    return iso ? node("time", { datetime: iso, title: iso }, Fmt.when(iso)) : none;
  }

  function row(token) {
    const off = token.state !== "active";
    const revoke = token.revoked_at ? null
      : node("button", { type: "button", "data-id": token.id, class: "tk-revoke" }, "Revoke");
    return node("tr", { class: off ? "tk-off" : null, "data-token": token.id },
      node("td", null, token.name, node("span", { class: "tk-prefix" }, `${token.prefix}…`)),
      node("td", { class: "tk-user" }, token.user.display_name,
        node("small", null, token.user.username)),
      node("td", null, when(token.created_at, "–")),
      node("td", null, when(token.last_used_at, "never")),
      node("td", null, token.revoked_at ? "–" : when(token.expires_at, "never")),
      node("td", { class: `tk-state-${token.state.replace(" ", "-")}` },
        token.revoked_at ? `${STATES.revoked} ${Fmt.time(token.revoked_at)}` : STATES[token.state] || token.state),
      node("td", null, revoke));
  }

  async function load() {
    const url = settings.tokens + ($("tk-show-revoked").checked ? "?revoked=1" : "");
    const data = await api.getJson(url);
    $("tk-rows").replaceChildren(...data.tokens.map(row));
    $("tk-empty").hidden = data.tokens.length > 0;
  }

  function showError(error) {
    $("tk-error").textContent = error ? error.message : "";
    $("tk-error").hidden = !error;
  }

  async function create(event) {
    event.preventDefault();
    showError(null);
    const body = {
      username: $("tk-user").value,
      name: $("tk-name").value,
      expires: $("tk-expires").value,
    };
    $("tk-create").disabled = true;
    const answer = await api.post(settings.tokens, body);
    $("tk-create").disabled = false;
    if (!answer.ok) {
      showError(answer.error);
      return;
    }
    $("tk-secret").textContent = answer.body.token;
    $("tk-made").hidden = false;
    $("tk-name").value = "";
    await load();
  }

  async function revoke(event) {
    const button = event.target.closest("button.tk-revoke");
    if (!button) return;
    const name = button.closest("tr").querySelector("td").firstChild.textContent;
    if (!window.confirm(`Revoke the token “${name}”? Systems using it are refused at once.`)) return;
    const answer = await api.del(settings.revoke.replace("ID", button.dataset.id));
    if (!answer.ok) {
      showError(answer.error);
      return;
    }
    await load();
  }

  function start() {
    $("tk-user").replaceChildren(...settings.users.map((u) => node("option",
      { value: u.username }, u.display_name === u.username ? `${u.display_name} · ${Fmt.label(u.role)}`
        : `${u.display_name} (${u.username}) · ${Fmt.label(u.role)}`)));
    $("tk-form").addEventListener("submit", create);
    $("tk-rows").addEventListener("click", revoke);
    $("tk-show-revoked").addEventListener("change", load);
    load();
  }

  start();
})();
