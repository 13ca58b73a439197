"""The real twilio-python client (through TwilioCarrier) against the simulator's REST API
on loopback, for the Carrier's call, recording and message operations."""

import io
import wave

import pytest
from mutagen.mp3 import MP3

from telephony.carrier import CarrierError, CarrierNotFound
from telephony.simulator.rest import RestServer
from telephony.twilio_carrier import TwilioCarrier
from tests.telephony.simulator.test_verbs import BASE, TOKEN, TwimlServer, new_simulator

AC = "AC" + "1" * 32
CUSTOMER = "+13135550199"
DEALER = "+13135550100"


@pytest.fixture
def server():
    return TwimlServer()


@pytest.fixture
def sim(server):
    return new_simulator(server)


@pytest.fixture
def carrier(sim):
    with RestServer(sim) as rest:
        sim.api_base_url = rest.url
        with TwilioCarrier(AC, TOKEN, base_url=rest.url) as carrier:
            yield carrier


def test_outbound_call_rings_answers_runs_twiml_and_reports_each_status(sim, server, carrier):
    server.docs["/outbound"] = "<Response><Say>Hi, this is Northside Motors.</Say></Response>"
    sim.phone(CUSTOMER, answer_after=4)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    assert call_sid.startswith("CA")
    assert carrier.client.calls(call_sid).fetch().status == "queued"
    sim.advance(30)
    statuses = [(p["CallStatus"], p["SequenceNumber"]) for p in server.posted("/status")]
    assert statuses == [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ]
    outbound = server.posted("/outbound")[0]
    assert outbound["Direction"] == "outbound-api" and outbound["To"] == CUSTOMER
    fetched = carrier.client.calls(call_sid).fetch()
    assert fetched.status == "completed" and int(fetched.duration) >= 2


def test_no_answer_after_the_timeout(sim, server, carrier):
    sim.phone(CUSTOMER, answer_after=None)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status", timeout=20
    )
    sim.advance(19)
    assert carrier.client.calls(call_sid).fetch().status == "ringing"
    sim.advance(2)
    assert carrier.client.calls(call_sid).fetch().status == "no-answer"
    assert server.posted("/outbound") == []


def test_redirect_and_hang_up_a_live_call(sim, server, carrier):
    server.docs["/outbound"] = "<Response><Pause length='60'/></Response>"
    server.docs["/moved"] = (
        "<Response><Say>You have been transferred.</Say><Pause length='60'/></Response>"
    )
    sim.phone(CUSTOMER, answer_after=1)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    sim.advance(5)
    carrier.redirect_call(call_sid, f"{BASE}/moved")
    sim.advance(5)
    assert "transferred" in sim.calls[call_sid].party.heard_text()
    assert carrier.hang_up(call_sid) is True
    sim.advance(1)
    assert carrier.client.calls(call_sid).fetch().status == "completed"
    with pytest.raises(CarrierError) as err:
        carrier.redirect_call(call_sid, f"{BASE}/moved")
    assert err.value.code == 21220


def test_hang_up_while_ringing_cancels(sim, server, carrier):
    sim.phone(CUSTOMER, answer_after=None)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    sim.advance(3)
    carrier.hang_up(call_sid)
    assert carrier.client.calls(call_sid).fetch().status == "canceled"


def test_recording_paused_for_payment_details_then_downloaded(sim, server, carrier):
    server.docs["/outbound"] = "<Response><Pause length='120'/></Response>"
    sim.phone(CUSTOMER, answer_after=1)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    sim.advance(2)
    rec = carrier.start_recording(call_sid, channels="dual", status_callback=f"{BASE}/rec")
    sim.advance(10)
    carrier.pause_recording(call_sid, rec, pause_behavior="skip")  # card number read out
    sim.advance(30)
    carrier.resume_recording(call_sid, rec)
    sim.advance(10)
    carrier.stop_recording(call_sid, rec)
    sim.advance(1)
    (callback,) = server.posted("/rec")
    assert callback["RecordingDuration"] == "20" and callback["RecordingChannels"] == "2"
    media = carrier.fetch_recording_media(rec)
    with media:
        data = media.read()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getnframes() / w.getframerate()) == (2, 20.0)
    assert carrier.delete_recording(rec) is True
    with pytest.raises(CarrierNotFound):
        carrier.fetch_recording_media(rec)


def test_recording_media_as_mp3(sim, server, carrier):
    server.docs["/outbound"] = "<Response><Pause length='120'/></Response>"
    sim.phone(CUSTOMER, answer_after=1)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    sim.advance(2)
    rec = carrier.start_recording(call_sid, channels="dual", status_callback=f"{BASE}/rec")
    with pytest.raises(CarrierNotFound):  # no media until the recording is completed
        carrier.fetch_recording_media(rec, "mp3")
    sim.advance(20)
    carrier.stop_recording(call_sid, rec)
    media = carrier.fetch_recording_media(rec, "mp3")
    with media:
        data = b"".join(media)
    assert media.content_type == "audio/mpeg" and media.size == len(data)
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # an MPEG audio frame sync
    info = MP3(io.BytesIO(data)).info
    assert (info.layer, info.channels, info.sample_rate) == (3, 2, 8000)
    assert abs(info.length - 20) < 0.25  # whole frames of 72 ms


def test_recording_running_when_the_call_ends_is_completed(sim, server, carrier):
    server.docs["/outbound"] = "<Response><Pause length='15'/></Response>"
    sim.phone(CUSTOMER, answer_after=1)
    call_sid = carrier.create_call(
        CUSTOMER, DEALER, f"{BASE}/outbound", status_callback=f"{BASE}/status"
    )
    sim.advance(2)
    rec = carrier.start_recording(call_sid, status_callback=f"{BASE}/rec")
    sim.advance(60)
    assert server.posted("/rec")[0]["RecordingStatus"] == "completed"
    assert carrier.client.recordings(rec).fetch().status == "completed"


def test_text_message_is_sent_and_delivered(sim, server, carrier):
    message_sid = carrier.send_message(
        CUSTOMER,
        DEALER,
        "Your test drive is tomorrow at 3 PM.",
        status_callback=f"{BASE}/sms-status",
    )
    sim.advance(2)
    assert [p["MessageStatus"] for p in server.posted("/sms-status")] == ["sent", "delivered"]
    assert carrier.client.messages(message_sid).fetch().status == "delivered"


def test_wrong_credentials_and_bad_requests_get_twilios_errors(sim, carrier):
    with TwilioCarrier(AC, "wrong-token", base_url=sim.api_base_url) as wrong:
        with pytest.raises(CarrierError) as err:
            wrong.create_call(CUSTOMER, DEALER, f"{BASE}/x", status_callback=f"{BASE}/s")
        assert (err.value.status, err.value.code) == (401, 20003)
    from twilio.base.exceptions import TwilioRestException

    with pytest.raises(TwilioRestException) as err:
        carrier.client.calls.create(to=CUSTOMER, from_=DEALER)  # neither Url nor Twiml
    assert err.value.code == 21205
    with pytest.raises(CarrierNotFound):
        carrier.redirect_call("CA" + "0" * 32, f"{BASE}/x")
