"""The ACD's vocabulary and input shapes: queue strategies and actions, offer and wait
outcomes, and the validated inputs for queues, agents' skills and the router's records.

The enums live here (not beside the tables in ``crm_core.acd``) so that the tables and the
services can import the inputs without a cycle; ``crm_core.acd`` re-exports them.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from crm_core.errors import InvalidInput
from crm_core.hours import parse_hours, parse_zone
from crm_core.models import NAME_LEN, SHORT_LEN
from crm_core.schemas import Strict, parse, parse_skills


class QueueStrategy(StrEnum):
    """How the ACD picks among the eligible agents (each a unit in routing/)."""

    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    SKILLS_WEIGHTED = "skills_weighted"  # best level, then longest idle
    RING_ALL = "ring_all"  # offer to every eligible agent, first accept wins


class OverflowAction(StrEnum):
    """Where a caller goes after the queue's max wait (or at once, see EmptyAction.OVERFLOW)."""

    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"


class EmptyAction(StrEnum):
    """What happens to a caller when no eligible agent is logged in."""

    WAIT = "wait"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    OVERFLOW = "overflow"  # the queue's overflow action, immediately


class OfferOutcome(StrEnum):
    OFFERED = "offered"  # still ringing: the only outcome that may change
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    WITHDRAWN = "withdrawn"  # ring-all losers, supervisor moves
    CALLER_GONE = "caller_gone"
    FAILED = "failed"  # busy or failed agent leg


class WaitOutcome(StrEnum):
    """How a caller's wait ended (what an announced estimate is measured against)."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    # Ended by someone else than the caller, so no abandon: a supervisor ended the call, or
    # the system did (the demo stopping).
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


# Ranges, shared by the inputs and the tables' CHECK constraints: (low, high) inclusive.
OFFER_TIMEOUT = (5, 120)
WRAP_UP = (0, 1800)
SERVICE_LEVEL = (1, 3600)
MAX_WAIT = (1, 86_400)
ESCALATION_AFTER = (1, 3600)
RELAX_LEVELS = (0, 9)
RING_ALL_AGENTS = (1, 100)
CALLBACK_ATTEMPTS = (0, 10)
CALLBACK_RETRY_MINUTES = (1, 1440)

QUEUE_NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"
QueueName = Annotated[str, StringConstraints(pattern=QUEUE_NAME_RE)]
Display = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LEN)
]
Script = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,119}$")]
# How the queue's calls are recorded (recording/consent.py): the notice is enough, always
# an explicit yes, or never recorded.
RecordingConsentRule = Literal["notice", "explicit", "off"]


def _ints(low: int, high: int) -> Any:
    # strict: JSON true or "15" is a mistake here, not a number (the CLI converts its text)
    return Annotated[int, Field(strict=True, ge=low, le=high)]


def _time_zone(value: Any) -> str | None:
    """An IANA zone name; anything else (a number, an object, a name too long to be one:
    the zone database would take it for a file path) is refused naming the field."""
    if isinstance(value, str) and len(value) > 64:
        raise InvalidInput("that is not an IANA time zone (too long)", field="time_zone")
    return parse_zone(value)


def _skill_levels(value: Any) -> dict[str, int]:
    try:
        return parse_skills(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class QueueIn(Strict):
    """A queue as the API and CLI create it. ``overflow_queue`` is another queue's name."""

    name: QueueName
    display_name: Display | None = None
    required_skills: dict[str, int] = Field(default_factory=dict)
    strategy: QueueStrategy = QueueStrategy.LONGEST_IDLE
    offer_timeout_seconds: _ints(*OFFER_TIMEOUT) = 15
    wrap_up_seconds: _ints(*WRAP_UP) = 30
    service_level_seconds: _ints(*SERVICE_LEVEL) = 20
    max_wait_seconds: _ints(*MAX_WAIT) | None = None
    overflow_action: OverflowAction | None = None
    overflow_queue: QueueName | None = None
    empty_action: EmptyAction = EmptyAction.VOICEMAIL
    escalation_after_seconds: _ints(*ESCALATION_AFTER) | None = None
    escalation_relax_levels: _ints(*RELAX_LEVELS) = 0
    max_agents_ring_all: _ints(*RING_ALL_AGENTS) = 20
    hold_script: Script | None = None
    callback_attempts: _ints(*CALLBACK_ATTEMPTS) = 2
    callback_retry_minutes: _ints(*CALLBACK_RETRY_MINUTES) = 10
    hours: dict[str, list[list[str]]] = Field(default_factory=dict)
    time_zone: str | None = None
    recording_consent: RecordingConsentRule = "notice"  # recording/consent.py
    disposition_required: Annotated[bool, Field(strict=True)] = False
    active: Annotated[bool, Field(strict=True)] = True

    @field_validator("required_skills", mode="before")
    @classmethod
    def _required_skills(cls, value: Any) -> dict[str, int]:
        return _skill_levels(value)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> dict[str, list[list[str]]]:
        return parse_hours(value)

    @field_validator("time_zone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> str | None:
        return _time_zone(value)

    @model_validator(mode="after")
    def _rules(self) -> Self:
        """Rules between fields; each error names the field to fix (InvalidInput passes
        through pydantic untouched, so its ``field`` survives)."""
        action = self.overflow_action
        if action is OverflowAction.QUEUE and self.overflow_queue is None:
            raise InvalidInput("overflow to a queue needs the queue", field="overflow_queue")
        if action is not OverflowAction.QUEUE and self.overflow_queue is not None:
            raise InvalidInput(
                "overflow_queue is only for overflow_action queue", field="overflow_queue"
            )
        if self.overflow_queue == self.name:
            raise InvalidInput("a queue cannot overflow to itself", field="overflow_queue")
        if self.max_wait_seconds is not None and action is None:
            raise InvalidInput(
                "a max wait needs an overflow action (queue, voicemail or callback)",
                field="overflow_action",
            )
        if self.empty_action is EmptyAction.OVERFLOW and action is None:
            raise InvalidInput(
                "empty_action overflow needs an overflow action", field="overflow_action"
            )
        if (self.escalation_after_seconds is None) != (self.escalation_relax_levels == 0):
            raise InvalidInput(
                "the aging rule needs both escalation_after_seconds and "
                "escalation_relax_levels (at least 1), or neither",
                field="escalation_relax_levels",
            )
        return self


class QueueUpdate(Strict):
    """A change to a queue: only the fields given; the result is checked as a whole QueueIn.
    A queue's name is its key in Redis and in the calls' history, so it cannot change."""

    display_name: Display | None = None
    required_skills: dict[str, int] | None = None
    strategy: QueueStrategy | None = None
    offer_timeout_seconds: _ints(*OFFER_TIMEOUT) | None = None
    wrap_up_seconds: _ints(*WRAP_UP) | None = None
    service_level_seconds: _ints(*SERVICE_LEVEL) | None = None
    max_wait_seconds: _ints(*MAX_WAIT) | None = None
    overflow_action: OverflowAction | None = None
    overflow_queue: QueueName | None = None
    empty_action: EmptyAction | None = None
    escalation_after_seconds: _ints(*ESCALATION_AFTER) | None = None
    escalation_relax_levels: _ints(*RELAX_LEVELS) | None = None
    max_agents_ring_all: _ints(*RING_ALL_AGENTS) | None = None
    hold_script: Script | None = None
    callback_attempts: _ints(*CALLBACK_ATTEMPTS) | None = None
    callback_retry_minutes: _ints(*CALLBACK_RETRY_MINUTES) | None = None
    hours: dict[str, list[list[str]]] | None = None
    time_zone: str | None = None
    recording_consent: RecordingConsentRule | None = None
    disposition_required: Annotated[bool, Field(strict=True)] | None = None
    active: Annotated[bool, Field(strict=True)] | None = None

    @field_validator("required_skills", mode="before")
    @classmethod
    def _required_skills(cls, value: Any) -> dict[str, int] | None:
        return None if value is None else _skill_levels(value)

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> dict[str, list[list[str]]] | None:
        return None if value is None else parse_hours(value)

    @field_validator("time_zone", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> str | None:
        return _time_zone(value)


class SkillsIn(Strict):
    """``{"skills": {"sales": 8, "spanish": 5}}`` (or ``"sales:8,spanish:5"``): the whole set."""

    skills: dict[str, int]

    @field_validator("skills", mode="before")
    @classmethod
    def _skills(cls, value: Any) -> dict[str, int]:
        return _skill_levels(value)


def _blank_none(value: Any) -> Any:
    return None if value in ("", b"") else value


class OfferRow(BaseModel):
    """One explained offer as the router writes it to its Redis stream (strings are fine:
    times as epoch seconds or ISO 8601 with an offset, candidates as JSON)."""

    offered_at: AwareDatetime
    queue_name: Annotated[str, StringConstraints(max_length=64)]
    call_sid: Annotated[str, StringConstraints(max_length=64)]
    entry_id: Annotated[str, StringConstraints(max_length=64)]
    agent_id: int | None = None
    strategy: QueueStrategy
    rule: Annotated[str, StringConstraints(max_length=SHORT_LEN * 8)]
    candidates: list[dict[str, Any]] = Field(default_factory=list)
    outcome: OfferOutcome = OfferOutcome.OFFERED
    outcome_at: AwareDatetime | None = None

    @field_validator("candidates", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    @field_validator("agent_id", "outcome_at", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_none(value)


class EstimateRow(BaseModel):
    """One announced estimated wait. ``waited_seconds`` is how long the caller had already
    waited when it was announced (0: on entering the queue); ``estimate_seconds`` and
    ``asterisk_estimate_seconds`` predict the wait still to come."""

    call_sid: Annotated[str, StringConstraints(max_length=64)]
    queue_name: Annotated[str, StringConstraints(max_length=64)]
    announced_at: AwareDatetime
    position: int = Field(ge=1)
    waited_seconds: int = Field(default=0, ge=0)
    estimate_seconds: int = Field(ge=0)
    asterisk_estimate_seconds: int | None = Field(default=None, ge=0)

    @field_validator("asterisk_estimate_seconds", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return _blank_none(value)


def valid_rows(model: type[BaseModel], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row validated as ``model``; the first bad one is an InvalidInput naming the row
    and the field (e.g. ``rows.3.offered_at``)."""
    out = []
    for i, data in enumerate(rows):
        try:
            out.append(parse(model, data).model_dump())
        except InvalidInput as exc:
            field = f"rows.{i}" + (f".{exc.field}" if exc.field else "")
            raise InvalidInput(f"row {i}: {exc.message}", field=field) from None
    return out
