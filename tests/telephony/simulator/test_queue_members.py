"""The Queues resource's Members, as Twilio documents them, through the real twilio-python
client: fetch by CallSid or ``Front``, 404 for a call not in the queue, and an update with
Url (and Method) that dequeues the member to that TwiML."""

from datetime import timedelta

import pytest
from twilio.base.exceptions import TwilioRestException

from telephony.simulator.rest import RestServer
from telephony.twilio_carrier import TwilioCarrier
from tests.telephony.simulator.test_enqueue import AC, ENQUEUE
from tests.telephony.simulator.test_verbs import (
    BASE,
    CALLER,
    NUMBER,
    TOKEN,
    TwimlServer,
    new_simulator,
)

SECOND = "+13135550102"


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/voice"] = ENQUEUE
    server.docs["/hold"] = "<Response><Say>Please hold.</Say><Pause length='10'/></Response>"
    server.docs["/left"] = "<Response><Say>Goodbye from the action.</Say></Response>"
    server.docs["/agent-ready"] = (
        "<Response><Say>Connecting you now.</Say><Pause length='60'/></Response>"
    )
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    return sim


@pytest.fixture
def client(sim):
    with RestServer(sim) as rest:
        sim.api_base_url = rest.url
        with TwilioCarrier(AC, TOKEN, base_url=rest.url) as carrier:
            yield carrier.client


def test_fetch_a_member_by_call_sid_and_the_front(sim, client):
    first = sim.call(CALLER, NUMBER)
    sim.advance(4)
    second = sim.call(SECOND, NUMBER)
    sim.advance(6)
    queue = sim.queues["sales"]
    member = client.queues(queue.sid).members(second.call.sid).fetch()
    assert (member.call_sid, member.queue_sid, member.position) == (second.call.sid, queue.sid, 2)
    assert member.wait_time == 6
    assert (
        member.uri == f"/2010-04-01/Accounts/{AC}/Queues/{queue.sid}/Members/{second.call.sid}.json"
    )
    # twilio-python reads date_enqueued as RFC 2822 (it gives the string back otherwise)
    assert member.date_enqueued == sim.clock.now() - timedelta(seconds=6)
    front = client.queues(queue.sid).members("Front").fetch()
    assert (front.call_sid, front.position, front.wait_time) == (first.call.sid, 1, 10)


def test_a_call_not_in_the_queue_is_twilios_404(sim, client):
    caller = sim.call(CALLER, NUMBER)
    sim.advance(2)
    queue = sim.queues["sales"]
    for missing in ("CA" + "f" * 32, "Front-of-nothing"):
        with pytest.raises(TwilioRestException) as raised:
            client.queues(queue.sid).members(missing).fetch()
        assert (raised.value.status, raised.value.code) == (404, 20404)
    caller.hangup()
    sim.advance(12)  # the party acts at its next turn (the hold music's next sentence)
    assert caller.call.ended and queue.members == []
    with pytest.raises(TwilioRestException) as raised:  # the queue is empty now
        client.queues(queue.sid).members("Front").fetch()
    assert raised.value.status == 404
    with pytest.raises(TwilioRestException) as raised:
        client.queues(queue.sid).members(caller.call.sid).update(url=f"{BASE}/agent-ready")
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_update_with_url_dequeues_the_member_as_twilio_does(sim, server, client):
    first = sim.call(CALLER, NUMBER)
    sim.advance(3)
    second = sim.call(SECOND, NUMBER)
    sim.advance(3)
    queue = sim.queues["sales"]
    member = client.queues(queue.sid).members("Front").update(url=f"{BASE}/agent-ready")
    assert (member.call_sid, member.position) == (first.call.sid, 1)
    sim.advance(5)
    assert "connecting you now" in first.heard_text()
    assert server.posted("/left")[0]["QueueResult"] == "redirected"
    assert "goodbye from the action" not in first.heard_text()
    assert [c.sid for c in queue.members] == [second.call.sid]
    client.queues(queue.sid).members(second.call.sid).update(
        url=f"{BASE}/agent-ready", method="POST"
    )
    sim.advance(5)
    assert "connecting you now" in second.heard_text() and queue.members == []


@pytest.mark.parametrize(
    ("params", "why"),
    [({"url": "/relative"}, "Url"), ({"url": f"{BASE}/agent-ready", "method": "PUT"}, "Method")],
)
def test_a_bad_url_or_method_is_a_400_and_the_member_stays(sim, client, params, why):
    caller = sim.call(CALLER, NUMBER)
    sim.advance(2)
    queue = sim.queues["sales"]
    with pytest.raises(TwilioRestException) as raised:
        client.queues(queue.sid).members(caller.call.sid).update(**params)
    assert raised.value.status == 400 and why in raised.value.msg
    assert queue.members == [caller.call]
