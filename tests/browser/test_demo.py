"""The demo's pages in headless Chromium: the start page's links and logins, and the browser
phone calling the main number through the embedded simulator (on the test's clock, which the
test moves on: what the caller hears appears in the page as text)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_demo import ACCOUNT, API, NUMBER, TOKEN, demo_data, embed_simulator, run

PUBLIC = "http://demo.test"  # plain http: the session cookie is not Secure-only
__all__ = ["demo_data"]  # a fixture, used by name


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        PUBLIC_BASE_URL=PUBLIC,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_API_BASE_URL=API,
        TWILIO_CALLER_ID=NUMBER,
        DEMO_MODE=True,
        ACD_STREAM_BLOCK_SECONDS=0.5,
    )


@pytest.fixture
def sim(app, deps, clock, demo_data):
    return embed_simulator(app, deps, clock, PUBLIC)


def test_the_start_page_links_every_part_of_the_demo(page, sim):
    page.goto("/")
    for link, path in (
        ("#link-agent", "/agent"),
        ("#link-wallboard", "/wallboard"),
        ("#link-phone", "/demo/phone"),
        ("#link-traffic", "/demo/traffic"),
    ):
        expect(page.locator(link)).to_have_attribute("href", path)
    expect(page.locator("#demo-logins")).to_contain_text("sam-demo-pass")
    expect(page.locator("#not-demo")).to_have_count(0)
    page.click("#link-phone")
    page.wait_for_url("**/demo/phone")
    expect(page.locator("#dp-from")).to_have_value("+13135550101")


def test_the_browser_phone_dials_shows_the_greeting_and_goes_on_with_the_keys(page, sim, deps):
    page.goto("/demo/phone")
    expect(page.locator(".dp-key").first).to_be_disabled()
    page.click("#dp-call")
    expect(page.locator("#dp-state")).to_have_text("ringing")
    expect(page.locator("#dp-hangup")).to_be_enabled()
    run(sim, deps, 3)
    transcript = page.locator("#dp-transcript")
    expect(transcript).to_contain_text("Hi Maria, thank you for calling")
    expect(page.locator("#dp-state")).to_have_text("listening for your keys or words")
    # Maria has an open lead: first the question about it; 2 is "anything else".
    page.click('.dp-key[data-key="2"]')
    expect(transcript).to_contain_text("You pressed 2")
    run(sim, deps, 3)
    expect(transcript).to_contain_text("For sales, press 1")
    page.click('.dp-key[data-key="1"]')
    expect(transcript).to_contain_text("You pressed 1")
    run(sim, deps, 3)
    expect(transcript).to_contain_text("For new vehicles, press 1")
    page.click("#dp-hangup")
    expect(transcript).to_contain_text("You hung up")
    run(sim, deps, 2)
    expect(page.locator("#dp-state")).to_have_text("ended (completed)")
    expect(page.locator("#dp-call")).to_be_enabled()
    assert sim.errors == []


def test_a_bad_number_shows_the_error_in_the_page(page, sim):
    page.goto("/demo/phone")
    page.fill("#dp-from", "not a number")
    page.click("#dp-call")
    expect(page.locator("#dp-error")).to_contain_text("from is not a phone number")
    expect(page.locator("#dp-call")).to_be_enabled()


def test_reloading_the_phone_page_hangs_its_call_up_and_comes_back_idle(page, sim, deps):
    """A reload is the caller putting the phone down: the carrier ends the call as the
    caller's hang-up (completed), and the page starts idle, not in a call it cannot see."""
    import time

    page.goto("/demo/phone")
    page.click("#dp-call")
    expect(page.locator("#dp-hangup")).to_be_enabled()
    run(sim, deps, 3)
    expect(page.locator("#dp-transcript")).to_contain_text("Hi Maria, thank you for calling")
    (call,) = [c for c in sim.calls.values() if c.from_ == "+13135550101"]
    assert not call.ended
    page.reload()
    expect(page.locator("#dp-state")).to_have_text("not in a call")
    expect(page.locator("#dp-call")).to_be_enabled()
    expect(page.locator("#dp-hangup")).to_be_disabled()
    expect(page.locator("#dp-transcript")).to_be_empty()
    deadline = time.monotonic() + 5  # the beacon is on its way; the ticker acts on it
    while not call.ended and time.monotonic() < deadline:
        run(sim, deps, 1)
        time.sleep(0.05)
    assert call.status == "completed"
    assert ("hung up", "") in [(kind, text) for _, kind, text in call.party.transcript]
    assert sim.errors == []
