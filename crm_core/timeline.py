"""The customer timeline: every touchpoint as an Activity row, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from crm_core.models import SHORT_LEN, Activity, ActivityKind


def add_activity(
    session: Session,
    *,
    customer_id: int,
    kind: ActivityKind,
    summary: str,
    at: datetime,
    lead_id: int | None = None,
    actor_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Activity:
    activity = Activity(
        customer_id=customer_id,
        lead_id=lead_id,
        kind=kind,
        occurred_at=at,
        actor_id=actor_id,
        summary=summary[: SHORT_LEN * 4],
        data=data or {},
    )
    session.add(activity)
    return activity


def timeline(
    session: Session, customer_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[Activity]:
    """A page of the timeline, newest first; pass the last id seen as ``before_id`` for more."""
    query = select(Activity).where(Activity.customer_id == customer_id)
    if before_id is not None:
        anchor = session.get(Activity, before_id)
        if anchor is not None:
            query = query.where(
                tuple_(Activity.occurred_at, Activity.id) < (anchor.occurred_at, anchor.id)
            )
    query = query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit)
    return list(session.scalars(query))


def activity_dict(a: Activity) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "occurred_at": a.occurred_at.isoformat(),
        "summary": a.summary,
        "lead_id": a.lead_id,
        "actor_id": a.actor_id,
        "data": a.data,
    }
