"""The desk's softphone in headless Chromium, on the local carrier.

The test server is the app with the simulator mounted on the same port, as ``callcenter
run`` embeds it: the page's SimDevice registers over HTTP with the app's own token, a
simulated caller enqueued to sales makes the router ring ``client:agent_amy``, the page
rings, Accept answers the leg (that is the accept: the router bridges the caller into the
conference), Hang up ends it and wrap-up shows.

The simulator runs on the test's ManualClock with its real-time Ticker thread: every event
due now runs at once (webhooks, the bridge, the hang-up), nothing timed (a prompt's length,
a ring timeout) comes due unless the test moves the clock, so the run cannot race time.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from console.softphone import SDK_FILE, TWILIO_VOICE_SDK_VERSION
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from telephony.simulator import live
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.browser.conftest import login, serve
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"
CALLER = "+13135550101"
ACCOUNT = "AC" + "0" * 32
LIVE = 3000  # ms: a long-poll round trip and a webhook or two


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="simulator",
        TWILIO_API_BASE_URL=PUBLIC,  # the simulator embedded in the app, as `callcenter run`
        TWILIO_CALLER_ID=NUMBER,
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
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/acd/enqueue?queue=sales")
    sim.softphones.configure(
        app_url=f"{PUBLIC}/twilio/client", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    ticker = live.Ticker(sim).start()
    yield sim
    ticker.stop()


@pytest.fixture
def server(app, sim):
    """The app and the simulator on one port (live.mount), one thread per request."""
    yield from serve(app, live.mount(app, sim.wsgi))


@pytest.fixture
def desk(page, deps, clock, api):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    user_id, _ = api.user("agent", username="amy", display_name="Amy", skills={"sales": 5})
    login(page, "amy", next_path="/agent")
    expect(page.locator("#ad-status")).to_have_text("live")
    return user_id


def until(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {predicate.__doc__ or predicate}")


def test_the_offer_rings_the_page_accept_bridges_hang_up_wraps_up(desk, page, sim, deps):
    expect(page.locator("#ad-sp-status")).to_have_text("ready", timeout=LIVE)
    assert "client:agent_amy" in sim.softphones.devices
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)

    caller = sim.call(CALLER, NUMBER).wait(600)
    expect(page.locator("#ad-ringing")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-ring-note")).to_have_text("Ringing on your softphone.", timeout=LIVE)
    expect(page.locator("#ad-countdown")).to_have_text("15 s")
    (leg,) = [c for c in sim.calls.values() if c.to == "client:agent_amy"]
    assert leg.status == "ringing"

    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-sp-call")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-sp-call-text")).to_have_text("on a call with (313) 555-0101")
    expect(page.locator("#ad-state")).to_have_text("On a call")

    def bridged():
        """the caller and Amy's leg are in the caller's conference"""
        with sim.lock:
            conference = sim.conference(caller.call.sid, create=False)
            return conference and set(conference.participants) == {caller.call.sid, leg.sid}

    until(bridged)
    assert leg.status == "in-progress" and leg.answered

    page.click("#ad-mute")  # the conference's mute, and the device's own
    expect(page.locator("#ad-mute")).to_have_text("Unmute", timeout=LIVE)
    until(lambda: leg.sid in sim.softphones.devices["client:agent_amy"].muted)

    page.click("#ad-sp-hangup")
    expect(page.locator("#ad-wrap")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-sp-call")).to_be_hidden(timeout=LIVE)
    with sim.lock:
        assert leg.status == "completed"
        assert sim.conference(caller.call.sid, create=False) is None  # it ended with Amy
        assert caller.call.conference is None
    assert deps.router.agent(desk)["state"] == "wrap_up"
    assert sim.errors == [] and caller.failures == []


def test_reject_on_the_page_rejects_the_ringing_leg(desk, page, sim, deps):
    expect(page.locator("#ad-sp-status")).to_have_text("ready", timeout=LIVE)
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    caller = sim.call(CALLER, NUMBER).wait(600)
    expect(page.locator("#ad-ring-note")).to_have_text("Ringing on your softphone.", timeout=LIVE)
    page.click("#ad-reject")
    expect(page.locator("#ad-ringing")).to_be_hidden(timeout=LIVE)
    page.wait_for_timeout(500)  # the leg's end reaches the page: no error shows
    expect(page.locator("#ad-error")).to_be_hidden()
    (leg,) = [c for c in sim.calls.values() if c.to == "client:agent_amy"]
    until(lambda: leg.ended)
    assert not caller.call.ended  # still holding for another agent


@pytest.fixture
def bare_server(app):
    """The app alone: no carrier answers the page's softphone."""
    yield from serve(app, app)


def test_without_the_carrier_the_page_says_so_and_accepts_on_screen(
    browser, bare_server, deps, clock, api
):
    context = browser.new_context(base_url=bare_server)
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        with deps.session_factory.begin() as s:
            create_queue(
                s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock
            )
        api.user("agent", username="amy", skills={"sales": 5})
        login(page, "amy", next_path="/agent")
        expect(page.locator("#ad-sp-status")).to_have_text("offline", timeout=LIVE)
        expect(page.locator("#ad-sp-reason")).not_to_be_empty()
        page.click("#ad-available")
        expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
        deps.router.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
        expect(page.locator("#ad-ring-note")).to_contain_text("not available", timeout=LIVE)
        page.click("#ad-accept")
        expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    finally:
        context.close()


def test_the_page_loads_the_vendored_sdk_only_with_twilio(database_url, redis_url, clock, tmp_path):
    """CARRIER=twilio: the pinned SDK from the app itself (no CDN); the simulator: none."""
    for carrier in ("twilio", "simulator"):
        extra = {"TWILIO_API_KEY_SID": "SK" + "1" * 32, "TWILIO_API_KEY_SECRET": "secret"}
        made = twilio_app(
            database_url, redis_url, clock, tmp_path / carrier, CARRIER=carrier, **extra
        )
        app = next(made)
        try:
            deps = app.extensions["callcenter"]
            from tests.conftest import Api

            api = Api(app, deps, clock)
            page = api.get("/agent", as_="agent")
            assert page.status_code == 200
            html = page.get_data(as_text=True)
            sdk = f"/console/desk/{SDK_FILE}"
            assert (sdk in html) is (carrier == "twilio")
            assert "softphone.js" in html and "cdn" not in html.lower()
            if carrier == "twilio":
                served = app.test_client().get(sdk)
                assert served.status_code == 200 and b"Twilio.Device" in served.data
                served.close()
                assert TWILIO_VOICE_SDK_VERSION in sdk
        finally:
            next(made, None)  # the fixture's teardown: empty and close (close() would skip it)
