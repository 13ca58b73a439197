"""``POST /twilio/sms``: texts to the dealership's number, through the simulator as Twilio.

The simulator plays Twilio's side (its keyword confirmations, the 21610 block after STOP, the
signed Messaging webhook); the app keeps the consent ledger and gives agents the messages.
"""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from crm_core import customers, privacy
from crm_core.models import Activity, ActivityKind, Channel, ConsentStatus, Task, TaskKind
from crm_core.schemas import CustomerIn, parse
from telephony.carrier import CarrierError
from telephony.messaging import MessageEvent
from telephony.models import TelephonyError, TextMessage
from telephony.simulator.engine import Simulator
from telephony.simulator.messaging import STOPPED
from telephony.simulator.rest import RestServer
from telephony.simulator.transport import WsgiTransport
from telephony.twilio_carrier import TwilioCarrier
from tests.telephony.conftest import PUBLIC, TOKEN, Twilio

NUMBER = "+13135550100"
SENDER = "+13135550101"
ACCOUNT = "AC" + "0" * 32


@pytest.fixture
def sim(app, clock):
    sim = Simulator(
        clock=clock, transport=WsgiTransport(app), account_sid=ACCOUNT, auth_token=TOKEN
    )
    sim.add_number(NUMBER, f"{PUBLIC}/twilio/voice", sms_url=f"{PUBLIC}/twilio/sms")
    return sim


def sms_status(session, address=SENDER):
    return customers.consent_status(session, Channel.SMS, address)


def test_a_text_becomes_a_task_and_a_timeline_line_for_an_agent(sim, deps):
    with deps.session_factory.begin() as s:
        maria = customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Maria", "phones": ["3135550101"]}), deps.clock
        )
        maria_id = maria.id
    sim.text(SENDER, NUMBER, "Is the 2024 Civic still there? Can I come at 5?")
    assert sim.errors == [] and sim.sent_to(SENDER) == []  # agents reply, not a robot
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
        assert (task.kind, task.pool, task.customer_id) == (TaskKind.FOLLOW_UP, "sms", maria_id)
        assert task.phone == SENDER and "2024 Civic" in task.notes
        activity = s.scalars(select(Activity).where(Activity.kind == ActivityKind.SMS)).one()
        assert activity.customer_id == maria_id and activity.data["task_id"] == task.id
        message = s.scalars(select(TextMessage)).one()
        assert (message.from_number, message.to_number, message.keyword) == (SENDER, NUMBER, None)


def test_the_same_message_delivered_twice_is_handled_once(twilio, deps):
    form = {"MessageSid": "SM" + "1" * 32, "From": SENDER, "To": NUMBER, "Body": "call me"}
    for _ in range(3):
        response = twilio.post("/twilio/sms", form)
        assert response.status_code == 200
        assert ET.fromstring(response.data).tag == "Response"
    with deps.session_factory() as s:
        assert len(s.scalars(select(Task)).all()) == 1
        assert len(s.scalars(select(TextMessage)).all()) == 1


def test_stop_revokes_sms_consent_and_twilio_blocks_later_texts(sim, deps, clock):
    sim.text(SENDER, NUMBER, "  Stop ")
    assert sim.sent_to(SENDER) == [STOPPED]  # Twilio's confirmation, not ours
    with deps.session_factory() as s:
        assert sms_status(s) is ConsentStatus.REVOKED
        assert customers.may_call(s, SENDER)  # a texted STOP is about texts
        assert s.scalars(select(Task)).all() == []
    # What the app's carrier now gets from Twilio when it texts this customer: 21610.
    with (
        RestServer(sim) as server,
        TwilioCarrier(ACCOUNT, TOKEN, base_url=server.url) as carrier,
        pytest.raises(CarrierError) as refused,
    ):
        carrier.send_message(SENDER, NUMBER, "Your appointment is at 5")
    assert (refused.value.status, refused.value.code) == (400, 21610)
    clock.advance(60)
    sim.text(SENDER, NUMBER, "unstop")
    with deps.session_factory() as s:
        assert sms_status(s) is ConsentStatus.GRANTED
    assert sim.messages and sim.sent_to(SENDER)[-1].startswith("You have successfully been re-")


def test_only_the_keyword_alone_counts(sim, deps):
    sim.text(SENDER, NUMBER, "please stop calling me at work, text instead")
    with deps.session_factory() as s:
        assert sms_status(s) is None
        assert s.scalars(select(Task)).one().notes.startswith("please stop")


def test_help_changes_nothing_and_twilio_answers_it(sim, deps):
    sim.text(SENDER, NUMBER, "HELP")
    assert sim.sent_to(SENDER) == ["Reply STOP to unsubscribe. Msg&Data Rates May Apply."]
    with deps.session_factory() as s:
        assert sms_status(s) is None and s.scalars(select(Task)).all() == []
        assert s.scalars(select(TextMessage.keyword)).one() == "help"


def test_advanced_opt_out_type_wins(twilio, deps):
    form = {"MessageSid": "SM" + "2" * 32, "From": SENDER, "To": NUMBER, "Body": "ARRET"}
    twilio.post("/twilio/sms", form | {"OptOutType": "STOP"})
    with deps.session_factory() as s:
        assert sms_status(s) is ConsentStatus.REVOKED


def test_picture_messages_keep_their_media(twilio, deps):
    form = {
        "MessageSid": "SM" + "3" * 32,
        "From": SENDER,
        "To": NUMBER,
        "Body": "",
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/SM/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/SM/Media/ME2",
        "MediaContentType1": "image/png",
    }
    twilio.post("/twilio/sms", form)
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
        assert task.title == "Reply to a text message (2 attachments)"
        activity = s.scalars(select(Activity).where(Activity.kind == ActivityKind.SMS)).one()
        assert [m["content_type"] for m in activity.data["media"]] == ["image/jpeg", "image/png"]


def test_short_code_senders_are_recorded_but_create_no_customer(twilio, deps):
    twilio.post("/twilio/sms", {"MessageSid": "SM" + "4" * 32, "From": "729725", "Body": "x"})
    with deps.session_factory() as s:
        assert s.scalars(select(TextMessage.customer_id)).one() is None


def test_erasure_removes_the_numbers_and_words(sim, deps):
    sim.text(SENDER, NUMBER, "my address is 1 Main St")
    with deps.session_factory.begin() as s:
        customer_id = s.scalars(select(TextMessage.customer_id)).one()
        privacy.erase_customer(s, customer_id, deps.clock, hooks=deps.erasure_hooks)
    with deps.session_factory() as s:
        message = s.scalars(select(TextMessage)).one()
        assert message.from_number is None and message.to_number is None
        assert s.scalars(select(Task)).one().notes is None


def test_unsigned_texts_are_refused(client, deps):
    response = client.post("/twilio/sms", data={"MessageSid": "SM1", "Body": "STOP"})
    assert response.status_code == 403
    response = client.post(
        "/twilio/sms",
        data=b"Body=%ff%fe&From=%00",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": "x"},
    )
    assert response.status_code == 403


def test_a_failure_still_answers_empty_twiml_and_keeps_an_error(twilio, deps, monkeypatch):
    from telephony import messaging

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    # The failure is made up: nothing on this machine makes the database fail on demand.
    monkeypatch.setattr(messaging, "receive_text", broken)
    response = twilio.post("/twilio/sms", {"MessageSid": "SM" + "5" * 32, "Body": "hi"})
    assert response.status_code == 200 and ET.fromstring(response.data).tag == "Response"
    with deps.session_factory() as s:
        error = s.scalars(select(TelephonyError)).one()
        assert error.call_sid == "SM" + "5" * 32 and "database went away" in error.message


NAMES = ["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "OptOutType"]
VALUES = st.one_of(
    st.text(max_size=40),
    st.text(max_size=3000),
    st.sampled_from(["", "SM" + "a" * 32, SENDER, "STOP", "start", "-1", "999999999", "\x00"]),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=20), VALUES), max_size=10)
)
def test_fuzzed_texts_never_500(app, items):
    twilio = Twilio(app.test_client())
    form = MultiDict(items)
    response = twilio.client.post(
        "/twilio/sms", data=form, headers={"X-Twilio-Signature": twilio.sign("/twilio/sms", form)}
    )
    assert response.status_code == 200, (items, response.data[:300])
    assert ET.fromstring(response.data).tag == "Response"


@given(
    body=st.text(max_size=2000),
    num_media=st.text(max_size=30),
    opt=st.none() | st.text(max_size=10),
)
def test_message_event_parsing_never_raises(body, num_media, opt):
    form = {"Body": body, "NumMedia": num_media, "From": body[:20]}
    if opt is not None:
        form["OptOutType"] = opt
    event = MessageEvent.from_form(form)
    assert len(event.body) <= 1600 and 0 <= event.num_media <= 10
    assert event.keyword in {None, "stop", "start", "help"}


def test_control_api_sends_a_text_and_shows_twilios_replies(sim, deps):
    from telephony.simulator.live import make_app

    control = make_app(sim).test_client()
    auth = {"Authorization": basic_auth(ACCOUNT, TOKEN)}
    sent = control.post(
        "/simulator/messages", json={"from": SENDER, "to": NUMBER, "body": "STOP"}, headers=auth
    )
    assert sent.status_code == 201 and sent.json["replies"] == [STOPPED]
    for bad in ({"from": SENDER, "to": NUMBER}, {"from": 1, "to": NUMBER, "body": "x"}, []):
        response = control.post("/simulator/messages", json=bad, headers=auth)
        assert response.status_code == 400 and response.json["code"] == 21602
    unknown = {"from": SENDER, "to": "+15550000000", "body": "hi"}
    assert control.post("/simulator/messages", json=unknown, headers=auth).status_code == 404
    assert control.post("/simulator/messages", json=unknown).status_code == 401
    with deps.session_factory() as s:
        assert sms_status(s) is ConsentStatus.REVOKED


def basic_auth(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
