"""TwiML that does not conform to Twilio's schema: warning 12200, the element skipped, the
rest of the document run (a document that is not TwiML at all is error 12100)."""

import pytest

from tests.telephony.simulator.test_verbs import BASE, CALLER, NUMBER, TwimlServer, new_simulator

CELL = "+13135550188"


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/fallback"] = "<Response><Say>Fallback.</Say></Response>"
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice", fallback_url=f"{BASE}/fallback")
    return sim


def warnings_of(sim, call):
    return [(n.code, n.level, n.url) for n in sim.notifications if n.call_sid == call.sid]


@pytest.mark.parametrize("bad", ["<Sya>Hello</Sya>", "<say>Hello</say>", "<Queue>sales</Queue>"])
def test_an_unknown_verb_is_skipped_with_a_warning(sim, server, bad):
    server.docs["/voice"] = f"<Response>{bad}<Say>Welcome.</Say></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("welcome")
    sim.advance(20)
    assert caller.failures == [] and "hello" not in caller.heard_text()
    assert warnings_of(sim, caller.call) == [("12200", "warning", f"{BASE}/voice")]
    (notification,) = sim.notifications
    assert "Invalid content was found starting with element" in notification.message
    assert server.posted("/fallback") == []  # a warning, not an error


def test_say_inside_dial_is_skipped_and_the_number_is_dialed(sim, server):
    server.docs["/voice"] = (
        f"<Response><Dial timeout='10'><Say>Connecting.</Say><Number>{CELL}</Number></Dial>"
        "<Say>Nobody answered.</Say></Response>"
    )
    sim.phone(CELL, answer_after=None)
    caller = sim.call(CALLER, NUMBER).expect_say("nobody answered", within=30)
    sim.advance(30)
    assert caller.failures == [] and "connecting" not in caller.heard_text()
    (leg,) = [c for c in sim.calls.values() if c.parent_sid == caller.call.sid]
    assert leg.to == CELL and leg.status == "no-answer"
    (warning,) = sim.notifications
    assert warning.code == "12200" and "'Say'" in warning.message and "Number" in warning.message


def test_dial_inside_gather_is_skipped_and_the_gather_runs(sim, server):
    server.docs["/voice"] = (
        "<Response><Gather numDigits='1' action='/menu'><Say>Press 1.</Say>"
        f"<Dial>{CELL}</Dial></Gather></Response>"
    )
    server.docs["/menu"] = "<Response><Say>Sales.</Say></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1").expect_say("sales")
    sim.advance(30)
    assert caller.failures == []
    assert [c for c in sim.calls.values() if c.parent_sid] == []  # nothing was dialed
    assert warnings_of(sim, caller.call) == [("12200", "warning", f"{BASE}/voice")]


def test_valid_twiml_the_simulator_does_not_run_is_no_warning(sim, server):
    server.docs["/voice"] = (
        "<Response><Start><Stream url='wss://example.com/audio'/></Start>"
        "<Say>Hello.</Say></Response>"
    )
    caller = sim.call(CALLER, NUMBER).expect_say("hello")
    sim.advance(20)
    assert caller.failures == [] and sim.notifications == []
    assert any("<Start>" in e for e in caller.call.errors)


def test_a_document_that_is_not_twiml_is_error_12100(sim, server):
    server.docs["/voice"] = "<Respons><Say>typo</Say></Respons>"
    caller = sim.call(CALLER, NUMBER).expect_say("fallback")
    sim.advance(20)
    assert caller.failures == []
    assert warnings_of(sim, caller.call) == [("12100", "error", f"{BASE}/voice")]
