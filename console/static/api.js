/* The console pages' JSON client, one copy for every page (agent desk, wallboard, QA).
 *
 * ConsoleApi.client(meUrl) gives
 *  - getJson(url): the parsed answer; signed out (401) goes to the login page and back;
 *  - post(url, body), patch(url, body), put(url, body), del(url): JSON with the CSRF header (the
 *    page's token, or GET /api/me's once the server refused it), resolving to {ok: true, body} or
 *    {ok: false, error} with the API's error object ({id, message, field}) or one saying
 *    what went wrong, never a rejected promise.
 */
(function () {
  "use strict";

  function client(meUrl) {
    // The token the page was rendered with (base.html), else GET /api/me's.
    const meta = document.querySelector('meta[name="csrf-token"]');
    let token = meta ? meta.content : null;

    async function getJson(url) {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
        throw new Error("signed out");
      }
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return response.json();
    }

    async function csrf() {
      if (!token) token = (await getJson(meUrl)).csrf_token;
      return token;
    }

    async function send(method, url, body) {
      let response;
      try {
        response = await fetch(url, {
          method,
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": await csrf() },
          body: JSON.stringify(body || {}),
        });
      } catch (err) {
        return { ok: false, error: { message: "the server cannot be reached; try again" } };
      }
      let data = null;
      try { data = await response.json(); } catch (err) { data = null; }
      if (response.ok) return { ok: true, body: data };
      if (response.status === 400 && data && data.error && data.error.id === "csrf") token = null;
      return { ok: false, error: (data && data.error) || { message: `HTTP ${response.status}` } };
    }

    const post = (url, body) => send("POST", url, body);
    const patch = (url, body) => send("PATCH", url, body);
    const put = (url, body) => send("PUT", url, body);
    const del = (url) => send("DELETE", url);

    return { getJson, post, patch, put, del };
  }

  window.ConsoleApi = { client };
})();
