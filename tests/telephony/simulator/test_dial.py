"""<Dial> with <Number> and <Client>, as Twilio documents it."""

import pytest

from tests.telephony.simulator.test_verbs import (
    BASE,
    CALLER,
    NUMBER,
    TwimlServer,
    new_simulator,
)

AGENT = "client:agent_ana"
CELL = "+13135550188"


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/dialed"] = "<Response><Say>The call has ended.</Say></Response>"
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    return sim


def dial(server, *nouns, **attrs):
    attributes = " ".join(f'{k}="{v}"' for k, v in ({"action": "/dialed"} | attrs).items())
    server.docs["/voice"] = (
        f"<Response><Dial {attributes}>{''.join(nouns)}</Dial><Say>Next verb.</Say></Response>"
    )


def test_client_answers_talks_and_hangs_up(sim, server):
    dial(server, "<Client>agent_ana</Client>")
    agent = sim.phone(AGENT, answer_after=3).wait(40).hangup()
    caller = sim.call(CALLER, NUMBER).expect_say("the call has ended", within=120)
    sim.advance(120)
    assert caller.failures == []
    (dialed,) = server.posted("/dialed")
    assert dialed["DialCallStatus"] == "completed" and dialed["DialBridged"] == "true"
    assert int(dialed["DialCallDuration"]) == 40
    leg = sim.calls[dialed["DialCallSid"]]
    assert leg.to == AGENT and leg.parent_sid == caller.call.sid
    assert leg.direction == "outbound-dial" and leg.status == "completed"
    assert any(kind == "connected" for _, kind, _ in agent.answered[0].transcript)


def test_nobody_answers_within_the_timeout(sim, server):
    dial(server, f"<Number>{CELL}</Number>", timeout="12")
    sim.phone(CELL, answer_after=None)
    sim.call(CALLER, NUMBER)
    sim.advance(11)
    assert server.posted("/dialed") == []
    sim.advance(5)
    (dialed,) = server.posted("/dialed")
    assert dialed["DialCallStatus"] == "no-answer" and "DialCallDuration" not in dialed


def test_busy(sim, server):
    dial(server, f"<Number>{CELL}</Number>")
    sim.phone(CELL, reject=True)
    sim.call(CALLER, NUMBER)
    sim.advance(10)
    assert server.posted("/dialed")[0]["DialCallStatus"] == "busy"


def test_first_of_several_to_answer_wins_the_others_are_dropped(sim, server):
    dial(server, f"<Number>{CELL}</Number>", "<Client>agent_ana</Client>")
    sim.phone(CELL, answer_after=8).wait(5).hangup()
    sim.phone(AGENT, answer_after=2).wait(20).hangup()
    sim.call(CALLER, NUMBER)
    sim.advance(60)
    legs = {c.to: c for c in sim.calls.values() if c.parent_sid}
    assert legs[CELL].status == "canceled" and legs[AGENT].status == "completed"
    assert server.posted("/dialed")[0]["DialCallSid"] == legs[AGENT].sid


def test_without_action_the_next_verb_runs(sim, server):
    server.docs["/voice"] = (
        f"<Response><Dial timeout='5'>{CELL}</Dial><Say>Next verb.</Say></Response>"
    )
    caller = sim.call(CALLER, NUMBER).expect_say("next verb", within=30)
    sim.advance(30)
    assert caller.failures == []


def test_whisper_runs_on_the_answered_leg_before_the_bridge(sim, server):
    dial(server, '<Client url="/whisper">agent_ana</Client>')
    server.docs["/whisper"] = (
        "<Response><Say>Sales call from Maria, waited 40 seconds.</Say></Response>"
    )
    agent = sim.phone(AGENT, answer_after=1).expect_say("sales call from maria").wait(5).hangup()
    sim.call(CALLER, NUMBER)
    sim.advance(60)
    assert agent.answered[0].failures == []
    whisper = server.posted("/whisper")[0]
    assert whisper["Direction"] == "outbound-dial" and whisper["ParentCallSid"].startswith("CA")


def test_caller_hanging_up_drops_the_legs_and_notifies_the_action(sim, server):
    dial(server, "<Client>agent_ana</Client>")
    sim.phone(AGENT, answer_after=2)
    caller = sim.call(CALLER, NUMBER).wait(10).hangup()
    sim.advance(30)
    leg = next(c for c in sim.calls.values() if c.parent_sid)
    assert leg.status == "completed" and caller.call.status == "completed"
    assert server.posted("/dialed")[0]["DialCallStatus"] == "completed"
    assert "the call has ended" not in caller.heard_text()
