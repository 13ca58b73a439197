"""The agent's desk in headless Chromium: go available, a caller arrives and the pop shows
within a second, reject, accept the next, wrap up with "appointment set" and see the CRM.

The router's offer actions are not dispatched here (no softphone rings): the test plays
the caller through the router, the page answers through the API as the agent would."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from console.desk import EXTENSION
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import Activity, Appointment, Call, Lead, Task, TaskKind
from crm_core.schemas import parse
from tests.browser.conftest import login
from tests.console.test_desk import CALLER, add_call, add_customer

LIVE = 1000  # ms: the "within one second of each event"


@pytest.fixture
def drained(app, server):
    """Set up before ``page`` (so torn down after it): the desk's feeds end with the page."""
    yield
    feeds = app.extensions[EXTENSION]
    deadline = time.monotonic() + 5
    while len(feeds) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(feeds) == 0, "a closed page's feed is still open"


@pytest.fixture
def desk(drained, page, deps, clock, api):
    """A sales queue (the dealership in Chicago), a customer with an open lead, and agent
    Amy on /agent, live; the browser's own zone is UTC."""
    with deps.session_factory.begin() as s:
        sales = {
            "name": "sales",
            "display_name": "Sales floor",
            "required_skills": {"sales": 1},
            "time_zone": "America/Chicago",
        }
        create_queue(s, parse(QueueIn, sales), clock)
    api.user("agent", username="amy", display_name="Amy", skills={"sales": 5})
    customer_id, _ = add_customer(deps, clock)
    for sid in ("CA1", "CA2"):
        add_call(deps, clock, sid, CALLER, customer_id=customer_id)
    login(page, "amy", next_path="/agent")
    expect(page.locator("#ad-status")).to_have_text("live")
    return deps.router


def test_an_offer_pops_the_caller_then_reject_accept_and_wrap_up(desk, page, deps):
    expect(page.locator("#ad-state")).to_have_text("Offline")
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    expect(page.locator("#ad-ringing")).to_be_hidden()

    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    ringing = page.locator("#ad-ringing")
    expect(ringing).to_be_visible(timeout=LIVE)
    expect(page.locator("#pop-name")).to_have_text("Dana Reyes", timeout=LIVE)
    # Before Accept, the ringing panel says who, from where and what they chose, in words.
    expect(page.locator("#ad-ring-name")).to_have_text("Dana Reyes")
    expect(page.locator("#ad-ring-phone")).to_have_text("(313) 555-0100")
    expect(page.locator("#ad-ring-phone .phone")).to_have_attribute("title", CALLER)
    expect(page.locator("#ad-offer-queue")).to_have_text("Sales floor")
    expect(page.locator("#ad-ring-language")).to_have_text("Spanish")
    expect(page.locator("#ad-ring-ivr")).to_have_text("Sales \u203a New")
    expect(page.locator("#pop-ivr")).to_have_text("Sales \u203a New")
    expect(page.locator("#pop-stage")).to_have_text("Qualified")
    expect(page.locator("#pop-vehicle")).to_contain_text("Ford F-150")
    expect(page.locator("#pop-trade")).to_contain_text("Honda Civic")
    expect(page.locator("#ad-countdown")).to_have_text("15 s")
    expect(page.locator("#ad-countdown")).to_have_text("14 s", timeout=2000)  # it counts

    page.click("#ad-reject")
    expect(ringing).to_be_hidden(timeout=LIVE)
    expect(page.locator("#ad-state")).to_have_text("Available")
    expect(page.locator("#ad-pop")).to_be_hidden()

    desk.enqueue("CA2", "sales", call_sid="CA2", phone=CALLER)
    expect(ringing).to_be_visible(timeout=LIVE)
    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    expect(ringing).to_be_hidden()
    expect(page.locator("#ad-state")).to_have_text("On a call")
    expect(page.locator("#pop-name")).to_have_text("Dana Reyes")
    expect(page.locator("#ad-timer")).to_have_text("0:01", timeout=2500)

    desk.call_ended("CA2")
    wrap = page.locator("#ad-wrap")
    expect(wrap).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-wrap-countdown")).to_have_text("0:30")
    # Inline errors: the page's own check, then the API's.
    page.select_option("#ad-disposition", "appointment_set")
    # Typed in the dealership's zone, and it says so (January: standard time).
    expect(page.locator("label[for=ad-appt-at]")).to_contain_text("(Central Time, C")
    page.click("#ad-dispo-save")
    expect(page.locator("#ad-dispo-error")).to_contain_text("date and time")
    page.fill("#ad-appt-at", "2026-01-10T10:00")
    page.select_option("#ad-appt-type", "test_drive")
    page.fill("#ad-notes", "Wants the F-150 in blue")
    page.click("#ad-dispo-save")
    expect(page.locator("#ad-dispo-done")).to_have_text("Saved: Appointment set.", timeout=LIVE)
    expect(wrap).to_be_hidden(timeout=LIVE)
    expect(page.locator("#ad-state")).to_have_text("Available")

    with deps.read_session_factory() as s:
        call = s.scalars(select(Call).where(Call.call_sid == "CA2")).one()
        assert call.disposition.value == "appointment_set"
        assert call.notes == "Wants the F-150 in blue"
        appointment = s.scalars(select(Appointment).where(Appointment.call_id == call.id)).one()
        assert appointment.type.value == "test_drive"
        # 10:00 in Chicago (CST, UTC-6), not 10:00 in the browser's zone (UTC here)
        assert appointment.start_at == datetime(2026, 1, 10, 16, 0, tzinfo=UTC)
        assert s.get(Lead, call.lead_id).stage.value == "appointment_set"


def test_a_failed_disposition_shows_the_apis_error_inline(desk, page, api):
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER)
    expect(page.locator("#ad-ringing")).to_be_visible(timeout=LIVE)
    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    desk.call_ended("CA1")
    expect(page.locator("#ad-wrap")).to_be_visible(timeout=LIVE)
    # Someone (a supervisor's screen, another tab) recorded the outcome first: 409.
    api.post("/api/calls/CA1/outcome", json={"disposition": "interested"}, as_="amy")
    page.select_option("#ad-disposition", "not_interested")
    page.click("#ad-dispo-save")
    expect(page.locator("#ad-dispo-error")).to_contain_text("already recorded")
    expect(page.locator("#ad-wrap")).to_be_visible()


def test_away_with_a_reason(desk, page):
    page.select_option("#ad-reason", "lunch")
    page.click("#ad-away")
    expect(page.locator("#ad-state")).to_have_text("Away (lunch)", timeout=LIVE)
    page.click("#ad-offline")
    expect(page.locator("#ad-state")).to_have_text("Offline", timeout=LIVE)


def test_the_script_beside_the_call_and_the_idle_lists(desk, page, deps, clock):
    """A queue callback (an outbound conversation: the outbound script) is connected; its
    first step shows, an answer moves on and lands on the timeline; idle, the lists show."""
    with deps.session_factory.begin() as s:
        customer_id = s.scalars(select(Call.customer_id).where(Call.call_sid == "CA1")).one()
        s.add(
            Task(
                kind=TaskKind.CALLBACK,
                title="Call Dana back about the F-150",
                due_at=clock.now() + timedelta(hours=2),
                pool="sales",
                customer_id=customer_id,
                created_at=clock.now(),
            )
        )
    page.click("#ad-available")
    expect(page.locator("#ad-state")).to_have_text("Available", timeout=LIVE)
    callbacks = page.locator("#ad-callbacks")
    expect(callbacks).to_contain_text("Call Dana back about the F-150", timeout=LIVE)
    expect(callbacks).to_contain_text("Dana Reyes")
    expect(page.locator("#ad-leads")).to_have_text("no open leads")  # Dana's lead is nobody's
    expect(page.locator("#ad-script")).to_be_hidden()

    desk.enqueue("CA1", "sales", call_sid="CA1", phone=CALLER, kind="callback")
    expect(page.locator("#ad-ringing")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-idle")).to_be_hidden()
    page.click("#ad-accept")
    expect(page.locator("#ad-incall")).to_be_visible(timeout=LIVE)
    step = page.locator("#ad-step-text")  # the call is in Spanish: es-MX
    expect(step).to_have_text("Hola, ¿me comunica por favor con Dana?", timeout=LIVE)
    page.click("#ad-step-answers [data-answer=reached]")
    expect(step).to_contain_text("Hola Dana, le habla Amy", timeout=LIVE)
    expect(page.locator("#ad-script-error")).to_be_hidden()
    with deps.read_session_factory() as s:
        summaries = s.scalars(
            select(Activity.summary).where(Activity.customer_id == customer_id)
        ).all()
    assert "Script outbound_sales@1, opening: Speaking with the customer" in summaries

    # No carrier here: the conference cannot be muted, and the API's error shows inline.
    page.click("#ad-mute")
    expect(page.locator("#ad-call-error")).to_be_visible(timeout=LIVE)
    expect(page.locator("#ad-mute")).to_have_text("Mute")

    page.click("#ad-script-pitch")  # the timed pitch, and back
    expect(page.locator("#ad-pitch-sections li").first).to_have_class("current")
    page.click("#ad-script-main")
    expect(step).to_contain_text("Hola Dana, le habla Amy")

    desk.call_ended("CA1")
    expect(page.locator("#ad-wrap")).to_be_visible(timeout=LIVE)
    expect(step).to_contain_text("Hola Dana, le habla Amy")  # kept while wrapping up
