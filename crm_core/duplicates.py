"""Duplicate customers: finding the likely same person (by phone or e-mail) and merging
two into one, every row that points at the other moved, in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from crm_core.audit import audit
from crm_core.clock import Clock
from crm_core.customers import (
    FIELD_LABELS,
    LIST_FIELDS,
    MERGE_ACTION,
    Actor,
    customer_missing,
    get_customer,
)
from crm_core.errors import Conflict
from crm_core.models import Activity, ActivityKind, Call, Customer, CustomerPhone
from crm_core.timeline import add_activity


def find_duplicates(
    session: Session, customer_id: int, *, phone: str | None = None, email: str | None = None
) -> list[dict[str, Any]]:
    """Other customers who are probably the same person: they have one of this customer's
    phone numbers (or ``phone``, a number about to be added) or the same e-mail address
    (or ``email``), case-insensitively. Each: id, name, phones, email, matched_on
    (["phone"], ["email"] or both) and last_contact (their latest call or message)."""
    c = get_customer(session, customer_id)
    numbers = {p.e164 for p in c.phones} | ({phone} if phone else set())
    emails = {e.lower() for e in (c.email, email) if e}
    matched: dict[int, list[str]] = {}
    if numbers:
        for other_id in session.scalars(
            select(CustomerPhone.customer_id)
            .where(CustomerPhone.e164.in_(sorted(numbers)), CustomerPhone.customer_id != c.id)
            .distinct()
        ):
            matched.setdefault(other_id, []).append("phone")
    if emails:
        for other_id in session.scalars(
            select(Customer.id).where(
                func.lower(Customer.email).in_(sorted(emails)), Customer.id != c.id
            )
        ):
            matched.setdefault(other_id, []).append("email")
    if not matched:
        return []
    found = session.scalars(
        select(Customer)
        .options(selectinload(Customer.phones))
        .where(Customer.id.in_(matched), Customer.erased_at.is_(None))
        .order_by(Customer.id)
    ).all()
    last_call = dict(
        session.execute(
            select(Call.customer_id, func.max(Call.created_at))
            .where(Call.customer_id.in_(matched))
            .group_by(Call.customer_id)
        ).all()
    )
    last_touch = dict(
        session.execute(
            select(Activity.customer_id, func.max(Activity.occurred_at))
            .where(
                Activity.customer_id.in_(matched),
                Activity.kind.in_((ActivityKind.CALL, ActivityKind.SMS, ActivityKind.EMAIL)),
            )
            .group_by(Activity.customer_id)
        ).all()
    )
    out = []
    for other in found:
        times = [t for t in (last_call.get(other.id), last_touch.get(other.id)) if t]
        out.append(
            {
                "id": other.id,
                "name": other.full_name,
                "phones": [
                    {"number": p.e164, "kind": p.kind.value, "primary": p.is_primary}
                    for p in other.phones
                ],
                "email": other.email,
                "matched_on": sorted(matched[other.id], key=["phone", "email"].index),
                "last_contact": max(times).isoformat() if times else None,
            }
        )
    return out


# Filled from the other customer where the survivor has none; a group is taken whole
# only when the survivor has none of it (half an address, or a price range whose ends
# come from two people, would be wrong).
MERGEABLE_FIELDS = (
    ("first_name",),
    ("last_name",),
    ("email",),
    ("address_line1", "address_line2", "city", "state", "postal_code"),
    ("time_zone",),
    ("contact_hours_start", "contact_hours_end"),
    ("special_needs",),
    ("price_min", "price_max"),
    ("notes",),
)
# What a merge moves, by the label its timeline entry gives the count (other tables that
# point at customers, such as text messages, move too: see _customer_references).
MOVED_LABELS = {
    "customer_phones": "phone",
    "leads": "lead",
    "calls": "call",
    "appointments": "appointment",
    "tasks": "task",
    "vehicles": "vehicle",
    "consent_entries": "consent entry",
    "activities": "timeline entry",
}


def _customer_references() -> list[tuple[Any, Any]]:
    """(table, column) of every column that points at customers.id, from the metadata of
    the models loaded (every package's, in the app), so a merge leaves no row behind."""
    refs = []
    for table in Customer.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == Customer.__tablename__ and table.name != "customers":
                refs.append((table, fk.parent))
    return refs


def merge_customers(
    session: Session,
    keep_id: int,
    other_id: int,
    clock: Clock,
    *,
    actor_id: int | None = None,
    actor: Actor | None = None,
) -> Customer:
    """Fold customer ``other_id`` into ``keep_id`` in the caller's transaction: every row
    that points at the other (phones, leads, calls, appointments, tasks, vehicles,
    consent, timeline, messages...) moves to this one; this one keeps its non-empty fields
    and takes the other's where it has none; the other is deleted (nothing points at it
    any more; GET on its id says where it went, from the audit entry). One timeline entry
    on the survivor and one audit entry record it. 409 for the same customer twice or an
    erased one (its data must not come back)."""
    if actor is not None:
        actor_id = actor.id
    if keep_id == other_id:
        raise Conflict("a customer cannot be merged with itself", field="other_id")
    # Locked in id order, so two merges of the same pair cannot deadlock.
    found = {}
    for cid in sorted((keep_id, other_id)):
        found[cid] = session.get(Customer, cid, with_for_update=True, populate_existing=True)
    for cid, field in ((keep_id, "customer_id"), (other_id, "other_id")):
        customer = found[cid]
        if customer is None:
            error = customer_missing(session, cid)
            error.field = field
            raise error
        if customer.erased_at is not None:
            raise Conflict(
                f"customer {cid}'s personal data was erased on request; it cannot be merged",
                field=field,
            )
    keep, other = found[keep_id], found[other_id]
    other_name = other.full_name
    filled = []
    for group in MERGEABLE_FIELDS:
        if all(getattr(keep, n) in (None, "") for n in group):
            for name in group:
                if getattr(other, name) not in (None, ""):
                    setattr(keep, name, getattr(other, name))
                    filled.append(FIELD_LABELS[name])
    for name in LIST_FIELDS:
        setattr(
            keep, name, sorted(set(getattr(keep, name) or []) | set(getattr(other, name) or []))
        )
    keep.do_not_call = keep.do_not_call or other.do_not_call
    had_primary = any(p.is_primary for p in keep.phones)
    moved_phones = [p.e164 for p in other.phones]
    session.flush()
    if had_primary:
        session.execute(
            update(CustomerPhone)
            .where(CustomerPhone.customer_id == other.id)
            .values(is_primary=False)
        )
    moved: dict[str, int] = {}
    for table, column in _customer_references():
        result = session.execute(
            update(table).where(column == other.id).values({column.name: keep.id})
        )
        if result.rowcount:
            moved[table.name] = moved.get(table.name, 0) + result.rowcount
    session.expire_all()  # the rows moved under the ORM's feet: read them again
    now = clock.now()
    keep = session.get(Customer, keep_id)
    keep.updated_at = now
    counts = [_plural(t, n) for t, n in moved.items() if t in MOVED_LABELS]
    who = f" by {actor.display_name}" if actor is not None else ""
    summary = f"Merged with {other_name} (customer {other_id}){who}"
    if counts:
        summary += f": moved {', '.join(counts)}"
    if filled:
        summary += f"; took their {', '.join(filled)}"
    add_activity(
        session,
        customer_id=keep.id,
        kind=ActivityKind.MERGE,
        summary=summary + ".",
        at=now,
        actor_id=actor_id,
        data={"merged_id": other_id, "phones": moved_phones, "moved": moved, "filled": filled},
    )
    audit(
        session,
        clock,
        actor_id=actor_id,
        action=MERGE_ACTION,
        target=f"customer:{other_id}",
        into=keep.id,
        moved=moved,
    )
    session.delete(session.get(Customer, other_id))
    session.flush()
    return keep


def _plural(table: str, n: int) -> str:
    word = MOVED_LABELS[table]
    if n != 1:
        word = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{n} {word}"
