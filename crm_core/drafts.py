"""The wrap-up form kept on the server: drafts of a call's outcome, and what happens to a
draft when wrap-up ends before the outcome is saved.

An agent's desk saves the form as it is filled (``save_draft``): loosely checked (types and
lengths), never refused for being incomplete. When wrap-up ends first — its timer, the
agent going available, a supervisor — ``settle_draft`` stores what the draft has as the
call's outcome, marked incomplete, so nothing typed is thrown away and the call shows on
the supervisors' list of calls without a disposition (``missing_disposition``). Saving the
real outcome afterwards (``crm_core.calls.record_call_outcome``) clears the mark.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from crm_core.clock import Clock
from crm_core.errors import InvalidInput, NotFound
from crm_core.models import (
    SHORT_LEN,
    TEXT_LEN,
    ActivityKind,
    Call,
    Customer,
    Disposition,
)
from crm_core.schemas import Strict, parse
from crm_core.timeline import add_activity

MAX_DRAFT_CHARS = 40_000  # the whole draft as JSON: a form, not a document store
INCOMPLETE_LINE = "Wrap-up ended before the disposition was saved"
Scalar = str | int | float | bool | None
# A nested part of the form (appointment, callback) as the agent left it: flat values only.
Key = Annotated[str, StringConstraints(max_length=64)]
Part = Annotated[dict[Key, Scalar], Field(max_length=20)]


class OutcomeDraftIn(Strict):
    """The outcome form as far as it is filled: every field of ``OutcomeIn``, each optional
    and checked only for its type and length (a draft may be half a form)."""

    disposition: Annotated[str, StringConstraints(max_length=32)] | None = None
    notes: Annotated[str, StringConstraints(max_length=TEXT_LEN)] | None = None
    lead_id: Annotated[int, Field(strict=True, ge=1)] | None = None
    temperature: Annotated[int, Field(strict=True, ge=0, le=100)] | None = None
    lost_reason: Annotated[str, StringConstraints(max_length=SHORT_LEN * 2)] | None = None
    appointment: Part | None = None
    callback: Part | None = None
    wrap_seconds: Annotated[int, Field(strict=True, ge=0, le=24 * 3600)] | None = None


def has_outcome(call: Call) -> bool:
    """The call's outcome is saved (an incomplete one stored from a draft is not)."""
    return call.disposition is not None and not call.outcome_incomplete


def find_call(session: Session, call_sid: str) -> Call:
    call = session.scalars(select(Call).where(Call.call_sid == call_sid[:64])).one_or_none()
    if call is None:
        raise NotFound("There is no call with that reference.", field="call_sid")
    return call


def save_draft(session: Session, call: Call, data: dict[str, Any], clock: Clock) -> Call:
    """Keep the form as the agent left it (the fields given replace the whole draft)."""
    draft = parse(OutcomeDraftIn, data).model_dump(exclude_unset=True)
    if len(json.dumps(draft)) > MAX_DRAFT_CHARS:
        raise InvalidInput("The draft is too long to keep; shorten the notes.", field="notes")
    call.outcome_draft = draft
    call.outcome_draft_at = clock.now()
    session.flush()
    return call


def draft_view(call: Call) -> dict[str, Any]:
    """What a reloaded desk needs: the draft, and the saved outcome if there is one."""
    outcome = None
    if call.disposition is not None or call.outcome_incomplete:
        outcome = {
            "disposition": call.disposition.value if call.disposition else None,
            "notes": call.notes,
            "incomplete": call.outcome_incomplete,
        }
    return {
        "call_sid": call.call_sid,
        "draft": call.outcome_draft,
        "saved_at": call.outcome_draft_at.isoformat() if call.outcome_draft_at else None,
        "outcome": outcome,
    }


def _disposition(value: Any) -> Disposition | None:
    try:
        return Disposition(value) if value else None
    except ValueError:
        return None


def settle_draft(session: Session, call_sid: str, clock: Clock) -> Call | None:
    """Wrap-up ended and the call has no saved outcome: what the draft has becomes the
    outcome, marked incomplete (the disposition if a valid one was chosen, the notes); the
    draft itself is kept for whoever finishes it. None when there is nothing to settle (no
    such call, its outcome saved, already settled). Never clears anything."""
    call = session.scalars(
        select(Call).where(Call.call_sid == call_sid[:64]).with_for_update()
    ).one_or_none()
    if call is None or has_outcome(call) or call.outcome_incomplete:
        return None
    if call.talk_seconds is None and call.ended_at is None:
        return None  # still going (handed over to a colleague): its last agent settles it
    draft = call.outcome_draft or {}
    disposition = _disposition(draft.get("disposition"))
    if disposition is not None:
        call.disposition = disposition
    notes = draft.get("notes")
    if isinstance(notes, str) and notes.strip() and not call.notes:
        call.notes = notes[:TEXT_LEN]
    call.outcome_incomplete = True
    if call.customer_id is not None:
        chosen = (
            f" (disposition chosen: {disposition.value.replace('_', ' ')})" if disposition else ""
        )
        add_activity(
            session,
            customer_id=call.customer_id,
            lead_id=call.lead_id,
            kind=ActivityKind.CALL,
            summary=INCOMPLETE_LINE + chosen,
            at=clock.now(),
            actor_id=call.agent_id,
            data={"call_sid": call.call_sid, "incomplete": True},
        )
    session.flush()
    return call


def day_start(clock: Clock, zone: str, days: int) -> datetime:
    """Local midnight ``days - 1`` days before today, in the call center's time zone."""
    tz = ZoneInfo(zone)
    today = clock.now().astimezone(tz).date()
    return datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=tz)


def missing_disposition(session: Session, since: datetime, *, limit: int = 500) -> list[Call]:
    """Answered calls with an agent whose outcome is not saved (none, or an incomplete one
    stored from a draft), newest first. Calls still going on are not listed."""
    query = (
        select(Call)
        .options(selectinload(Call.agent))
        .where(
            Call.created_at >= since,
            Call.agent_id.is_not(None),
            or_(Call.talk_seconds.is_not(None), Call.ended_at.is_not(None)),
            or_(Call.disposition.is_(None), Call.outcome_incomplete.is_(True)),
        )
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def missing_view(session: Session, call: Call, queues: dict[str, str]) -> dict[str, Any]:
    customer = session.get(Customer, call.customer_id) if call.customer_id else None
    return {
        "id": call.id,
        "call_sid": call.call_sid,
        "started_at": call.created_at.isoformat(),
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "direction": call.direction.value,
        "queue": call.queue,
        "queue_display_name": queues.get(call.queue or "", call.queue),
        "agent": {"id": call.agent.id, "display_name": call.agent.display_name}
        if call.agent is not None
        else None,
        "customer": {"id": customer.id, "name": _name(customer) or None} if customer else None,
        "from_number": call.from_number,
        "incomplete": call.outcome_incomplete,
        "draft": call.outcome_draft,
    }


def _name(customer: Customer) -> str:
    return " ".join(p for p in (customer.first_name, customer.last_name) if p)


def outcome_pending(session_factory: Any, call_sid: str) -> bool:
    """Whether the call's outcome is still to be saved (the router asks before it ends a
    wrap-up on a queue with ``disposition_required``). An unknown call is not pending."""
    with session_factory() as session:
        call = session.scalars(select(Call).where(Call.call_sid == call_sid[:64])).one_or_none()
        return call is not None and not has_outcome(call)
