"""The voice and status webhooks' hot path: what it writes, and what it leaves alone."""

import threading
import xml.etree.ElementTree as ET

from sqlalchemy import event, select

from crm_core import customers
from crm_core.models import Call, CallStatus, Customer
from crm_core.schemas import CustomerIn, parse
from tests.telephony.test_webhooks import CALLBACKS, INBOUND, SID, verbs


class Statements:
    """Counts the SQL statements the app's writing engine runs, by their first word."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def _record(self, conn, cursor, statement, *args) -> None:
        self.seen.append(statement.split(None, 1)[0].upper())

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_repeated_and_stale_status_callbacks_write_nothing(twilio, deps):
    for form in CALLBACKS:
        assert twilio.post("/twilio/voice/status", form).status_code == 204
    for form in CALLBACKS:  # every one again: the completed call is final
        with Statements(deps.engine) as sql:
            assert twilio.post("/twilio/voice/status", form).status_code == 204
        assert "UPDATE" not in sql.seen and "INSERT" not in sql.seen, (form, sql.seen)


def test_a_repeated_voice_request_reads_little_and_writes_nothing(twilio, deps, clock):
    """Twilio retries a voice request that timed out: the same answer, no write. A known
    caller costs the call's row and the caller's context (lead, appointment, language)."""
    with deps.session_factory.begin() as s:
        customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Maria", "phones": ["3135550101"]}), clock
        )
    first = verbs(twilio.post("/twilio/voice", INBOUND))
    with Statements(deps.engine) as sql:
        again = verbs(twilio.post("/twilio/voice", INBOUND))
    assert again == first
    assert sql.seen.count("SELECT") <= 2 and "UPDATE" not in sql.seen, sql.seen
    assert "INSERT" not in sql.seen


def test_a_new_caller_gets_one_call_row_and_one_customer(twilio, deps):
    response = twilio.post("/twilio/voice", INBOUND | {"CallerName": "JANE DOE"})
    assert next(e.text for e in ET.fromstring(response.data).iter("Say")).startswith("Hi Jane")
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        customer = s.scalars(select(Customer)).one()
        assert call.call_sid == SID and call.status is CallStatus.RINGING
        assert call.customer_id == customer.id and call.from_number == "+13135550101"
        assert call.leg_sids == []  # the column default, as the ORM would have set it


def test_concurrent_first_webhooks_for_one_call_make_one_row(app, deps):
    """Twilio's voice request and the call's first status callback race for the same new
    CallSid in two workers: one Call row, both answered normally, no error kept."""
    from telephony.models import TelephonyError
    from tests.telephony.conftest import Twilio

    barrier, answers = threading.Barrier(6), []

    def post(path: str, form: dict) -> None:
        twilio = Twilio(app.test_client())
        barrier.wait()
        answers.append(twilio.post(path, form).status_code)

    forms = [("/twilio/voice", INBOUND), ("/twilio/voice/status", CALLBACKS[1])] * 3
    threads = [threading.Thread(target=post, args=form) for form in forms]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(answers) == [200] * 3 + [204] * 3
    with deps.session_factory() as s:
        assert s.scalars(select(Call)).one().status is CallStatus.RINGING
        assert s.scalars(select(TelephonyError)).all() == []


def test_webhooks_neither_read_nor_set_the_session_cookie(twilio, client):
    client.set_cookie("session", "not-a-valid-signed-session")
    response = twilio.post("/twilio/voice/status", CALLBACKS[0])
    assert response.status_code == 204 and "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
