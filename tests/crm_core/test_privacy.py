from sqlalchemy import select

from crm_core import calls, customers, leads, privacy
from crm_core.models import Activity, Call, CallDirection, ConsentEntry
from crm_core.schemas import ConsentIn, LeadIn, OutcomeIn, parse


def seeded(session, clock):
    lead = leads.create_lead(
        session,
        LeadIn.model_validate(
            {
                "customer": {
                    "first_name": "Maria",
                    "last_name": "Gonzalez",
                    "email": "maria@example.com",
                    "phones": ["3135550101"],
                },
                "source_type": "marketplace",
                "vehicles": [{"make": "Toyota", "model": "RAV4"}],
            }
        ),
        clock,
    )
    calls.log_call(
        session,
        call_sid="CA" + "3" * 32,
        direction=CallDirection.INBOUND,
        from_number="+13135550101",
        to_number="+13135550100",
        clock=clock,
    )
    calls.record_call_outcome(
        session, "CA" + "3" * 32, OutcomeIn(disposition="interested", notes="wants AWD"), clock
    )
    customers.record_consent(
        session,
        lead.customer_id,
        parse(ConsentIn, {"channel": "voice", "address": "3135550101", "status": "revoked"}),
        clock,
    )
    session.commit()
    return lead.customer_id


def test_export_has_everything_about_the_customer(session, clock):
    cid = seeded(session, clock)
    data = privacy.export_customer(session, cid)
    assert data["customer"]["email"] == "maria@example.com"
    assert data["customer"]["phones"][0]["number"] == "+13135550101"
    assert len(data["leads"]) == 1 and len(data["calls"]) == 1 and len(data["vehicles"]) == 1
    assert data["calls"][0]["notes"] == "wants AWD"
    assert data["consent"][0]["status"] == "revoked"
    assert len(data["timeline"]) >= 3
    import json

    json.dumps(data)  # JSON-ready as it is


def test_erasure_removes_personal_data_keeps_do_not_call(session, clock):
    cid = seeded(session, clock)
    seen = []
    privacy.erase_customer(session, cid, clock, hooks=[lambda s, c: seen.append(c)])
    session.commit()
    assert seen == [cid]
    assert customers.find_by_phone(session, "3135550101") is None
    assert not customers.may_call(session, "+13135550101")  # the opt-out outlives the person
    entry = session.scalars(select(ConsentEntry)).one()
    assert entry.address.startswith("sha256:")
    call = session.scalars(select(Call)).one()
    assert call.from_number is None and call.notes is None and call.disposition is not None
    activities = session.scalars(select(Activity).where(Activity.customer_id == cid)).all()
    assert [a.kind.value for a in activities] == ["erasure"]
    import pytest

    from crm_core.errors import NotFound

    with pytest.raises(NotFound):
        privacy.export_customer(session, cid)
