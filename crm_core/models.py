"""The CRM's tables: SQLAlchemy 2.0 typed models. Domain rules live in the service modules."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    false,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from crm_core.db import Base, UTCDateTime

# Column sizes, shared with the input schemas so an oversized field is a 400, not a DB error.
NAME_LEN = 80
EMAIL_LEN = 254
PHONE_LEN = 16  # E.164: "+" and at most 15 digits
TEXT_LEN = 10_000
SHORT_LEN = 120


def enum_column(enum: type[StrEnum], **kwargs: Any) -> SAEnum:
    """A portable enum: VARCHAR + CHECK on every database, values (not names) stored."""
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        name=enum.__name__.lower(),
        **kwargs,
    )


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Channel(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"
    OTHER = "other"


class VehicleRelation(StrEnum):
    OWNED = "owned"
    INTEREST = "interest"
    TRADE_IN = "trade_in"


class VehicleCondition(StrEnum):
    NEW = "new"
    USED = "used"


class LeadSource(StrEnum):
    MARKETPLACE = "marketplace"
    WEBSITE = "website"
    PHONE = "phone"
    REFERRAL = "referral"
    WALK_IN = "walk_in"
    GOOGLE_ADS = "google_ads"


class LeadStage(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    ENGAGED = "engaged"
    QUALIFIED = "qualified"
    APPOINTMENT_SET = "appointment_set"
    SOLD = "sold"
    LOST = "lost"


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND_API = "outbound-api"
    OUTBOUND_DIAL = "outbound-dial"


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


class Disposition(StrEnum):
    APPOINTMENT_SET = "appointment_set"
    CALLBACK = "callback"
    INTERESTED = "interested"
    QUALIFIED = "qualified"
    INFO_PROVIDED = "info_provided"
    NOT_INTERESTED = "not_interested"
    WRONG_NUMBER = "wrong_number"
    SOLD = "sold"
    LEFT_VOICEMAIL = "left_voicemail"
    NO_ANSWER = "no_answer"
    DO_NOT_CALL = "do_not_call"


class AppointmentType(StrEnum):
    SALES_VISIT = "sales_visit"
    TEST_DRIVE = "test_drive"
    SERVICE = "service"
    FINANCE = "finance"
    DELIVERY = "delivery"
    PHONE = "phone"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class TaskKind(StrEnum):
    CALLBACK = "callback"
    FOLLOW_UP = "follow_up"
    ESCALATION = "escalation"
    VOICEMAIL = "voicemail"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ActivityKind(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"
    NOTE = "note"
    STAGE_CHANGE = "stage_change"
    APPOINTMENT = "appointment"
    TASK = "task"
    CONSENT = "consent"
    LEAD = "lead"
    MERGE = "merge"
    ERASURE = "erasure"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(NAME_LEN))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    # {"sales": 8, "spanish": 5}: the ACD matches queue requirements against these levels.
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The Twilio Client identity the softphone registers as ("client:<identity>").
    softphone_identity: Mapped[str] = mapped_column(String(121), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Stored in each login's session and compared on every request: logging out, a new
    # password or a deactivation adds one, which ends every session opened before.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """An integration's bearer token; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(SHORT_LEN))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # to the minute
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: never
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class Dealer(Base):
    __tablename__ = "dealers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(SHORT_LEN), unique=True)
    region: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    phone: Mapped[str | None] = mapped_column(String(PHONE_LEN))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    capacity_per_day: Mapped[int | None] = mapped_column(Integer)  # leads it can take a day
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(String(NAME_LEN))
    last_name: Mapped[str | None] = mapped_column(String(NAME_LEN), index=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL_LEN), index=True)
    address_line1: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    address_line2: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    city: Mapped[str | None] = mapped_column(String(NAME_LEN))
    state: Mapped[str | None] = mapped_column(String(NAME_LEN))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en-US")
    preferred_channel: Mapped[Channel] = mapped_column(enum_column(Channel), default=Channel.VOICE)
    contact_hours_start: Mapped[time | None] = mapped_column(Time)
    contact_hours_end: Mapped[time | None] = mapped_column(Time)
    special_needs: Mapped[str | None] = mapped_column(Text)
    preferred_makes: Mapped[list[str]] = mapped_column(JSON, default=list)
    preferred_models: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_min: Mapped[int | None] = mapped_column(Integer)
    price_max: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        order_by="(CustomerPhone.is_primary.desc(), CustomerPhone.id)",
    )
    consents: WriteOnlyMapped[ConsentEntry] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    activities: WriteOnlyMapped[Activity] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "Unknown caller"

    @property
    def primary_phone(self) -> str | None:
        return self.phones[0].e164 if self.phones else None

    __table_args__ = (
        CheckConstraint(
            "price_min IS NULL OR price_max IS NULL OR price_min <= price_max", name="price_range"
        ),
    )


class CustomerPhone(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    e164: Mapped[str] = mapped_column(String(PHONE_LEN), unique=True)  # the screen-pop key
    kind: Mapped[PhoneKind] = mapped_column(enum_column(PhoneKind), default=PhoneKind.MOBILE)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class ConsentEntry(Base):
    """One line of the consent and opt-out ledger; the newest line per channel+address wins."""

    __tablename__ = "consent_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    # E.164 for voice/SMS, the address for e-mail (its SHA-256 once the customer is erased).
    address: Mapped[str] = mapped_column(String(EMAIL_LEN))
    status: Mapped[ConsentStatus] = mapped_column(enum_column(ConsentStatus))
    source: Mapped[str] = mapped_column(String(SHORT_LEN))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(SHORT_LEN * 4))

    __table_args__ = (Index("ix_consent_lookup", "channel", "address", "recorded_at"),)


class Vehicle(Base):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    relation: Mapped[VehicleRelation] = mapped_column(enum_column(VehicleRelation))
    vin: Mapped[str | None] = mapped_column(String(17), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    make: Mapped[str | None] = mapped_column(String(NAME_LEN))
    model: Mapped[str | None] = mapped_column(String(NAME_LEN))
    trim: Mapped[str | None] = mapped_column(String(NAME_LEN))
    stock_number: Mapped[str | None] = mapped_column(String(32))
    condition: Mapped[VehicleCondition | None] = mapped_column(enum_column(VehicleCondition))
    odometer: Mapped[int | None] = mapped_column(Integer)
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    trade_payoff: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    trade_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    source_type: Mapped[LeadSource] = mapped_column(enum_column(LeadSource))
    source_name: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    campaign: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    utm_source: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    utm_medium: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    utm_campaign: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    utm_term: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    utm_content: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    gclid: Mapped[str | None] = mapped_column(String(255))
    stage: Mapped[LeadStage] = mapped_column(enum_column(LeadStage), default=LeadStage.NEW)
    lost_reason: Mapped[str | None] = mapped_column(String(SHORT_LEN * 2))
    temperature: Mapped[int] = mapped_column(Integer, default=50)
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id", ondelete="SET NULL"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_contact_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Speed to lead: minutes from creation to the first attempt to reach the customer.
    response_minutes: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    after_hours: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer] = relationship()
    dealer: Mapped[Dealer | None] = relationship()
    assigned_agent: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("temperature BETWEEN 0 AND 100", name="temperature_range"),
        Index("ix_leads_stage_temperature", "stage", "temperature"),
    )


class RecordingConsent(StrEnum):
    NOTIFIED = "notified"  # the "may be recorded" notice played; continuing is consent
    GRANTED = "granted"  # an explicit yes (all-party consent states, or the queue asks)
    DECLINED = "declined"  # an explicit no, or no answer where a yes is needed: not recorded
    NOT_RECORDED = "not_recorded"  # recording is off for this call (setting or queue)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    parent_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    leg_sids: Mapped[list[str]] = mapped_column(JSON, default=list)  # agent, transfer, barge legs
    direction: Mapped[CallDirection] = mapped_column(enum_column(CallDirection))
    from_number: Mapped[str | None] = mapped_column(String(64))
    to_number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[CallStatus] = mapped_column(enum_column(CallStatus), default=CallStatus.QUEUED)
    # The SequenceNumber of the status callback that set ``status`` (callbacks can arrive
    # out of order or twice; only a later one moves the status).
    status_sequence: Mapped[int | None] = mapped_column(Integer)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    ivr_path: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)  # the carrier's CallDuration
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    hold_seconds: Mapped[int | None] = mapped_column(Integer)
    wrap_seconds: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    disposition: Mapped[Disposition | None] = mapped_column(enum_column(Disposition))
    notes: Mapped[str | None] = mapped_column(Text)
    transcript: Mapped[str | None] = mapped_column(Text)
    script_name: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    script_version: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))  # the caller's, as the IVR heard
    # The caller took a path the script marks sensitive (payments): recording pauses while
    # card or bank details are given (the recording package reads this).
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Recording consent, decided before any recording starts (recording/): what the caller
    # was told or answered, and the rule that decided it ("state CA: all-party consent").
    recording_consent: Mapped[RecordingConsent | None] = mapped_column(
        enum_column(RecordingConsent)
    )
    recording_consent_rule: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    # The wrap-up form as the agent last left it (crm_core/drafts.py), kept on the server so
    # a reloaded page restores it and a wrap-up that ends first still keeps what was typed.
    outcome_draft: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome_draft_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The outcome was stored from the draft when wrap-up ended before it was saved: it may
    # lack the disposition or the rest; saving the real outcome clears it.
    outcome_incomplete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Who ended the call when it was not the caller or the agent hanging up: "supervisor"
    # (POST /api/acd/calls/<sid>/end) or "system" (the demo stopping). None: the parties.
    ended_by: Mapped[str | None] = mapped_column(String(16))

    agent: Mapped[User | None] = relationship()


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealers.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    type: Mapped[AppointmentType] = mapped_column(enum_column(AppointmentType))
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus), default=AppointmentStatus.SCHEDULED
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resource: Mapped[str | None] = mapped_column(String(SHORT_LEN))  # salesperson, bay, vehicle
    notes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("end_at > start_at", name="ends_after_start"),)


class Task(Base):
    """A callback, follow-up or escalation, owned by an agent or left to a pool (a queue)."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(enum_column(TaskKind))
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus), default=TaskStatus.OPEN)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    phone: Mapped[str | None] = mapped_column(String(PHONE_LEN))  # the number to call back
    title: Mapped[str] = mapped_column(String(SHORT_LEN * 2))
    notes: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pool: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=50)  # 0..100, higher first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_tasks_open_due", "status", "due_at"),
        CheckConstraint("priority BETWEEN 0 AND 100", name="priority_range"),
    )


class Activity(Base):
    """One touchpoint on the customer's timeline."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    kind: Mapped[ActivityKind] = mapped_column(enum_column(ActivityKind))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    summary: Mapped[str] = mapped_column(String(SHORT_LEN * 4))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_activities_timeline", "customer_id", "occurred_at", "id"),)
