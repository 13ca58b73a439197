"""First calls from one new number at once: every caller hears the menu, one customer is made.

Both webhooks look the caller ID up, find nobody, and insert a customer with that number;
the unique index lets one win. The loser takes the winner's customer (read again once the
winner has committed), not a DuplicatePhone that turns its caller away with the apology.
On PostgreSQL the loser's INSERT waits for the winner and then fails on the index (or its
check finds the winner's committed number); SQLite's writers take the database lock when
they begin, so there the burst is served one at a time, and the lost race is played out
step by step as well (the winner's commit between the loser's lookup and its insert).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import func, select

from crm_core import customers
from crm_core.models import Call, Customer, CustomerPhone
from tests.telephony.conftest import Twilio

NUMBER = "+13135550100"
NEW_CALLER = "+13135557788"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.telephony.conftest import twilio_app

    yield from twilio_app(database_url, redis_url, clock, tmp_path)


def test_a_caller_id_taken_in_the_meantime_gives_the_winners_customer(deps, clock):
    with deps.session_factory.begin() as winner:
        won = customers.create_from_caller_id(winner, NEW_CALLER, clock, name="ANA DIAZ").id
    # The loser's lookup found nobody before the winner committed; its insert comes after.
    with deps.session_factory.begin() as loser:
        found = customers.create_from_caller_id(loser, NEW_CALLER, clock, name="WIRELESS CALLER")
        assert found.id == won and found.first_name == "Ana"
        loser.flush()  # nothing of the lost attempt is left pending in the transaction
    with deps.session_factory() as s:
        assert s.scalars(select(CustomerPhone.customer_id)).all() == [won]
        assert s.scalar(select(func.count()).select_from(Customer)) == 1


def test_first_calls_from_one_new_number_at_once_all_hear_the_menu(app, deps):
    callers = 8
    barrier = threading.Barrier(callers)
    answers: dict[int, object] = {}

    def first_call(i: int) -> None:
        twilio = Twilio(app.test_client())
        form = {
            "CallSid": f"CA{i:032x}",
            "AccountSid": "AC" + "0" * 32,
            "From": NEW_CALLER,
            "To": NUMBER,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        barrier.wait()
        try:
            answers[i] = twilio.post("/twilio/voice", form)
        except Exception as exc:  # fails the assertion below, by name
            answers[i] = exc

    for _round in range(3):  # a few bursts: the race is lost in some, not every, burst
        with deps.engine.begin() as connection:
            connection.execute(CustomerPhone.__table__.delete())
            connection.execute(Call.__table__.delete())
            connection.exec_driver_sql("DELETE FROM activities")
            connection.exec_driver_sql("DELETE FROM customers")
        answers.clear()
        threads = [threading.Thread(target=first_call, args=(i,)) for i in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        heard = {}
        for i, answer in answers.items():
            assert not isinstance(answer, Exception), answer
            assert answer.status_code == 200, answer.get_data(as_text=True)
            root = ET.fromstring(answer.get_data())
            heard[i] = [child.tag for child in root]
        assert len(heard) == callers
        # The menu (a Gather), never the apology's voicemail (a Record).
        assert all("Gather" in verbs and "Record" not in verbs for verbs in heard.values()), heard
        with deps.session_factory() as s:
            owners = s.scalars(select(CustomerPhone.customer_id)).all()
            assert len(owners) == 1  # one customer for the number
            linked = s.scalars(select(Call.customer_id)).all()
            assert linked == owners * callers  # every call is that customer's
