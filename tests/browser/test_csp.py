"""Every page works under its Content-Security-Policy in headless Chromium: the start page,
the login, the agent desk with its softphone on the embedded carrier simulator, the
wallboard, QA review, the API tokens page and the demo's phone and traffic pages load,
run their scripts and reach what they need, and the browser reports no violation (the
``securitypolicyviolation`` events and the console's "Refused to …" messages)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from telephony.simulator import live
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.browser.conftest import login, serve
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

ACCOUNT = "AC" + "0" * 32
LIVE = 3000

# Runs before any of the page's scripts, in every document: collects the violations.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
  if (window.reportCsp) window.reportCsp(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="simulator",
        TWILIO_API_BASE_URL=PUBLIC,  # the simulator embedded in the app, as `callcenter run`
        DEMO_MODE=True,
        ACD_STREAM_BLOCK_SECONDS=0.5,
    )


@pytest.fixture
def sim(app, deps, clock):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=PUBLIC,
    )
    sim.wsgi = live.make_app(sim)
    deps.carrier.http.session.mount(PUBLIC, WsgiAdapter(sim.wsgi))
    sim.softphones.configure(
        app_url=f"{PUBLIC}/twilio/client", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    app.extensions["simulator"] = sim
    ticker = live.Ticker(sim).start()
    yield sim
    ticker.stop()


@pytest.fixture
def server(app, sim):
    yield from serve(app, live.mount(app, sim.wsgi))


@pytest.fixture
def watched(browser, server):
    """A page whose every violation, console error and script error is kept."""
    context = browser.new_context(base_url=server)
    context.set_default_timeout(5000)
    seen: dict[str, list[str]] = {"violations": [], "console": [], "errors": []}
    context.expose_binding("reportCsp", lambda _source, text: seen["violations"].append(text))
    context.add_init_script(WATCH)
    page = context.new_page()
    page.on(
        "console",
        lambda m: (
            seen["console"].append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.seen = seen
    yield page
    context.close()


def visit(page, path: str) -> None:
    response = page.goto(path)
    assert response.ok, (path, response.status)
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path


def test_every_page_runs_under_its_policy(watched, deps, clock, api):
    page = watched
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    api.user("admin", username="ada", display_name="Ada", skills={"sales": 5})
    api.user("agent", username="amy", display_name="Amy")

    visit(page, "/")
    visit(page, "/login")
    login(page, "ada", next_path="/agent")
    expect(page.locator("#ad-status")).to_have_text("live", timeout=LIVE)
    expect(page.locator("#ad-sp-status")).to_have_text("ready", timeout=LIVE)  # simulator API
    visit(page, "/wallboard")
    expect(page.locator("#wb-status")).to_have_text("live", timeout=LIVE)
    expect(page.locator(".wb-tile")).to_have_count(1)
    visit(page, "/qa")
    expect(page.locator("#qa")).to_be_visible()
    visit(page, "/")
    page.click("#link-tokens")  # an admin finds the page from the start page
    page.wait_for_url("**/admin/tokens")
    expect(page.locator("#tk-user option")).to_have_count(2)
    page.select_option("#tk-user", "amy")
    page.fill("#tk-name", "Dealer CRM")
    page.click("#tk-create")
    expect(page.locator("#tk-secret")).to_contain_text("cct_")
    made = page.locator("#tk-rows tr", has_text="Dealer CRM")
    expect(made).to_contain_text("Amy")  # the user by name (the fixture's tokens are listed too)
    expect(made).to_contain_text("Works")
    page.once("dialog", lambda dialog: dialog.accept())
    made.locator("button.tk-revoke").click()
    expect(made).to_have_count(0)
    visit(page, "/demo/phone")
    expect(page.locator("#dp-call")).to_be_enabled()
    visit(page, "/demo/traffic")
    visit(page, "/")
    page.wait_for_timeout(300)  # a late report has time to arrive
    assert page.seen == {"violations": [], "console": [], "errors": []}


def test_the_watch_sees_a_violation(watched, server):
    """The check above can fail: inline script added to a page is refused and reported."""
    page = watched
    visit(page, "/login")
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.ran = true"; document.body.append(s); }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran === undefined")
    assert any("script-src" in v for v in page.seen["violations"]), page.seen


def test_the_twilio_softphone_loads_and_dials_out_under_the_policy(
    browser, database_url, redis_url, clock, tmp_path
):
    """CARRIER=twilio: the vendored SDK runs and opens its signalling WebSocket to Twilio
    (refused by the network here, which is no policy violation) without a report."""
    from tests.conftest import Api

    keys = {"TWILIO_API_KEY_SID": "SK" + "1" * 32, "TWILIO_API_KEY_SECRET": "s" * 32}
    made = twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="twilio",
        TWILIO_TWIML_APP_SID="AP1",
        **keys,
    )
    app = next(made)
    served = serve(app, app)
    base = next(served)
    try:
        Api(app, app.extensions["callcenter"], clock).user("agent", username="amy")
        context = browser.new_context(base_url=base)
        context.set_default_timeout(5000)
        seen: list[str] = []
        context.expose_binding("reportCsp", lambda _source, text: seen.append(text))
        context.add_init_script(WATCH)
        # Twilio's servers are out of this machine's reach: answer their HTTP requests here.
        context.route("https://*.twilio.com/**", lambda route: route.abort())
        page = context.new_page()
        page.on(
            "console",
            lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None,
        )
        login(page, "amy", next_path="/agent")
        page.wait_for_function("() => window.Twilio && window.Twilio.Device")
        # The Device registers: its WebSocket is tried (and fails: no network here).
        expect(page.locator("#ad-sp-status")).to_contain_text("offline", timeout=LIVE)
        page.wait_for_timeout(500)
        assert seen == []
        context.close()
    finally:
        next(served, None)
        next(made, None)
