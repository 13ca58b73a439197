"""Several writers at once (gunicorn workers, the rq worker): the loser of a race gets a clear
domain error, never a database error."""

import threading

from crm_core import customers
from crm_core.errors import DuplicatePhone
from crm_core.schemas import CustomerIn, parse


def test_concurrent_creates_of_one_phone_make_one_customer(deps, clock):
    for round_ in range(5):
        phone = f"31355501{round_:02d}"
        barrier = threading.Barrier(6)
        outcomes: list[object] = []

        def create(name: str, phone: str = phone, barrier=barrier, outcomes=outcomes) -> None:
            data = parse(CustomerIn, {"first_name": name, "phones": [phone]})
            barrier.wait()
            try:
                with deps.session_factory.begin() as session:
                    customers.find_by_phone(session, phone)  # read first, as a webhook does
                    customers.create_customer(session, data, clock)
                outcomes.append("created")
            except DuplicatePhone:
                outcomes.append("duplicate")
            except Exception as exc:  # any other error fails the assertion below, by name
                outcomes.append(exc)

        threads = [threading.Thread(target=create, args=(f"n{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(map(str, outcomes)) == ["created"] + ["duplicate"] * 5, outcomes


def test_concurrent_new_calls_all_get_their_call_row(deps, clock):
    """Webhooks for new calls in several workers at once (the read-then-insert path of
    telephony.service): none may fail with 'database is locked' (SQLite) or deadlock."""
    from telephony.events import CallEvent
    from telephony.service import inbound_call

    outcomes: list[object] = []
    barrier = threading.Barrier(8)

    def webhook(i: int) -> None:
        event = CallEvent.from_form(
            {
                "CallSid": f"CA{i:032x}",
                "From": f"+1313555{i:04d}",
                "To": "+13135550100",
                "CallStatus": "ringing",
            }
        )
        barrier.wait()
        try:
            for _ in range(5):  # a few calls each, so writers really interleave
                with deps.session_factory.begin() as session:
                    inbound_call(session, event, clock)
            outcomes.append("ok")
        except Exception as exc:  # any error fails the assertion below, by name
            outcomes.append(exc)

    threads = [threading.Thread(target=webhook, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == ["ok"] * 8, outcomes
