from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from crm_core import calls, leads
from crm_core.errors import Conflict, Forbidden, InvalidInput
from crm_core.models import (
    Appointment,
    CallDirection,
    Customer,
    Disposition,
    LeadStage,
    Role,
    Task,
    TaskKind,
    User,
)
from crm_core.schemas import LeadIn, OutcomeIn, UserIn
from crm_core.users import create_user


@pytest.fixture
def agent(session, clock):
    user = create_user(session, UserIn(username="ana", password="pw-123456"), clock)
    session.commit()
    return user


@pytest.fixture
def lead(session, clock):
    lead = leads.create_lead(
        session,
        LeadIn.model_validate(
            {
                "customer": {"first_name": "Maria", "phones": ["3135550101"]},
                "source_type": "marketplace",
            }
        ),
        clock,
    )
    session.commit()
    return lead


def inbound(session, clock, sid="CA" + "1" * 32, from_="+13135550101", **kw):
    call = calls.log_call(
        session,
        call_sid=sid,
        direction=CallDirection.INBOUND,
        from_number=from_,
        to_number="+13135550100",
        clock=clock,
        **kw,
    )
    session.commit()
    return call


def outcome(**data):
    return OutcomeIn.model_validate(data)


def test_appointment_set_writes_everything_in_one_go(session, clock, agent, lead):
    call = inbound(session, clock, agent_id=agent.id)
    clock.advance(minutes=3)
    start = clock.now() + timedelta(days=1)
    calls.record_call_outcome(
        session,
        call.call_sid,
        outcome(
            disposition="appointment_set",
            notes="Test drive RAV4",
            temperature=90,
            appointment={"type": "test_drive", "start_at": start.isoformat()},
        ),
        clock,
        actor=agent,
    )
    session.commit()
    assert call.customer_id == lead.customer_id and call.lead_id == lead.id
    assert call.disposition.value == "appointment_set" and call.notes == "Test drive RAV4"
    assert lead.stage is LeadStage.APPOINTMENT_SET and lead.temperature == 90
    assert lead.first_contact_at is not None and lead.response_minutes is not None
    appt = session.scalars(select(Appointment)).one()
    assert appt.start_at == start and appt.end_at == start + timedelta(hours=1)
    assert appt.lead_id == lead.id and appt.call_id == call.id


def test_callback_creates_a_task_owned_by_the_agent(session, clock, agent, lead):
    call = inbound(session, clock, agent_id=agent.id)
    due = clock.now() + timedelta(hours=4)
    calls.record_call_outcome(
        session,
        call.call_sid,
        outcome(disposition="callback", callback={"due_at": due.isoformat()}),
        clock,
        actor=agent,
    )
    session.commit()
    task = session.scalars(select(Task)).one()
    assert task.kind is TaskKind.CALLBACK and task.owner_id == agent.id
    assert task.due_at == due and task.phone == "+13135550101"
    assert lead.stage is LeadStage.ENGAGED


def test_do_not_call_revokes_consent_and_loses_the_lead(session, clock, agent, lead):
    call = inbound(session, clock, agent_id=agent.id)
    calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="do_not_call"), clock, actor=agent
    )
    session.commit()
    from crm_core.customers import may_call

    assert not may_call(session, "+13135550101")
    assert session.get(Customer, lead.customer_id).do_not_call
    assert lead.stage is LeadStage.LOST and lead.lost_reason == "asked not to be called"


def test_voicemail_never_demotes_a_qualified_lead(session, clock, agent, lead):
    from crm_core.schemas import StageChangeIn

    leads.change_stage(session, lead.id, StageChangeIn(stage="qualified"), clock)
    call = inbound(session, clock, agent_id=agent.id)
    calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="left_voicemail"), clock, actor=agent
    )
    assert lead.stage is LeadStage.QUALIFIED


def test_a_failure_part_way_writes_nothing(deps, clock, agent, lead):
    """The callback time is checked after the lead has moved: the whole outcome rolls back."""
    with deps.session_factory() as s:
        inbound(s, clock, agent_id=agent.id)
    past = clock.now() - timedelta(hours=1)
    with pytest.raises(InvalidInput) as err, deps.session_factory.begin() as s:
        calls.record_call_outcome(
            s,
            "CA" + "1" * 32,
            outcome(disposition="callback", callback={"due_at": past.isoformat()}),
            clock,
            actor=s.get(User, agent.id),
        )
    assert err.value.field == "callback.due_at"
    with deps.session_factory() as s:
        call = calls.get_call(s, "CA" + "1" * 32)
        assert call.disposition is None and call.customer_id is None
        assert s.get(type(lead), lead.id).stage is LeadStage.NEW
        assert s.scalar(select(func.count(Task.id))) == 0


def test_second_outcome_is_refused(session, clock, agent, lead):
    call = inbound(session, clock, agent_id=agent.id)
    calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="interested"), clock, actor=agent
    )
    with pytest.raises(Conflict):
        calls.record_call_outcome(
            session, call.call_sid, outcome(disposition="sold"), clock, actor=agent
        )


def test_agent_cannot_dispose_another_agents_call(session, clock, agent, lead):
    other = create_user(session, UserIn(username="luis", password="pw-123456"), clock)
    boss = create_user(
        session, UserIn(username="sam", role=Role.SUPERVISOR, password="pw-123456"), clock
    )
    call = inbound(session, clock, agent_id=agent.id)
    with pytest.raises(Forbidden):
        calls.record_call_outcome(
            session, call.call_sid, outcome(disposition="interested"), clock, actor=other
        )
    calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="interested"), clock, actor=boss
    )


def test_withheld_caller_id_can_still_be_disposed_without_crm_writes(session, clock, agent):
    call = inbound(session, clock, from_="anonymous", agent_id=agent.id)
    calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="info_provided"), clock, actor=agent
    )
    assert call.customer_id is None
    with pytest.raises(InvalidInput):
        other = inbound(session, clock, sid="CA" + "2" * 32, from_="anonymous", agent_id=agent.id)
        calls.record_call_outcome(
            session, other.call_sid, outcome(disposition="do_not_call"), clock, actor=agent
        )


def test_log_call_is_idempotent(session, clock):
    a = inbound(session, clock)
    b = inbound(session, clock)
    assert a.id == b.id


def test_outcome_input_rules():
    with pytest.raises(ValueError):
        outcome(disposition="appointment_set")
    with pytest.raises(ValueError):
        outcome(disposition="callback")
    with pytest.raises(ValueError):
        outcome(disposition="bogus")


def test_an_incomplete_outcome_from_a_draft_gives_way_to_the_real_one(session, clock, agent, lead):
    """Wrap-up ended before the outcome was saved: the draft's valid parts are stored, marked
    incomplete, with a timeline line; the real outcome then replaces it, once."""
    from crm_core import drafts
    from crm_core.timeline import timeline

    call = inbound(session, clock, agent_id=agent.id, customer_id=lead.customer_id)
    drafts.save_draft(session, call, {"disposition": "interested", "notes": "Friday"}, clock)
    assert drafts.settle_draft(session, call.call_sid, clock) is None  # still going
    call.talk_seconds = 95  # the call is over (routing records its talk time)
    settled = drafts.settle_draft(session, call.call_sid, clock)
    assert settled.disposition.value == "interested" and settled.notes == "Friday"
    assert settled.outcome_incomplete is True and not drafts.has_outcome(settled)
    assert drafts.settle_draft(session, call.call_sid, clock) is None  # once
    lines = [a.summary for a in timeline(session, lead.customer_id)]
    assert lines[0] == drafts.INCOMPLETE_LINE + " (disposition chosen: interested)"
    done = calls.record_call_outcome(
        session, call.call_sid, outcome(disposition="qualified"), clock, actor=agent
    )
    assert done.outcome_incomplete is False and done.outcome_draft is None
    assert drafts.has_outcome(done) and lead.stage is LeadStage.QUALIFIED
    with pytest.raises(Conflict):
        calls.record_call_outcome(
            session, call.call_sid, outcome(disposition="sold"), clock, actor=agent
        )
    assert drafts.settle_draft(session, call.call_sid, clock) is None  # saved: never touched


# What a draft's text can be once past the web edge: any Unicode text but NUL, which
# PostgreSQL cannot store (console/guards.py refuses it), and half of a surrogate pair, which
# is not text (pydantic refuses it in a JSON body). Both are tested in test_routes_fuzz.py.
FORM_TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    draft=st.fixed_dictionaries(
        {},
        optional={
            "disposition": st.one_of(
                st.sampled_from([d.value for d in Disposition]),
                st.text(FORM_TEXT, max_size=8),
            ),
            "notes": st.text(FORM_TEXT, max_size=30),
            "temperature": st.integers(0, 100),
        },
    ),
    saved=st.sampled_from([None, "qualified"]),
    notes_before=st.sampled_from([None, "typed during the call"]),
)
def test_settling_a_draft_never_throws_anything_away(
    session, clock, agent, draft, saved, notes_before
):
    """Whatever the draft holds and whatever the call had: a saved outcome is never touched,
    notes already on the call are never replaced, and every part of the draft is kept."""
    from crm_core import drafts

    sid = "CA" + format(abs(hash((repr(draft), saved, notes_before))), "032d")[:32]
    call = inbound(session, clock, sid=sid, agent_id=agent.id, talk_seconds=60)
    call.notes = notes_before
    if saved:
        call.disposition = Disposition(saved)
    drafts.save_draft(session, call, draft, clock)
    drafts.settle_draft(session, sid, clock)
    kept = drafts.OutcomeDraftIn.model_validate(draft).model_dump(exclude_unset=True)
    assert call.outcome_draft == kept  # kept whole (as given, trimmed), for whoever finishes it
    if saved:
        assert call.disposition.value == saved and not call.outcome_incomplete
        assert call.notes == notes_before
        return
    assert call.outcome_incomplete is True
    chosen = kept.get("disposition")
    valid = chosen in {d.value for d in Disposition}
    assert (call.disposition.value if call.disposition else None) == (chosen if valid else None)
    typed = kept.get("notes") or None
    assert call.notes == (notes_before or typed)
