"""<Enqueue>, <Leave> and the Queues resource, as Twilio documents them."""

import pytest

from telephony.simulator.rest import RestServer
from telephony.twilio_carrier import TwilioCarrier
from tests.telephony.simulator.test_verbs import (
    BASE,
    CALLER,
    NUMBER,
    TOKEN,
    TwimlServer,
    new_simulator,
)

AC = "AC" + "1" * 32
ENQUEUE = (
    '<Response><Enqueue waitUrl="/hold" action="/left">sales</Enqueue><Say>After.</Say></Response>'
)
HOLD = "<Response><Say>You are caller {n}.</Say><Pause length='10'/></Response>"


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/voice"] = ENQUEUE
    server.docs["/hold"] = "<Response><Say>Please hold.</Say><Pause length='10'/></Response>"
    server.docs["/left"] = "<Response><Say>Goodbye from the action.</Say></Response>"
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    return sim


def test_hold_document_is_requested_again_with_queue_figures(sim, server):
    first = sim.call(CALLER, NUMBER)
    sim.advance(5)
    sim.call("+13135550102", NUMBER)
    sim.advance(40)
    holds = server.posted("/hold")
    mine = [h for h in holds if h["CallSid"] == first.call.sid]
    assert len(mine) >= 3  # requested again each time the hold TwiML ran out
    assert [h["QueuePosition"] for h in mine] == ["1"] * len(mine)
    assert int(mine[-1]["QueueTime"]) > int(mine[0]["QueueTime"])
    assert mine[-1]["CurrentQueueSize"] == "2" and mine[0]["MaxQueueSize"] == "100"
    theirs = [h for h in holds if h["CallSid"] != first.call.sid]
    assert theirs[0]["QueuePosition"] == "2"
    assert first.heard_text().count("please hold") >= 3


def test_leave_requests_the_action_and_runs_its_twiml(sim, server):
    server.docs["/hold"] = (
        '<Response><Gather numDigits="1" action="/hold-key" timeout="5">'
        "<Say>Press 1 for a callback.</Say></Gather></Response>"
    )
    server.docs["/hold-key"] = "<Response><Leave/></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1").expect_say("goodbye from")
    sim.advance(60)
    assert caller.failures == []
    (left,) = server.posted("/left")
    assert left["QueueResult"] == "leave" and left["QueueSid"].startswith("QU")
    assert sim.queues["sales"].members == []


def test_without_action_the_verbs_after_enqueue_run(sim, server):
    server.docs["/voice"] = (
        '<Response><Enqueue waitUrl="/hold">sales</Enqueue><Say>After the queue.</Say></Response>'
    )
    server.docs["/hold"] = "<Response><Leave/></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("after the queue")
    sim.advance(20)
    assert caller.failures == []


def test_hanging_up_in_the_queue_reports_hangup(sim, server):
    caller = sim.call(CALLER, NUMBER).wait(12).hangup()
    sim.advance(30)
    (left,) = server.posted("/left")
    assert left["QueueResult"] == "hangup" and int(left["QueueTime"]) >= 11
    assert caller.call.status == "completed" and sim.queues["sales"].members == []


def test_full_queue(sim, server):
    sim.queue("sales").max_size = 1
    sim.call(CALLER, NUMBER)
    sim.advance(2)
    second = sim.call("+13135550102", NUMBER).expect_say("goodbye from the action")
    sim.advance(10)
    assert server.posted("/left")[0]["QueueResult"] == "queue-full"
    assert second.failures == []


def test_empty_hold_document_is_not_requested_in_a_tight_loop(sim, server):
    server.docs["/hold"] = "<Response/>"
    sim.call(CALLER, NUMBER)
    sim.advance(10)
    assert 8 <= len(server.posted("/hold")) <= 12


def test_rest_shows_the_queue_and_redirects_a_member_out(sim, server):
    server.docs["/agent-ready"] = (
        "<Response><Say>Connecting you now.</Say><Pause length='60'/></Response>"
    )
    with RestServer(sim) as rest:
        sim.api_base_url = rest.url
        with TwilioCarrier(AC, TOKEN, base_url=rest.url) as carrier:
            first = sim.call(CALLER, NUMBER)
            sim.advance(3)
            second = sim.call("+13135550102", NUMBER)
            sim.advance(3)
            (queue,) = carrier.client.queues.list()
            assert (queue.friendly_name, queue.current_size) == ("sales", 2)
            members = carrier.client.queues(queue.sid).members.list()
            assert [m.call_sid for m in members] == [first.call.sid, second.call.sid]
            carrier.redirect_call(first.call.sid, f"{BASE}/agent-ready")
            sim.advance(5)
            assert server.posted("/left")[0]["QueueResult"] == "redirected"
            assert "connecting you now" in first.heard_text()
            assert "goodbye from the action" not in first.heard_text()
            assert carrier.client.queues(queue.sid).fetch().current_size == 1
            carrier.client.queues(queue.sid).members("Front").update(url=f"{BASE}/agent-ready")
            sim.advance(5)
            assert "connecting you now" in second.heard_text()
            assert sim.queues["sales"].average_wait() > 0
