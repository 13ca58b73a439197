"""Privacy requests: everything about a customer as JSON, and erasure.

Erasure removes or anonymises personal data but keeps what the business must keep: the
calls' timings and outcomes (without numbers, notes or transcripts) for reporting, and
the do-not-call and opt-out ledger with each address replaced by its SHA-256, so a number
that asked never to be called again still matches after the person is forgotten.
Later packages add their own clean-up (recordings) through ``ErasureHook``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm_core.clock import Clock
from crm_core.customers import get_customer, hashed_address
from crm_core.models import (
    Activity,
    ActivityKind,
    Appointment,
    Call,
    ConsentEntry,
    Customer,
    Lead,
    Task,
    Vehicle,
)
from crm_core.serialize import customer_detail, row
from crm_core.timeline import add_activity

ErasureHook = Callable[[Session, int], None]


"""Called with (session, customer_id) inside the erasure's transaction, before the data goes."""


class ErasureHooks(list[ErasureHook]):
    """What other packages keep of a customer (texts, recordings), each removed by its own
    hook when the customer is erased: the app builds one list, and each package adds its
    hook to it."""


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    customer = get_customer(session, customer_id)

    def rows(model: Any) -> list[dict[str, Any]]:
        query = select(model).where(model.customer_id == customer_id).order_by(model.id)
        return [row(r) for r in session.scalars(query)]

    return {
        "customer": customer_detail(customer),
        "consent": rows(ConsentEntry),
        "vehicles": rows(Vehicle),
        "leads": rows(Lead),
        "calls": rows(Call),
        "appointments": rows(Appointment),
        "tasks": rows(Task),
        "timeline": rows(Activity),
    }


def erase_customer(
    session: Session,
    customer_id: int,
    clock: Clock,
    *,
    hooks: Iterable[ErasureHook] = (),
    actor_id: int | None = None,
) -> None:
    customer: Customer = get_customer(session, customer_id)
    for hook in hooks:
        hook(session, customer_id)
    now = clock.now()
    for entry in session.scalars(
        select(ConsentEntry).where(ConsentEntry.customer_id == customer_id)
    ):
        if not entry.address.startswith("sha256:"):
            entry.address = hashed_address(entry.address)
        entry.note = None
    session.execute(
        update(Call)
        .where(Call.customer_id == customer_id)
        .values(notes=None, transcript=None, from_number=None, to_number=None)
    )
    session.execute(
        update(Lead)
        .where(Lead.customer_id == customer_id)
        .values(notes=None, gclid=None, lost_reason=None)
    )
    session.execute(
        update(Appointment)
        .where(Appointment.customer_id == customer_id)
        .values(notes=None, resource=None)
    )
    session.execute(
        update(Task).where(Task.customer_id == customer_id).values(notes=None, phone=None)
    )
    session.execute(delete(Vehicle).where(Vehicle.customer_id == customer_id))
    session.execute(delete(Activity).where(Activity.customer_id == customer_id))
    customer.phones.clear()
    for name in (
        "first_name",
        "last_name",
        "email",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "postal_code",
        "special_needs",
        "notes",
        "price_min",
        "price_max",
        "contact_hours_start",
        "contact_hours_end",
    ):
        setattr(customer, name, None)
    customer.preferred_makes = []
    customer.preferred_models = []
    customer.erased_at = customer.updated_at = now
    add_activity(
        session,
        customer_id=customer_id,
        kind=ActivityKind.ERASURE,
        summary="Personal data erased on request",
        at=now,
        actor_id=actor_id,
    )
    session.flush()
