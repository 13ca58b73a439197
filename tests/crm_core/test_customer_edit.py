"""The customer from the agent desk: filling in an unknown caller from the call, edits that
land on the timeline as one entry saying who changed what (old to new, in words) and when,
duplicates by phone or e-mail, and a merge that moves every row that points at the other
customer. Real database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from crm_core import customers, duplicates, leads, privacy
from crm_core.audit import AuditEntry
from crm_core.errors import Conflict, DuplicatePhone, Forbidden, InvalidInput, NotFound
from crm_core.models import (
    Activity,
    ActivityKind,
    Appointment,
    AppointmentType,
    Call,
    CallDirection,
    Channel,
    ConsentEntry,
    ConsentStatus,
    Customer,
    CustomerPhone,
    Lead,
    Task,
    TaskKind,
    Vehicle,
    VehicleRelation,
)
from crm_core.schemas import CustomerCreate, CustomerUpdate, LeadIn, UserIn, parse
from crm_core.timeline import SHORT_LEN, describe_changes
from crm_core.users import create_user
from telephony.models import TextMessage

CALLER = "+13135550142"


@pytest.fixture
def amy(session, clock):
    user = create_user(
        session, UserIn(username="amy", display_name="Amy", password="pw-123456"), clock
    )
    session.commit()
    return user


def other_agent(session, clock):
    user = create_user(
        session, UserIn(username="bo", display_name="Bo", password="pw-123456"), clock
    )
    session.commit()
    return user


def add_call(session, clock, sid="CA1", number=CALLER, **fields) -> Call:
    call = Call(
        call_sid=sid,
        direction=CallDirection.INBOUND,
        from_number=number,
        to_number="+18005550000",
        created_at=clock.now(),
        **fields,
    )
    session.add(call)
    session.commit()
    return call


def edit(session, customer_id, body, clock, actor=None):
    customer = customers.update_customer(
        session, customer_id, parse(CustomerUpdate, body), clock, actor=actor
    )
    session.commit()
    return customer


def entries(session, customer_id):
    return list(
        session.scalars(
            select(Activity).where(Activity.customer_id == customer_id).order_by(Activity.id)
        )
    )


CARD = {
    "first_name": "Maria",
    "last_name": "Gonzalez",
    "email": "Maria.Gonzalez@Example.COM",
    "language": "es-US",
    "postal_code": "02134",
    "address_line1": "12 Elm St",
    "city": "Boston",
    "state": "MA",
    "contact_hours_start": "17:30",
    "contact_hours_end": "19:00",
    "preferred_channel": "sms",
    "vehicle_of_interest": {"year": 2025, "make": "Toyota", "model": "RAV4", "trim": "XLE"},
    "trade_in": {
        "year": 2016,
        "make": "Honda",
        "model": "Civic",
        "odometer": 84000,
        "trade_payoff": 4000,
        "trade_value": 9000,
        "vin": "2hgfc2f59gh123456",
    },
}


def test_an_unknown_caller_is_filled_in_from_the_call(session, clock, amy):
    # The IVR made the customer from the caller ID (a phone, no name); the call is theirs.
    caller = customers.create_from_caller_id(session, CALLER, clock)
    session.commit()
    add_call(session, clock, customer_id=caller.id, agent_id=amy.id)
    clock.advance(90)

    maria = edit(session, caller.id, CARD | {"call_sid": "CA1"}, clock, actor=amy)

    assert maria.full_name == "Maria Gonzalez"
    assert maria.email == "Maria.Gonzalez@example.com"
    assert maria.postal_code == "02134"  # the leading zero is kept
    assert (maria.language, maria.preferred_channel) == ("es-US", Channel.SMS)
    assert (maria.contact_hours_start, maria.contact_hours_end) == (time(17, 30), time(19))
    interest = customers.current_vehicle(session, maria.id, VehicleRelation.INTEREST)
    trade = customers.current_vehicle(session, maria.id, VehicleRelation.TRADE_IN)
    assert (interest.year, interest.make, interest.model, interest.trim) == (
        2025,
        "Toyota",
        "RAV4",
        "XLE",
    )
    assert (trade.odometer, trade.trade_payoff, trade.trade_value, trade.vin) == (
        84000,
        4000,
        9000,
        "2HGFC2F59GH123456",
    )
    assert session.scalars(select(Call.customer_id).where(Call.call_sid == "CA1")).one() == (
        maria.id
    )
    created, edited = entries(session, maria.id)
    assert created.summary == "Customer created from the phone number (313) 555-0142."
    # One entry for the whole edit: who, when, and each change from old to new in words.
    assert edited.actor_id == amy.id and edited.occurred_at == clock.now()
    assert edited.summary.startswith(
        "Amy changed name from none to Maria Gonzalez; "
        "e-mail from none to Maria.Gonzalez@example.com; "
    )
    for words in (
        "language from English to Spanish",
        "ZIP code from none to 02134",
        "earliest time to reach from none to 5:30 PM",
        "latest time to reach from none to 7:00 PM",
        "preferred way to reach from phone call to text message",
        "vehicle of interest from none to 2025 Toyota RAV4 XLE",
    ):
        assert words in edited.summary
    # A line holds 480 characters: what does not fit is counted, and kept whole in data.
    assert edited.summary.endswith("; and 1 more change.")
    assert edited.data["changes"][-1] == {
        "field": "trade_in",
        "label": "trade-in",
        "old": "none",
        "new": "2016 Honda Civic, 84,000 miles, VIN 2HGFC2F59GH123456, payoff $4,000, value $9,000",
    }
    assert "_" not in edited.summary.replace("2HGFC", "")  # no field names
    fields = [c["field"] for c in edited.data["changes"]]
    assert fields[0] == "name" and "trade_in" in fields and edited.data["edit"] is True


def test_a_later_edit_lists_only_what_changed_and_no_change_writes_nothing(session, clock, amy):
    maria = customers.create_customer(session, parse(CustomerCreate, CARD), clock)
    session.commit()
    before = len(entries(session, maria.id))
    clock.advance(3600)
    edit(
        session,
        maria.id,
        {"first_name": "Maria", "postal_code": "02135", "trade_in": {"trade_payoff": 3500}},
        clock,
        actor=amy,
    )
    latest = entries(session, maria.id)[-1]
    assert latest.summary == (
        "Amy changed ZIP code from 02134 to 02135; trade-in from 2016 Honda Civic, "
        "84,000 miles, VIN 2HGFC2F59GH123456, payoff $4,000, value $9,000 to 2016 Honda "
        "Civic, 84,000 miles, VIN 2HGFC2F59GH123456, payoff $3,500, value $9,000."
    )
    assert len(entries(session, maria.id)) == before + 1
    # The trade-in was edited in place, not duplicated.
    assert session.scalar(select(func.count()).select_from(Vehicle)) == 2
    edit(session, maria.id, {"first_name": "Maria", "postal_code": "02135"}, clock, actor=amy)
    assert len(entries(session, maria.id)) == before + 1


def test_clearing_every_fact_of_a_vehicle_removes_it(session, clock, amy):
    maria = customers.create_customer(session, parse(CustomerCreate, CARD), clock)
    session.commit()
    empty = dict.fromkeys(["year", "make", "model", "trim"])
    edit(session, maria.id, {"vehicle_of_interest": empty}, clock, actor=amy)
    assert customers.current_vehicle(session, maria.id, VehicleRelation.INTEREST) is None
    assert entries(session, maria.id)[-1].summary == (
        "Amy changed vehicle of interest from 2025 Toyota RAV4 XLE to none."
    )


def test_a_withheld_caller_is_created_and_the_call_linked(session, clock, amy):
    add_call(session, clock, number="anonymous", agent_id=amy.id)
    data = parse(CustomerCreate, {"first_name": "Lee", "call_sid": "CA1"})
    lee = customers.create_customer(session, data, clock, actor=amy)
    session.commit()
    assert lee.phones == []
    assert session.scalars(select(Call.customer_id)).one() == lee.id
    assert entries(session, lee.id)[0].summary == "Customer Lee created by Amy."


def test_a_call_with_a_new_number_gives_the_new_customer_that_number(session, clock, amy):
    add_call(session, clock, number="(313) 555-0177")
    data = parse(
        CustomerCreate, {"first_name": "Ana", "call_sid": "CA1", "trade_in": {"make": "Kia"}}
    )
    ana = customers.create_customer(session, data, clock, actor=amy)
    session.commit()
    assert [p.e164 for p in ana.phones] == ["+13135550177"] and ana.phones[0].is_primary
    assert entries(session, ana.id)[0].summary == "Customer Ana created by Amy; trade-in Kia."


def test_linking_a_call_someone_else_has_is_refused(session, clock, amy):
    first = customers.create_from_caller_id(session, CALLER, clock)
    session.commit()
    add_call(session, clock, customer_id=first.id)
    add_call(session, clock, sid="CA2", agent_id=other_agent(session, clock).id)
    second = customers.create_customer(session, parse(CustomerCreate, {"first_name": "X"}), clock)
    session.commit()
    with pytest.raises(Conflict) as err:
        edit(session, second.id, {"call_sid": "CA1"}, clock, actor=amy)
    assert err.value.field == "call_sid" and err.value.details["customer_id"] == first.id
    session.rollback()
    with pytest.raises(Forbidden):  # another agent's call
        edit(session, second.id, {"call_sid": "CA2"}, clock, actor=amy)
    session.rollback()
    with pytest.raises(NotFound):
        edit(session, second.id, {"call_sid": "CA404"}, clock, actor=amy)


def test_adding_a_number_another_customer_has_names_them(session, clock, amy):
    maria = customers.create_customer(
        session, parse(CustomerCreate, {"first_name": "Maria", "phones": ["3135550100"]}), clock
    )
    caller = customers.create_from_caller_id(session, CALLER, clock)
    session.commit()
    with pytest.raises(DuplicatePhone) as err:
        edit(session, caller.id, {"phone": "313-555-0100"}, clock, actor=amy)
    assert err.value.status == 409 and err.value.field == "phone"
    assert err.value.details["customer_id"] == maria.id
    assert "(313) 555-0100 already belongs to Maria" in err.value.message
    session.rollback()
    # The card asks for duplicates with the number before it is saved: Maria, on phone.
    found = duplicates.find_duplicates(session, caller.id, phone="+13135550100")
    assert [(d["id"], d["name"], d["matched_on"]) for d in found] == [
        (maria.id, "Maria", ["phone"])
    ]
    # A free number is added, and the edit says so.
    edit(session, caller.id, {"phone": "313-555-0101"}, clock, actor=amy)
    assert [p.e164 for p in caller.phones] == [CALLER, "+13135550101"]
    assert entries(session, caller.id)[-1].summary == (
        "Amy changed phone numbers from (313) 555-0142 to (313) 555-0142, (313) 555-0101."
    )


def test_duplicates_by_email_ignore_case_and_tell_the_last_contact(session, clock):
    maria = customers.create_customer(
        session, parse(CustomerCreate, {"first_name": "Maria", "email": "m@x.com"}), clock
    )
    session.commit()
    add_call(session, clock, customer_id=maria.id)
    clock.advance(600)
    new = customers.create_customer(
        session, parse(CustomerCreate, {"first_name": "M", "email": "M@X.COM"}), clock
    )
    erased = customers.create_customer(
        session, parse(CustomerCreate, {"first_name": "E", "email": "m@x.com"}), clock
    )
    session.commit()
    privacy.erase_customer(session, erased.id, clock)
    session.commit()
    found = duplicates.find_duplicates(session, new.id)
    assert found == [
        {
            "id": maria.id,
            "name": "Maria",
            "phones": [],
            "email": "m@x.com",
            "matched_on": ["email"],
            "last_contact": (clock.now() - timedelta(seconds=600)).isoformat(),
        }
    ]
    assert duplicates.find_duplicates(session, new.id, email="nobody@x.com") == found


def populate(session, clock, customer: Customer, number: str) -> dict[str, int]:
    """One of every row that points at a customer; returns their ids by kind."""
    now = clock.now()
    lead = leads.create_lead(session, LeadIn(customer_id=customer.id, source_type="website"), clock)
    call = Call(call_sid=f"CA{number[-4:]}", direction=CallDirection.INBOUND, from_number=number,
                created_at=now, customer_id=customer.id)  # fmt: skip
    session.add(call)
    session.flush()
    rows = {
        "appointment": Appointment(customer_id=customer.id, type=AppointmentType.TEST_DRIVE,
                                   start_at=now + timedelta(days=1),
                                   end_at=now + timedelta(days=1, hours=1), created_at=now),
        "task": Task(kind=TaskKind.CALLBACK, customer_id=customer.id, title="call back",
                     due_at=now, created_at=now),
        "vehicle": Vehicle(customer_id=customer.id, relation=VehicleRelation.OWNED, make="Kia"),
        "consent": ConsentEntry(customer_id=customer.id, channel=Channel.SMS, address=number,
                                status=ConsentStatus.GRANTED, source="web", recorded_at=now),
        "message": TextMessage(message_sid=f"SM{number[-4:]}", received_at=now,
                               customer_id=customer.id),
    }  # fmt: skip
    session.add_all(rows.values())
    session.flush()
    return {"lead": lead.id, "call": call.id} | {k: v.id for k, v in rows.items()}


MODELS = {
    "lead": Lead,
    "call": Call,
    "appointment": Appointment,
    "task": Task,
    "vehicle": Vehicle,
    "consent": ConsentEntry,
    "message": TextMessage,
}


def test_merge_moves_every_related_row_keeps_this_ones_fields_and_fills_blanks(session, clock, amy):
    keep = customers.create_customer(
        session,
        parse(CustomerCreate, {"first_name": "Maria", "email": "m@x.com", "phones": [CALLER]}),
        clock,
    )
    other = customers.create_customer(
        session,
        parse(
            CustomerCreate,
            {
                "first_name": "Mary",
                "last_name": "Gonzalez",
                "email": "M@X.com",
                "phones": ["3135550100", "2485550199"],
                "postal_code": "02134",
                "city": "Boston",
                "preferred_makes": ["Ford"],
            },
        ),
        clock,
    )
    session.flush()
    mine = populate(session, clock, keep, CALLER)
    theirs = populate(session, clock, other, "+13135550100")
    session.commit()
    other_id, other_activities = other.id, {a.id for a in entries(session, other.id)}
    clock.advance(60)

    merged = duplicates.merge_customers(session, keep.id, other_id, clock, actor=amy)
    session.commit()
    session.expire_all()

    assert session.get(Customer, other_id) is None
    for kind, model in MODELS.items():
        for row_id in (mine[kind], theirs[kind]):
            assert session.get(model, row_id).customer_id == keep.id, kind
    moved = {a.id for a in entries(session, keep.id)}
    assert other_activities <= moved
    phones = session.scalars(select(CustomerPhone).where(CustomerPhone.customer_id == keep.id))
    by_number = {p.e164: p.is_primary for p in phones}
    assert by_number == {CALLER: True, "+13135550100": False, "+12485550199": False}
    # This one's fields win; its blanks take the other's.
    assert (merged.first_name, merged.last_name, merged.email) == ("Maria", "Gonzalez", "m@x.com")
    assert (merged.postal_code, merged.city, merged.preferred_makes) == (
        "02134",
        "Boston",
        ["Ford"],
    )
    entry = entries(session, keep.id)[-1]
    assert entry.kind is ActivityKind.MERGE and entry.actor_id == amy.id
    assert entry.occurred_at == clock.now()
    assert entry.summary.startswith(
        f"Merged with Mary Gonzalez (customer {other_id}) by Amy: moved"
    )
    assert "2 phones" in entry.summary and "1 lead" in entry.summary
    assert "1 consent entry" in entry.summary and "took their last name" in entry.summary
    audit = session.scalars(select(AuditEntry)).one()
    assert (audit.action, audit.target, audit.actor_id) == (
        "customer.merge",
        f"customer:{other_id}",
        amy.id,
    )
    assert audit.detail["into"] == keep.id
    with pytest.raises(NotFound) as err:
        customers.get_customer(session, other_id)
    assert err.value.message == f"customer {other_id} was merged into customer {keep.id}"
    assert customers.find_by_phone(session, "2485550199").id == keep.id


def test_merge_takes_a_range_or_an_address_only_whole(session, clock):
    keep = customers.create_customer(
        session, parse(CustomerCreate, {"first_name": "A", "price_max": 10000, "city": "Troy"}),
        clock,
    )  # fmt: skip
    other = customers.create_customer(
        session,
        parse(CustomerCreate, {"first_name": "B", "price_min": 20000, "price_max": 30000,
                               "postal_code": "48201", "city": "Detroit"}),
        clock,
    )  # fmt: skip
    session.commit()
    merged = duplicates.merge_customers(session, keep.id, other.id, clock)
    session.commit()
    assert (merged.price_min, merged.price_max) == (None, 10000)
    assert (merged.city, merged.postal_code) == ("Troy", None)


def test_merge_refuses_the_same_customer_and_an_erased_one(session, clock):
    a = customers.create_customer(session, parse(CustomerCreate, {"first_name": "A"}), clock)
    b = customers.create_customer(session, parse(CustomerCreate, {"first_name": "B"}), clock)
    session.commit()
    with pytest.raises(Conflict) as err:
        duplicates.merge_customers(session, a.id, a.id, clock)
    assert err.value.status == 409 and "itself" in err.value.message
    privacy.erase_customer(session, b.id, clock)
    session.commit()
    for keep, other, field in ((a.id, b.id, "other_id"), (b.id, a.id, "customer_id")):
        with pytest.raises(Conflict) as err:
            duplicates.merge_customers(session, keep, other, clock)
        assert err.value.field == field and "erased" in err.value.message
        session.rollback()
    with pytest.raises(NotFound):
        duplicates.merge_customers(session, a.id, 999999, clock)
    assert session.get(Customer, a.id).first_name == "A"


def test_edge_validation_names_the_field():
    cases = [
        ({"email": "maria@"}, "email"),
        ({"postal_code": "2134"}, "postal_code"),
        ({"postal_code": "021345"}, "postal_code"),
        ({"postal_code": 2134}, "postal_code"),
        ({"phone": "555-0100"}, "phone"),
        ({"language": "Spanish"}, "language"),
        ({"contact_hours_start": "25:00"}, "contact_hours_start"),
        ({"trade_in": {"vin": "IOQ"}}, "trade_in.vin"),
        ({"vehicle_of_interest": {"year": 1800}}, "vehicle_of_interest.year"),
        ({"call_sid": "CA 1; drop"}, "call_sid"),
    ]
    for body, field in cases:
        with pytest.raises(InvalidInput) as err:
            parse(CustomerUpdate, body)
        assert err.value.field == field, body
    assert parse(CustomerUpdate, {"postal_code": "02134-0001"}).postal_code == "02134-0001"
    assert parse(CustomerUpdate, {"postal_code": "m5v 2t6"}).postal_code == "M5V 2T6"


def test_a_column_that_always_has_a_value_cannot_be_emptied(session, clock):
    a = customers.create_customer(session, parse(CustomerCreate, {"first_name": "A"}), clock)
    session.commit()
    for field in ("language", "preferred_channel"):
        with pytest.raises(InvalidInput) as err:
            edit(session, a.id, {field: None}, clock)
        assert err.value.field == field
        session.rollback()


FIELD_VALUES = {
    "first_name": st.sampled_from(["Ann", "Maria", None]),
    "email": st.sampled_from(["a@x.com", "b@y.org", None]),
    "postal_code": st.sampled_from(["02134", "48201", None]),
    "language": st.sampled_from(["en-US", "es-US", "fr-CA"]),
    "city": st.sampled_from(["Troy", "Detroit", None]),
    "contact_hours_start": st.sampled_from(["09:00", "17:30", None]),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=st.lists(st.fixed_dictionaries({}, optional=FIELD_VALUES), min_size=1, max_size=4))
def test_every_edit_is_one_entry_listing_exactly_the_fields_that_changed(session, clock, edits):
    c = customers.create_customer(session, parse(CustomerCreate, {}), clock)
    session.commit()
    for body in edits:
        before = {f: getattr(c, f) for f in FIELD_VALUES}
        count = len(entries(session, c.id))
        edit(session, c.id, body, clock)
        after = {f: getattr(c, f) for f in FIELD_VALUES}
        changed = {("name" if f == "first_name" else f) for f in FIELD_VALUES
                   if before[f] != after[f]}  # fmt: skip
        new = entries(session, c.id)[count:]
        if not changed:
            assert new == []
        else:
            (entry,) = new
            assert {ch["field"] for ch in entry.data["changes"]} == changed
            assert len(entry.summary) <= SHORT_LEN * 4
    session.delete(c)
    session.commit()


@given(n=st.integers(1, 60), width=st.integers(1, 200))
def test_a_long_edit_still_fits_one_line_and_says_how_many_more(n, width):
    changes = [{"label": f"field {i}", "old": "x" * width, "new": "y"} for i in range(n)]
    text = describe_changes(changes, actor_name="Amy")
    assert len(text) <= SHORT_LEN * 4 and text.startswith("Amy changed")


def test_a_vehicle_fact_the_card_does_not_show_is_still_a_change_in_words(session, clock):
    maria = customers.create_customer(session, parse(CustomerCreate, CARD), clock)
    session.commit()
    edit(session, maria.id, {"vehicle_of_interest": {"stock_number": "T123"}}, clock)
    assert entries(session, maria.id)[-1].summary == (
        "Changed vehicle of interest from 2025 Toyota RAV4 XLE to 2025 Toyota RAV4 XLE, "
        "stock number T123."
    )
    count = len(entries(session, maria.id))
    edit(session, maria.id, {"vehicle_of_interest": {"stock_number": "T123"}}, clock)
    assert len(entries(session, maria.id)) == count


def test_two_merges_of_one_pair_at_once_leave_one_customer_and_a_clear_error(deps, clock):
    """Two agents confirm the same merge from both sides at the same moment: one merge
    happens; the other is told the customer was merged, never a database error."""
    import threading

    with deps.session_factory.begin() as s:
        a = customers.create_customer(s, parse(CustomerCreate, {"first_name": "A"}), clock).id
        b = customers.create_customer(
            s, parse(CustomerCreate, {"first_name": "B", "phones": [CALLER]}), clock
        ).id
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def merge(keep: int, other: int) -> None:
        barrier.wait()
        try:
            with deps.session_factory.begin() as session:
                duplicates.merge_customers(session, keep, other, clock)
            outcomes.append("merged")
        except NotFound as exc:
            outcomes.append("not found" if "merged into" in exc.message else exc.message)
        except Exception as exc:  # any other error fails the assertion below, by name
            outcomes.append(exc)

    threads = [threading.Thread(target=merge, args=pair) for pair in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(str, outcomes)) == ["merged", "not found"], outcomes
    with deps.read_session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert customers.find_by_phone(s, CALLER) is not None
