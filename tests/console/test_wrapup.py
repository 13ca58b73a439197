"""Wrap-up that never throws a disposition away (console/wrapup.py, crm_core/drafts.py): the
draft kept on the server, stored as an incomplete outcome when wrap-up ends first (timer,
the agent going available, a supervisor), queues that hold their agents until the
disposition is saved, and the supervisors' list of calls without one.

Real Redis and database; the carrier is the simulator's REST app (the agent's softphone
rings there). A call's connection and end are the router's (what the webhooks do)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core.acd import update_queue
from crm_core.acd_schemas import QueueUpdate
from crm_core.calls import log_call
from crm_core.customers import match_or_create_from_caller_id
from crm_core.drafts import INCOMPLETE_LINE
from crm_core.models import Call, CallDirection, CallStatus
from crm_core.schemas import parse
from crm_core.timeline import timeline
from routing import ending
from tests.console.test_acd_live import acd as floor  # noqa: F401  (the same floor)
from tests.console.test_acd_live import app  # noqa: F401

pytestmark = pytest.mark.usefixtures("floor")  # the acd floor: queues, agent, supervisor
CALLER = "+13135550101"
DRAFT = "/api/agents/me/call/draft"


def on_a_call(api, deps, clock, sid="CA1", *, as_="agent", queue="sales"):
    """A caller (with a customer) rings the agent, who answers from the desk."""
    with deps.session_factory.begin() as s:
        customer, _ = match_or_create_from_caller_id(s, CALLER, clock)
        log_call(
            s,
            call_sid=sid,
            direction=CallDirection.INBOUND,
            from_number=CALLER,
            to_number="+13135550100",
            clock=clock,
            status=CallStatus.IN_PROGRESS,
            queue=queue,
            customer_id=customer.id,
        )
    deps.router.enqueue(sid, queue, call_sid=sid)
    api.post("/api/agents/me/presence", json={"state": "available"}, as_=as_)
    answered = api.post(f"/api/agents/me/offers/{sid}/accept", as_=as_)
    assert answered.json["state"] == "busy", answered.json


def hang_up(deps, clock, sid="CA1", talk=60):
    """The call's conference ends after ``talk`` seconds (routing/views.py does this)."""
    clock.advance(talk)
    ending.call_ended(deps, sid)


def tick(deps, clock, seconds):
    clock.advance(seconds)
    deps.dispatcher.run(deps.router.tick())


def put_draft(api, body, as_="agent"):
    return api.request("PUT", DRAFT, json=body, as_=as_)


def call_row(deps, sid="CA1") -> Call:
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == sid)).one()


def require_disposition(deps, clock, queue="sales"):
    with deps.session_factory.begin() as s:
        update_queue(s, queue, parse(QueueUpdate, {"disposition_required": True}), clock)
    deps.router.queues.invalidate()


# ------------------------------------------------------------------------ drafts


def test_a_draft_is_kept_and_given_back_to_a_reloaded_page(api, deps, clock):
    on_a_call(api, deps, clock)
    saved = put_draft(api, {"call_sid": "CA1", "notes": "Wants the blue one"})
    assert saved.status_code == 200, saved.json
    assert saved.json["call_sid"] == "CA1" and saved.json["saved_at"]
    # Half a form is a fine draft: a disposition that needs an appointment, without one.
    again = put_draft(api, {"call_sid": "CA1", "disposition": "appointment_set", "notes": "x"})
    assert again.status_code == 200, again.json
    got = api.get(f"{DRAFT}?call_sid=CA1").json
    assert got["draft"] == {"disposition": "appointment_set", "notes": "x"}
    assert got["outcome"] is None and got["saved_at"] == again.json["saved_at"]


def test_a_draft_is_only_for_the_agents_own_call(api, deps, clock):
    api.user("agent", username="luis", skills={"sales": 5})
    on_a_call(api, deps, clock)
    theirs = put_draft(api, {"call_sid": "CA1", "notes": "mine?"}, as_="luis")
    assert theirs.status_code == 403, theirs.json
    assert api.get(f"{DRAFT}?call_sid=CA1", as_="luis").status_code == 403
    unknown = put_draft(api, {"call_sid": "CA404", "notes": "?"})
    assert unknown.status_code == 404 and unknown.json["error"]["field"] == "call_sid"
    # After the call, the Call row names the agent: still theirs to finish.
    hang_up(deps, clock)
    tick(deps, clock, 31)
    assert put_draft(api, {"call_sid": "CA1", "notes": "later"}).status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "call_sid"),
        ({"call_sid": ""}, "call_sid"),
        ({"call_sid": "CA1", "notes": 5}, "notes"),
        ({"call_sid": "CA1", "notes": "x" * 10_001}, "notes"),
        ({"call_sid": "CA1", "temperature": 101}, "temperature"),
        ({"call_sid": "CA1", "temperature": "hot"}, "temperature"),
        ({"call_sid": "CA1", "disposition": ["sold"]}, "disposition"),
        ({"call_sid": "CA1", "appointment": "tomorrow"}, "appointment"),
        ({"call_sid": "CA1", "colour": "blue"}, "colour"),
    ],
)
def test_a_bad_draft_is_a_400_naming_the_field(api, deps, clock, body, field):
    on_a_call(api, deps, clock)
    response = put_draft(api, body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["disposition", "notes", "lead_id", "temperature", "appointment", "callback", "x"]
        ),
        st.one_of(
            st.none(),
            st.text(max_size=40),
            st.integers(),
            st.booleans(),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
        ),
        max_size=4,
    )
)
def test_any_draft_body_is_saved_or_a_clear_400(api, deps, clock, body):
    if deps.router.agent(api.user("agent")[0]) is None:
        on_a_call(api, deps, clock)
    response = put_draft(api, {"call_sid": "CA1", **body})
    assert response.status_code in (200, 400), response.json
    if response.status_code == 400:
        assert response.json["error"]["field"] and response.json["error"]["message"]


# ------------------------------------------------------------- wrap-up ends first


def test_the_wrap_up_timer_keeps_the_draft_as_an_incomplete_outcome(api, deps, clock):
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    put_draft(api, {"call_sid": "CA1", "disposition": "interested", "notes": "Call Friday"})
    tick(deps, clock, 31)  # the queue's 30 s of wrap-up are over
    assert api.get("/api/agents/me/state").json["state"] == "available"
    call = call_row(deps)
    assert call.disposition.value == "interested" and call.notes == "Call Friday"
    assert call.outcome_incomplete is True and call.wrap_seconds == 31  # ended at the tick
    with deps.session_factory() as s:
        lines = [a.summary for a in timeline(s, call.customer_id)]
    assert any(line.startswith(INCOMPLETE_LINE) for line in lines), lines
    got = api.get(f"{DRAFT}?call_sid=CA1").json
    assert got["outcome"] == {
        "disposition": "interested",
        "notes": "Call Friday",
        "incomplete": True,
    }
    # Saving the real outcome afterwards clears the mark (and is not a second outcome).
    saved = api.post("/api/calls/CA1/outcome", json={"disposition": "qualified", "notes": "ok"})
    assert saved.status_code == 200, saved.json
    call = call_row(deps)
    assert call.disposition.value == "qualified" and call.outcome_incomplete is False
    twice = api.post("/api/calls/CA1/outcome", json={"disposition": "sold"})
    assert twice.status_code == 409


def test_going_available_in_wrap_up_keeps_the_draft(api, deps, clock):
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    put_draft(api, {"call_sid": "CA1", "disposition": "not-a-disposition", "notes": "half"})
    clock.advance(5)
    state = api.post("/api/agents/me/presence", json={"state": "available"})
    assert state.status_code == 200 and state.json["state"] == "available"
    call = call_row(deps)
    # The disposition chosen was not a valid one: left out; the notes are kept; the draft too.
    assert call.disposition is None and call.notes == "half" and call.outcome_incomplete
    assert call.outcome_draft == {"disposition": "not-a-disposition", "notes": "half"}


def test_a_saved_outcome_is_never_touched_when_wrap_up_ends(api, deps, clock):
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    api.post("/api/calls/CA1/outcome", json={"disposition": "qualified", "notes": "done"})
    put_draft(api, {"call_sid": "CA1", "disposition": "sold", "notes": "a late draft"})
    tick(deps, clock, 31)
    call = call_row(deps)
    assert call.disposition.value == "qualified" and call.notes == "done"
    assert call.outcome_incomplete is False


# -------------------------------------------------------------- disposition required


def test_a_disposition_required_queue_holds_the_agent_until_it_is_saved(api, deps, clock):
    require_disposition(deps, clock)
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    state = api.get("/api/agents/me/state").json
    assert state["disposition_required"] is True and state["wrap_overdue"] is False
    tick(deps, clock, 45)  # past the 30 s: held, overdue
    state = api.get("/api/agents/me/state").json
    assert state["state"] == "wrap_up" and state["wrap_overdue"] is True
    refused = api.post("/api/agents/me/presence", json={"state": "available"})
    assert refused.status_code == 409
    assert refused.json["error"] == {
        "id": "disposition_required",
        "message": "Save a disposition for this call before you go available.",
        "field": "state",
    }
    assert api.post("/api/agents/me/wrap-up/end").status_code == 409
    assert api.post("/api/agents/me/presence", json={"state": "away"}).status_code == 409
    assert call_row(deps).outcome_incomplete is False  # nothing settled while held
    saved = api.post("/api/calls/CA1/outcome", json={"disposition": "interested"})
    assert saved.status_code == 200, saved.json
    assert api.get("/api/agents/me/state").json["state"] == "available"
    assert call_row(deps).wrap_seconds == 45  # the wrap-up lasted until the save


def test_saving_in_time_lets_the_timer_end_a_required_wrap_up(api, deps, clock):
    require_disposition(deps, clock)
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    api.post("/api/calls/CA1/outcome", json={"disposition": "interested"})
    assert api.get("/api/agents/me/state").json["state"] == "wrap_up"  # not overdue yet
    tick(deps, clock, 31)
    assert api.get("/api/agents/me/state").json["state"] == "available"


def test_a_supervisor_ends_a_held_wrap_up_and_it_is_audited(api, deps, clock):
    require_disposition(deps, clock)
    agent_id, _ = api.user("agent")
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    put_draft(api, {"call_sid": "CA1", "notes": "left for lunch"})
    tick(deps, clock, 60)
    forced = api.post(
        f"/api/acd/agents/{agent_id}/presence", json={"state": "available"}, as_="supervisor"
    )
    assert forced.status_code == 200, forced.json
    assert forced.json["state"] == "available"
    call = call_row(deps)
    assert call.outcome_incomplete and call.notes == "left for lunch"
    entry = api.get("/api/audit", as_="supervisor").json["entries"][0]
    assert entry["action"] == "agent.presence" and entry["detail"]["disposition_overridden"]


# ------------------------------------------------------------ missing dispositions


def test_supervisors_list_the_calls_left_without_a_disposition(api, deps, clock):
    agent_id, _ = api.user("agent")
    on_a_call(api, deps, clock, "CA1")
    hang_up(deps, clock, "CA1")
    put_draft(api, {"call_sid": "CA1", "notes": "no disposition"})
    tick(deps, clock, 31)  # wrap-up over: incomplete
    on_a_call(api, deps, clock, "CA2")
    hang_up(deps, clock, "CA2")
    api.post("/api/calls/CA2/outcome", json={"disposition": "qualified"})  # done properly
    tick(deps, clock, 31)
    on_a_call(api, deps, clock, "CA3")
    hang_up(deps, clock, "CA3")  # still in wrap-up: no outcome yet, no draft
    listed = api.get("/api/calls/missing-disposition", as_="supervisor")
    assert listed.status_code == 200, listed.json
    calls = listed.json["calls"]
    assert [c["call_sid"] for c in calls] == ["CA3", "CA1"]  # newest first
    first, second = calls
    assert first["incomplete"] is False and first["draft"] is None
    assert second["incomplete"] is True and second["draft"] == {"notes": "no disposition"}
    assert second["agent"] == {"id": agent_id, "display_name": "agent"}
    assert second["customer"]["id"] and second["from_number"] == CALLER
    assert second["queue"] == "sales" and second["queue_display_name"] == "sales"
    assert second["direction"] == "inbound" and second["started_at"]
    # Yesterday's calls are in the two-day list only.
    clock.advance(timedelta(days=1).total_seconds())
    assert api.get("/api/calls/missing-disposition", as_="supervisor").json["calls"] == []
    two_days = api.get("/api/calls/missing-disposition?days=2", as_="supervisor").json
    assert [c["call_sid"] for c in two_days["calls"]] == ["CA3", "CA1"]


@pytest.mark.parametrize("days", ["0", "32", "x", "-1", "1.5", ""])
def test_missing_disposition_days_out_of_range_is_a_400(api, days):
    response = api.get(f"/api/calls/missing-disposition?days={days}", as_="supervisor")
    assert response.status_code == 400 and response.json["error"]["field"] == "days"


def test_agents_may_not_list_other_peoples_calls(api):
    assert api.get("/api/calls/missing-disposition").status_code == 403


def test_a_held_agent_is_freed_by_an_outcome_saved_any_other_way(api, deps, clock):
    """The ticker looks at a held wrap-up again every few seconds: an outcome recorded by
    another path (not the outcome API, which frees the agent at once) frees them too."""
    from crm_core.calls import record_call_outcome
    from crm_core.schemas import OutcomeIn
    from crm_core.users import get_user

    require_disposition(deps, clock)
    agent_id, _ = api.user("agent")
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    tick(deps, clock, 40)
    assert api.get("/api/agents/me/state").json["wrap_overdue"] is True
    with deps.session_factory.begin() as s:
        record_call_outcome(
            s, "CA1", OutcomeIn(disposition="interested"), clock, actor=get_user(s, agent_id)
        )
    tick(deps, clock, 6)
    assert api.get("/api/agents/me/state").json["state"] == "available"
