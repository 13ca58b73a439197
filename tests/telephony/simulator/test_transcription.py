"""<Record transcribe="true" transcribeCallback="…">, as Twilio documents it: some seconds after
the recording (and its action request), an asynchronous signed POST with the transcription,
completed with the words the caller spoke or failed; a transcribeCallback implies transcribe.
The TwiML server checks every request's signature (a bad one shows in ``sim.errors``)."""

import pytest
from twilio.twiml.voice_response import Record, Say, VoiceResponse

from telephony.simulator.recordings import TRANSCRIPTION_DELAY
from tests.telephony.simulator.test_verbs import BASE, CALLER, NUMBER, TwimlServer, new_simulator


def record(**attrs) -> str:
    response = VoiceResponse()
    response.append(Record(action="/recorded", timeout=3, **attrs))
    return str(response)


@pytest.fixture
def server():
    server = TwimlServer()
    server.docs["/recorded"] = str(VoiceResponse().append(Say("Thank you. Goodbye.")))
    return server


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(NUMBER, f"{BASE}/voice")
    return sim


@pytest.mark.parametrize("transcribe", [True, None], ids=["transcribe", "callback-implies-it"])
def test_the_callback_carries_the_words_after_the_action(sim, server, transcribe):
    server.docs["/voice"] = record(transcribe=transcribe, transcribe_callback="/transcribed")
    caller = (
        sim.call(CALLER, NUMBER)
        .wait(1)
        .talk(4, "Hi, this is Dana about my")
        .talk(3, "  service appointment.  ")
    )
    sim.advance(11.5)  # the silence after the words ends the recording at 11 s
    (recorded,) = server.posted("/recorded")
    assert server.posted("/transcribed") == []  # not yet: it comes asynchronously
    sim.advance(TRANSCRIPTION_DELAY)
    (transcribed,) = server.posted("/transcribed")
    assert transcribed["TranscriptionText"] == "Hi, this is Dana about my service appointment."
    assert transcribed["TranscriptionStatus"] == "completed"
    tr_sid = transcribed["TranscriptionSid"]
    assert tr_sid.startswith("TR") and len(tr_sid) == 34
    assert transcribed["RecordingSid"] == recorded["RecordingSid"]
    assert transcribed["RecordingUrl"] == recorded["RecordingUrl"]
    assert transcribed["TranscriptionUrl"] == f"{recorded['RecordingUrl']}/Transcriptions/{tr_sid}"
    assert transcribed["CallSid"] == caller.call.sid
    assert transcribed["AccountSid"] == sim.account_sid
    assert (transcribed["From"], transcribed["To"]) == (CALLER, NUMBER)
    assert transcribed["ApiVersion"] == "2010-04-01" and transcribed["Direction"] == "inbound"
    assert transcribed["CallStatus"] == caller.call.status == "completed"
    assert sim.transcriptions[tr_sid].status == "completed"
    assert sim.errors == [] and caller.failures == []


def test_no_words_is_a_failed_transcription_without_text(sim, server):
    server.docs["/voice"] = record(transcribe=True, transcribe_callback="/transcribed")
    sim.call(CALLER, NUMBER).talk(6)
    sim.advance(30)
    (recorded,) = server.posted("/recorded")
    (transcribed,) = server.posted("/transcribed")
    assert transcribed["TranscriptionStatus"] == "failed"
    assert "TranscriptionText" not in transcribed
    assert transcribed["RecordingSid"] == recorded["RecordingSid"]
    assert sim.notifications == [] and sim.errors == []


@pytest.mark.parametrize(("seconds", "max_length"), [(2, 60), (150, 200)], ids=["short", "long"])
def test_a_recording_out_of_twilio_bounds_fails_with_warning_13617(
    sim, server, seconds, max_length
):
    server.docs["/voice"] = record(transcribe_callback="/transcribed", max_length=max_length)
    sim.call(CALLER, NUMBER).talk(seconds, "words nobody will read")
    sim.advance(seconds + 30)
    assert server.posted("/recorded")[0]["RecordingDuration"] == str(seconds)
    (transcribed,) = server.posted("/transcribed")
    assert transcribed["TranscriptionStatus"] == "failed" and "TranscriptionText" not in transcribed
    (warning,) = sim.notifications
    assert (warning.code, warning.level) == ("13617", "warning")


def test_just_past_two_seconds_is_transcribed(sim, server):
    server.docs["/voice"] = record(transcribe_callback="/transcribed")
    sim.call(CALLER, NUMBER).talk(3, "yes")
    sim.advance(30)
    assert server.posted("/transcribed")[0]["TranscriptionText"] == "yes"


def test_transcribe_without_a_callback_sends_nothing(sim, server):
    server.docs["/voice"] = record(transcribe=True)
    caller = sim.call(CALLER, NUMBER).talk(5, "please call me back")
    sim.advance(60)
    assert [path for path, _ in server.requests] == ["/voice", "/recorded"]
    (transcription,) = sim.transcriptions.values()  # kept, as Twilio keeps it for the REST API
    assert (transcription.status, transcription.text) == ("completed", "please call me back")
    assert transcription.call_sid == caller.call.sid and transcription.callback is None


@pytest.mark.parametrize("transcribe", ["false", None])
def test_not_asked_not_transcribed(sim, server, transcribe):
    server.docs["/voice"] = record(transcribe=transcribe)
    sim.call(CALLER, NUMBER).talk(5, "please call me back")
    sim.advance(60)
    assert len(server.posted("/recorded")) == 1 and sim.transcriptions == {}


def test_hanging_up_to_end_the_recording_still_transcribes(sim, server):
    server.docs["/voice"] = record(transcribe_callback="/transcribed", max_length=60)
    caller = sim.call(CALLER, NUMBER).talk(4, "my car makes a noise").hangup()
    sim.advance(5)
    assert server.posted("/recorded")[0]["Digits"] == "hangup"
    assert caller.call.status == "completed" and server.posted("/transcribed") == []
    sim.advance(TRANSCRIPTION_DELAY)
    (transcribed,) = server.posted("/transcribed")
    assert transcribed["TranscriptionText"] == "my car makes a noise"
    assert transcribed["CallStatus"] == "completed"
    assert [path for path, _ in server.requests][-2:] == ["/recorded", "/transcribed"]


@pytest.mark.parametrize(
    ("callback", "path"),
    [
        ("transcribed", "/voicemail/transcribed"),  # relative to the document
        ("/hooks/transcribed?line=2", "/hooks/transcribed"),
        (f"{BASE}/absolute/transcribed", "/absolute/transcribed"),
    ],
)
def test_the_callback_url_is_resolved_against_the_document(sim, server, callback, path):
    server.docs["/voicemail/start"] = record(transcribe_callback=callback)
    sim.numbers[NUMBER].voice_url = f"{BASE}/voicemail/start"
    sim.call(CALLER, NUMBER).talk(5, "hello there")
    sim.advance(60)
    (transcribed,) = server.posted(path)
    assert transcribed["TranscriptionText"] == "hello there"
    assert sim.errors == []  # the signature covers the query string too


def test_a_failing_callback_shows_in_the_errors(sim, server):
    server.docs["/voice"] = record(transcribe_callback="/transcribed")
    server.docs["/transcribed"] = (500, "boom")
    sim.call(CALLER, NUMBER).talk(5, "hello")
    sim.advance(60)
    assert sim.errors == [f"callback {BASE}/transcribed answered 500"]


def test_each_record_transcribes_only_its_own_words(sim, server):
    server.docs["/voice"] = (
        "<Response><Say>Leave a message.</Say>"
        '<Record action="/first" timeout="3" transcribeCallback="/transcribed"/></Response>'
    )
    server.docs["/first"] = record(transcribe_callback="/transcribed")
    caller = sim.call(CALLER, NUMBER).talk(1, "said over the prompt")  # not recorded yet
    caller.expect_say("leave a message").talk(4, "first").wait(4).talk(5, "second")
    sim.advance(60)
    texts = [t["TranscriptionText"] for t in server.posted("/transcribed")]
    assert texts == ["first", "second"]
