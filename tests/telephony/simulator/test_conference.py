"""<Dial><Conference> and the Conferences/Participants resources through TwilioCarrier."""

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
AGENT_NUMBER = "+13135550111"
SUPERVISOR = "client:sup_sam"
ROOM = "CA-room-1"


def room(start: bool, end: bool, **extra) -> str:
    attrs = {
        "startConferenceOnEnter": str(start).lower(),
        "endConferenceOnExit": str(end).lower(),
        "statusCallback": "/conf-events",
        "statusCallbackEvent": "start end join leave mute hold modify",
    } | extra
    rendered = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (
        f"<Response><Dial><Conference {rendered}>{ROOM}</Conference></Dial>"
        "<Say>After the conference.</Say></Response>"
    )


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/voice"] = room(start=False, end=False, waitUrl="/wait")
    server.docs["/wait"] = "<Response><Say>Please wait for an agent.</Say></Response>"
    server.docs["/agent"] = room(start=True, end=True)
    server.docs["/hold"] = "<Response><Play>http://example.com/hold.mp3</Play></Response>"
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    sim.add_number(AGENT_NUMBER, f"{BASE}/agent")
    return sim


def events(server):
    return [(p["StatusCallbackEvent"], p.get("CallSid")) for p in server.posted("/conf-events")]


def test_caller_waits_agent_starts_and_ends_the_conference(sim, server):
    caller = sim.call(CALLER, NUMBER).expect_say("after the conference", within=200)
    sim.advance(20)
    assert caller.heard_text().count("please wait for an agent") >= 3  # waitUrl again and again
    assert sim.conference(ROOM, create=False).status == "init"
    agent = sim.call("+13135550102", AGENT_NUMBER).wait(30).hangup()
    sim.advance(60)
    assert caller.failures == []
    seen = [e for e, _ in events(server)]
    assert seen == [
        "participant-join",
        "participant-join",
        "conference-start",
        "participant-leave",
        "participant-leave",
        "conference-end",
    ]
    end = server.posted("/conf-events")[-1]
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == agent.call.sid
    assert [p["SequenceNumber"] for p in server.posted("/conf-events")] == [
        str(i) for i in range(6)
    ]


def test_supervisor_joins_muted_whispers_holds_and_is_removed(sim, server):
    sim.phone(SUPERVISOR, answer_after=2)
    with RestServer(sim) as rest:
        sim.api_base_url = rest.url
        with TwilioCarrier(AC, TOKEN, base_url=rest.url) as carrier:
            caller = sim.call(CALLER, NUMBER)
            agent = sim.call("+13135550102", AGENT_NUMBER)
            sim.advance(5)
            conf = sim.conference(ROOM, create=False)
            sup_sid = carrier.add_participant(ROOM, SUPERVISOR, NUMBER, muted=True)
            sim.advance(5)
            listed = carrier.client.conferences(conf.sid).participants.list()
            assert {p.call_sid for p in listed} == {caller.call.sid, agent.call.sid, sup_sid}
            sup = carrier.client.conferences(conf.sid).participants(sup_sid).fetch()
            assert sup.muted is True and sup.coaching is False
            carrier.coach(conf.sid, sup_sid, agent.call.sid)  # whisper to the agent only
            carrier.mute(conf.sid, sup_sid, False)  # barge
            carrier.hold(conf.sid, caller.call.sid, True, hold_url=f"{BASE}/hold")
            sim.advance(5)
            assert server.posted("/hold") and "hold.mp3" in " ".join(
                t for _, k, t in caller.transcript if k == "heard play"
            )
            carrier.hold(conf.sid, caller.call.sid, False)
            assert carrier.remove_participant(conf.sid, sup_sid) is True
            sim.advance(2)
            assert sim.calls[sup_sid].status == "completed"
            seen = events(server)
            assert ("participant-modify", sup_sid) in seen
            assert ("participant-unmute", sup_sid) in seen
            assert ("participant-hold", caller.call.sid) in seen
            assert ("participant-unhold", caller.call.sid) in seen
            assert ("participant-leave", sup_sid) in seen
            assert conf.status == "in-progress"  # the caller and the agent are still talking


def test_conference_ended_through_the_api(sim, server):
    with RestServer(sim) as rest:
        sim.api_base_url = rest.url
        with TwilioCarrier(AC, TOKEN, base_url=rest.url) as carrier:
            caller = sim.call(CALLER, NUMBER).expect_say("after the conference", within=100)
            sim.call("+13135550102", AGENT_NUMBER)
            sim.advance(5)
            (conf,) = carrier.client.conferences.list(friendly_name=ROOM, status="in-progress")
            carrier.client.conferences(conf.sid).update(status="completed")
            sim.advance(10)
            assert caller.failures == []
            assert carrier.client.conferences(conf.sid).fetch().status == "completed"
            assert server.posted("/conf-events")[-1]["ReasonConferenceEnded"] == (
                "conference-ended-via-api"
            )


def test_last_participant_leaving_ends_it(sim, server):
    server.docs["/voice"] = room(start=True, end=False)
    caller = sim.call(CALLER, NUMBER).wait(5).hangup()
    sim.advance(20)
    assert caller.call.status == "completed"
    assert server.posted("/conf-events")[-1]["ReasonConferenceEnded"] == "last-participant-left"
    assert sim.conference(ROOM, create=False) is None  # a new join would start a new one


def test_a_redirected_participant_leaves_the_conference_without_its_dial_action(sim, server):
    """Calls resource update with Url, as Twilio does it: the call stops its <Dial>, leaves
    the room (the others stay), the Dial's action is not requested, and the new TwiML runs."""
    server.docs["/voice"] = room(start=True, end=False, action="/after-dial")
    server.docs["/elsewhere"] = "<Response><Say>Somewhere else now.</Say></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("somewhere else now", within=60)
    agent = sim.call("+13135550102", AGENT_NUMBER).wait(120).hangup()
    sim.advance(5)
    sim.redirect(caller.call, f"{BASE}/elsewhere")
    sim.advance(10)
    assert caller.failures == []
    conference = sim.conference(ROOM, create=False)
    assert list(conference.participants) == [agent.call.sid]
    assert ("participant-leave", caller.call.sid) in events(server)
    assert server.posted("/after-dial") == []
    assert "after the conference" not in caller.heard_text()
