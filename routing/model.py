"""The router's vocabulary: agent states, priorities, what it asks the telephony side to do,
and skill signatures (the canonical name of a set of needed skills)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_core.acd import QueueConfig

MAX_LEVEL = 10  # skill levels are 1..10


class AgentState(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RESERVED = "reserved"  # offered a call, ringing
    PENDING = "pending"  # freed by the router, about to be available again
    BUSY = "busy"
    WRAP_UP = "wrap_up"
    AWAY = "away"


class AwayReason(StrEnum):
    BREAK = "break"
    LUNCH = "lunch"
    TRAINING = "training"
    MEETING = "meeting"
    MISSED_OFFERS = "missed_offers"


class Priority(IntEnum):
    NORMAL = 0
    VIP = 1
    EMERGENCY = 2


@dataclass(frozen=True)
class AgentProfile:
    """What the router needs to know of an agent (from the users table)."""

    id: int
    identity: str  # the softphone's client identity
    name: str
    skills: Mapping[str, int]


@dataclass(frozen=True)
class Action:
    """Something for the telephony side to do: ``offer`` (ring the agent for the entry),
    ``cancel`` (stop ringing: the caller left), ``withdraw`` (stop ringing: another agent
    took the ring-all call), ``overflow`` (max wait reached), ``wrapped`` (a wrap-up ended
    after ``seconds``: for the Call row of ``call_sid``)."""

    kind: str
    entry_id: str
    agent_id: int
    identity: str
    call_sid: str | None = None
    entry_kind: str = "call"
    phone: str | None = None
    seconds: int | None = None  # "wrapped": how long the wrap-up lasted


@dataclass
class Outcome:
    state: str
    actions: list[Action] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def signature(needs: Mapping[str, int]) -> str:
    """The canonical name of a set of needed skills: "spanish:5" or "finance:3,spanish:5"."""
    return ",".join(f"{skill}:{int(level)}" for skill, level in sorted(needs.items()))


def levels(skills: Mapping[str, int], queue: QueueConfig, needs: Mapping[str, int]) -> int:
    """What skills-weighted ranks by: the agent's levels in the skills the queue and the
    caller need, added up."""
    names = set(queue.required_skills) | set(needs)
    return sum(int(skills.get(name, 0)) for name in names)


def parse_signature(sig: str) -> dict[str, int]:
    if not sig or sig == "-":
        return {}
    return {name: int(level) for name, level in (part.split(":") for part in sig.split(","))}
