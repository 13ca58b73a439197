"""Customers: the screen pop, create-or-match from caller ID, edits, consent and merging."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from crm_core.clock import Clock
from crm_core.errors import DuplicatePhone, InvalidInput, NotFound
from crm_core.models import (
    Activity,
    ActivityKind,
    Appointment,
    Call,
    Channel,
    ConsentEntry,
    ConsentStatus,
    Customer,
    CustomerPhone,
    Lead,
    PhoneKind,
    Task,
    Vehicle,
)
from crm_core.phones import normalize_phone, time_zone_of
from crm_core.schemas import ConsentIn, CustomerIn, CustomerUpdate
from crm_core.timeline import add_activity

MERGEABLE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "time_zone",
    "contact_hours_start",
    "contact_hours_end",
    "special_needs",
    "price_min",
    "price_max",
    "notes",
)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    return customer


# Built once: composing the statement and its cache key on every call cost more than the
# indexed lookup itself (bench/crm_lookup.py).
_BY_PHONE = (
    select(Customer)
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(CustomerPhone.e164 == bindparam("e164"))
)


def find_by_phone(session: Session, phone: str, *, region: str = "US") -> Customer | None:
    """The screen pop: whoever owns this number, found through its unique index."""
    e164 = normalize_phone(phone, region=region)
    return session.scalars(_BY_PHONE, {"e164": e164}).one_or_none()


# The same lookup, for callers that need only who it is (an inbound call's greeting): two
# columns through Core instead of a whole ORM entity.
_NAME_BY_PHONE = (
    select(Customer.id, Customer.first_name)
    .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
    .where(CustomerPhone.e164 == bindparam("e164"))
)


def name_by_phone(session: Session, e164: str) -> tuple[int, str | None] | None:
    """(id, first_name) of the customer who owns ``e164`` (already normalised), or None."""
    row = session.execute(_NAME_BY_PHONE, {"e164": e164}).first()
    return (row[0], row[1]) if row is not None else None


def search(session: Session, text: str, *, limit: int = 25) -> list[Customer]:
    """Customers whose name or e-mail starts with ``text`` (case-insensitive)."""
    text = text.strip()
    if not text:
        raise InvalidInput("search text is empty", field="q")
    if len(text) > 80:
        raise InvalidInput("search text is longer than 80 characters", field="q")
    if "\x00" in text:  # PostgreSQL cannot compare a string holding NUL
        raise InvalidInput("search text contains a NUL character", field="q")
    pattern = text.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
    clauses = [
        func.lower(Customer.first_name).like(pattern, escape="\\"),
        func.lower(Customer.last_name).like(pattern, escape="\\"),
        func.lower(Customer.email).like(pattern, escape="\\"),
    ]
    first, _, last = text.partition(" ")
    if last:
        clauses.append(
            (func.lower(Customer.first_name) == first.lower())
            & func.lower(Customer.last_name).like(last.lower() + "%")
        )
    query = (
        select(Customer)
        .where(Customer.erased_at.is_(None), or_(*clauses))
        .order_by(Customer.last_name, Customer.first_name, Customer.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _check_phones_free(session: Session, numbers: list[str], owner_id: int | None = None) -> None:
    if not numbers:
        return
    taken = session.execute(
        select(CustomerPhone.e164, CustomerPhone.customer_id).where(CustomerPhone.e164.in_(numbers))
    ).all()
    for e164, customer_id in taken:
        if customer_id != owner_id:
            raise DuplicatePhone(
                f"{e164} already belongs to customer {customer_id}",
                field="phones",
                customer_id=customer_id,
            )


def create_customer(
    session: Session, data: CustomerIn, clock: Clock, *, actor_id: int | None = None
) -> Customer:
    numbers = [p.number for p in data.phones]
    _check_phones_free(session, numbers)
    now = clock.now()
    fields = data.model_dump(exclude={"phones"}, exclude_none=True)
    customer = Customer(created_at=now, updated_at=now, **fields)
    if customer.time_zone is None and numbers:
        customer.time_zone = time_zone_of(numbers[0])
    customer.phones = [
        CustomerPhone(e164=p.number, kind=p.kind, is_primary=p.primary) for p in data.phones
    ]
    session.add(customer)
    _flush_phones(session)
    add_activity(
        session,
        customer_id=customer.id,
        kind=ActivityKind.NOTE,
        summary="Customer created",
        at=now,
        actor_id=actor_id,
    )
    return customer


def _flush_phones(session: Session) -> None:
    """Flush, turning a phone-uniqueness race with another process into DuplicatePhone."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if "phone" in str(exc.orig).lower() or "e164" in str(exc.orig).lower():
            raise DuplicatePhone(
                "that phone number already belongs to a customer", field="phones"
            ) from None
        raise


def update_customer(
    session: Session, customer_id: int, data: CustomerUpdate, clock: Clock
) -> Customer:
    customer = get_customer(session, customer_id)
    changes = data.model_dump(exclude_unset=True)
    for name, value in changes.items():
        setattr(customer, name, value)
    lo, hi = customer.price_min, customer.price_max
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput("price_min is above price_max", field="price_min")
    customer.updated_at = clock.now()
    return customer


def add_phone(
    session: Session,
    customer_id: int,
    number: str,
    *,
    kind: PhoneKind = PhoneKind.MOBILE,
    region: str = "US",
) -> CustomerPhone:
    customer = get_customer(session, customer_id)
    e164 = normalize_phone(number, region=region)
    _check_phones_free(session, [e164], owner_id=customer.id)
    for phone in customer.phones:
        if phone.e164 == e164:
            return phone
    phone = CustomerPhone(e164=e164, kind=kind, is_primary=not customer.phones)
    customer.phones.append(phone)
    _flush_phones(session)
    return phone


def match_or_create_from_caller_id(
    session: Session, caller_id: str, clock: Clock, *, region: str = "US", name: str | None = None
) -> tuple[Customer, bool]:
    """The customer behind an inbound caller ID, created on first call. Returns (customer, new).

    The caller's CNAM (``name``), when the carrier gives one, seeds the name fields.
    """
    existing = find_by_phone(session, caller_id, region=region)
    if existing is not None:
        return existing, False
    return create_from_caller_id(session, caller_id, clock, region=region, name=name), True


def create_from_caller_id(
    session: Session, caller_id: str, clock: Clock, *, region: str = "US", name: str | None = None
) -> Customer:
    """The new customer for a caller ID nobody owns yet (``match_or_create_from_caller_id``
    once the lookup found nobody); a race with another writer is DuplicatePhone."""
    first = last = None
    if name and name.strip() and name.strip().upper() not in {"WIRELESS CALLER", "UNKNOWN"}:
        parts = name.strip().title().split(" ", 1)
        first, last = parts[0][:80], (parts[1][:80] if len(parts) > 1 else None)
    data = CustomerIn.model_validate(
        {"first_name": first, "last_name": last, "phones": [caller_id]},
        context={"region": region},
    )
    return create_customer(session, data, clock)


def record_consent(
    session: Session,
    customer_id: int,
    data: ConsentIn,
    clock: Clock,
    *,
    actor_id: int | None = None,
) -> ConsentEntry:
    """Append to the ledger. Revoking voice consent for a number also sets do-not-call."""
    customer = get_customer(session, customer_id)
    now = clock.now()
    entry = ConsentEntry(
        customer_id=customer.id,
        channel=data.channel,
        address=data.address,
        status=data.status,
        source=data.source,
        note=data.note,
        recorded_at=now,
        recorded_by_id=actor_id,
    )
    session.add(entry)
    if data.channel is Channel.VOICE:
        if data.status is ConsentStatus.REVOKED:
            customer.do_not_call = True
        elif customer.do_not_call and not _any_voice_revoked(session, customer.id, data.address):
            customer.do_not_call = False
    customer.updated_at = now
    add_activity(
        session,
        customer_id=customer.id,
        kind=ActivityKind.CONSENT,
        summary=f"{data.channel.value} consent {data.status.value} for {data.address} "
        f"({data.source})",
        at=now,
        actor_id=actor_id,
        data={"channel": data.channel.value, "status": data.status.value},
    )
    return entry


def _any_voice_revoked(session: Session, customer_id: int, except_address: str) -> bool:
    """Whether another of the customer's numbers is still revoked for voice."""
    session.flush()
    for address in {p.e164 for p in get_customer(session, customer_id).phones} - {except_address}:
        if consent_status(session, Channel.VOICE, address) is ConsentStatus.REVOKED:
            return True
    return False


def consent_status(session: Session, channel: Channel, address: str) -> ConsentStatus | None:
    """The newest ledger entry for this channel and address, or None if never recorded."""
    return session.scalars(
        select(ConsentEntry.status)
        .where(ConsentEntry.channel == channel, ConsentEntry.address == address)
        .order_by(ConsentEntry.recorded_at.desc(), ConsentEntry.id.desc())
        .limit(1)
    ).first()


def hashed_address(address: str) -> str:
    """How an erased customer's address is kept in the consent ledger (see crm_core.privacy)."""
    return "sha256:" + hashlib.sha256(address.lower().encode()).hexdigest()


def may_call(session: Session, e164: str) -> bool:
    """False when the number or its owner is on the do-not-call list (erased ones included)."""
    for address in (e164, hashed_address(e164)):
        if consent_status(session, Channel.VOICE, address) is ConsentStatus.REVOKED:
            return False
    owner = session.scalars(
        select(Customer.do_not_call)
        .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
        .where(CustomerPhone.e164 == e164)
    ).first()
    return not owner


def duplicate_candidates(session: Session, customer_id: int) -> list[Customer]:
    """Other customers sharing this one's e-mail, or its name and ZIP code."""
    c = get_customer(session, customer_id)
    clauses = []
    if c.email:
        clauses.append(func.lower(Customer.email) == c.email.lower())
    if c.first_name and c.last_name and c.postal_code:
        clauses.append(
            (func.lower(Customer.first_name) == c.first_name.lower())
            & (func.lower(Customer.last_name) == c.last_name.lower())
            & (Customer.postal_code == c.postal_code)
        )
    if not clauses:
        return []
    query = select(Customer).where(Customer.id != c.id, Customer.erased_at.is_(None), or_(*clauses))
    return list(session.scalars(query.order_by(Customer.id)))


def merge_customers(
    session: Session, keep_id: int, duplicate_id: int, clock: Clock, *, actor_id: int | None = None
) -> Customer:
    """Fold ``duplicate`` into ``keep``: phones, consent, vehicles, leads, calls, appointments,
    tasks and timeline move over; empty fields of ``keep`` are filled; the duplicate is deleted.
    """
    if keep_id == duplicate_id:
        raise InvalidInput("cannot merge a customer into itself", field="duplicate_id")
    keep = get_customer(session, keep_id)
    dup = get_customer(session, duplicate_id)
    for name in MERGEABLE_FIELDS:
        if getattr(keep, name) is None and getattr(dup, name) is not None:
            setattr(keep, name, getattr(dup, name))
    keep.preferred_makes = sorted(set(keep.preferred_makes or []) | set(dup.preferred_makes or []))
    keep.preferred_models = sorted(
        set(keep.preferred_models or []) | set(dup.preferred_models or [])
    )
    keep.do_not_call = keep.do_not_call or dup.do_not_call
    moved_phones = [p.e164 for p in dup.phones]
    for phone in list(dup.phones):
        phone.is_primary = phone.is_primary and not keep.phones
        dup.phones.remove(phone)
        keep.phones.append(phone)
    session.flush()
    for model in (ConsentEntry, Vehicle, Lead, Appointment, Task, Call, Activity):
        # ORM-enabled bulk UPDATE: objects already in the session see the new owner too.
        session.execute(
            update(model).where(model.customer_id == dup.id).values(customer_id=keep.id)
        )
    keep.updated_at = clock.now()
    add_activity(
        session,
        customer_id=keep.id,
        kind=ActivityKind.MERGE,
        summary=f"Merged customer {dup.id} ({dup.full_name}) into this record",
        at=clock.now(),
        actor_id=actor_id,
        data={"merged_id": dup.id, "phones": moved_phones},
    )
    session.delete(dup)
    session.flush()
    return keep


def load_detail(session: Session, customer_id: int) -> Customer:
    customer = session.scalars(
        select(Customer).options(selectinload(Customer.phones)).where(Customer.id == customer_id)
    ).one_or_none()
    if customer is None or customer.erased_at is not None:
        raise NotFound(f"no customer {customer_id}", field="customer_id")
    return customer
