"""CarrierHttpClient and TwilioCarrier against a real HTTP server, through the real
twilio-python Client: where requests go, what they carry, and when they are sent again.

The server is a scripted Twilio: each test queues the answers (status, JSON shaped like
Twilio's resources and errors, headers) and reads back the requests that arrived. Backoff
sleeps go to a list, so nothing here waits.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
from collections import deque
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from telephony.carrier import (
    Carrier,
    CarrierError,
    CarrierNotFound,
    CarrierUnavailable,
    RecordingMedia,
)
from telephony.http import CarrierHttpClient, repeatable, retry_after
from telephony.twilio_carrier import TwilioCarrier

AC = "AC" + "a1" * 16
TOKEN = "auth-token-never-logged"
CA = "CA" + "c1" * 16
CA2 = "CA" + "c2" * 16
CF = "CF" + "f1" * 16
RE = "RE" + "e1" * 16
SM = "SM" + "5a" * 16
API = f"/2010-04-01/Accounts/{AC}"


def call_json(sid: str = CA, status: str = "queued") -> dict[str, Any]:
    """A Call resource as Twilio returns it (the fields that matter, the rest null)."""
    return {
        "sid": sid,
        "account_sid": AC,
        "api_version": "2010-04-01",
        "status": status,
        "to": "+15558675310",
        "from": "+15017122661",
        "direction": "outbound-api",
        "parent_call_sid": None,
        "date_created": "Tue, 31 Aug 2010 20:36:28 +0000",
        "date_updated": "Tue, 31 Aug 2010 20:36:44 +0000",
        "start_time": None,
        "end_time": None,
        "duration": None,
        "answered_by": None,
        "uri": f"{API}/Calls/{sid}.json",
        "subresource_uris": {"recordings": f"{API}/Calls/{sid}/Recordings.json"},
    }


def participant_json(call_sid: str = CA2, **fields: Any) -> dict[str, Any]:
    return {
        "account_sid": AC,
        "call_sid": call_sid,
        "conference_sid": CF,
        "label": None,
        "muted": False,
        "hold": False,
        "coaching": False,
        "call_sid_to_coach": None,
        "status": "queued",
        "uri": f"{API}/Conferences/{CF}/Participants/{call_sid}.json",
        **fields,
    }


def recording_json(status: str = "in-progress") -> dict[str, Any]:
    return {
        "sid": RE,
        "account_sid": AC,
        "call_sid": CA,
        "conference_sid": None,
        "status": status,
        "channels": 2,
        "source": "StartCallRecordingAPI",
        "track": "both",
        "duration": "-1",
        "uri": f"{API}/Calls/{CA}/Recordings/{RE}.json",
    }


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's JSON error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


NOT_FOUND = twilio_error(404, 20404, "The requested resource was not found")


class _Quiet(WSGIRequestHandler):
    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeTwilio:
    """A scripted Twilio: answers what was queued (then 200 {}), keeps every request."""

    def __init__(self) -> None:
        self.answers: deque[tuple[int, Any, dict[str, str]]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.server = make_server("127.0.0.1", 0, self.app, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def answer(self, status: int, body: Any = None, **headers: str) -> None:
        self.answers.append((status, {} if body is None else body, headers))

    def reset(self) -> None:
        self.answers.clear()
        self.requests.clear()

    @Request.application
    def app(self, request: Request) -> Response:
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "raw_uri": request.environ.get("REQUEST_URI", ""),
                "args": request.args.to_dict(flat=False),
                "form": request.form.to_dict(flat=False),
                "authorization": request.headers.get("Authorization"),
            }
        )
        status, body, headers = self.answers.popleft() if self.answers else (200, {}, {})
        if isinstance(body, bytes):
            return Response(body, status=status, headers=headers)
        data = b"" if status == 204 else json.dumps(body).encode()
        return Response(data, status=status, headers=headers, mimetype="application/json")

    def paths(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]


@pytest.fixture(scope="module")
def server():
    fake = FakeTwilio()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    fake.thread.join()


@pytest.fixture
def twilio(server) -> FakeTwilio:
    server.reset()
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def http_client(base_url: str, sleeps: list[float]) -> CarrierHttpClient:
    # random() == 1.0: each backoff is the full exponential step (0.25, 0.5, 1, 2, 4, 4 …)
    return CarrierHttpClient(base_url=base_url, sleep=sleeps.append, random=lambda: 1.0)


@pytest.fixture
def carrier(twilio, sleeps):
    carrier = TwilioCarrier(AC, TOKEN, http_client=http_client(twilio.url, sleeps))
    yield carrier
    carrier.close()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Where requests go


def test_requests_reach_base_url_with_path_query_and_basic_auth(twilio, carrier):
    page = {"calls": [], "page": 0, "page_size": 2, "uri": f"{API}/Calls.json"}
    twilio.answer(200, page)
    twilio.answer(200, call_json(status="in-progress"))

    carrier.client.calls.page(to="+15558675310", status="in-progress", page_size=2)
    assert carrier.client.calls(CA).fetch().status == "in-progress"

    listed, fetched = twilio.requests
    assert (listed["method"], listed["path"]) == ("GET", f"{API}/Calls.json")
    assert listed["args"] == {"To": ["+15558675310"], "Status": ["in-progress"], "PageSize": ["2"]}
    assert (fetched["method"], fetched["path"]) == ("GET", f"{API}/Calls/{CA}.json")
    assert {r["authorization"] for r in twilio.requests} == {basic(AC, TOKEN)}


def test_base_url_path_prefix_and_query_are_kept(twilio, sleeps):
    http = http_client(twilio.url + "/twilio-sim/", sleeps)
    try:
        response = http.request(
            "GET", "https://api.twilio.com/2010-04-01/Ping.json?a=1&b=two", params={"c": "3"}
        )
    finally:
        http.close()
    assert response.status_code == 200 and response.text == "{}"
    (seen,) = twilio.requests
    assert seen["path"] == "/twilio-sim/2010-04-01/Ping.json"
    assert seen["args"] == {"a": ["1"], "b": ["two"], "c": ["3"]}


def test_only_the_twilio_api_origin_is_rewritten():
    http = CarrierHttpClient(base_url="http://127.0.0.1:5000")
    real = CarrierHttpClient()
    try:
        assert http.rewrite("https://api.twilio.com/2010-04-01/A.json?x=1") == (
            "http://127.0.0.1:5000/2010-04-01/A.json?x=1"
        )
        # the edge/region forms twilio-python builds from TWILIO_EDGE / TWILIO_REGION
        assert http.rewrite("https://api.sydney.au1.twilio.com/2010-04-01/A.json") == (
            "http://127.0.0.1:5000/2010-04-01/A.json"
        )
        for other in (
            "https://media.example.com/x.wav",
            "http://api.twilio.com/2010-04-01/A.json",
            "https://api.twilio.com.evil.example/2010-04-01/A.json",
        ):
            assert http.rewrite(other) == other
        assert real.rewrite("https://api.twilio.com/x.json") == "https://api.twilio.com/x.json"
    finally:
        http.close()
        real.close()
    with pytest.raises(ValueError, match="base_url"):
        CarrierHttpClient(base_url="127.0.0.1:5000")


# When requests are sent again


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", f"{API}/Calls.json", True),
        ("DELETE", f"{API}/Recordings/{RE}.json", True),
        ("POST", f"{API}/Calls/{CA}.json", True),
        ("POST", f"{API}/Conferences/{CF}/Participants/{CA}.json", True),
        ("POST", f"{API}/Calls/{CA}/Recordings/{RE}.json", True),
        ("POST", f"{API}/Calls.json", False),
        ("POST", f"{API}/Messages.json", False),
        ("POST", f"{API}/Conferences/{CF}/Participants.json", False),
        ("POST", f"{API}/Conferences/support-room/Participants.json", False),
        ("POST", f"{API}/Calls/{CA}/Recordings.json", False),
        ("POST", f"{API}/Calls/{CA}/Recordings/Twilio.CURRENT.json", False),
        ("PATCH", f"{API}/Calls/{CA}.json", False),
    ],
)
def test_which_requests_are_safe_to_repeat(method, path, expected):
    assert repeatable(method, path) is expected


def test_backoff_is_exponential_capped_and_jittered():
    steps = [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    high = CarrierHttpClient(random=lambda: 1.0)
    low = CarrierHttpClient(random=lambda: 0.0)
    try:
        assert [high.backoff(n) for n in range(1, 7)] == steps
        assert [low.backoff(n) for n in range(1, 7)] == [s / 2 for s in steps]
    finally:
        high.close()
        low.close()
    assert retry_after("3") == 3.0 and retry_after("0.5") == 0.5
    for unusable in (None, "", "-1", "nan", "Wed, 21 Oct 2015 07:28:00 GMT"):
        assert retry_after(unusable) is None


def test_429_is_retried_after_the_retry_after_header(twilio, carrier, sleeps, caplog):
    caplog.set_level(logging.INFO)
    twilio.answer(429, twilio_error(429, 20429, "Too Many Requests"), **{"Retry-After": "2"})
    twilio.answer(429, twilio_error(429, 20429, "Too Many Requests"), **{"Retry-After": "90"})
    twilio.answer(201, call_json())

    sid = carrier.create_call(
        "+15558675310", "+15017122661", "https://app.example/twiml", status_callback="https://s"
    )

    assert sid == CA
    assert twilio.paths() == [("POST", f"{API}/Calls.json")] * 3  # 429: never carried out
    assert sleeps == [2.0, 4.0]  # the server's wait, capped at max_delay
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in retries] == [
        f"twilio POST {API}/Calls.json -> 429; retry 1 of 3 in 2.00s",
        f"twilio POST {API}/Calls.json -> 429; retry 2 of 3 in 4.00s",
    ]
    assert f"twilio POST {API}/Calls.json -> 201 (attempt 3)" in caplog.messages
    assert TOKEN not in caplog.text and base64.b64encode(TOKEN.encode()).decode() not in caplog.text


def test_503_is_retried_even_on_a_create(twilio, carrier, sleeps):
    twilio.answer(503, twilio_error(503, 20503, "Service Unavailable"))
    twilio.answer(201, call_json())

    assert carrier.create_call("+15558675310", "+15017122661", "https://a/t", status_callback="s")
    assert twilio.paths() == [("POST", f"{API}/Calls.json")] * 2
    assert sleeps == [0.25]


def test_500_is_retried_on_get_and_on_an_update(twilio, carrier, sleeps):
    twilio.answer(500, twilio_error(500, 20500, "Internal Server Error"))
    twilio.answer(200, call_json(status="in-progress"))
    twilio.answer(502, b"<html>Bad Gateway</html>", **{"Content-Type": "text/html"})
    twilio.answer(200, call_json(status="in-progress"))

    assert carrier.client.calls(CA).fetch().status == "in-progress"
    carrier.redirect_call(CA, "https://app.example/twilio/next")

    assert (
        twilio.paths()
        == [("GET", f"{API}/Calls/{CA}.json")] * 2 + [("POST", f"{API}/Calls/{CA}.json")] * 2
    )
    assert twilio.requests[-1]["form"] == {
        "Url": ["https://app.example/twilio/next"],
        "Method": ["POST"],
    }
    assert sleeps == [0.25, 0.25]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_failed_create_is_never_sent_twice(twilio, carrier, sleeps, status):
    """The call may have been placed before the error: a second POST could ring twice."""
    twilio.answer(status, twilio_error(status, 20500, "Internal Server Error"))

    with pytest.raises(CarrierError) as raised:
        carrier.create_call("+15558675310", "+15017122661", "https://a/t", status_callback="s")

    assert twilio.paths() == [("POST", f"{API}/Calls.json")]
    assert sleeps == []
    error = raised.value
    assert isinstance(error, CarrierUnavailable)
    assert (error.status, error.code, error.operation) == (status, 20500, "create_call")


def test_retries_give_up_after_max_attempts(twilio, carrier, sleeps):
    for _ in range(5):
        twilio.answer(503, twilio_error(503, 20503, "Service Unavailable"))

    with pytest.raises(CarrierUnavailable) as raised:
        carrier.redirect_call(CA, "https://app.example/twilio/next")

    assert len(twilio.requests) == 4
    assert sleeps == [0.25, 0.5, 1.0]
    assert raised.value.status == 503 and raised.value.sids == {"CallSid": CA}


def test_connection_errors_are_retried_only_when_safe(sleeps):
    nobody = f"http://127.0.0.1:{free_port()}"
    with TwilioCarrier(AC, TOKEN, http_client=http_client(nobody, sleeps)) as carrier:
        with pytest.raises(CarrierUnavailable) as fetch:
            carrier.fetch_recording_media(RE)  # a GET
        assert len(sleeps) == 3  # four attempts
        assert fetch.value.status is None and fetch.value.sids == {"RecordingSid": RE}

        sleeps.clear()
        with pytest.raises(CarrierUnavailable) as create:
            carrier.send_message("+15558675310", "+15017122661", "Your car is ready")
        assert sleeps == []  # one attempt
        assert create.value.operation == "send_message"


# What TwilioCarrier sends


def test_create_call_sends_the_documented_parameters(twilio, carrier):
    twilio.answer(201, call_json())

    sid = carrier.create_call(
        "+15558675310",
        "+15017122661",
        "https://app.example/twilio/agent",
        status_callback="https://app.example/twilio/voice/status",
        timeout=25,
        record=True,
        machine_detection="Enable",
    )

    assert sid == CA
    (seen,) = twilio.requests
    assert (seen["method"], seen["path"]) == ("POST", f"{API}/Calls.json")
    assert seen["form"] == {
        "To": ["+15558675310"],
        "From": ["+15017122661"],
        "Url": ["https://app.example/twilio/agent"],
        "Method": ["POST"],
        "StatusCallback": ["https://app.example/twilio/voice/status"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "StatusCallbackMethod": ["POST"],
        "Timeout": ["25"],
        "Record": ["true"],
        "MachineDetection": ["Enable"],
    }
    assert seen["authorization"] == basic(AC, TOKEN)


def test_hang_up_a_call_that_already_ended_is_not_an_error(twilio, carrier, caplog):
    caplog.set_level(logging.INFO)
    twilio.answer(404, NOT_FOUND)

    assert carrier.hang_up(CA) is False

    (seen,) = twilio.requests
    assert (seen["method"], seen["path"], seen["form"]) == (
        "POST",
        f"{API}/Calls/{CA}.json",
        {"Status": ["completed"]},
    )
    assert f"hang_up CallSid={CA}: already ended" in caplog.messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_hang_up_ends_a_live_call_with_completed(twilio, carrier):
    twilio.answer(200, call_json(status="completed"))
    assert carrier.hang_up(CA) is True
    assert [r["form"] for r in twilio.requests] == [{"Status": ["completed"]}]


def test_hang_up_falls_back_to_canceled_when_completed_is_refused(twilio, carrier):
    twilio.answer(400, twilio_error(400, 21220, "Call is not in-progress. Cannot redirect."))
    twilio.answer(200, call_json(status="canceled"))

    assert carrier.hang_up(CA) is True
    assert [r["form"] for r in twilio.requests] == [
        {"Status": ["completed"]},
        {"Status": ["canceled"]},
    ]


def test_hang_up_when_neither_applies_means_the_call_is_over(twilio, carrier):
    for _ in range(2):
        twilio.answer(400, twilio_error(400, 21220, "Call is not in-progress."))
    assert carrier.hang_up(CA) is False
    assert len(twilio.requests) == 2


def test_other_refusals_surface_as_carrier_error(twilio, carrier):
    twilio.answer(401, twilio_error(401, 20003, "Authenticate"))
    with pytest.raises(CarrierError) as raised:
        carrier.hang_up(CA)
    error = raised.value
    assert type(error) is CarrierError
    assert (error.status, error.code, error.sids) == (401, 20003, {"CallSid": CA})
    assert "Authenticate" in str(error) and CA in str(error)

    twilio.answer(404, NOT_FOUND)
    with pytest.raises(CarrierNotFound):
        carrier.redirect_call(CA, "https://app.example/twilio/next")


def test_conference_participants(twilio, carrier):
    twilio.answer(201, participant_json(CA2, label="supervisor"))
    twilio.answer(200, participant_json(CA, muted=True))
    twilio.answer(200, participant_json(CA, hold=True))
    twilio.answer(200, participant_json(CA))
    twilio.answer(200, participant_json(CA2, coaching=True, call_sid_to_coach=CA))
    twilio.answer(200, participant_json(CA2))
    twilio.answer(204, b"")
    twilio.answer(404, NOT_FOUND)

    sid = carrier.add_participant(
        "support room 7",
        "client:alice",
        "+15017122661",
        coach_call_sid=CA,
        status_callback="https://app.example/twilio/voice/status",
        timeout=20,
        label="supervisor",
    )
    carrier.mute(CF, CA, True)
    carrier.hold(CF, CA, True, hold_url="https://app.example/twilio/hold")
    carrier.hold(CF, CA, False, hold_url="https://app.example/twilio/hold")
    carrier.coach(CF, CA2, CA)
    carrier.coach(CF, CA2, None)
    assert carrier.remove_participant(CF, CA2) is True
    assert carrier.remove_participant(CF, CA2) is False  # already left

    assert sid == CA2
    created, *updates, removed, gone = twilio.requests
    assert created["raw_uri"] == f"{API}/Conferences/support%20room%207/Participants.json"
    assert created["form"] == {
        "From": ["+15017122661"],
        "To": ["client:alice"],
        "StatusCallback": ["https://app.example/twilio/voice/status"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Label": ["supervisor"],
        "Timeout": ["20"],
        "Muted": ["false"],
        "EarlyMedia": ["true"],
        "Coaching": ["true"],
        "CallSidToCoach": [CA],
    }
    participant = f"{API}/Conferences/{CF}/Participants"
    assert [(u["path"], u["form"]) for u in updates] == [
        (f"{participant}/{CA}.json", {"Muted": ["true"]}),
        (
            f"{participant}/{CA}.json",
            {
                "Hold": ["true"],
                "HoldUrl": ["https://app.example/twilio/hold"],
                "HoldMethod": ["POST"],
            },
        ),
        (f"{participant}/{CA}.json", {"Hold": ["false"]}),
        (f"{participant}/{CA2}.json", {"Coaching": ["true"], "CallSidToCoach": [CA]}),
        (f"{participant}/{CA2}.json", {"Coaching": ["false"]}),
    ]
    assert (removed["method"], removed["path"]) == ("DELETE", f"{participant}/{CA2}.json")
    assert gone["method"] == "DELETE"


def test_recordings(twilio, carrier):
    twilio.answer(201, recording_json())
    twilio.answer(200, recording_json("paused"))
    twilio.answer(200, recording_json())
    twilio.answer(200, recording_json("stopped"))
    twilio.answer(204, b"")
    twilio.answer(404, NOT_FOUND)

    sid = carrier.start_recording(CA, status_callback="https://app.example/twilio/recording")
    carrier.pause_recording(CA, RE)
    carrier.resume_recording(CA, RE)
    carrier.stop_recording(CA, RE)
    assert carrier.delete_recording(RE) is True
    assert carrier.delete_recording(RE) is False  # already deleted

    assert sid == RE
    start, pause, resume, stop, delete, _ = twilio.requests
    assert (start["path"], start["form"]) == (
        f"{API}/Calls/{CA}/Recordings.json",
        {
            "RecordingStatusCallbackEvent": ["completed", "absent"],
            "RecordingStatusCallback": ["https://app.example/twilio/recording"],
            "RecordingStatusCallbackMethod": ["POST"],
            "RecordingChannels": ["dual"],
            "RecordingTrack": ["both"],
        },
    )
    assert (
        pause["path"] == resume["path"] == stop["path"] == f"{API}/Calls/{CA}/Recordings/{RE}.json"
    )
    assert pause["form"] == {"Status": ["paused"], "PauseBehavior": ["skip"]}
    assert resume["form"] == {"Status": ["in-progress"]}
    assert stop["form"] == {"Status": ["stopped"]}
    assert (delete["method"], delete["path"]) == ("DELETE", f"{API}/Recordings/{RE}.json")


def test_recording_media_streams_with_basic_auth(twilio, carrier):
    audio = b"RIFF" + bytes(range(256)) * 600  # 153,604 bytes: three 64 KiB chunks
    twilio.answer(503, twilio_error(503, 20503, "Service Unavailable"))
    twilio.answer(200, audio, **{"Content-Type": "audio/x-wav"})
    twilio.answer(404, NOT_FOUND)

    with carrier.fetch_recording_media(RE) as media:
        assert (media.content_type, media.size) == ("audio/x-wav", len(audio))
        chunks = list(media)
    assert len(chunks) == 3 and b"".join(chunks) == audio

    with pytest.raises(CarrierNotFound) as raised:
        carrier.fetch_recording_media(RE, "mp3")
    assert raised.value.code == 20404 and raised.value.sids == {"RecordingSid": RE}

    assert twilio.paths() == [("GET", f"{API}/Recordings/{RE}.wav")] * 2 + [
        ("GET", f"{API}/Recordings/{RE}.mp3")
    ]
    assert {r["authorization"] for r in twilio.requests} == {basic(AC, TOKEN)}
    with pytest.raises(ValueError, match="fmt"):
        carrier.fetch_recording_media(RE, "ogg")
    assert RecordingMedia.from_bytes(b"abc", "audio/x-wav").read() == b"abc"


def test_send_message(twilio, carrier):
    twilio.answer(
        201,
        {"sid": SM, "account_sid": AC, "status": "queued", "to": "+15558675310",
         "from": "+15017122661", "body": "Your car is ready", "num_segments": "1",
         "direction": "outbound-api", "uri": f"{API}/Messages/{SM}.json"},
    )  # fmt: skip

    sid = carrier.send_message(
        "+15558675310", "+15017122661", "Your car is ready", status_callback="https://a/s"
    )

    assert sid == SM
    (seen,) = twilio.requests
    assert (seen["path"], seen["form"]) == (
        f"{API}/Messages.json",
        {
            "To": ["+15558675310"],
            "StatusCallback": ["https://a/s"],
            "From": ["+15017122661"],
            "Body": ["Your car is ready"],
        },
    )


def test_from_config_prefers_the_api_key(twilio):
    key, secret = "SK" + "b2" * 16, "key-secret"
    config = {
        "TWILIO_ACCOUNT_SID": AC,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_KEY_SID": key,
        "TWILIO_API_KEY_SECRET": secret,
        "TWILIO_API_BASE_URL": twilio.url,
    }
    twilio.answer(201, call_json())
    with TwilioCarrier.from_config(config) as carrier:
        assert isinstance(carrier, Carrier)
        assert carrier.http.base_url == twilio.url
        assert secret not in repr(carrier) and TOKEN not in repr(carrier)
        carrier.create_call("+15558675310", "+15017122661", "https://a/t", status_callback="s")
    (seen,) = twilio.requests
    assert seen["path"] == f"{API}/Calls.json"  # the account's resources, the key's auth
    assert seen["authorization"] == basic(key, secret)

    with pytest.raises(ValueError, match="credentials"):
        TwilioCarrier.from_config({"TWILIO_ACCOUNT_SID": AC, "TWILIO_API_KEY_SID": key})
