"""Leads: creation with source attribution, the stage machine, speed-to-lead, listing."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.clock import Clock
from crm_core.customers import create_customer, find_by_phone, get_customer
from crm_core.errors import IllegalStageChange, InvalidInput, NotFound
from crm_core.models import ActivityKind, Dealer, Lead, LeadSource, LeadStage, User, Vehicle
from crm_core.schemas import LeadIn, StageChangeIn
from crm_core.timeline import add_activity

S = LeadStage
FUNNEL = [S.NEW, S.CONTACTED, S.ENGAGED, S.QUALIFIED, S.APPOINTMENT_SET, S.SOLD]

# Forward moves may skip stages (one call can take a new lead to an appointment); Lost is
# reachable from every open stage; the only ways back are a cancelled or missed appointment
# (back to Qualified) and re-opening a lost lead when the customer re-engages. Sold is final.
ALLOWED: dict[LeadStage, frozenset[LeadStage]] = {
    stage: frozenset(FUNNEL[i + 1 :]) | {S.LOST} for i, stage in enumerate(FUNNEL[:-1])
}
ALLOWED[S.APPOINTMENT_SET] = ALLOWED[S.APPOINTMENT_SET] | {S.QUALIFIED}
ALLOWED[S.SOLD] = frozenset()
ALLOWED[S.LOST] = frozenset({S.CONTACTED, S.ENGAGED})

# Business hours for the after-hours flag when the lead does not say: Monday to Saturday,
# 9:00 to 19:00 in the dealer's time zone (else the customer's, else the default).
OPEN_DAYS = range(0, 6)
OPENS, CLOSES = time(9), time(19)


def can_move(current: LeadStage, target: LeadStage) -> bool:
    return target in ALLOWED[current]


def is_forward(current: LeadStage, target: LeadStage) -> bool:
    """Whether ``target`` is further down the funnel than ``current`` (Lost is not)."""
    return current in FUNNEL and target in FUNNEL and FUNNEL.index(target) > FUNNEL.index(current)


def get_lead(session: Session, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id}", field="lead_id")
    return lead


def is_after_hours(at: datetime, zone: str) -> bool:
    local = at.astimezone(ZoneInfo(zone))
    return local.weekday() not in OPEN_DAYS or not OPENS <= local.time() < CLOSES


def create_lead(
    session: Session,
    data: LeadIn,
    clock: Clock,
    *,
    actor_id: int | None = None,
    region: str = "US",
    default_time_zone: str = "America/New_York",
) -> Lead:
    """Create a lead; an inline customer is matched by phone first, so a repeat web form or a
    second marketplace lead lands on the existing customer instead of a duplicate."""
    now = clock.now()
    if data.customer_id is not None:
        customer = get_customer(session, data.customer_id)
    else:
        assert data.customer is not None
        customer = None
        for phone in data.customer.phones:
            customer = find_by_phone(session, phone.number, region=region)
            if customer is not None:
                break
        if customer is None:
            customer = create_customer(session, data.customer, clock, actor_id=actor_id)
    dealer = None
    if data.dealer_id is not None:
        dealer = session.get(Dealer, data.dealer_id)
        if dealer is None:
            raise NotFound(f"no dealer {data.dealer_id}", field="dealer_id")
    if data.assigned_agent_id is not None and session.get(User, data.assigned_agent_id) is None:
        raise NotFound(f"no user {data.assigned_agent_id}", field="assigned_agent_id")
    zone = (dealer and dealer.time_zone) or customer.time_zone or default_time_zone
    after_hours = data.after_hours if data.after_hours is not None else is_after_hours(now, zone)
    lead = Lead(
        customer_id=customer.id,
        stage=S.NEW,
        created_at=now,
        updated_at=now,
        stage_changed_at=now,
        after_hours=after_hours,
        **data.model_dump(
            include={
                "source_type",
                "source_name",
                "campaign",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
                "gclid",
                "temperature",
                "assigned_agent_id",
                "dealer_id",
                "notes",
            }
        ),
    )
    if lead.source_type is LeadSource.GOOGLE_ADS and not lead.gclid:
        raise InvalidInput("a google_ads lead needs its gclid", field="gclid")
    session.add(lead)
    session.flush()
    for v in data.vehicles:
        session.add(Vehicle(customer_id=customer.id, lead_id=lead.id, **v.model_dump()))
    add_activity(
        session,
        customer_id=customer.id,
        lead_id=lead.id,
        kind=ActivityKind.LEAD,
        summary=f"New {lead.source_type.value} lead"
        + (f" from {lead.source_name}" if lead.source_name else ""),
        at=now,
        actor_id=actor_id,
        data={"source_type": lead.source_type.value, "campaign": lead.campaign},
    )
    return lead


def change_stage(
    session: Session,
    lead_id: int,
    change: StageChangeIn,
    clock: Clock,
    *,
    actor_id: int | None = None,
) -> Lead:
    """Move a lead to ``change.stage``; an illegal jump raises IllegalStageChange.

    Moving to the stage it is already in is a no-op, so a retried request is harmless.
    """
    lead = get_lead(session, lead_id)
    target = change.stage
    if target is lead.stage:
        return lead
    if not can_move(lead.stage, target):
        allowed = sorted(s.value for s in ALLOWED[lead.stage])
        raise IllegalStageChange(
            f"a lead cannot go from {lead.stage.value} to {target.value}",
            field="stage",
            current=lead.stage.value,
            allowed=allowed,
        )
    if target is S.LOST and not change.reason:
        raise InvalidInput("a lost lead needs a reason", field="reason")
    now = clock.now()
    previous = lead.stage
    lead.stage = target
    lead.stage_changed_at = lead.updated_at = now
    lead.lost_reason = change.reason if target is S.LOST else None
    if previous is S.NEW and target is not S.LOST:
        # Leaving New means somebody reached out; a first attempt not logged as a call
        # (an e-mail, a walk-in) still counts for speed-to-lead.
        mark_contact_attempt(lead, now)
        if target is not S.CONTACTED:
            lead.first_contact_at = lead.first_contact_at or now
    elif target not in (S.LOST, S.CONTACTED):
        lead.first_contact_at = lead.first_contact_at or now
    add_activity(
        session,
        customer_id=lead.customer_id,
        lead_id=lead.id,
        kind=ActivityKind.STAGE_CHANGE,
        summary=f"Lead stage {previous.value} → {target.value}"
        + (f": {change.reason}" if change.reason else ""),
        at=now,
        actor_id=actor_id,
        data={"from": previous.value, "to": target.value, "reason": change.reason},
    )
    return lead


def mark_contact_attempt(lead: Lead, at: datetime, *, connected: bool = False) -> None:
    """Record speed-to-lead: the first attempt's time and minutes since the lead arrived."""
    if lead.first_contact_attempt_at is None:
        lead.first_contact_attempt_at = at
        minutes = max((at - lead.created_at).total_seconds(), 0) / 60
        lead.response_minutes = Decimal(f"{minutes:.2f}")
    if connected and lead.first_contact_at is None:
        lead.first_contact_at = at


def advance_to(
    session: Session,
    lead: Lead,
    target: LeadStage,
    clock: Clock,
    *,
    reason: str | None = None,
    actor_id: int | None = None,
) -> bool:
    """Move forward (or to Lost) when that is progress; never move a lead backwards.

    Used by call outcomes: leaving a voicemail for a Qualified lead must not demote it.
    Returns whether the stage changed.
    """
    current = lead.stage
    step_back = current in FUNNEL and target in FUNNEL and not is_forward(current, target)
    if step_back or not can_move(current, target):
        return False
    change_stage(
        session, lead.id, StageChangeIn(stage=target, reason=reason), clock, actor_id=actor_id
    )
    return True


def list_leads(
    session: Session,
    *,
    stage: LeadStage | None = None,
    source_type: LeadSource | None = None,
    assigned_agent_id: int | None = None,
    dealer_id: int | None = None,
    customer_id: int | None = None,
    min_temperature: int | None = None,
    created_after: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Lead]:
    query = select(Lead)
    if stage is not None:
        query = query.where(Lead.stage == stage)
    if source_type is not None:
        query = query.where(Lead.source_type == source_type)
    if assigned_agent_id is not None:
        query = query.where(Lead.assigned_agent_id == assigned_agent_id)
    if dealer_id is not None:
        query = query.where(Lead.dealer_id == dealer_id)
    if customer_id is not None:
        query = query.where(Lead.customer_id == customer_id)
    if min_temperature is not None:
        query = query.where(Lead.temperature >= min_temperature)
    if created_after is not None:
        query = query.where(Lead.created_at >= created_after)
    query = query.order_by(Lead.temperature.desc(), Lead.created_at.desc(), Lead.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))
