"""A voice request for a call that is over (its CallSid's Call row has a terminal status or
an end time) never reopens that row nor greets its customer: it is logged with the CallSid
and answered with a short apology and a hang-up, in the caller's language."""

import logging
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select

from crm_core import customers
from crm_core.models import Call, CallStatus
from crm_core.schemas import CustomerIn, UserIn, parse
from crm_core.users import create_user
from tests.telephony.conftest import twilio_app
from tests.telephony.test_webhooks import INBOUND, SID

ENDED = "We're sorry, this call has already ended. Please call us again. Goodbye."


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(database_url, redis_url, clock, tmp_path, TWILIO_CALLER_ID="+13135550100")


def _verbs(response) -> list[tuple[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [(child.tag, (child.text or "").strip()) for child in root]


def _row(deps) -> Call:
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == SID)).one()


def _a_finished_call(twilio, deps, clock, **status) -> Call:
    """Maria's call: answered by the IVR, then over (a completed callback, or ``status``)."""
    with deps.session_factory.begin() as s:
        customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Maria", "phones": ["3135550101"]}), clock
        )
    twilio.post("/twilio/voice", INBOUND)
    done = INBOUND | {"CallStatus": "completed", "CallDuration": "42", "SequenceNumber": "3"}
    assert twilio.post("/twilio/voice/status", done | status).status_code == 204
    return _row(deps)


@pytest.mark.parametrize("status", ["completed", "busy", "no-answer", "canceled", "failed"])
def test_a_voice_request_for_an_ended_call_hangs_up_and_leaves_the_row(
    twilio, deps, clock, caplog, status
):
    before = _a_finished_call(twilio, deps, clock, CallStatus=status)
    clock.advance(minutes=5)
    stranger = INBOUND | {"From": "+13135550177", "Caller": "+13135550177"}
    with caplog.at_level(logging.WARNING, logger="callcenter.telephony"):
        steps = _verbs(twilio.post("/twilio/voice", stranger))
    assert steps == [("Say", ENDED), ("Hangup", "")]
    after = _row(deps)
    assert (after.status, after.ended_at, after.customer_id, after.from_number) == (
        before.status,
        before.ended_at,
        before.customer_id,
        before.from_number,
    )
    assert any(SID in r.getMessage() for r in caplog.records)


def test_an_end_time_alone_is_enough_and_the_apology_is_in_the_callers_language(
    twilio, deps, clock
):
    twilio.post("/twilio/voice", INBOUND)
    with deps.session_factory.begin() as s:  # an end time, the status not yet terminal
        s.scalars(select(Call).where(Call.call_sid == SID)).one().ended_at = clock.now()
    root = ET.fromstring(twilio.post("/twilio/voice?lang=es-MX", INBOUND).data)
    (say,) = root.iter("Say")
    assert say.get("language") == "es-MX" and say.text.startswith("Lo sentimos")
    assert [child.tag for child in root] == ["Say", "Hangup"]


def test_a_retried_voice_request_for_a_live_call_is_still_answered(twilio, deps, clock):
    twilio.post("/twilio/voice", INBOUND)
    again = _verbs(twilio.post("/twilio/voice", INBOUND))
    assert [tag for tag, _ in again] == ["Gather"]


def test_the_softphone_url_never_dials_again_for_an_ended_call(twilio, deps, clock):
    with deps.session_factory.begin() as s:
        create_user(s, parse(UserIn, {"username": "ana", "password": "x" * 12}), clock)
    dial = {
        "CallSid": SID,
        "AccountSid": INBOUND["AccountSid"],
        "From": "client:agent_ana",
        "To": "+13135550142",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }
    first = _verbs(twilio.post("/twilio/client", dial))
    assert [tag for tag, _ in first] == ["Dial"]
    done = dial | {"CallStatus": "completed", "CallDuration": "30", "SequenceNumber": "2"}
    assert twilio.post("/twilio/voice/status", done).status_code == 204
    assert _verbs(twilio.post("/twilio/client", dial)) == [("Say", ENDED), ("Hangup", "")]
    assert _row(deps).status is CallStatus.COMPLETED


def test_a_nul_in_the_call_sid_is_no_database_error_on_the_ended_check(twilio, deps, clock):
    """The check reads the raw form; NUL is dropped there as CallEvent drops it (PostgreSQL
    refuses NUL in text, which failed the request before the view ran)."""
    from telephony.models import TelephonyError

    with deps.session_factory.begin() as s:
        create_user(s, parse(UserIn, {"username": "ana", "password": "x" * 12}), clock)
    forged = {"CallSid": "\x00", "From": "client:agent_ana", "To": "+13135550142"}
    assert twilio.post("/twilio/client", forged).status_code == 200
    with deps.session_factory() as s:
        assert s.scalars(select(TelephonyError)).all() == []
