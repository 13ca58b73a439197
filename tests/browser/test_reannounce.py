"""After Redis lost its data, the agent's desk posts the agent's presence again by itself:
on the router's ``reannounce`` event, and when its stream comes back with the router not
knowing the agent (the event gone by meanwhile). Nobody touches the page; the agent is
offered a caller again within seconds. The wallboard says what the rebuild put back.

The carrier is the app's own (the simulator, with no caller holding at it): what the
rebuild restores is tested in tests/e2e/test_redis_loss.py; here, what the pages do."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from console.desk import EXTENSION
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from routing.recovery import epoch_lost
from tests.browser.conftest import login
from tests.console.test_desk import add_call

BACK_WITHIN = 5000  # ms: agents are offered calls again within 5 s, untouched


@pytest.fixture
def drained(app, server):
    """Set up before ``page`` (so torn down after it): the desk's feeds end with the page."""
    yield
    feeds = app.extensions[EXTENSION]
    deadline = time.monotonic() + 5
    while len(feeds) and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture
def desk(drained, page, deps, clock, api):
    """A sales queue and agent Amy on /agent, live, the epoch set (a running installation)."""
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    amy_id, _ = api.user("agent", username="amy", display_name="Amy", skills={"sales": 5})
    add_call(deps, clock, "CA0", "+13135550100", agent_id=amy_id, talk_seconds=60)  # her day
    assert epoch_lost(deps)  # the first start
    login(page, "amy", next_path="/agent")
    expect(page.locator("#ad-status")).to_have_text("live")
    return deps.router


def amy(router) -> dict | None:
    docs = [router.agent(k.decode()) for k in router.redis.hkeys(router.keys.agents)]
    return next((d for d in docs if d and d.get("name") == "Amy"), None)


def amy_becomes(router, state: str, within_ms: int = BACK_WITHIN) -> dict:
    """Amy's state in the router once it is ``state`` (the page posted it), else fail."""
    deadline = time.monotonic() + within_ms / 1000
    while time.monotonic() < deadline:
        doc = amy(router)
        if doc is not None and doc["state"] == state:
            return doc
        time.sleep(0.05)
    raise AssertionError(f"Amy is {amy(router)!r}, not {state}, after {within_ms} ms")


def test_the_desk_reannounces_an_available_agent_who_is_offered_the_next_caller(desk, page, deps):
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available")
    deps.redis.flushall()
    assert epoch_lost(deps)  # the ticker's watch: rebuilt, `reannounce` on the stream
    assert amy_becomes(desk, "available")["calls"] == 1  # her day kept (from SQL)
    expect(page.locator("#ad-state")).to_have_text("Available")
    desk.enqueue("CA1", "sales", call_sid="CA1")
    expect(page.locator("#ad-ringing")).to_be_visible(timeout=BACK_WITHIN)
    assert page.evaluate("window.agentDesk.reannounced") == 1


def test_an_away_agent_comes_back_away_with_the_same_reason(desk, page, deps):
    page.select_option("#ad-reason", "lunch")
    page.click("#ad-away")
    expect(page.locator("#ad-state")).to_contain_text("Away")
    deps.redis.flushall()
    assert epoch_lost(deps)
    assert amy_becomes(desk, "away")["reason"] == "lunch"
    desk.enqueue("CA1", "sales", call_sid="CA1")
    time.sleep(0.5)
    expect(page.locator("#ad-ringing")).to_be_hidden()  # away is away


def test_a_stream_that_comes_back_to_a_router_without_the_agent_reannounces(desk, page, deps, app):
    """The event went by while the page was not listening (a Redis restart ends the
    feeds): the state document the reconnected stream opens with is enough."""
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available")
    page.route("**/api/agents/me/stream", lambda route: route.abort())
    app.extensions[EXTENSION].stop()  # every open feed ends, as when Redis went away
    expect(page.locator("#ad-status")).to_have_text("reconnecting…")
    deps.redis.flushall()
    assert epoch_lost(deps)  # the reannounce event: nobody hears it
    app.extensions[EXTENSION].stopping.clear()  # the process serves feeds again
    page.unroute("**/api/agents/me/stream")
    expect(page.locator("#ad-status")).to_have_text("live", timeout=10_000)
    amy_becomes(desk, "available")
    expect(page.locator("#ad-state")).to_have_text("Available")


def test_a_real_sign_out_is_not_undone(desk, page, deps):
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available")
    page.click("#ad-offline")
    expect(page.locator("#ad-state")).to_have_text("Offline")
    deps.redis.flushall()
    assert epoch_lost(deps)
    time.sleep(1.5)
    assert amy(desk)["state"] == "offline"  # her day back from SQL, her sign-out kept
    expect(page.locator("#ad-state")).to_have_text("Offline")


def test_the_wallboard_says_what_the_rebuild_put_back(deps, clock, api, page):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales", "required_skills": {"sales": 1}}), clock)
    api.user("supervisor", username="sue", display_name="Sue")
    assert epoch_lost(deps)
    login(page, "sue", next_path="/wallboard")
    expect(page.locator("#wb-status")).to_have_text("live")
    deps.redis.flushall()
    assert epoch_lost(deps)
    notice = page.locator("#wb-recovery")
    expect(notice).to_be_visible(timeout=BACK_WITHIN)
    expect(notice).to_contain_text("Redis restarted without its data: 0 callers put back")
    expect(notice).to_contain_text("today's figures were recounted from the database")


def test_the_wallboard_tells_an_unreachable_redis_from_a_dropped_feed(deps, clock, api, page):
    """The server's 503 while Redis is away is played by the browser's network layer (the
    server side is tests/e2e/test_redis_outage.py): the banner names Redis, then clears."""
    api.user("supervisor", username="sue", display_name="Sue")
    login(page, "sue", next_path="/wallboard")
    expect(page.locator("#wb-status")).to_have_text("live")
    banner = page.locator("#wb-banner")
    unavailable = {"error": {"message": "The call center's live data is unavailable."}}
    page.route("**/api/acd/stream", lambda route: route.abort())
    page.route("**/api/acd/queues", lambda route: route.fulfill(status=503, json=unavailable))
    page.evaluate("window.wallboard.source.close()")
    expect(banner).to_contain_text("Redis is unreachable", timeout=BACK_WITHIN)
    expect(page.locator("#wb-status")).to_have_text("Redis unreachable")
    page.unroute("**/api/acd/queues")
    page.unroute("**/api/acd/stream")
    expect(banner).to_be_hidden(timeout=10_000)
    expect(page.locator("#wb-status")).to_have_text("live")


def test_a_softphone_registered_again_after_a_break_reannounces(desk, page, deps):
    """Redis lost its data while the page heard nothing (no event, the feed still open):
    the softphone coming back is enough. Its device's events are emitted as Twilio.Device
    and SimDevice emit them (this server mounts no carrier for the device to reach)."""
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available")
    page.wait_for_function("window.agentPhone.handle && window.agentPhone.handle.device")
    page.evaluate("window.agentPhone.handle.device.emit('registered')")
    page.evaluate("window.agentPhone.handle.device.emit('unregistered')")  # the break
    deps.redis.flushall()
    deps.redis.set(desk.keys.epoch, "rebuilt elsewhere")  # no rebuild here, no event
    time.sleep(0.5)
    assert amy(desk) is None
    page.evaluate("window.agentPhone.handle.device.emit('registered')")  # back
    amy_becomes(desk, "available")
