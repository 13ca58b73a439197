"""API tokens end: an optional expiry, a last-used time written at most once a minute,
``callcenter tokens create --expires / list / revoke``, the admins' ``/api/tokens`` and the
page; an expired or revoked token is a 401 that says why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select

from crm_core.audit import AuditEntry
from crm_core.errors import InvalidInput
from crm_core.models import ApiToken
from crm_core.users import parse_expiry
from tests.conftest import START


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cli_token(runner, *args) -> str:
    made = runner.invoke(args=["tokens", "create", *args])
    assert made.exit_code == 0, made.output
    return made.output.strip().splitlines()[-1]


def token_row(deps, name):
    with deps.session_factory() as s:
        return s.scalars(select(ApiToken).where(ApiToken.name == name)).one()


@pytest.fixture
def ana(api):
    return api.user("agent", username="ana")[0]


# ------------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    "text, after",
    [
        ("90d", timedelta(days=90)),
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("2026-02-01", timedelta(days=26, hours=9)),  # the start of that day, UTC
        ("2026-01-06T09:00:00+00:00", timedelta(hours=18)),
    ],
)
def test_expiry_texts(text, after):
    assert parse_expiry(text, START) == START + after


@pytest.mark.parametrize(
    "text", ["0d", "-5d", "yesterday", "2026-01-01", "90y", "99999d", "2026-13-01"]
)
def test_bad_expiry_names_the_field(text):
    with pytest.raises(InvalidInput) as err:
        parse_expiry(text, START)
    assert err.value.field == "expires" and err.value.message


def test_never_and_empty_mean_no_expiry():
    assert parse_expiry("never", START) is None and parse_expiry("", START) is None


def test_an_expired_token_is_a_401_that_says_so(app, runner, clock, ana):
    token = cli_token(runner, "ana", "--name", "crm", "--expires", "12h")
    client = app.test_client()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    clock.advance(12 * 3600)
    refused = client.get("/api/me", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"]["id"] == "token-expired"
    assert "expired" in refused.json["error"]["message"]


def test_a_revoked_token_is_a_401_that_says_so(app, runner, deps, ana):
    token = cli_token(runner, "ana", "--name", "crm")
    row = token_row(deps, "crm")
    done = runner.invoke(args=["tokens", "revoke", str(row.id)])
    assert done.exit_code == 0 and "revoked" in done.output, done.output
    refused = app.test_client().get("/api/me", headers=bearer(token))
    assert refused.status_code == 401 and refused.json["error"]["id"] == "token-revoked"
    again = runner.invoke(args=["tokens", "revoke", str(row.id)])
    assert again.exit_code == 0 and "already" in again.output
    unknown = runner.invoke(args=["tokens", "revoke", "99999"])
    assert unknown.exit_code == 1 and "no API token" in unknown.output


def test_a_deactivated_users_token_says_so(app, runner, ana):
    token = cli_token(runner, "ana", "--name", "crm")
    runner.invoke(args=["users", "deactivate", "ana"])
    refused = app.test_client().get("/api/me", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"]["id"] == "token-user-deactivated"


# ----------------------------------------------------------------------- last use


def test_last_use_is_written_at_most_once_a_minute(app, runner, deps, clock, ana):
    token = cli_token(runner, "ana", "--name", "crm")
    client = app.test_client()
    assert token_row(deps, "crm").last_used_at is None
    writes: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    event.listen(deps.engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert client.get("/api/me", headers=bearer(token)).status_code == 200
            clock.advance(5)
        assert len(writes) == 1
        assert token_row(deps, "crm").last_used_at == START
        clock.advance(60)
        client.get("/api/me", headers=bearer(token))
        assert len(writes) == 2
    finally:
        event.remove(deps.engine, "before_cursor_execute", count)
    assert token_row(deps, "crm").last_used_at == START + timedelta(seconds=85)


# ---------------------------------------------------------------------------- CLI


def test_tokens_list_shows_names_and_times(runner, clock, ana):
    cli_token(runner, "ana", "--name", "dealer crm", "--expires", "90d")
    old = cli_token(runner, "ana", "--name", "old feed")
    listed = runner.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0, listed.output
    assert "dealer crm" in listed.output and "ana" in listed.output
    assert "2026-04-05" in listed.output  # 90 days on
    assert "never" in listed.output  # not used yet / no expiry
    assert old[:10] in listed.output  # the prefix, to tell tokens apart
    assert "--expires" in runner.invoke(args=["tokens", "create", "--help"]).output


def test_tokens_list_hides_revoked_unless_asked(runner, deps, ana):
    cli_token(runner, "ana", "--name", "gone")
    runner.invoke(args=["tokens", "revoke", str(token_row(deps, "gone").id)])
    assert "gone" not in runner.invoke(args=["tokens", "list"]).output
    assert "revoked" in runner.invoke(args=["tokens", "list", "--all"]).output


def test_a_bad_expiry_on_the_command_line_is_one_clear_line(runner, ana):
    bad = runner.invoke(args=["tokens", "create", "ana", "--expires", "soon"])
    assert bad.exit_code == 1 and "expires" in bad.output


# ---------------------------------------------------------------------------- API


def test_admins_make_list_and_revoke_tokens_through_the_api(app, api, deps, ana):
    made = api.post(
        "/api/tokens", json={"username": "ana", "name": "leads", "expires": "30d"}, as_="admin"
    )
    assert made.status_code == 201, made.json
    assert made.json["token"].startswith("cct_") and made.json["user"]["username"] == "ana"
    assert made.headers["Cache-Control"] == "no-store"
    client = app.test_client()
    assert client.get("/api/me", headers=bearer(made.json["token"])).json["username"] == "ana"
    listed = api.get("/api/tokens", as_="admin").json["tokens"]
    mine = next(t for t in listed if t["name"] == "leads")
    assert "token" not in mine and "token_hash" not in mine and mine["state"] == "active"
    assert mine["expires_at"].startswith("2026-02-04") and mine["last_used_at"]
    gone = api.request("DELETE", f"/api/tokens/{mine['id']}", as_="admin")
    assert gone.status_code == 200 and gone.json["state"] == "revoked"
    assert client.get("/api/me", headers=bearer(made.json["token"])).status_code == 401
    assert all(t["name"] != "leads" for t in api.get("/api/tokens", as_="admin").json["tokens"])
    with deps.session_factory() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target.like("api_token:%")))
        assert sorted(actions) == ["token.create", "token.revoke"]


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_see_or_make_tokens(api, role, ana):
    assert api.get("/api/tokens", as_=role).status_code == 403
    body = {"username": "ana", "name": "x"}
    assert api.post("/api/tokens", json=body, as_=role).status_code == 403


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x"}, "username"),
        ({"username": "ana"}, "name"),
        ({"username": "nobody", "name": "x"}, "username"),
        ({"username": "ana", "name": "x", "expires": "soon"}, "expires"),
        ({"username": "ana", "name": "x", "expires": 90}, "expires"),
        ({"username": "ana", "name": "x" * 121}, "name"),
    ],
)
def test_a_bad_token_request_names_the_field(api, ana, body, field):
    bad = api.post("/api/tokens", json=body, as_="admin")
    assert bad.status_code in (400, 404) and bad.json["error"]["field"] == field, bad.json


def test_the_tokens_page_is_for_admins(api, ana):
    page = api.get("/admin/tokens", as_="admin")
    assert page.status_code == 200 and b'id="tokens-settings"' in page.data
    assert b"<script>" not in page.data
    assert api.get("/admin/tokens", as_="agent").status_code == 403
