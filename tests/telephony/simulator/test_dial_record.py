"""``record`` on <Dial>, as Twilio documents it: one recording of the <Dial>, on the parent
call, with recordingStatusCallback events and RecordingUrl for the Dial action."""

import pytest
from twilio.twiml.voice_response import Dial, Say, VoiceResponse

from tests.telephony.simulator.test_verbs import BASE, CALLER, NUMBER, TwimlServer, new_simulator

AGENT = "client:agent_ana"


def dial_client(**attrs) -> str:
    response = VoiceResponse()
    dial = Dial(action="/dialed", recording_status_callback="/rec", **attrs)
    dial.client("agent_ana")
    response.append(dial)
    return str(response)


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/dialed"] = str(VoiceResponse().append(Say("The call has ended.")))
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    return sim


def test_record_from_answer_dual(sim, server):
    server.docs["/voice"] = dial_client(
        record="record-from-answer-dual", recording_status_callback_event="in-progress completed"
    )
    sim.phone(AGENT, answer_after=3).wait(40).hangup()
    caller = sim.call(CALLER, NUMBER)
    sim.advance(120)
    started, completed = server.posted("/rec")
    for callback in (started, completed):
        assert callback["CallSid"] == caller.call.sid  # always the parent leg
        assert callback["AccountSid"] == sim.account_sid
        assert callback["RecordingSource"] == "DialVerb" and callback["RecordingChannels"] == "2"
        assert callback["RecordingStartTime"].endswith("GMT")
    assert started["RecordingSid"] == completed["RecordingSid"]
    assert started["RecordingStatus"] == "in-progress" and "RecordingDuration" not in started
    assert completed["RecordingStatus"] == "completed" and completed["RecordingDuration"] == "40"
    (dialed,) = server.posted("/dialed")
    assert dialed["RecordingUrl"] == completed["RecordingUrl"]
    assert dialed["RecordingUrl"].endswith(completed["RecordingSid"])
    recording = sim.recordings[completed["RecordingSid"]]
    assert (recording.call_sid, recording.status, recording.channels) == (
        caller.call.sid,
        "completed",
        2,
    )


def test_record_from_ringing_includes_the_ringing(sim, server):
    server.docs["/voice"] = dial_client(record="record-from-ringing")
    sim.phone(AGENT, answer_after=5).wait(30).hangup()
    sim.call(CALLER, NUMBER)
    sim.advance(120)
    (completed,) = server.posted("/rec")  # only "completed" by default
    assert completed["RecordingDuration"] == "35" and completed["RecordingChannels"] == "1"


def test_true_is_record_from_answer_and_the_caller_hanging_up_ends_it(sim, server):
    server.docs["/voice"] = dial_client(record="true")
    sim.phone(AGENT, answer_after=2)
    sim.call(CALLER, NUMBER).wait(22).hangup()
    sim.advance(60)
    (completed,) = server.posted("/rec")
    assert completed["RecordingDuration"] == "20"
    assert server.posted("/dialed")[0]["RecordingUrl"] == completed["RecordingUrl"]


@pytest.mark.parametrize("record", ["record-from-answer", "do-not-record", None])
def test_nothing_answered_or_not_asked_nothing_recorded(sim, server, record):
    server.docs["/voice"] = dial_client(record=record, timeout=10)
    sim.phone(AGENT, answer_after=None)
    sim.call(CALLER, NUMBER)
    sim.advance(60)
    assert server.posted("/rec") == [] and sim.recordings == {}
    (dialed,) = server.posted("/dialed")
    assert dialed["DialCallStatus"] == "no-answer" and "RecordingUrl" not in dialed


def test_a_recording_with_nothing_in_it_is_absent(sim, server):
    server.docs["/voice"] = dial_client(
        record="record-from-ringing", recording_status_callback_event="completed absent"
    )
    sim.phone(AGENT, answer_after=None)
    sim.call(CALLER, NUMBER).hangup()  # at once, while the agent's phone starts to ring
    sim.advance(30)
    (absent,) = server.posted("/rec")
    assert absent["RecordingStatus"] == "absent" and absent["RecordingDuration"] == "0"
    assert server.posted("/dialed")[0]["RecordingUrl"] == absent["RecordingUrl"]
