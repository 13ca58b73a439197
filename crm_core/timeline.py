"""The customer timeline: every touchpoint as an Activity row, newest first."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from decimal import Decimal
from enum import Enum
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


# ------------------------------------------------------------------ changes, in words

LANGUAGES = {
    "en-US": "English",
    "en": "English",
    "es-US": "Spanish",
    "es-MX": "Spanish (Mexico)",
    "es": "Spanish",
    "fr-CA": "French (Canada)",
    "fr": "French",
    "pt-BR": "Portuguese (Brazil)",
    "vi-VN": "Vietnamese",
    "zh-CN": "Chinese",
}
CHANNELS = {"voice": "phone call", "sms": "text message", "email": "e-mail"}
NONE = "none"


def in_words(value: Any, *, field: str = "") -> str:
    """A stored value as a person reads it on the timeline: "English", "9:00 AM",
    "$20,000", "Ford, Toyota"; "none" when empty."""
    if isinstance(value, Enum):
        value = value.value
    if value is None or value == "" or value == []:
        return NONE
    if field == "language":
        return LANGUAGES.get(str(value), str(value))
    if field == "preferred_channel":
        return CHANNELS.get(str(value), str(value))
    if isinstance(value, time):
        hour = value.hour % 12 or 12
        return f"{hour}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"
    if field.startswith("price") or field.startswith("trade_"):
        return f"${Decimal(value):,.0f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def vehicle_in_words(vehicle: Any) -> str:
    """ "2016 Honda Civic LX, used, 84,000 miles, VIN …, payoff $4,000, value $9,000" (every
    fact on file, so two different vehicles never read the same), or "none"."""
    if vehicle is None:
        return NONE
    name = " ".join(str(p) for p in (vehicle.year, vehicle.make, vehicle.model, vehicle.trim) if p)
    extra = []
    if vehicle.condition is not None:
        extra.append(in_words(vehicle.condition))
    if vehicle.price is not None:
        extra.append(f"price {in_words(vehicle.price, field='price')}")
    if vehicle.stock_number:
        extra.append(f"stock number {vehicle.stock_number}")
    if vehicle.odometer is not None:
        extra.append(f"{vehicle.odometer:,} miles")
    if vehicle.vin:
        extra.append(f"VIN {vehicle.vin}")
    if vehicle.trade_payoff is not None:
        extra.append(f"payoff {in_words(vehicle.trade_payoff, field='trade_payoff')}")
    if vehicle.trade_value is not None:
        extra.append(f"value {in_words(vehicle.trade_value, field='trade_value')}")
    return ", ".join([name or "a vehicle", *extra])


def describe_changes(changes: Iterable[dict[str, str]], *, actor_name: str | None) -> str:
    """One timeline line for one edit: "Amy changed name from none to Maria Gonzalez;
    e-mail from none to maria@example.com." (``changes``: label, old, new in words)."""
    parts = [f"{c['label']} from {c['old']} to {c['new']}" for c in changes]
    who = f"{actor_name} changed" if actor_name else "Changed"
    text = f"{who} {'; '.join(parts)}."
    limit = SHORT_LEN * 4
    if len(text) <= limit:
        return text
    # Too long for one line: as many changes as fit, then how many more (all are in data).
    for shown in range(len(parts) - 1, 0, -1):
        more = len(parts) - shown
        text = f"{who} {'; '.join(parts[:shown])}; and {more} more change{'s' * (more > 1)}."
        if len(text) <= limit:
            return text
    labels = ", ".join(c["label"] for c in changes)
    return f"{who} {labels}."[: limit - 1] + "…"
