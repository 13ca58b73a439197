"""Every JSON API endpoint, every role: the server checks who may call it. Anonymous calls
are refused (401, or for a write without a session the CSRF check's 400); a role the
endpoint does not name is 403 before anything else happens; a role it names gets past the
check (whatever the answer then is: 404 for the made-up ids here, 400, 409, 200). The
roles come from each view's ``require_role``, so an endpoint without one fails this test."""

from __future__ import annotations

import pytest

from crm_core.models import Role

FILL = {"int": "999999", "default": "CA" + "0" * 32, "string": "CA" + "0" * 32}


def _endpoints(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = rule.rule
        for name, converter in rule._converters.items():
            kind = type(converter).__name__.replace("Converter", "").lower()
            value = FILL["int"] if kind in ("integer", "int") else FILL["default"]
            path = _replace(path, name, value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, path


def _replace(path: str, name: str, value: str) -> str:
    start = path.index("<")
    while start >= 0:
        end = path.index(">", start)
        if path[start + 1 : end].split(":")[-1] == name:
            return path[:start] + value + path[end + 1 :]
        start = path.find("<", end)
    return path


def test_every_api_endpoint_names_its_roles_and_enforces_them(app, api):
    seen = 0
    for endpoint, method, path in _endpoints(app):
        view = app.view_functions[endpoint]
        roles = getattr(view, "roles", None)
        assert roles, f"{method} {path} ({endpoint}) has no require_role"
        anonymous = app.test_client().open(path, method=method, json={}, buffered=False)
        expected = (401,) if method == "GET" else (400, 401)  # a write: CSRF refuses first
        assert anonymous.status_code in expected, (method, path, anonymous.status_code)
        anonymous.close()
        for role in Role:
            response = api.request(method, path, as_=role.value, json={}, buffered=False)
            status = response.status_code
            response.close()
            if role in roles:
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)
        seen += 1
    assert seen >= 30  # the matrix really ran over the API


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_an_agent_cannot_act_on_anothers_offer(api, role):
    """The offer endpoints act on the caller's own offers only: nothing offered to you is a
    404, whoever you are."""
    response = api.post("/api/agents/me/offers/CA" + "1" * 32 + "/accept", as_=role)
    assert response.status_code in (404, 409)


@pytest.mark.parametrize(
    ("method", "path", "roles"),
    [  # the in-call transfers and keypad (console/transfer.py, incall.py), "why" (supervise.py)
        ("POST", "/api/agents/me/call/digits", set(Role)),
        ("POST", "/api/agents/me/call/consult/complete", set(Role)),
        ("GET", "/api/agents/me/transfer-targets", set(Role)),
        ("GET", "/api/agents/me/call/recording", set(Role)),  # recording/control_views.py
        ("POST", "/api/agents/me/call/recording/pause", set(Role)),
        ("POST", "/api/agents/me/call/recording/resume", set(Role)),
        ("POST", "/api/agents/me/script/step", set(Role)),
        ("GET", "/api/acd/calls/CA0/why", {Role.SUPERVISOR, Role.ADMIN}),
        # recordings (recording/access.py): an agent's own are checked per recording
        ("GET", "/api/recordings", set(Role)),
        ("GET", "/api/recordings/999999", set(Role)),
        ("GET", "/api/recordings/999999/media", set(Role)),
        ("POST", "/api/recordings/999999/hold", {Role.ADMIN}),
    ],
)
def test_transfer_and_why_endpoints_are_in_the_matrix(app, api, method, path, roles):
    for role in Role:
        status = api.request(method, path, as_=role.value, json={}).status_code
        assert (status == 403) == (role not in roles), (method, path, role, status)


@pytest.mark.parametrize(
    ("method", "path", "roles"),
    [  # QA scores (recording/qa.py): supervisors score and read; anyone reads their own
        ("GET", "/api/qa/scorecards", set(Role)),
        ("POST", "/api/recordings/999999/scores", {Role.SUPERVISOR, Role.ADMIN}),
        ("GET", "/api/recordings/999999/scores", {Role.SUPERVISOR, Role.ADMIN}),
        ("GET", "/api/agents/me/scores", set(Role)),
        ("GET", "/api/qa/averages", {Role.SUPERVISOR, Role.ADMIN}),
        ("GET", "/qa", {Role.SUPERVISOR, Role.ADMIN}),
        ("GET", "/qa/mine", set(Role)),
    ],
)
def test_qa_endpoints_are_in_the_matrix(app, api, method, path, roles):
    for role in Role:
        status = api.request(method, path, as_=role.value, json={}).status_code
        assert (status == 403) == (role not in roles), (method, path, role, status)
