"""A console session ends on the server: after logging out, a new password or a
deactivation, a copy of the session cookie taken before no longer works (the user's
session generation, console/auth.py), and the check costs no query of its own."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app import cli
from crm_core.audit import CLI
from crm_core.schemas import UserIn
from crm_core.users import create_user, set_active
from tests.console.test_auth import login


@pytest.fixture
def ana(deps, clock):
    with deps.session_factory.begin() as s:
        create_user(s, UserIn(username="ana", password="ana-password"), clock)


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value):
    """A second browser holding a copy of the cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def csrf(client) -> str:
    return client.get("/api/me").json["csrf_token"]


def test_a_copied_cookie_stops_working_at_logout(app, client, ana):
    login(client)
    copy = with_cookie(app, cookie_of(client))
    assert copy.get("/api/me").status_code == 200
    out = client.post("/logout", data={"csrf_token": csrf(client)})
    assert out.status_code == 302
    assert copy.get("/api/me").status_code == 401
    assert copy.get("/agent").status_code == 302  # the page sends them to the login
    assert client.get("/api/me").status_code == 401


def test_logout_ends_the_users_other_sessions_and_a_new_login_works(app, client, ana):
    login(client)
    elsewhere = app.test_client()
    login(elsewhere)
    client.post("/logout", data={"csrf_token": csrf(client)})
    assert elsewhere.get("/api/me").status_code == 401
    login(elsewhere)
    assert elsewhere.get("/api/me").json["username"] == "ana"


def test_a_new_password_from_the_cli_ends_old_sessions(app, client, ana):
    login(client)
    copy = with_cookie(app, cookie_of(client))
    runner = app.test_cli_runner()
    done = runner.invoke(cli, ["users", "set-password", "ana", "--password", "new-password-1"])
    assert done.exit_code == 0, done.output
    assert client.get("/api/me").status_code == 401
    assert copy.get("/api/me").status_code == 401
    assert login(client, password="new-password-1").status_code == 302
    assert client.get("/api/me").status_code == 200


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(
    app, client, deps, clock, ana
):
    login(client)
    old = cookie_of(client)
    with deps.session_factory.begin() as s:
        set_active(s, clock, "ana", False, actor=CLI)
    assert client.get("/api/me").status_code == 401
    with deps.session_factory.begin() as s:
        set_active(s, clock, "ana", True, actor=CLI)
    assert with_cookie(app, old).get("/api/me").status_code == 401


def test_the_check_needs_no_query_of_its_own(app, client, deps, ana):
    """A cookie request reads the user row once, as before the check existed."""
    login(client)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engines = {deps.engine, deps.read_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get("/api/me").status_code == 200
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    assert len(seen) == 1 and "FROM users" in seen[0], seen
