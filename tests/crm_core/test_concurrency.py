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
