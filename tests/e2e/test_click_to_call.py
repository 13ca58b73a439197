"""Click-to-call end to end: an agent's softphone dials a customer through the TwiML App URL
(/twilio/client), the local carrier runs the <Dial>, the customer's phone answers, and the
Call row has the agent, the customer and the talk time.

The simulator has no TwiML Application (nor Client-originated calls): a softphone's call is
played as what Twilio then requests, a call from ``client:<identity>`` whose Voice URL is
the App's, by configuring the dialled number with that URL. Its status callback stands for
the App's Status Callback URL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core import customers
from crm_core.models import Call, CallDirection, CallStatus
from crm_core.schemas import CustomerIn, UserIn, parse
from crm_core.users import create_user
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiTransport
from tests.telephony.conftest import PUBLIC, TOKEN, twilio_app

NUMBER = "+13135550100"  # the center's caller ID
CUSTOMER = "+13135550142"
ACCOUNT = "AC" + "0" * 32
API = "http://simulator.test"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="simulator",
        TWILIO_API_BASE_URL=API,
        TWILIO_CALLER_ID=NUMBER,
    )


@pytest.fixture
def sim(app, clock):
    sim = Simulator(
        clock=clock, transport=WsgiTransport(app), account_sid=ACCOUNT, auth_token=TOKEN
    )
    # The TwiML App: what a softphone's outgoing call requests.
    sim.add_number(
        CUSTOMER, f"{PUBLIC}/twilio/client", status_callback=f"{PUBLIC}/twilio/voice/status"
    )
    return sim


@pytest.fixture
def ids(deps, clock):
    with deps.session_factory.begin() as s:
        ana = create_user(s, parse(UserIn, {"username": "ana", "password": "x" * 12}), clock)
        rosa = customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Rosa", "phones": [CUSTOMER]}), clock
        )
        return {"ana": ana.id, "rosa": rosa.id}


def row(deps, call_sid: str) -> Call:
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == call_sid)).one()


def test_the_agent_reaches_the_customer_and_the_call_is_logged(sim, deps, ids):
    rosa = sim.phone(CUSTOMER, answer_after=4)
    rosa.wait(45).hangup()
    agent = sim.call("client:agent_ana", CUSTOMER).wait(120)
    sim.advance(10)
    assert len(rosa.answered) == 1, sim.calls
    (leg,) = [c for c in sim.calls.values() if c.parent_sid == agent.call.sid]
    assert leg.to == CUSTOMER and leg.from_ == NUMBER and leg.status == "in-progress"
    sim.advance(60)
    assert agent.failures == [] and sim.errors == [], (agent.transcript, sim.errors)
    assert agent.call.ended and leg.status == "completed"
    call = row(deps, agent.call.sid)
    assert call.direction is CallDirection.OUTBOUND_DIAL
    assert (call.agent_id, call.customer_id) == (ids["ana"], ids["rosa"])
    assert (call.from_number, call.to_number) == (NUMBER, CUSTOMER)
    # Talk counts from the bridge: Rosa first hears the recording notice (about 4 s).
    assert call.leg_sids == [leg.sid] and 40 <= call.talk_seconds <= 46
    assert call.status is CallStatus.COMPLETED
    with deps.session_factory() as s:  # one conversation, one row
        assert len(s.scalars(select(Call)).all()) == 1


def test_no_answer_is_told_to_the_agent(sim, deps, ids):
    sim.phone(CUSTOMER, answer_after=None)
    agent = sim.call("client:agent_ana", CUSTOMER).expect_say("no answer", within=60)
    sim.advance(60)
    assert agent.failures == [] and sim.errors == [], agent.transcript
    assert agent.call.ended
    assert row(deps, agent.call.sid).talk_seconds is None


def test_an_unknown_softphone_never_reaches_the_customer(sim, deps, ids):
    rosa = sim.phone(CUSTOMER, answer_after=1)
    stranger = sim.call("client:agent_mallory", CUSTOMER).expect_say("not signed in")
    sim.advance(30)
    assert stranger.failures == [] and rosa.answered == []
    assert [c for c in sim.calls.values() if c.parent_sid] == []  # nothing was dialled
    # The App's status callback still keeps the softphone's leg, as it does every call; it
    # is not an outbound call of anyone's.
    (kept,) = [row(deps, stranger.call.sid)]
    assert kept.direction is CallDirection.INBOUND and kept.agent_id is None
