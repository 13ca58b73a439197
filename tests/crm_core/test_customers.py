import pytest

from crm_core import customers, duplicates
from crm_core.errors import Conflict, DuplicatePhone, InvalidInput, InvalidPhone
from crm_core.models import Channel, ConsentStatus, Lead
from crm_core.schemas import ConsentIn, CustomerIn, LeadIn, parse


def make(session, clock, **fields):
    data = parse(
        CustomerIn, {"first_name": "Ann", "last_name": "Lee", "phones": ["3135550100"]} | fields
    )
    customer = customers.create_customer(session, data, clock)
    session.commit()
    return customer


def test_screen_pop_finds_the_customer_by_any_format_of_any_phone(session, clock):
    ann = make(
        session, clock, phones=["313-555-0100", {"number": "+1 248 555 0199", "kind": "work"}]
    )
    for raw in ["(313) 555-0100", "+13135550100", "248.555.0199"]:
        assert customers.find_by_phone(session, raw).id == ann.id
    assert customers.find_by_phone(session, "313 555 0111") is None
    assert ann.primary_phone == "+13135550100"
    assert ann.time_zone == "America/New_York"


def test_screen_pop_with_garbage_is_invalid_phone(session):
    with pytest.raises(InvalidPhone):
        customers.find_by_phone(session, "anonymous")


def test_duplicate_phone_is_a_conflict_naming_the_owner(session, clock):
    ann = make(session, clock)
    with pytest.raises(DuplicatePhone) as err:
        make(session, clock, first_name="Bob")
    assert err.value.status == 409 and err.value.field == "phones"
    assert err.value.details["customer_id"] == ann.id


def test_match_or_create_from_caller_id(session, clock):
    customer, new = customers.match_or_create_from_caller_id(
        session, "+13135550142", clock, name="JOHN SMITH"
    )
    assert new and customer.first_name == "John" and customer.last_name == "Smith"
    again, new = customers.match_or_create_from_caller_id(session, "313-555-0142", clock)
    assert not new and again.id == customer.id
    wireless, _ = customers.match_or_create_from_caller_id(
        session, "+13135550143", clock, name="WIRELESS CALLER"
    )
    assert wireless.first_name is None and wireless.full_name == "Unknown caller"


def test_search_by_name_and_email(session, clock):
    ann = make(session, clock, email="ann.lee@Example.COM")
    make(session, clock, first_name="Bob", last_name="Leeds", phones=["3135550101"])
    assert {c.id for c in customers.search(session, "lee")} == {ann.id, ann.id + 1}
    assert [c.id for c in customers.search(session, "ann lee")] == [ann.id]
    assert [c.id for c in customers.search(session, "ann.lee@example")] == [ann.id]
    assert customers.search(session, "100%") == []
    with pytest.raises(InvalidInput):
        customers.search(session, " ")


def test_consent_ledger_and_do_not_call(session, clock):
    ann = make(session, clock)
    assert customers.may_call(session, "+13135550100")
    revoke = parse(
        ConsentIn,
        {
            "channel": "voice",
            "address": "313 555 0100",
            "status": "revoked",
            "source": "caller asked",
        },
    )
    customers.record_consent(session, ann.id, revoke, clock)
    assert ann.do_not_call and not customers.may_call(session, "+13135550100")
    assert customers.consent_status(session, Channel.VOICE, "+13135550100") is (
        ConsentStatus.REVOKED
    )
    clock.advance(60)
    grant = parse(
        ConsentIn,
        {"channel": "voice", "address": "+13135550100", "status": "granted", "source": "web form"},
    )
    customers.record_consent(session, ann.id, grant, clock)
    assert not ann.do_not_call and customers.may_call(session, "+13135550100")


def test_consent_for_email_normalises_the_domain(session, clock):
    ann = make(session, clock)
    data = parse(ConsentIn, {"channel": "email", "address": "Ann@Example.COM", "status": "granted"})
    entry = customers.record_consent(session, ann.id, data, clock)
    assert entry.address == "Ann@example.com"
    with pytest.raises(InvalidInput) as err:
        parse(ConsentIn, {"channel": "email", "address": "nope", "status": "granted"})
    assert err.value.field == "address"


def test_merge_moves_everything_and_fills_gaps(session, clock):
    keep = make(session, clock, email="ann@example.com")
    dup = make(
        session,
        clock,
        first_name="Ann",
        last_name="Lee",
        phones=["2485550199"],
        email="ann@example.com",
        postal_code="48201",
        preferred_makes=["Ford"],
    )
    from crm_core import leads

    lead = leads.create_lead(session, LeadIn(customer_id=dup.id, source_type="website"), clock)
    session.commit()
    found = duplicates.find_duplicates(session, keep.id)
    assert [(d["id"], d["matched_on"]) for d in found] == [(dup.id, ["email"])]
    merged = duplicates.merge_customers(session, keep.id, dup.id, clock)
    session.commit()
    assert {p.e164 for p in merged.phones} == {"+13135550100", "+12485550199"}
    assert [p.is_primary for p in merged.phones].count(True) == 1
    assert merged.postal_code == "48201" and merged.preferred_makes == ["Ford"]
    assert session.get(Lead, lead.id).customer_id == keep.id
    assert customers.find_by_phone(session, "2485550199").id == keep.id
    with pytest.raises(Conflict):
        duplicates.merge_customers(session, keep.id, keep.id, clock)


def test_update_keeps_price_range_consistent(session, clock):
    from crm_core.schemas import CustomerUpdate

    ann = make(session, clock, price_min=20000)
    with pytest.raises(InvalidInput) as err:
        customers.update_customer(session, ann.id, CustomerUpdate(price_max=100), clock)
    assert err.value.field == "price_min"


def test_oversized_and_unknown_fields_are_rejected_by_name():
    with pytest.raises(InvalidInput) as err:
        parse(CustomerIn, {"first_name": "x" * 81})
    assert err.value.field == "first_name"
    with pytest.raises(InvalidInput) as err:
        parse(CustomerIn, {"frist_name": "Ann"})
    assert err.value.field == "frist_name"
    with pytest.raises(InvalidInput) as err:
        parse(CustomerIn, {"preferred_channel": "pigeon"})
    assert err.value.field == "preferred_channel"
    with pytest.raises(InvalidInput) as err:
        parse(CustomerIn, {"phones": ["3135550100", "(313) 555-0100"]})
    assert "twice" in err.value.message


def test_skills_parse_rejects_non_ascii_digits():
    from crm_core.schemas import parse_skills

    assert parse_skills("sales:8, spanish:5") == {"sales": 8, "spanish": 5}
    for bad in ["sales:¹", "sales", "sales:0", "sales:11", "Sales Team:5"]:
        with pytest.raises(InvalidInput):
            parse_skills(bad)
