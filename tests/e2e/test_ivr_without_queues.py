"""The auto-attendant before anyone has configured a queue (or after the queues it names
were removed): every choice still ends somewhere useful, a message the team sees."""

from sqlalchemy import select

from crm_core import customers
from crm_core.models import Call, CallStatus, Task, TaskKind
from crm_core.schemas import CustomerIn, parse
from telephony.models import TelephonyError
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN

NUMBER = "+13135550100"


def simulator(app, clock):
    sim = Simulator(
        clock=clock, transport=WsgiTransport(app), account_sid="AC" + "0" * 32, auth_token=TOKEN
    )
    sim.add_number(
        NUMBER,
        f"{PUBLIC}/twilio/voice",
        status_callback=f"{PUBLIC}/twilio/voice/status",
        fallback_url=f"{PUBLIC}/twilio/voice/fallback",
    )
    return sim


def test_known_caller_leaves_a_voicemail(app, deps, clock):
    with deps.session_factory.begin() as s:
        customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Maria", "phones": ["3135550101"]}), clock
        )
    sim = simulator(app, clock)
    caller = (
        sim.call("+13135550101", NUMBER)
        .expect_say("hi maria")
        .expect_say("press 1")
        .press("1")
        .expect_say("after the tone")
        .wait(1)
        .talk(12, "please call me about the truck")
        .press("#")
        .expect_say("we received your message")
    )
    sim.advance(120)
    assert caller.failures == [], caller.transcript
    assert sim.errors == []
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        assert call.status is CallStatus.COMPLETED and call.duration_seconds > 12
        assert call.answered_at is not None and call.ended_at > call.answered_at
        task = s.scalars(select(Task)).one()
        assert task.kind is TaskKind.VOICEMAIL and task.customer_id == call.customer_id
        assert "12 s" in task.title and task.notes == "please call me about the truck"
        assert s.scalars(select(TelephonyError)).all() == []


def test_caller_who_hangs_up_at_the_greeting_leaves_a_complete_call_row(app, deps, clock):
    sim = simulator(app, clock)
    sim.call("+13135550177", NUMBER).wait(2).hangup()
    sim.advance(60)
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        assert call.status is CallStatus.COMPLETED and call.ended_at is not None
        assert call.script_name == "auto_attendant" and call.language == "en-US"
        assert s.scalars(select(Task)).all() == []


def test_silent_caller_is_offered_voicemail(app, deps, clock):
    """No choice three times: the operator queue would take over; without one, voicemail."""
    sim = simulator(app, clock)
    caller = sim.call("+13135550177", NUMBER).expect_say("after the tone", within=150)
    caller.expect_say("we did not receive a message", within=30)
    sim.advance(240)
    assert caller.failures == [], caller.transcript
    with deps.session_factory() as s:
        assert s.scalars(select(Call)).one().ivr_path == "no choice"


def test_broken_app_still_gives_the_caller_a_way_to_leave_a_message(app, deps, clock):
    app.config["PUBLIC_BASE_URL"] = PUBLIC  # unchanged; the token below is wrong instead
    sim = simulator(app, clock)
    sim.auth_token = "not-the-token"  # every webhook is refused with 403 → Twilio's fallback
    caller = sim.call("+13135550101", NUMBER)
    sim.advance(30)
    assert "an application error has occurred" in caller.heard_text()
    assert any("11200" in e for e in sim.errors)
    with deps.session_factory() as s:
        assert s.scalars(select(TelephonyError)).all() == []  # refused before any work
