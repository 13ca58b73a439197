"""Login, sessions, bearer tokens, roles and CSRF."""

import re

import pytest

from crm_core.models import Role
from crm_core.schemas import UserIn
from crm_core.users import create_user


@pytest.fixture
def ana(deps, clock):
    with deps.session_factory.begin() as s:
        create_user(s, UserIn(username="ana", password="ana-password"), clock)


def csrf_from(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def login(client, username="ana", password="ana-password", **kw):
    token = csrf_from(client.get("/login").data)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, **kw
    )


def test_login_then_the_api_knows_who_you_are(client, ana):
    response = login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    me = client.get("/api/me")
    assert me.json["username"] == "ana" and me.json["csrf_token"]
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_and_unknown_user_look_the_same(client, ana):
    wrong = login(client, password="nope-nope")
    unknown = login(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert b"Wrong username or password" in wrong.data and b"Wrong username" in unknown.data
    assert client.get("/api/me").status_code == 401


def test_login_form_without_csrf_token_is_refused(client, ana):
    response = client.post("/login", data={"username": "ana", "password": "ana-password"})
    assert response.status_code == 400
    assert client.get("/api/me").status_code == 401


def test_cookie_writes_need_the_csrf_header_bearer_writes_do_not(client, ana, api):
    login(client)
    body = {"first_name": "Ann", "phones": ["3135550100"]}
    refused = client.post("/api/customers", json=body)
    assert refused.status_code == 400 and refused.json["error"]["field"] == "csrf_token"
    token = client.get("/api/me").json["csrf_token"]
    ok = client.post("/api/customers", json=body, headers={"X-CSRFToken": token})
    assert ok.status_code == 201
    assert api.post("/api/customers", json={"phones": ["3135550101"]}).status_code == 201


def test_login_redirect_is_never_off_site(client, ana):
    for target, expected in [
        ("/api/leads", "/api/leads"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ]:
        token = csrf_from(client.get("/login").data)
        response = client.post(
            "/login",
            query_string={"next": target},
            data={"username": "ana", "password": "ana-password", "csrf_token": token},
        )
        assert response.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/").data)})


def test_pages_redirect_to_login_api_answers_401(client):
    assert client.get("/api/leads").status_code == 401
    assert client.get("/api/leads").json["error"]["id"] == "unauthorized"


def test_disabled_user_loses_access(client, deps, ana, api):
    login(client)
    from sqlalchemy import update

    from crm_core.models import User

    with deps.session_factory.begin() as s:
        s.execute(update(User).values(active=False))
    assert client.get("/api/me").status_code == 401


def test_revoked_token_stops_working(api, deps, clock):
    from sqlalchemy import select

    from crm_core.models import ApiToken
    from crm_core.users import revoke_token

    assert api.get("/api/me").status_code == 200
    with deps.session_factory.begin() as s:
        revoke_token(s, s.scalars(select(ApiToken.id)).one(), clock)
    assert api.get("/api/me").status_code == 401


# Role matrix: every endpoint, every role. Agents read and work leads; supervisors also merge;
# only admins export or erase a customer.
ENDPOINTS = [
    ("GET", "/api/me", dict.fromkeys(Role, 200)),
    ("GET", "/api/customers?q=a", dict.fromkeys(Role, 200)),
    ("GET", "/api/leads", dict.fromkeys(Role, 200)),
    ("GET", "/api/calls", dict.fromkeys(Role, 200)),
    ("POST", "/api/customers/1/merge", {Role.AGENT: 403, Role.SUPERVISOR: 404, Role.ADMIN: 404}),
    ("GET", "/api/customers/1/export", {Role.AGENT: 403, Role.SUPERVISOR: 403, Role.ADMIN: 404}),
    ("POST", "/api/customers/1/erase", {Role.AGENT: 403, Role.SUPERVISOR: 403, Role.ADMIN: 404}),
]


@pytest.mark.parametrize(("method", "path", "expected"), ENDPOINTS)
def test_role_matrix(api, client, method, path, expected):
    for role, status in expected.items():
        response = api.request(method, path, as_=role.value, json={"duplicate_id": 2})
        assert response.status_code == status, (role, response.json)
    assert client.open(path, method=method).status_code in (400, 401)  # anonymous


def test_logins_are_rate_limited_per_user_then_allowed_again(client, ana, clock):
    for _ in range(5):
        assert login(client, password="wrong-password").status_code == 401
    refused = login(client)  # the right password, but too many failures first
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert b"Too many failed logins" in refused.data
    clock.advance(15 * 60)
    assert login(client).status_code == 302


def test_logins_are_rate_limited_per_address(client, ana):
    for n in range(30):
        login(client, username=f"someone-{n}", password="guess-guess")
    assert login(client).status_code == 429
