"""The ACD's durable side: queue configuration, agents' skills, and the records the router
keeps for supervisors (every offer explained, every announced wait measured; those are in
``crm_core.acd_records`` and re-exported here, so routing/ imports one module).

Live state (who is available, who waits, reservations) is routing/'s, in Redis; routing/
reads its configuration here as ``QueueConfig`` values, which need no ORM session, and
drains its streams of offers and estimates into these tables. Services never commit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    false,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from crm_core.acd_records import (
    OfferRecord,
    WaitEstimate,
    estimate_accuracy,
    offers_for_call,
    record_estimates,
    record_offers,
    set_actual_wait,
    set_offer_outcome,
)
from crm_core.acd_schemas import (
    CALLBACK_ATTEMPTS,
    CALLBACK_RETRY_MINUTES,
    ESCALATION_AFTER,
    MAX_WAIT,
    OFFER_TIMEOUT,
    RELAX_LEVELS,
    RING_ALL_AGENTS,
    SERVICE_LEVEL,
    WRAP_UP,
    EmptyAction,
    OfferOutcome,
    OverflowAction,
    QueueIn,
    QueueStrategy,
    QueueUpdate,
    WaitOutcome,
)
from crm_core.clock import Clock
from crm_core.db import Base, UTCDateTime
from crm_core.errors import Conflict, InvalidInput, NotFound
from crm_core.models import NAME_LEN, SHORT_LEN, Role, User, enum_column
from crm_core.schemas import parse, parse_skills
from crm_core.users import get_user

__all__ = [  # what routing/, console/ and app.py use; the records live in acd_records.py
    "AgentInfo",
    "EmptyAction",
    "OfferOutcome",
    "OfferRecord",
    "OverflowAction",
    "QueueConfig",
    "QueueIn",
    "QueueStrategy",
    "QueueUpdate",
    "RoutingQueue",
    "WaitEstimate",
    "WaitOutcome",
    "create_queue",
    "estimate_accuracy",
    "get_queue",
    "list_agents",
    "list_queues",
    "offers_for_call",
    "queue_config",
    "record_estimates",
    "record_offers",
    "set_actual_wait",
    "set_agent_skills",
    "set_offer_outcome",
    "update_queue",
]


def _between(column: str, bounds: tuple[int, int], *, nullable: bool = False) -> CheckConstraint:
    low, high = bounds
    rule = f"{column} BETWEEN {low} AND {high}"
    return CheckConstraint(f"{column} IS NULL OR {rule}" if nullable else rule, name=column)


class RoutingQueue(Base):
    __tablename__ = "routing_queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the slug routing/ keys on
    display_name: Mapped[str] = mapped_column(String(NAME_LEN))
    required_skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # minimums
    strategy: Mapped[QueueStrategy] = mapped_column(
        enum_column(QueueStrategy), default=QueueStrategy.LONGEST_IDLE
    )
    offer_timeout_seconds: Mapped[int] = mapped_column(Integer, default=15)
    wrap_up_seconds: Mapped[int] = mapped_column(Integer, default=30)
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=20)
    max_wait_seconds: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    overflow_action: Mapped[OverflowAction | None] = mapped_column(enum_column(OverflowAction))
    overflow_queue_id: Mapped[int | None] = mapped_column(ForeignKey("routing_queues.id"))
    empty_action: Mapped[EmptyAction] = mapped_column(
        enum_column(EmptyAction), default=EmptyAction.VOICEMAIL
    )
    # The aging rule: every ``escalation_after_seconds`` of waiting, each skill minimum drops
    # by ``escalation_relax_levels``, never below 1.
    escalation_after_seconds: Mapped[int | None] = mapped_column(Integer)
    escalation_relax_levels: Mapped[int] = mapped_column(Integer, default=0)
    max_agents_ring_all: Mapped[int] = mapped_column(Integer, default=20)
    hold_script: Mapped[str | None] = mapped_column(String(SHORT_LEN))
    callback_attempts: Mapped[int] = mapped_column(Integer, default=2)
    callback_retry_minutes: Mapped[int] = mapped_column(Integer, default=10)
    # When the queue answers (crm_core.hours): {"mon": [["09:00", "20:00"]], …}; {} = always.
    hours: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON, default=dict)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # None: DEFAULT_TIME_ZONE
    # Call recording on this queue (recording/consent.py): "notice" (the notice is enough,
    # unless the caller's state needs all-party consent), "explicit" (always ask for a yes),
    # "off" (never recorded).
    recording_consent: Mapped[str] = mapped_column(
        String(16), default="notice", server_default="notice"
    )
    # An agent may not leave wrap-up (nor does its timer end it) before the call's
    # disposition is saved; a supervisor can still end it (console/acd_live.py).
    disposition_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    overflow_queue: Mapped[RoutingQueue | None] = relationship(remote_side=[id])

    __table_args__ = (
        _between("offer_timeout_seconds", OFFER_TIMEOUT),
        _between("wrap_up_seconds", WRAP_UP),
        _between("service_level_seconds", SERVICE_LEVEL),
        _between("max_wait_seconds", MAX_WAIT, nullable=True),
        _between("escalation_after_seconds", ESCALATION_AFTER, nullable=True),
        _between("escalation_relax_levels", RELAX_LEVELS),
        _between("max_agents_ring_all", RING_ALL_AGENTS),
        _between("callback_attempts", CALLBACK_ATTEMPTS),
        _between("callback_retry_minutes", CALLBACK_RETRY_MINUTES),
        CheckConstraint(
            # COALESCE: a comparison with NULL is NULL, which a CHECK lets through
            "(COALESCE(overflow_action, '') = 'queue') = (overflow_queue_id IS NOT NULL)",
            name="overflow_queue_iff_action_queue",
        ),
        CheckConstraint(
            "overflow_queue_id IS NULL OR overflow_queue_id <> id", name="no_overflow_to_itself"
        ),
        CheckConstraint(
            "max_wait_seconds IS NULL OR overflow_action IS NOT NULL", name="max_wait_overflows"
        ),
    )


# ------------------------------------------------------------------ what routing/ reads


@dataclass(frozen=True)
class QueueConfig:
    """A queue's configuration as plain values: what the router consumes and caches."""

    id: int
    name: str
    display_name: str
    required_skills: dict[str, int]
    strategy: QueueStrategy
    offer_timeout_seconds: int
    wrap_up_seconds: int
    service_level_seconds: int
    max_wait_seconds: int | None
    overflow_action: OverflowAction | None
    overflow_queue_id: int | None
    overflow_queue: str | None  # the overflow queue's name
    empty_action: EmptyAction
    escalation_after_seconds: int | None
    escalation_relax_levels: int
    max_agents_ring_all: int
    hold_script: str | None
    callback_attempts: int
    callback_retry_minutes: int
    active: bool
    created_at: datetime
    updated_at: datetime
    hours: dict[str, list[list[str]]] = field(default_factory=dict)
    time_zone: str | None = None
    recording_consent: str = "notice"  # notice | explicit | off (recording/consent.py)
    disposition_required: bool = False  # wrap-up lasts until the disposition is saved

    def minimums_after(
        self, waited_seconds: float, skills: dict[str, int] | None = None
    ) -> dict[str, int]:
        """The skill minimums after ``waited_seconds`` in queue, by the aging rule: every
        ``escalation_after_seconds`` each minimum drops by ``escalation_relax_levels``, to a
        floor of 1. ``skills`` defaults to the queue's own (pass an entry's, e.g. from the IVR)."""
        skills = self.required_skills if skills is None else skills
        if not self.escalation_after_seconds or waited_seconds <= 0:
            return dict(skills)
        drop = int(waited_seconds // self.escalation_after_seconds) * self.escalation_relax_levels
        return {name: max(1, level - drop) for name, level in skills.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (enums as values, times as ISO 8601); ``from_dict`` reads it back."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return {k: getattr(v, "value", v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueueConfig:
        values = dict(data)
        for key in ("created_at", "updated_at"):
            values[key] = datetime.fromisoformat(values[key])
        values["strategy"] = QueueStrategy(values["strategy"])
        values["empty_action"] = EmptyAction(values["empty_action"])
        if values["overflow_action"] is not None:
            values["overflow_action"] = OverflowAction(values["overflow_action"])
        values["required_skills"] = dict(values["required_skills"])
        return cls(**values)


@dataclass(frozen=True)
class AgentInfo:
    id: int
    username: str
    display_name: str
    role: Role
    skills: dict[str, int]
    softphone_identity: str

    @classmethod
    def of(cls, user: User) -> AgentInfo:
        return cls(
            user.id,
            user.username,
            user.display_name,
            user.role,
            dict(user.skills),
            user.softphone_identity,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"role": self.role.value}


_CONFIG_COLUMNS = [
    c.key for c in RoutingQueue.__table__.columns if c.key not in ("required_skills", "hours")
]
_INPUT_FIELDS = set(QueueIn.model_fields) - {"overflow_queue"}


def queue_config(q: RoutingQueue) -> QueueConfig:
    return QueueConfig(
        **{c: getattr(q, c) for c in _CONFIG_COLUMNS},
        required_skills=dict(q.required_skills),
        hours={day: [list(i) for i in intervals] for day, intervals in (q.hours or {}).items()},
        overflow_queue=q.overflow_queue.name if q.overflow_queue is not None else None,
    )


# -------------------------------------------------------------------------------- queues


def get_queue(session: Session, name: str) -> RoutingQueue:
    q = session.scalars(select(RoutingQueue).where(RoutingQueue.name == name)).one_or_none()
    if q is None:
        raise NotFound(f"no queue {name}", field="name")
    return q


def list_queues(session: Session, active_only: bool = False) -> list[RoutingQueue]:
    query = select(RoutingQueue).options(selectinload(RoutingQueue.overflow_queue))
    if active_only:
        query = query.where(RoutingQueue.active.is_(True))
    return list(session.scalars(query.order_by(RoutingQueue.name)))


def create_queue(session: Session, data: QueueIn, clock: Clock) -> RoutingQueue:
    if session.scalars(select(RoutingQueue.id).where(RoutingQueue.name == data.name)).first():
        raise Conflict(f"queue {data.name} already exists", field="name")
    target, now = _overflow_target(session, data.overflow_queue, data.name), clock.now()
    q = RoutingQueue(**data.model_dump(include=_INPUT_FIELDS), created_at=now, updated_at=now)
    q.display_name = data.display_name or data.name
    q.overflow_queue = target
    session.add(q)
    session.flush()
    return q


def update_queue(
    session: Session, queue_id_or_name: int | str, data: QueueUpdate, clock: Clock
) -> RoutingQueue:
    """Change the fields given; the whole queue is then checked again as a QueueIn."""
    if isinstance(queue_id_or_name, int):
        q = session.get(RoutingQueue, queue_id_or_name)
        if q is None:
            raise NotFound(f"no queue {queue_id_or_name}", field="queue_id")
    else:
        q = get_queue(session, queue_id_or_name)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("overflow_action", OverflowAction.QUEUE) is not OverflowAction.QUEUE:
        changes.setdefault("overflow_queue", None)  # leaving queue overflow drops its target
    current = queue_config(q).to_dict()
    merged = parse(QueueIn, {k: current[k] for k in QueueIn.model_fields} | changes)
    target = _overflow_target(session, merged.overflow_queue, q.name)  # before any change
    for key, value in merged.model_dump(include=_INPUT_FIELDS).items():
        setattr(q, key, value)
    q.display_name = merged.display_name or q.name
    q.overflow_queue = target
    q.updated_at = clock.now()
    session.flush()
    return q


def _overflow_target(session: Session, name: str | None, queue_name: str) -> RoutingQueue | None:
    if name is None:
        return None
    target = session.scalars(select(RoutingQueue).where(RoutingQueue.name == name)).one_or_none()
    if target is None:
        raise InvalidInput(f"no queue {name} to overflow to", field="overflow_queue")
    path, hop = [queue_name, name], target.overflow_queue
    while hop is not None and len(path) <= 64:
        path.append(hop.name)
        if hop.name == queue_name:
            raise InvalidInput(
                "overflow would go round in a loop: " + " → ".join(path), field="overflow_queue"
            )
        hop = hop.overflow_queue
    return target


# -------------------------------------------------------------------------------- agents


def set_agent_skills(session: Session, user_id: int, skills: dict[str, int] | str) -> AgentInfo:
    """Replace the user's skills (``{"sales": 8}`` or ``"sales:8,spanish:5"``; levels 1 to 10)."""
    user = get_user(session, user_id)
    user.skills = parse_skills(skills)
    session.flush()
    return AgentInfo.of(user)


def list_agents(session: Session) -> list[AgentInfo]:
    """Active agents and supervisors (who can take calls), by username."""
    query = (
        select(User)
        .where(User.active.is_(True), User.role.in_([Role.AGENT, Role.SUPERVISOR]))
        .order_by(User.username)
    )
    return [AgentInfo.of(u) for u in session.scalars(query)]


# ------------------------------------------------------------ offers and wait estimates
