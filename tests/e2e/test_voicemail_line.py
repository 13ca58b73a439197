"""A whole call through the app as it stands: the simulator plays the caller, the app's
signed webhooks answer, the CRM ends up with the Call, its status and the voicemail task."""

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
        .expect_say("hello maria")
        .expect_say("after the tone")
        .wait(1)
        .talk(12)
        .press("#")
        .expect_say("your message has been saved")
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
        assert "12 s" in task.title


def test_caller_who_hangs_up_at_the_greeting_leaves_a_complete_call_row(app, deps, clock):
    sim = simulator(app, clock)
    sim.call("+13135550177", NUMBER).wait(2).hangup()
    sim.advance(60)
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        assert call.status is CallStatus.COMPLETED and call.ended_at is not None
        assert s.scalars(select(Task)).all() == []


def test_silent_caller_hears_goodbye(app, deps, clock):
    sim = simulator(app, clock)
    caller = sim.call("+13135550177", NUMBER).expect_say("we did not receive a message", within=90)
    sim.advance(120)
    assert caller.failures == []


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
