"""The simulator runs TwiML as Twilio documents it, verb by verb, against a small TwiML
server that also checks every request's signature."""

from datetime import UTC, datetime

import pytest
from flask import Flask, request
from twilio.request_validator import RequestValidator

from crm_core.clock import ManualClock
from telephony.simulator.engine import Simulator
from telephony.simulator.transport import WsgiTransport

TOKEN = "sim-token"
BASE = "https://app.example.com"
NUMBER = "+13135550100"
CALLER = "+13135550101"


class TwimlServer:
    """Serves the TwiML each test puts at a path; records every (signed) request."""

    def __init__(self) -> None:
        self.docs: dict[str, str | tuple[int, str]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.app = Flask("twiml")
        validator = RequestValidator(TOKEN)

        @self.app.post("/<path:path>")
        def serve(path):
            url = f"{BASE}{request.full_path.rstrip('?')}"
            assert validator.validate(url, request.form, request.headers["X-Twilio-Signature"])
            self.requests.append(("/" + path, request.form.to_dict()))
            doc = self.docs.get("/" + path, "<Response/>")
            status, body = doc if isinstance(doc, tuple) else (200, doc)
            return body, status, {"Content-Type": "text/xml"}

    def posted(self, path):
        return [params for p, params in self.requests if p == path]


def new_simulator(server: TwimlServer) -> Simulator:
    """A simulator on a manual clock, its webhooks going in-process to ``server``."""
    return Simulator(
        clock=ManualClock(datetime(2026, 1, 5, 15, tzinfo=UTC)),
        transport=WsgiTransport(server.app),
        account_sid="AC" + "1" * 32,
        auth_token=TOKEN,
    )


@pytest.fixture
def server():
    return TwimlServer()


@pytest.fixture
def sim(server):
    sim = new_simulator(server)
    sim.add_number(
        NUMBER, f"{BASE}/voice", status_callback=f"{BASE}/status", fallback_url=f"{BASE}/fallback"
    )
    return sim


def test_say_then_hangup_and_the_completed_callback(sim, server):
    server.docs["/voice"] = "<Response><Say>Welcome to Northside Motors.</Say><Hangup/></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("welcome to northside")
    sim.advance(30)
    assert caller.failures == [] and caller.call.status == "completed"
    first = server.posted("/voice")[0]
    assert first["CallStatus"] == "ringing" and first["Direction"] == "inbound"
    assert first["Caller"] == CALLER and first["Called"] == NUMBER
    (status,) = server.posted("/status")
    assert status["CallStatus"] == "completed" and status["SequenceNumber"] == "0"
    assert status["CallbackSource"] == "call-progress-events"
    assert int(status["CallDuration"]) >= 1 and status["Timestamp"].endswith("GMT")


def test_gather_collects_digits_and_posts_the_action(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather numDigits="1" action="/menu">'
        "<Say>For sales press 1. For service press 2.</Say></Gather>"
        "<Say>We did not get that.</Say></Response>"
    )
    server.docs["/menu"] = "<Response><Say>Connecting you to sales.</Say></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("press 1").press("1").expect_say("sales")
    sim.advance(60)
    assert caller.failures == []
    (menu,) = server.posted("/menu")
    assert menu["Digits"] == "1" and menu["CallStatus"] == "in-progress"
    assert "we did not get that" not in caller.heard_text()


def test_gather_timeout_without_input_falls_through(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather timeout="3" action="/menu"><Say>Press 1.</Say>'
        "</Gather><Say>Goodbye.</Say></Response>"
    )
    caller = sim.call(CALLER, NUMBER).expect_say("goodbye", within=10)
    sim.advance(30)
    assert caller.failures == [] and server.posted("/menu") == []


def test_gather_finish_key_partial_digits_and_same_url_without_action(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather timeout="5"><Say>Enter your ZIP.</Say></Gather></Response>'
    )
    sim.call(CALLER, NUMBER).expect_say("zip").press("482#")
    sim.advance(30)
    second = server.posted("/voice")[1]
    assert second["Digits"] == "482" and second["FinishedOnKey"] == "#"


def test_gather_timeout_after_some_digits_submits_them(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather timeout="4" numDigits="5" action="/zip">'
        "<Say>Enter your ZIP.</Say></Gather></Response>"
    )
    sim.call(CALLER, NUMBER).expect_say("zip").press("48")
    sim.advance(30)
    assert server.posted("/zip")[0]["Digits"] == "48"


def test_action_on_empty_result(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather timeout="2" action="/menu" actionOnEmptyResult="true">'
        "</Gather></Response>"
    )
    sim.call(CALLER, NUMBER)
    sim.advance(10)
    assert server.posted("/menu")[0]["Digits"] == ""


def test_speech_input(sim, server):
    server.docs["/voice"] = (
        '<Response><Gather input="speech dtmf" action="/spoken">'
        "<Say>How can we help?</Say></Gather></Response>"
    )
    sim.call(CALLER, NUMBER).expect_say("help").speak("my car broke down on I-94")
    sim.advance(30)
    spoken = server.posted("/spoken")[0]
    assert spoken["SpeechResult"] == "my car broke down on I-94" and float(spoken["Confidence"]) > 0


def test_keys_outside_gather_are_not_collected(sim, server):
    server.docs["/voice"] = (
        '<Response><Say>Please hold.</Say><Gather timeout="2" action="/g"/></Response>'
    )
    sim.call(CALLER, NUMBER).press("9")
    sim.advance(20)
    assert server.posted("/g") == []


def test_redirect_and_pause(sim, server):
    server.docs["/voice"] = '<Response><Pause length="10"/><Redirect>/next</Redirect></Response>'
    server.docs["/next"] = "<Response><Say>Next document.</Say></Response>"
    caller = sim.call(CALLER, NUMBER)
    sim.advance(9)
    assert server.posted("/next") == []
    sim.advance(10)
    assert "next document" in caller.heard_text()


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
def test_reject_is_never_answered(sim, server, reason, status):
    server.docs["/voice"] = f'<Response><Reject reason="{reason}"/></Response>'
    caller = sim.call(CALLER, NUMBER)
    sim.advance(5)
    assert caller.call.status == status and not caller.call.answered
    assert server.posted("/status")[0]["CallDuration"] == "0"


def test_record_until_silence(sim, server):
    server.docs["/voice"] = (
        '<Response><Record action="/recorded" timeout="3" maxLength="60"/>'
        "<Say>Nothing recorded.</Say></Response>"
    )
    caller = sim.call(CALLER, NUMBER).wait(1).talk(7)
    sim.advance(30)
    recorded = server.posted("/recorded")[0]
    assert recorded["RecordingDuration"] == "7" and recorded["RecordingSid"].startswith("RE")
    assert recorded["RecordingUrl"].endswith(recorded["RecordingSid"])
    assert "Digits" not in recorded and "nothing recorded" not in caller.heard_text()


def test_record_with_no_audio_goes_to_the_next_verb(sim, server):
    server.docs["/voice"] = (
        '<Response><Record action="/recorded" timeout="3"/><Say>Nothing recorded.</Say></Response>'
    )
    caller = sim.call(CALLER, NUMBER)
    sim.advance(30)
    assert server.posted("/recorded") == [] and "nothing recorded" in caller.heard_text()


def test_record_finish_key_and_hangup(sim, server):
    server.docs["/voice"] = '<Response><Record action="/recorded" maxLength="60"/></Response>'
    sim.call(CALLER, NUMBER).talk(5).press("#")
    sim.advance(30)
    assert server.posted("/recorded")[0]["Digits"] == "#"
    server.requests.clear()
    caller = sim.call(CALLER, NUMBER).talk(4).hangup()
    sim.advance(30)
    assert server.posted("/recorded")[0]["Digits"] == "hangup"
    assert caller.call.status == "completed"


def test_record_stops_at_max_length(sim, server):
    server.docs["/voice"] = '<Response><Record action="/recorded" maxLength="10"/></Response>'
    sim.call(CALLER, NUMBER).talk(30)
    sim.advance(60)
    assert server.posted("/recorded")[0]["RecordingDuration"] == "10"


def test_invalid_twiml_goes_to_the_fallback_with_the_error(sim, server):
    server.docs["/voice"] = "<Respons><Say>typo</Say></Respons>"
    server.docs["/fallback"] = "<Response><Say>Sorry, leave a message.</Say></Response>"
    caller = sim.call(CALLER, NUMBER)
    sim.advance(20)
    fallback = server.posted("/fallback")[0]
    assert fallback["ErrorCode"] == "12100" and fallback["ErrorUrl"] == f"{BASE}/voice"
    assert "leave a message" in caller.heard_text()


def test_http_error_then_failing_fallback_is_an_application_error(sim, server):
    server.docs["/voice"] = (500, "boom")
    server.docs["/fallback"] = (500, "boom too")
    caller = sim.call(CALLER, NUMBER)
    sim.advance(20)
    assert server.posted("/fallback")[0]["ErrorCode"] == "11200"
    assert "an application error has occurred" in caller.heard_text()
    assert caller.call.status == "completed"


def test_no_more_verbs_ends_the_call(sim, server):
    server.docs["/voice"] = "<Response><Say>Hi.</Say></Response>"
    caller = sim.call(CALLER, NUMBER)
    sim.advance(10)
    assert caller.call.status == "completed"


def test_expectation_failures_are_reported(sim, server):
    server.docs["/voice"] = "<Response><Say>Hello.</Say><Pause length='30'/></Response>"
    caller = sim.call(CALLER, NUMBER).expect_say("goodbye", within=5)
    sim.advance(40)
    assert caller.failures and "goodbye" in caller.failures[0]
