"""The browser's defences on every answer (console/security.py): a Content-Security-Policy
with no inline script on every HTML page, no framing, nosniff, a referrer policy, and HSTS
only behind https; and no template that needs what the policy forbids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import make_app
from tests.console.test_auth import login

CONSOLE = Path(__file__).parents[2] / "console"


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}


@pytest.fixture
def signed_in(client, api):
    api.user("admin", username="ana")
    login(client, "ana", "pw-123456")
    return client


@pytest.mark.parametrize("path", ["/", "/login", "/agent", "/wallboard", "/qa", "/nowhere"])
def test_every_html_page_has_the_policy(signed_in, path):
    page = signed_in.get(path)
    assert page.mimetype == "text/html", (path, page.status_code)
    csp = directives(page)
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in page.headers  # plain http here


def test_json_and_static_files_say_nosniff(signed_in):
    for path in ("/api/me", "/console/static/format.js"):
        with signed_in.get(path) as answer:
            assert answer.headers["X-Content-Type-Options"] == "nosniff", path


def test_hsts_only_behind_https(database_url, redis_url, clock, tmp_path):
    apps = make_app(
        database_url, redis_url, clock, tmp_path, PUBLIC_BASE_URL="https://cc.example.com"
    )
    app = next(apps)
    try:
        page = app.test_client().get("/login")
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    finally:
        next(apps, None)  # the fixture's teardown: empty and close (close() would skip it)


def test_the_twilio_softphone_may_reach_twilio(database_url, redis_url, clock, tmp_path):
    apps = make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="x" * 32,
        TWILIO_API_KEY_SID="SK" + "0" * 32,
        TWILIO_API_KEY_SECRET="y" * 32,
        TWILIO_TWIML_APP_SID="AP" + "0" * 32,
    )
    app = next(apps)
    try:
        csp = directives(app.test_client().get("/login"))
        assert "wss://*.twilio.com" in csp["connect-src"]
        assert "https://eventgw.twilio.com" in csp["connect-src"]
        assert "https://sdk.twilio.com" in csp["media-src"]
    finally:
        next(apps, None)  # the fixture's teardown: empty and close (close() would skip it)


def test_a_separate_simulator_is_reachable_from_the_desk(database_url, redis_url, clock, tmp_path):
    apps = make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="simulator",
        TWILIO_API_BASE_URL="http://127.0.0.1:5099",
    )
    app = next(apps)
    try:
        csp = directives(app.test_client().get("/login"))
        assert csp["connect-src"] == ["'self'", "http://127.0.0.1:5099"]
    finally:
        next(apps, None)  # the fixture's teardown: empty and close (close() would skip it)


INLINE = [
    (
        re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"),
        "inline script",
    ),
    (re.compile(r"<style\b"), "inline style element"),
    (re.compile(r"\sstyle=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]
SCRIPT_SINS = [
    (re.compile(r"\beval\s*\("), "eval"),
    (re.compile(r"new\s+Function\s*\("), "new Function"),
    (re.compile(r"set(?:Timeout|Interval)\s*\(\s*[\"'`]"), "string timer"),
    (re.compile(r"setAttribute\(\s*[\"']style"), "style attribute"),
    (re.compile(r"setAttribute\(\s*[\"']on"), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("path", sorted(CONSOLE.rglob("templates/*.html")), ids=lambda p: p.name)
def test_no_template_needs_inline_script_or_style(path):
    text = path.read_text()
    found = [why for pattern, why in INLINE if pattern.search(text)]
    assert found == [], f"{path.name}: {found}"


@pytest.mark.parametrize("path", sorted(CONSOLE.glob("static/*.js")), ids=lambda p: p.name)
def test_no_script_evaluates_strings(path):
    text = path.read_text()
    found = [why for pattern, why in SCRIPT_SINS if pattern.search(text)]
    assert found == [], f"{path.name}: {found}"
