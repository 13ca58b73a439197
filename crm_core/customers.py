"""Customers: the screen pop, create-or-match from caller ID, edits and consent (merging
duplicates is crm_core.duplicates)."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import phonenumbers
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from crm_core.audit import AuditEntry
from crm_core.clock import Clock
from crm_core.errors import Conflict, DuplicatePhone, Forbidden, InvalidInput, NotFound
from crm_core.models import (
    ActivityKind,
    Call,
    Channel,
    ConsentEntry,
    ConsentStatus,
    Customer,
    CustomerPhone,
    PhoneKind,
    Role,
    Vehicle,
    VehicleRelation,
)
from crm_core.phones import normalize_phone, time_zone_of
from crm_core.schemas import ConsentIn, CustomerCard, CustomerIn, CustomerUpdate, VehicleFields
from crm_core.timeline import add_activity, describe_changes, in_words, vehicle_in_words


class Actor(Protocol):
    """Who acts: a signed-in principal or a User (their id, name and role)."""

    id: int
    display_name: str
    role: Role


# What the timeline calls each field of the customer card.
FIELD_LABELS = {
    "first_name": "first name",
    "last_name": "last name",
    "email": "e-mail",
    "address_line1": "address",
    "address_line2": "address line 2",
    "city": "city",
    "state": "state",
    "postal_code": "ZIP code",
    "time_zone": "time zone",
    "language": "language",
    "preferred_channel": "preferred way to reach",
    "contact_hours_start": "earliest time to reach",
    "contact_hours_end": "latest time to reach",
    "special_needs": "special needs",
    "preferred_makes": "preferred makes",
    "preferred_models": "preferred models",
    "price_min": "lowest price",
    "price_max": "highest price",
    "notes": "notes",
}
NOT_NULL_FIELDS = ("language", "preferred_channel")  # columns with a value always
LIST_FIELDS = ("preferred_makes", "preferred_models")
MERGE_ACTION = "customer.merge"  # the audit action of a merge (crm_core.duplicates)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise customer_missing(session, customer_id)
    return customer


def customer_missing(session: Session, customer_id: int) -> NotFound:
    """NotFound for ``customer_id``, saying where it went if it was merged into another."""
    merged = session.scalars(
        select(AuditEntry.detail)
        .where(AuditEntry.target == f"customer:{customer_id}", AuditEntry.action == MERGE_ACTION)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    if merged and merged.get("into"):
        return NotFound(
            f"customer {customer_id} was merged into customer {merged['into']}",
            field="customer_id",
            merged_into=merged["into"],
        )
    return NotFound(f"no customer {customer_id}", field="customer_id")


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
    pattern = _starts_with(text)
    clauses = [
        func.lower(Customer.first_name).like(pattern, escape="\\"),
        func.lower(Customer.last_name).like(pattern, escape="\\"),
        func.lower(Customer.email).like(pattern, escape="\\"),
    ]
    first, _, last = text.partition(" ")
    if last:
        clauses.append(
            (func.lower(Customer.first_name) == first.lower())
            & func.lower(Customer.last_name).like(_starts_with(last), escape="\\")
        )
    query = (
        select(Customer)
        .where(Customer.erased_at.is_(None), or_(*clauses))
        .order_by(Customer.last_name, Customer.first_name, Customer.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _starts_with(text: str) -> str:
    """A LIKE pattern (escape ``\\``) for values starting with ``text``, lowercased, taken
    literally: ``%``, ``_`` and the escape character itself match only themselves."""
    literal = text.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    return literal + "%"


def _check_phones_free(
    session: Session, numbers: list[str], owner_id: int | None = None, *, field: str = "phones"
) -> None:
    if not numbers:
        return
    taken = session.execute(
        select(CustomerPhone.e164, CustomerPhone.customer_id).where(CustomerPhone.e164.in_(numbers))
    ).all()
    for e164, customer_id in taken:
        if customer_id != owner_id:
            owner = session.get(Customer, customer_id)
            name = owner.full_name if owner is not None else f"customer {customer_id}"
            raise DuplicatePhone(
                f"{_national(e164)} already belongs to {name} (customer {customer_id})",
                field=field,
                customer_id=customer_id,
                name=name,
            )


def create_customer(
    session: Session,
    data: CustomerIn,
    clock: Clock,
    *,
    actor_id: int | None = None,
    actor: Actor | None = None,
) -> Customer:
    """A new customer; from the agent's card (``CustomerCreate``) also its vehicle of
    interest and trade-in, and the call it was taken on (linked, its number added)."""
    card = data if isinstance(data, CustomerCard) else None
    if card is not None and card.call_sid is not None:
        call = _call_to_link(session, card.call_sid, None, actor)
        number = _usable_number(call)
        if number and not data.phones and _phone_owner(session, number) is None:
            data = type(data).model_validate(data.model_dump() | {"phones": [number]})
    if actor is not None:
        actor_id = actor.id
    numbers = [p.number for p in data.phones]
    _check_phones_free(session, numbers)
    now = clock.now()
    exclude = {"phones", "vehicle_of_interest", "trade_in", "call_sid"}
    fields = data.model_dump(exclude=exclude, exclude_none=True)
    customer = Customer(created_at=now, updated_at=now, **fields)
    if customer.time_zone is None and numbers:
        customer.time_zone = time_zone_of(numbers[0])
    customer.phones = [
        CustomerPhone(e164=p.number, kind=p.kind, is_primary=p.primary) for p in data.phones
    ]
    session.add(customer)
    _flush_phones(session)
    details = []
    if card is not None:
        for relation, given in (
            (VehicleRelation.INTEREST, card.vehicle_of_interest),
            (VehicleRelation.TRADE_IN, card.trade_in),
        ):
            if given is not None:
                change = _apply_vehicle(session, customer, relation, given)
                if change is not None:
                    details.append(f"{change['label']} {change['new']}")
        if card.call_sid is not None:
            _link_call(session, customer, card.call_sid, actor)
    who = f" by {actor.display_name}" if actor is not None else ""
    if _name(customer):
        summary = f"Customer {customer.full_name} created{who}"
    elif customer.phones:
        summary = f"Customer created{who} from the phone number {_national(numbers[0])}"
    else:
        summary = f"Customer created{who}"
    add_activity(
        session,
        customer_id=customer.id,
        kind=ActivityKind.NOTE,
        summary=summary + (f"; {'; '.join(details)}." if details else "."),
        at=now,
        actor_id=actor_id,
    )
    return customer


def _flush_phones(session: Session, *, field: str = "phones") -> None:
    """Flush, turning a phone-uniqueness race with another process into DuplicatePhone."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if "phone" in str(exc.orig).lower() or "e164" in str(exc.orig).lower():
            raise DuplicatePhone(
                "that phone number already belongs to a customer", field=field
            ) from None
        raise


def update_customer(
    session: Session,
    customer_id: int,
    data: CustomerUpdate,
    clock: Clock,
    *,
    actor: Actor | None = None,
) -> Customer:
    """Apply an edit and record it on the timeline as ONE entry naming who changed what,
    from which value to which, in words. Fields not sent stay as they are; a value equal
    to the stored one is no change. ``phone`` adds a number (409 if another customer has
    it); ``call_sid`` links the call the edit was made on."""
    customer = get_customer(session, customer_id)
    sent = data.model_dump(
        exclude_unset=True, exclude={"vehicle_of_interest", "trade_in", "call_sid", "phone"}
    )
    old_name = _name(customer)
    changes: list[dict[str, str]] = []
    for name, value in sent.items():
        if value is None and name in NOT_NULL_FIELDS:
            raise InvalidInput(f"{name} cannot be empty; choose one", field=name)
        if value is None and name in LIST_FIELDS:
            value = []
        old = getattr(customer, name)
        if old == value:
            continue
        setattr(customer, name, value)
        if name not in ("first_name", "last_name"):
            changes.append(_change(name, FIELD_LABELS[name], in_words(old, field=name),
                                   in_words(value, field=name)))  # fmt: skip
    if _name(customer) != old_name:
        changes.insert(0, _change("name", "name", in_words(old_name), in_words(_name(customer))))
    lo, hi = customer.price_min, customer.price_max
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput("price_min is above price_max", field="price_min")
    if data.phone is not None and data.phone not in {p.e164 for p in customer.phones}:
        before = ", ".join(_national(p.e164) for p in customer.phones)
        _check_phones_free(session, [data.phone], owner_id=customer.id, field="phone")
        customer.phones.append(
            CustomerPhone(e164=data.phone, kind=PhoneKind.MOBILE, is_primary=not customer.phones)
        )
        _flush_phones(session, field="phone")
        after = ", ".join(_national(p.e164) for p in customer.phones)
        changes.append(_change("phones", "phone numbers", before or "none", after))
    for relation, given in (
        (VehicleRelation.INTEREST, data.vehicle_of_interest),
        (VehicleRelation.TRADE_IN, data.trade_in),
    ):
        if given is not None:
            change = _apply_vehicle(session, customer, relation, given)
            if change is not None:
                changes.append(change)
    if data.call_sid is not None:
        _link_call(session, customer, data.call_sid, actor)
    if changes:
        now = clock.now()
        customer.updated_at = now
        add_activity(
            session,
            customer_id=customer.id,
            kind=ActivityKind.NOTE,
            summary=describe_changes(changes, actor_name=actor.display_name if actor else None),
            at=now,
            actor_id=actor.id if actor is not None else None,
            data={"edit": True, "changes": changes},
        )
    session.flush()
    return customer


def _name(customer: Customer) -> str | None:
    return " ".join(p for p in (customer.first_name, customer.last_name) if p) or None


def _change(field: str, label: str, old: str, new: str) -> dict[str, str]:
    return {"field": field, "label": label, "old": old, "new": new}


def _national(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    if number.country_code == 1:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


VEHICLE_LABELS = {
    VehicleRelation.INTEREST: "vehicle of interest",
    VehicleRelation.TRADE_IN: "trade-in",
}
VEHICLE_FACTS = ("vin", "year", "make", "model", "trim", "stock_number", "condition", "odometer",
                 "price", "trade_payoff", "trade_value")  # fmt: skip


def current_vehicle(
    session: Session, customer_id: int, relation: VehicleRelation
) -> Vehicle | None:
    """The customer's newest vehicle of this relation: the one the card shows and edits."""
    return session.scalars(
        select(Vehicle)
        .where(Vehicle.customer_id == customer_id, Vehicle.relation == relation)
        .order_by(Vehicle.id.desc())
        .limit(1)
    ).first()


def _apply_vehicle(
    session: Session, customer: Customer, relation: VehicleRelation, given: VehicleFields
) -> dict[str, str] | None:
    """Edit the current vehicle of interest or trade-in in place (create it if there is
    none; remove it when every fact is cleared). The change in words, or None."""
    vehicle = current_vehicle(session, customer.id, relation)
    old = vehicle_in_words(vehicle)
    before = _facts(vehicle)
    sent = given.model_dump(exclude_unset=True)
    if vehicle is None:
        if all(v is None for v in sent.values()):
            return None
        vehicle = Vehicle(customer_id=customer.id, relation=relation)
        session.add(vehicle)
    for name, value in sent.items():
        setattr(vehicle, name, value)
    if all(getattr(vehicle, name) is None for name in VEHICLE_FACTS):
        if vehicle.id is not None:
            session.delete(vehicle)
        else:  # created by this very edit: never written
            session.expunge(vehicle)
        vehicle = None
    session.flush()
    if _facts(vehicle) == before:
        return None
    return _change(relation.value, VEHICLE_LABELS[relation], old, vehicle_in_words(vehicle))


def _facts(vehicle: Vehicle | None) -> tuple | None:
    return tuple(getattr(vehicle, n) for n in VEHICLE_FACTS) if vehicle is not None else None


def _call_to_link(session: Session, call_sid: str, customer: Customer | None, actor) -> Call:
    """The call ``call_sid`` if it may be linked to ``customer`` (or to a new customer)."""
    call = session.scalars(
        select(Call).where(Call.call_sid == call_sid).with_for_update()
    ).one_or_none()
    if call is None:
        raise NotFound(f"no call {call_sid}", field="call_sid")
    if actor is not None and actor.role is Role.AGENT and call.agent_id not in (None, actor.id):
        raise Forbidden("this call belongs to another agent", field="call_sid")
    if call.customer_id is not None and (customer is None or call.customer_id != customer.id):
        owner = session.get(Customer, call.customer_id)
        name = owner.full_name if owner is not None else f"customer {call.customer_id}"
        raise Conflict(
            f"this call is already linked to {name}; edit that customer, or merge the two",
            field="call_sid",
            customer_id=call.customer_id,
        )
    return call


def _link_call(session: Session, customer: Customer, call_sid: str, actor) -> Call:
    """Make ``customer`` the customer of the call the agent filled the card in on."""
    call = _call_to_link(session, call_sid, customer, actor)
    call.customer_id = customer.id
    return call


def _usable_number(call: Call) -> str | None:
    from crm_core.calls import remote_party  # calls imports this module

    raw = remote_party(call)
    try:
        return normalize_phone(raw) if raw else None
    except InvalidInput:  # withheld ("anonymous") or a softphone client
        return None


def _phone_owner(session: Session, e164: str) -> int | None:
    return session.scalars(
        select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)
    ).first()


def customer_card(session: Session, customer: Customer) -> dict[str, Any]:
    """The customer as the agent's card shows it: every field, the phones, the current
    vehicle of interest and trade-in."""
    from crm_core.serialize import customer_detail, row

    def vehicle(relation: VehicleRelation) -> dict[str, Any] | None:
        found = current_vehicle(session, customer.id, relation)
        return row(found) | {"text": vehicle_in_words(found)} if found is not None else None

    return customer_detail(customer) | {
        "vehicle_of_interest": vehicle(VehicleRelation.INTEREST),
        "trade_in": vehicle(VehicleRelation.TRADE_IN),
    }


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
    once the lookup found nobody). Two first calls from one number at once (two lines of
    one household, a caller trying again) both find nobody; the one that loses the race
    for the number's unique index gets the winner's customer, read again once the winner
    has committed, never an error: a caller is not turned away for it. The attempt runs in
    a savepoint, so the caller's transaction (its Call row) goes on."""
    first = last = None
    if name and name.strip() and name.strip().upper() not in {"WIRELESS CALLER", "UNKNOWN"}:
        parts = name.strip().title().split(" ", 1)
        first, last = parts[0][:80], (parts[1][:80] if len(parts) > 1 else None)
    data = CustomerIn.model_validate(
        {"first_name": first, "last_name": last, "phones": [caller_id]},
        context={"region": region},
    )
    try:
        with session.begin_nested():
            return create_customer(session, data, clock)
    except DuplicatePhone:
        winner = find_by_phone(session, caller_id, region=region)
        if winner is None:  # the number is not the caller ID's after all: not a race
            raise
        return winner


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


def load_detail(session: Session, customer_id: int) -> Customer:
    customer = session.scalars(
        select(Customer).options(selectinload(Customer.phones)).where(Customer.id == customer_id)
    ).one_or_none()
    if customer is None or customer.erased_at is not None:
        raise customer_missing(session, customer_id)
    return customer
