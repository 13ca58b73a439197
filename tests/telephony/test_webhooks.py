"""The voice webhooks: TwiML asserted by structure, status callbacks in any order, errors."""

import itertools
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core import customers
from crm_core.models import Call, CallStatus, Task, TaskKind
from crm_core.schemas import CustomerIn, parse
from telephony.models import TelephonyError
from tests.telephony.conftest import PUBLIC

SID = "CA" + "a" * 32
INBOUND = {
    "CallSid": SID,
    "AccountSid": "AC" + "0" * 32,
    "From": "+13135550101",
    "To": "+13135550100",
    "CallStatus": "ringing",
    "Direction": "inbound",
    "ApiVersion": "2010-04-01",
    "Caller": "+13135550101",
    "Called": "+13135550100",
}


def verbs(response):
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [(child.tag, (child.text or "").strip(), child.attrib) for child in root]


def test_known_caller_is_greeted_by_name_and_hears_the_menu(twilio, deps, clock):
    with deps.session_factory.begin() as s:
        customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Maria", "phones": ["3135550101"]}), clock
        )
    steps = verbs(twilio.post("/twilio/voice", INBOUND))
    assert [v[0] for v in steps] == ["Gather"]
    gather = steps[0][2]
    assert gather["action"] == f"{PUBLIC}/twilio/ivr/menu?lang=en-US&tries=0"
    assert gather["input"] == "dtmf speech" and gather["numDigits"] == "1"
    assert gather["actionOnEmptyResult"] == "true" and gather["language"] == "en-US"
    assert "sales" in gather["hints"].split(", ")
    said = [e.text for e in ET.fromstring(twilio.post("/twilio/voice", INBOUND).data).iter("Say")]
    assert said[0].startswith("Hi Maria") and "may be recorded" in said[1]
    assert "For sales, press 1" in said[2]
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        assert call.call_sid == SID and call.status is CallStatus.RINGING
        assert call.customer_id is not None and call.from_number == "+13135550101"
        assert (call.script_name, call.script_version, call.language) == (
            "auto_attendant",
            "2",
            "en-US",
        )


def _said(response) -> list[str]:
    return [e.text for e in ET.fromstring(response.data).iter("Say")]


def test_unknown_and_withheld_callers(twilio, deps):
    unknown = INBOUND | {"From": "+13135550177", "Caller": "+13135550177"}
    assert _said(twilio.post("/twilio/voice", unknown))[0].startswith("Thank you for calling")
    anonymous = INBOUND | {"CallSid": "CA" + "b" * 32, "From": "anonymous", "Caller": "anonymous"}
    assert _said(twilio.post("/twilio/voice", anonymous))[0].startswith("Thank you for calling")
    with deps.session_factory() as s:
        withheld = s.scalars(select(Call).where(Call.call_sid == "CA" + "b" * 32)).one()
        assert withheld.customer_id is None and withheld.from_number == "anonymous"


def test_a_failing_voice_webhook_still_answers_twiml_and_keeps_an_error(twilio, deps):
    steps = verbs(twilio.post("/twilio/voice", {"From": "+13135550101"}))  # no CallSid
    assert [v[0] for v in steps] == ["Say", "Record", "Say", "Hangup"]
    assert "sorry" in steps[0][1]
    with deps.session_factory() as s:
        error = s.scalars(select(TelephonyError)).one()
        assert error.source == "app" and "MissingCallSid" in error.message


def test_fallback_keeps_twilios_error_and_takes_a_message(twilio, deps):
    steps = verbs(
        twilio.post(
            "/twilio/voice/fallback",
            INBOUND | {"ErrorCode": "11200", "ErrorUrl": f"{PUBLIC}/twilio/voice"},
        )
    )
    assert [v[0] for v in steps][:2] == ["Say", "Record"]
    with deps.session_factory() as s:
        error = s.scalars(select(TelephonyError)).one()
        assert (error.source, error.error_code, error.call_sid) == ("twilio", "11200", SID)


def test_voicemail_becomes_one_task_even_if_posted_twice(twilio, deps):
    twilio.post("/twilio/voice", INBOUND)
    recorded = INBOUND | {
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1",
        "RecordingSid": "RE" + "1" * 32,
        "RecordingDuration": "14",
        "Digits": "#",
    }
    for _ in range(2):
        steps = verbs(twilio.post("/twilio/voice/voicemail", recorded))
        assert "received your message" in steps[0][1] and steps[-1][0] == "Hangup"
    with deps.session_factory() as s:
        task = s.scalars(select(Task)).one()
        assert task.kind is TaskKind.VOICEMAIL and task.phone == "+13135550101"
        assert task.customer_id is not None and "14 s" in task.title
    nothing = verbs(twilio.post("/twilio/voice/voicemail", INBOUND | {"RecordingDuration": "0"}))
    assert "did not receive" in nothing[0][1]


def status(seq, call_status, ts, **extra):
    return {
        "CallSid": SID,
        "AccountSid": "AC" + "0" * 32,
        "From": "+13135550101",
        "To": "+13135550100",
        "Direction": "inbound",
        "CallStatus": call_status,
        "SequenceNumber": str(seq),
        "Timestamp": ts,
        "CallbackSource": "call-progress-events",
        **extra,
    }


CALLBACKS = [
    status(0, "initiated", "Mon, 05 Jan 2026 15:00:00 +0000"),
    status(1, "ringing", "Mon, 05 Jan 2026 15:00:01 +0000"),
    status(2, "in-progress", "Mon, 05 Jan 2026 15:00:05 +0000"),
    status(3, "completed", "Mon, 05 Jan 2026 15:03:05 +0000", CallDuration="180"),
]


def final_row(deps):
    with deps.session_factory() as s:
        c = s.scalars(select(Call).where(Call.call_sid == SID)).one()
        return (c.status, c.status_sequence, c.answered_at, c.ended_at, c.duration_seconds)


def test_status_callbacks_in_order(twilio, deps):
    for form in CALLBACKS:
        assert twilio.post("/twilio/voice/status", form).status_code == 204
    state, seq, answered, ended, duration = final_row(deps)
    assert (state, seq, duration) == (CallStatus.COMPLETED, 3, 180)
    assert answered.isoformat() == "2026-01-05T15:00:05+00:00"
    assert ended.isoformat() == "2026-01-05T15:03:05+00:00"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(CALLBACKS), repeats=st.lists(st.sampled_from(CALLBACKS), max_size=4))
def test_any_order_and_duplicates_give_the_same_row(app, deps, order, repeats):
    from tests.conftest import _empty
    from tests.telephony.conftest import Twilio

    _empty(deps)
    twilio = Twilio(app.test_client())
    for form in CALLBACKS:
        twilio.post("/twilio/voice/status", form)
    expected = final_row(deps)
    _empty(deps)
    for form in [*order, *repeats]:
        assert twilio.post("/twilio/voice/status", form).status_code == 204
    assert final_row(deps) == expected


def test_completed_without_in_progress_callback_still_knows_when_answered(twilio, deps):
    twilio.post("/twilio/voice/status", CALLBACKS[3])
    _, _, answered, ended, _ = final_row(deps)
    assert (ended - answered).total_seconds() == 180


# Fuzzing: forms with missing, odd, huge and duplicated values, correctly signed, against
# every webhook. Never a 500; the voice ones always answer a TwiML document.
VOICE = ["/twilio/voice", "/twilio/voice/fallback", "/twilio/voice/voicemail"]
CALLBACK = ["/twilio/voice/status"]
NAMES = [
    "CallSid",
    "From",
    "To",
    "CallStatus",
    "Direction",
    "SequenceNumber",
    "Timestamp",
    "CallDuration",
    "Digits",
    "SpeechResult",
    "Confidence",
    "RecordingUrl",
    "RecordingDuration",
    "ErrorCode",
    "ParentCallSid",
    "CallerName",
    "QueueTime",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.text(max_size=5000),
    st.sampled_from(
        [
            "",
            "CA" + "a" * 32,
            "+13135550101",
            "completed",
            "in-progress",
            "-1",
            "99999999999999999999",
            "NaN",
            "inf",
            "Mon, 99 Foo",
            "client:x",
            "\x00",
        ]
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(VOICE + CALLBACK),
    items=st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=20), VALUES), max_size=12),
)
def test_fuzzed_webhooks_never_500(app, path, items):
    from werkzeug.datastructures import MultiDict

    from tests.telephony.conftest import Twilio

    twilio = Twilio(app.test_client())
    form = MultiDict(items)
    response = twilio.client.post(
        path, data=form, headers={"X-Twilio-Signature": twilio.sign(path, form)}
    )
    assert response.status_code in (200, 204), (path, items, response.data[:300])
    if path in VOICE:
        assert ET.fromstring(response.data).tag == "Response"


def test_non_utf8_body_never_500(app):
    client = app.test_client()
    for path in VOICE + CALLBACK:
        response = client.post(
            path,
            data=b"CallSid=CA\xff\xfe&From=%ff%fe%00",
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": "x"},
        )
        assert response.status_code == 403


def test_every_combination_of_missing_core_fields(twilio):
    core = {"CallSid": SID, "From": "+13135550101", "CallStatus": "ringing"}
    for size in range(len(core) + 1):
        for keys in itertools.combinations(core, size):
            form = {k: core[k] for k in keys}
            assert twilio.post("/twilio/voice", form).status_code == 200
            assert twilio.post("/twilio/voice/status", form).status_code == 204


def test_nul_characters_never_reach_the_database(twilio, deps, clock):
    """Twilio never sends NUL; PostgreSQL cannot store it. A forged one is dropped at the
    edge, and an error record keeps what a failed request carried, NUL replaced."""
    from telephony.service import record_error

    form = INBOUND | {"CallSid": "CA\x00" + "c" * 32, "From": "+1313555\x000101"}
    assert twilio.post("/twilio/voice/status", form).status_code == 204
    with deps.session_factory.begin() as s:
        record_error(s, clock, source="app", message="bad\x00", params={"k\x00": "v\x00"})
    with deps.session_factory() as s:
        assert s.scalars(select(Call.call_sid)).one() == "CA" + "c" * 32
        error = s.scalars(select(TelephonyError)).one()
        assert error.message == "bad\ufffd" and error.params == {"k\ufffd": "v\ufffd"}
