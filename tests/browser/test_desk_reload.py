"""The desk in headless Chromium survives what a shift does to it: a reload mid-call, a
wrap-up that runs out with the form half filled, a 1366 x 768 screen.

The fixtures are test_softphone's: the app with the local carrier mounted on one port (as
``callcenter run`` embeds it), the page's SimDevice registered with the app's own token, a
simulated caller enqueued to sales, the simulator's Ticker on the test's ManualClock.
"""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select, update

from crm_core import customers
from crm_core.acd import RoutingQueue
from crm_core.leads import create_lead
from crm_core.models import Call, Dealer
from crm_core.schemas import CustomerIn, LeadIn, parse
from tests.browser import test_softphone as softphone
from tests.browser.test_softphone import CALLER, LIVE, NUMBER, until

# test_softphone's fixtures, used here by name: the app with the simulator mounted, Amy's desk.
app, sim, server, desk = softphone.app, softphone.sim, softphone.server, softphone.desk


def _answer(page, sim):
    """Amy goes available, the caller rings her softphone, she accepts: (caller, leg)."""
    expect(page.locator("#ad-sp-status")).to_have_text("ready", timeout=LIVE)
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    caller = sim.call(CALLER, NUMBER).wait(3600)
    expect(page.locator("#ad-ring-note")).to_have_text("Ringing on your softphone.", timeout=LIVE)
    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    (leg,) = [c for c in sim.calls.values() if c.to == "client:agent_amy"]

    def bridged():
        """the caller and Amy's leg are in the caller's conference"""
        with sim.lock:
            conference = sim.conference(caller.call.sid, create=False)
            return conference and set(conference.participants) == {caller.call.sid, leg.sid}

    until(bridged)
    return caller, leg, bridged


def test_a_reload_mid_call_brings_the_call_back_and_hang_up_still_works(desk, page, sim, deps):
    caller, leg, bridged = _answer(page, sim)
    page.click("#ad-mute")
    expect(page.locator("#ad-mute")).to_have_text("Unmute", timeout=LIVE)
    page.click("#ad-hold")
    expect(page.locator("#ad-hold")).to_have_text("Resume", timeout=LIVE)
    expect(page.locator("#ad-script-name")).to_have_text("· Inbound", timeout=LIVE)
    expect(page.locator("#ad-step-text")).to_have_attribute("data-step", "greet")
    page.click("#ad-step-answers button[data-answer=vehicle]")
    step = page.locator("#ad-step-text")
    expect(step).to_have_attribute("data-step", "name_and_number", timeout=LIVE)
    page.fill("#ad-notes", "Wants a test drive")
    expect(page.locator("#ad-draft-saved")).to_contain_text("Draft saved", timeout=LIVE)

    page.reload()
    expect(page.locator("#ad-status")).to_have_text("live", timeout=LIVE)
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-state")).to_have_text("On a call")
    expect(page.locator("#ad-sp-status")).to_have_text("ready", timeout=LIVE)
    expect(page.locator("#ad-sp-call")).to_be_visible(timeout=LIVE)  # the leg taken back
    expect(page.locator("#ad-sp-call-text")).to_have_text("on a call with (313) 555-0101")
    expect(page.locator("#ad-mute")).to_have_text("Unmute")
    expect(page.locator("#ad-hold")).to_have_text("Resume")
    expect(page.locator("#ad-onhold")).to_be_visible()
    expect(step).to_have_attribute("data-step", "name_and_number", timeout=LIVE)
    expect(page.locator("#ad-notes")).to_have_value("Wants a test drive", timeout=LIVE)
    expect(page.locator("#pop-phone")).to_have_text("(313) 555-0101")
    until(bridged)  # the caller never left the conference
    with sim.lock:
        assert caller.call.status == "in-progress" and leg.status == "in-progress"

    page.click("#ad-hold")  # the controls act on the call as it is
    expect(page.locator("#ad-hold")).to_have_text("Hold", timeout=LIVE)
    page.click("#ad-call-hangup")
    expect(page.locator("#ad-wrapbox")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-sp-call")).to_be_hidden(timeout=LIVE)
    with sim.lock:
        assert leg.status == "completed"
    assert deps.router.agent(desk)["state"] == "wrap_up"
    expect(page.locator("#ad-notes")).to_have_value("Wants a test drive")  # kept into wrap-up
    assert sim.errors == [] and caller.failures == []


def test_a_wrap_up_that_runs_out_keeps_the_half_filled_form(desk, page, sim, deps, clock):
    caller, _leg, _ = _answer(page, sim)
    page.click("#ad-call-hangup")
    expect(page.locator("#ad-wrapbox")).to_be_visible(timeout=LIVE)
    page.select_option("#ad-disposition", "callback")
    page.fill("#ad-notes", "Call back after payday")
    expect(page.locator("#ad-draft-saved")).to_contain_text("Draft saved", timeout=LIVE)

    clock.advance(31)  # the queue's 30 s of wrap-up are over
    deps.dispatcher.run(deps.router.tick())

    def settled():
        """the Call row has the draft's disposition, marked incomplete"""
        with deps.read_session_factory() as s:
            row = s.scalars(select(Call).where(Call.call_sid == caller.call.sid)).one()
            return row if row.outcome_incomplete else None

    expect(page.locator("#ad-dispo-done")).to_have_text(
        "Wrap-up time ran out: what you filled in is kept on the call, marked incomplete.",
        timeout=LIVE,
    )
    expect(page.locator("#ad-state")).to_have_text("Available")
    row = until(settled)
    assert row.disposition.value == "callback"
    assert row.notes == "Call back after payday"


def test_at_1366_by_768_the_caller_card_is_in_view_beside_the_call(
    desk, page, sim, deps, clock, screenshots
):
    """A known caller with an open lead at a dealership, as an agent's day has them."""
    with deps.session_factory.begin() as s:
        dealer = Dealer(name="Motor City Motors", time_zone="America/Detroit")
        s.add(dealer)
        s.flush()
        customer = customers.create_customer(
            s,
            parse(CustomerIn, {"first_name": "Dana", "last_name": "Reyes", "phones": [CALLER]}),
            clock,
        )
        lead = {
            "customer_id": customer.id,
            "source_type": "website",
            "source_name": "Spring sale form",
            "temperature": 80,
            "dealer_id": dealer.id,
            "vehicles": [{"year": 2025, "make": "Ford", "model": "F-150", "trim": "XLT"}],
        }
        create_lead(s, parse(LeadIn, lead), clock)
    page.set_viewport_size({"width": 1366, "height": 768})
    _answer(page, sim)
    expect(page.locator("#pop-name")).to_have_text("Dana Reyes", timeout=LIVE)
    expect(page.locator("#pop-dealer")).to_have_text("Motor City Motors")
    expect(page.locator("#pop-vehicle")).to_have_text("2025 Ford F-150 XLT")
    for selector in ("#ad-pop", "#ad-incall", "#ad-script", "#ad-call-hangup"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] + 40 < 768 and box["x"] + box["width"] <= 1366, (selector, box)
    pop, call, script = (
        page.locator(s).bounding_box() for s in ("#ad-pop", "#ad-incall", "#ad-script")
    )
    assert call["x"] < pop["x"] < script["x"], "three columns: the call | the caller | the script"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366  # nothing sideways
    # The columns scroll on their own: the page itself fits the screen.
    assert page.evaluate("document.documentElement.scrollHeight") <= 768
    page.screenshot(path=str(screenshots / "desk.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    box = page.locator("#ad-pop").bounding_box()
    assert box["y"] + 40 < 1080


def test_past_its_time_a_required_disposition_holds_the_agent_and_says_so(
    desk, page, sim, deps, clock
):
    with deps.session_factory.begin() as s:
        s.execute(update(RoutingQueue).values(disposition_required=True))
    deps.router.queues.invalidate()
    _answer(page, sim)
    page.click("#ad-call-hangup")
    expect(page.locator("#ad-wrap-countdown")).to_have_text("0:30", timeout=LIVE)
    expect(page.locator("#ad-wrap-overdue")).to_be_hidden()

    clock.advance(45)  # 15 s past the queue's 30 s of wrap-up
    deps.dispatcher.run(deps.router.tick())
    # The page counts against the server's clock, which the test jumped without an event:
    # a reload reads it again (and shows the half-done wrap-up as it stands).
    page.reload()
    overdue = page.locator("#ad-wrap-overdue")
    expect(overdue).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-wrap-line")).to_be_hidden()
    expect(overdue).to_contain_text("Disposition required — save it to go available", timeout=LIVE)
    expect(page.locator("#ad-wrap-over")).to_have_text("0:15")
    expect(page.locator("#ad-state")).to_have_text("Wrapping up")
    page.click("#ad-available")  # refused, in a sentence
    error = page.locator("#ad-error")
    expect(error).to_be_visible(timeout=LIVE)
    assert "disposition" in error.inner_text().lower()
    assert "_" not in error.inner_text()

    page.select_option("#ad-disposition", "not_interested")
    page.click("#ad-dispo-save")
    expect(page.locator("#ad-dispo-done")).to_have_text("Saved: Not interested.", timeout=LIVE)
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)


def _participants(sim, caller):
    with sim.lock:
        conference = sim.conference(caller.call.sid, create=False)
        return dict(conference.participants) if conference else {}


def test_on_twilio_a_lost_leg_keeps_the_caller_on_hold_and_the_desk_rejoins(desk, page, sim, deps):
    """Twilio's WebRTC leg ends with the page (the local carrier's does not): what the desk
    does before a Twilio page goes (keep) and after it comes back (rejoin), played here by
    calling the page's own functions and ending Amy's leg at the carrier as a reload would."""
    caller, leg, _ = _answer(page, sim)
    # The page knows it is connected (its stream) and holds the answered leg (its phone).
    page.wait_for_function(
        "() => !!(window.agentDesk.state && window.agentDesk.state.connected"
        " && window.agentPhone.active)",
        timeout=LIVE,
    )
    assert page.evaluate("window.agentDesk.keepCall()") is True
    until(lambda: _participants(sim, caller)[caller.call.sid].hold)  # on hold with music
    assert not _participants(sim, caller)[leg.sid].end_on_exit
    # The page stays after all ("Stay on page"): the keep is taken back.
    until(lambda: not _participants(sim, caller)[caller.call.sid].hold)
    assert _participants(sim, caller)[leg.sid].end_on_exit
    expect(page.locator("#ad-hold")).to_have_text("Hold")

    # Now the page goes for good: keep, then the carrier ends its leg.
    token = page.evaluate("document.querySelector('meta[name=csrf-token]').content")
    kept = page.request.post(
        "/api/agents/me/call/keep", data={"keep": True}, headers={"X-CSRFToken": token}
    )
    assert kept.ok and kept.json()["hold"] is True, kept.text()
    sim.hang_up_by_party(leg)
    until(lambda: leg.sid not in _participants(sim, caller))
    with sim.lock:
        assert caller.call.status == "in-progress", "the caller is still there, on hold"
    assert deps.router.entry(caller.call.sid)["state"] == "connected"
    expect(page.locator("#ad-sp-call")).to_be_hidden(timeout=LIVE)

    page.evaluate("window.agentDesk.rejoin()")  # what the reloaded Twilio page does

    def back():
        """a new leg of Amy's softphone is in the caller's conference, ending it on exit"""
        legs = [p for sid, p in _participants(sim, caller).items() if sid != caller.call.sid]
        return legs[0] if len(legs) == 1 and legs[0].end_on_exit else None

    new = until(back)
    assert new.call.sid != leg.sid and new.call.to == "client:agent_amy"
    expect(page.locator("#ad-sp-call")).to_be_visible(timeout=LIVE)
    # A reloaded desk would show "Resume" (the desk document says held); this page did not
    # reload, so Hold finds the caller held already, and the next click takes them back.
    page.click("#ad-hold")
    expect(page.locator("#ad-hold")).to_have_text("Resume", timeout=LIVE)
    page.click("#ad-hold")
    expect(page.locator("#ad-hold")).to_have_text("Hold", timeout=LIVE)
    until(lambda: not _participants(sim, caller)[caller.call.sid].hold)

    page.click("#ad-call-hangup")  # the new leg ends the call as the first did
    expect(page.locator("#ad-wrapbox")).to_be_visible(timeout=LIVE)
    with sim.lock:
        assert sim.conference(caller.call.sid, create=False) is None
    assert sim.errors == [] and caller.failures == []
