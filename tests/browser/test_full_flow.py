"""One inbound call from end to end, in two headless Chromium windows.

Everything is real: the app served over HTTP with the local carrier mounted on the same
port (as ``callcenter run`` embeds it), the caller played by the simulator through the real
IVR (``/twilio/voice``, the ``auto_attendant`` script) into the ACD, the agent's page
answering through its softphone (the simulator-backed SimDevice), the supervisor on the
wallboard in a second browser context, the database and Redis of the run.

The story: Amy logs in, goes available, then steps away for a moment (with an agent free,
the router offers a call in the same step that queues it, and the wallboard could never show
anyone waiting). Dana, a customer with an open lead, calls, answers "anything else" to the
lead question, presses 1 for sales and 1 for new vehicles, and waits in the sales queue. Amy
comes back: the router offers Dana's call at once, her page rings with the pop (name, IVR
path, lead stage), she accepts on the softphone and the call is bridged. Sue, the
supervisor, barges in from the wallboard, then leaves. Dana hangs up; Amy wraps up with
"appointment set" for a test drive the next afternoon, and the CRM has the appointment, the
lead's new stage and the call's disposition. Sue's tiles and agent table show each event
within one second, measured from just before the step that causes it (``Within``).

Time: the simulator runs on the test's ManualClock with its real-time Ticker thread, so
whatever is due now happens at once (webhooks, the offer, the bridge), and nothing timed (a
prompt's length, a ring timeout, the end of wrap-up) happens unless the test moves the clock
(``walk``), which it does only while Dana listens to the menus and while Sue's phone rings.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from crm_core import customers
from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.leads import create_lead
from crm_core.models import Appointment, Call, Lead
from crm_core.schemas import CustomerIn, LeadIn, parse
from crm_core.users import softphone_identity
from telephony.simulator import live
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiAdapter, WsgiTransport
from tests.browser.conftest import serve
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"  # the dealership's main number
DANA = "+13135550123"
ACCOUNT = "AC" + "0" * 32
NEW_YORK = "America/New_York"  # the browsers' time zone: the appointment's local time
LIVE = 1000  # ms: the "within one second of each event"
SLOW = 5000  # ms: what the test waits for that is not timed by the issue


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
        DEALER_NAME="Motor City Motors",
        ACD_STREAM_BLOCK_SECONDS=0.5,
    )


@pytest.fixture
def sim(app, deps, clock):
    """The local carrier: the main number answers with the IVR, as `callcenter run` sets it."""
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        api_base_url=PUBLIC,
    )
    sim.wsgi = live.make_app(sim)
    deps.carrier.http.session.mount(PUBLIC, WsgiAdapter(sim.wsgi))
    sim.add_number(
        NUMBER,
        f"{PUBLIC}/twilio/voice",
        status_callback=f"{PUBLIC}/twilio/voice/status",
        fallback_url=f"{PUBLIC}/twilio/voice/fallback",
    )
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
def dealership(deps, clock, api):
    """The sales queue, Amy (sales), Sue (supervisor) and Dana with an open lead."""
    with deps.session_factory.begin() as s:
        sales = {"name": "sales", "display_name": "Sales", "required_skills": {"sales": 1}}
        create_queue(s, parse(QueueIn, sales), clock)
        customer = customers.create_customer(
            s,
            parse(
                CustomerIn,
                {
                    "first_name": "Dana",
                    "last_name": "Reyes",
                    "language": "en-US",
                    "phones": [DANA],
                    "preferred_makes": ["Ford"],
                    "preferred_models": ["F-150"],
                },
            ),
            clock,
        )
        lead = create_lead(
            s, parse(LeadIn, {"customer_id": customer.id, "source_type": "website"}), clock
        )
        ids = {"customer": customer.id, "lead": lead.id, "stage": lead.stage.value}
    deps.router.queues.invalidate()
    ids["amy"], _ = api.user("agent", username="amy", display_name="Amy", skills={"sales": 5})
    ids["sue"], _ = api.user("supervisor", username="sue", display_name="Sue")
    return ids


def window(browser, server, username: str, path: str):
    """A browser context of its own (cookies, time zone) logged in as ``username``."""
    context = browser.new_context(base_url=server, timezone_id=NEW_YORK)
    context.set_default_timeout(SLOW)
    page = context.new_page()
    page.goto(f"/login?next={path}")
    page.fill("#username", username)
    page.fill("#password", "pw-123456")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    return context, page


@pytest.fixture
def sue(browser, server, dealership):
    context, page = window(browser, server, "sue", "/wallboard")
    expect(page.locator("#wb-status")).to_have_text("live")
    yield page
    context.close()


@pytest.fixture
def amy(browser, server, dealership, sue):
    context, page = window(browser, server, "amy", "/agent")
    expect(page.locator("#ad-status")).to_have_text("live")
    expect(page.locator("#ad-sp-status")).to_have_text("ready")  # the softphone registered
    yield page
    context.close()


class Within:
    """One second from now: the deadline of every check of one event, however many."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started

    def __call__(self) -> float:
        left = LIVE - (time.monotonic() - self.started) * 1000
        assert left > 0, "the second after the event was over before this check"
        return left


def walk(sim, deps, until, seconds: int = 150) -> Within:
    """Simulated seconds pass, one at a time (the ACD's ticker too), until ``until()`` holds;
    returns the second from the start of the step in which it came true."""
    for _ in range(seconds):
        started = time.monotonic()
        sim.advance(1)
        deps.dispatcher.run(deps.router.tick())
        if until():
            return Within(started)
    raise AssertionError(f"not within {seconds} simulated seconds: {until.__doc__}")


def until(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {predicate.__doc__}")


def participants(sim, conference_name: str) -> dict:
    """The conference's participants by address (``client:agent_amy``, ``+1…``)."""
    with sim.lock:
        conference = sim.conference(conference_name, create=False)
        if conference is None:
            return {}
        return {p.call.to if p.call.direction != "inbound" else p.call.from_: p
                for p in conference.participants.values()}  # fmt: skip


def test_a_call_from_the_ivr_to_the_appointment_with_the_supervisor_watching(
    sim, deps, dealership, amy, sue
):
    tile = sue.locator('.wb-tile[data-queue="sales"]')
    row = sue.locator(f'#wb-agents tr[data-agent="{dealership["amy"]}"]')
    sup_address = f"client:{softphone_identity('sue')}"
    sim.phone(sup_address, answer_after=1)  # Sue's phone, picked up after a ring

    # Amy goes available, then steps away for a moment.
    within = Within()
    amy.click("#ad-available")
    expect(row.locator("td.state")).to_have_text("Available", timeout=within())
    expect(tile.locator(".states")).to_contain_text("Available 1", timeout=within())
    expect(amy.locator("#ad-state")).to_have_text("Available")
    amy.select_option("#ad-reason", "break")
    within = Within()
    amy.click("#ad-away")
    expect(row.locator("td.state")).to_have_text("Away (break)", timeout=within())
    expect(amy.locator("#ad-state")).to_have_text("Away (break)")

    # Dana calls and walks the IVR to sales > new vehicles.
    dana = sim.call(DANA, NUMBER).expect_say("hi dana, thank you for calling motor city motors")
    dana.expect_say("may be recorded").expect_say("the ford f-150 you asked us about").press("2")
    dana.expect_say("for sales, press 1").press("1")
    dana.expect_say("for new vehicles, press 1").press("1")
    dana.expect_say("please hold").wait(3600)  # she holds until someone answers

    def queued():
        """Dana is waiting in the sales queue"""
        return dana.call is not None and deps.router.entry(dana.call.sid) is not None

    within = walk(sim, deps, queued)
    sid = dana.call.sid
    expect(tile.locator(".waiting")).to_have_text("1", timeout=within())
    expect(tile.locator(f'.wb-callers li[data-entry="{sid}"] .who')).to_have_text(
        "Dana Reyes (313) 555-0123", timeout=within()
    )
    assert deps.router.entry(sid)["state"] == "waiting"

    # Amy is back: the router offers Dana's call at once, her softphone rings with the pop.
    within = Within()
    amy.click("#ad-available")
    expect(row.locator("td.state")).to_have_text("Ringing", timeout=within())
    expect(tile.locator(".states")).to_contain_text("Ringing 1", timeout=within())
    expect(tile.locator(".waiting")).to_have_text("0", timeout=within())
    expect(amy.locator("#ad-ringing")).to_be_visible()
    expect(amy.locator("#ad-ring-note")).to_have_text("Ringing on your softphone.")
    expect(amy.locator("#pop-name")).to_have_text("Dana Reyes")
    expect(amy.locator("#pop-ivr")).to_have_text("Sales \u203a New vehicles")
    stage = dealership["stage"].replace("_", " ").capitalize()
    expect(amy.locator("#pop-stage")).to_have_text(stage)
    expect(amy.locator("#pop-vehicle")).to_contain_text("F-150")
    with sim.lock:  # the Ticker's thread changes the calls
        (leg,) = [c for c in sim.calls.values() if c.to == "client:agent_amy"]
        assert leg.status == "ringing"

    # She accepts: the softphone answers, the router bridges Dana into the conference.
    within = Within()
    amy.click("#ad-accept")
    expect(row.locator("td.state")).to_have_text("On a call", timeout=within())
    expect(tile.locator(".states")).to_contain_text("On a call 1", timeout=within())
    expect(tile.locator(".answered")).to_have_text("1", timeout=within())
    expect(tile.locator(".waiting")).to_have_text("0", timeout=within())
    expect(amy.locator("#ad-incall")).to_be_visible()
    expect(amy.locator("#ad-state")).to_have_text("On a call")
    expect(amy.locator("#ad-sp-call-text")).to_have_text("on a call with (313) 555-0123")

    def bridged():
        """Dana and Amy's leg are in Dana's conference"""
        return set(participants(sim, sid)) == {DANA, "client:agent_amy"}

    until(bridged)
    assert deps.router.entry(sid)["state"] == "connected"

    # Sue barges in from Amy's row: her phone rings, she answers, she is in, unmuted.
    within = Within()
    row.locator('button[data-action=monitor][data-mode="barge"]').click()
    bar = sue.locator("#wb-monitor")
    expect(bar.locator(".what")).to_have_text("Monitoring Amy's call: barge", timeout=within())
    expect(row.locator(".wb-error")).to_be_hidden()

    def sue_joined():
        """Sue's phone answered and joined Dana's conference"""
        return sup_address in participants(sim, sid)

    walk(sim, deps, sue_joined, seconds=5)
    me = participants(sim, sid)[sup_address]
    assert not me.muted and not me.coaching, "barge: Sue talks to both"
    assert set(participants(sim, sid)) == {DANA, "client:agent_amy", sup_address}
    log = sue.request.get(f"/api/audit?target=call:{sid}")
    assert log.ok, log.text()
    (entry,) = [e for e in log.json()["entries"] if e["action"].startswith("call.monitor")]
    assert (entry["action"], entry["detail"]["mode"]) == ("call.monitor", "barge")
    assert entry["actor_id"] == dealership["sue"]
    assert entry["detail"]["participant"] == me.call.sid

    # She leaves; Dana and Amy talk on.
    bar.locator("button[data-action=leave]").click()
    expect(bar).to_be_hidden()
    until(lambda: set(participants(sim, sid)) == {DANA, "client:agent_amy"})
    log = sue.request.get(f"/api/audit?target=call:{sid}").json()["entries"]
    monitoring = [e["action"] for e in log if e["action"].startswith("call.monitor")]
    assert monitoring == ["call.monitor_leave", "call.monitor"]

    # Dana hangs up: Amy wraps up.
    within = Within()
    sim.hang_up_by_party(dana.call)
    expect(row.locator("td.state")).to_have_text("Wrapping up", timeout=within())
    expect(tile.locator(".states")).to_contain_text("Wrapping up 1", timeout=within())
    expect(amy.locator("#ad-wrap")).to_be_visible()
    expect(amy.locator("#ad-state")).to_have_text("Wrapping up")
    expect(amy.locator("#ad-sp-call")).to_be_hidden()

    # "Appointment set": a test drive tomorrow at 3 pm, New York time.
    amy.select_option("#ad-disposition", "appointment_set")
    amy.fill("#ad-appt-at", "2026-01-06T15:00")
    amy.select_option("#ad-appt-type", "test_drive")
    amy.fill("#ad-notes", "Test drive of the F-150")
    within = Within()
    amy.click("#ad-dispo-save")
    expect(row.locator("td.state")).to_have_text("Available", timeout=within())
    expect(tile.locator(".states")).to_contain_text("Available 1", timeout=within())
    expect(amy.locator("#ad-dispo-done")).to_have_text("Saved: Appointment set.")
    expect(amy.locator("#ad-wrap")).to_be_hidden()
    expect(amy.locator("#ad-state")).to_have_text("Available")

    # The CRM, through the API Amy's page uses, and in the database.
    detail = amy.request.get(f"/api/customers/{dealership['customer']}")
    assert detail.ok, detail.text()
    body = detail.json()
    assert {x["id"]: x["stage"] for x in body["leads"]} == {dealership["lead"]: "appointment_set"}
    (call,) = [c for c in body["calls"] if c["call_sid"] == sid]
    summaries = [a["summary"] for a in body["timeline"]]
    assert "Appointment set: test drive 2026-01-06T20:00:00+00:00" in summaries
    assert f"Lead stage {dealership['stage']} → appointment_set" in summaries
    assert call["disposition"] == "appointment_set" and call["agent_id"] == dealership["amy"]
    with deps.read_session_factory() as s:
        record = s.scalars(select(Call).where(Call.call_sid == sid)).one()
        assert record.ivr_path == "sales > new vehicles" and record.queue == "sales"
        assert record.notes == "Test drive of the F-150"
        appointment = s.scalars(select(Appointment).where(Appointment.call_id == record.id)).one()
        assert appointment.type.value == "test_drive"
        assert appointment.customer_id == dealership["customer"]
        assert appointment.start_at == datetime(2026, 1, 6, 20, 0, tzinfo=UTC)  # 3 pm EST
        assert s.get(Lead, dealership["lead"]).stage.value == "appointment_set"
    assert dana.failures == [], dana.transcript
    assert sim.errors == []
