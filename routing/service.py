"""The ACD router: agents' presence, callers in queues, offers, wrap-up, deadlines.

Every change is one Lua script (routing/lua); this module only builds each script's keys
(from the queue configuration and the agent's skills, both known before the script runs),
runs it, and follows up what the script asks for:

* ``ready``: an agent the script freed (offer rejected, caller gone, call ended without
  wrap-up) becomes available through the presence script, which needs that agent's keys;
* ``retry``: a caller put back in its queue looks for an agent again.

What is left is returned as ``Action`` values for the telephony side to carry out (ring an
agent's softphone, stop ringing it). The router itself never talks to the carrier, so every
routing rule is tested without one.

Stale reads are safe: a script that finds the state changed since its keys were built says
so, and the call is repeated with fresh keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import redis

from crm_core.acd import QueueConfig
from crm_core.clock import Clock
from crm_core.errors import Conflict, InvalidInput, NotFound
from routing.estimates import estimate, note_answered
from routing.keys import Keys
from routing.scripts import IllegalTransition, Scripts, Stale, from_ms, ms

log = logging.getLogger("callcenter.routing")
RETRIES = 5
MAX_LEVEL = 10


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


class Router:
    def __init__(
        self,
        connection: redis.Redis,
        clock: Clock,
        queues: Callable[[], Mapping[str, QueueConfig]],
        *,
        keys: Keys | None = None,
        max_misses: int = 2,
        time_zone: str = "America/New_York",
    ) -> None:
        self.redis = connection
        self.clock = clock
        self.keys = keys or Keys()
        self.scripts = Scripts(connection)
        self._queues = queues
        self.max_misses = max_misses
        self.zone = ZoneInfo(time_zone)
        self._sigs: dict[str, set[str]] = {}
        self._sigver = "0"

    # ------------------------------------------------------------------ configuration
    def queue(self, name: str) -> QueueConfig:
        config = self._queues().get(name)
        if config is None or not config.active:
            raise NotFound(f"no active queue {name!r}", field="queue")
        return config

    def queues_of(self, skills: Mapping[str, int]) -> list[QueueConfig]:
        """The active queues whose required skills the agent has, at their levels."""
        return [
            q
            for q in self._queues().values()
            if q.active and all(skills.get(s, 0) >= lvl for s, lvl in q.required_skills.items())
        ]

    def _now(self) -> tuple[int, str]:
        now = self.clock.now()
        return ms(now), now.astimezone(self.zone).date().isoformat()

    def _signatures(self, queues: list[str]) -> tuple[str, dict[str, set[str]]]:
        """The signatures of these queues and the version they were read at, read together
        (one MULTI) and cached until a script reports the version moved on."""
        missing = [q for q in queues if q not in self._sigs]
        if missing:
            pipe = self.redis.pipeline(transaction=True)
            pipe.get(self.keys.signatures_version)
            for q in missing:
                pipe.smembers(self.keys.signatures(q))
            version, *members = pipe.execute()
            version = version.decode() if version else "0"
            if version != self._sigver:
                self._sigs.clear()
                self._sigver = version
            for q, found in zip(missing, members, strict=True):
                self._sigs[q] = {m.decode() for m in found}
            if any(q not in self._sigs for q in queues):  # cleared: read them all again
                return self._signatures(queues)
        return self._sigver, {q: self._sigs[q] for q in queues}

    # ------------------------------------------------------------------ agents
    def set_presence(
        self,
        agent: AgentProfile,
        state: AgentState | str,
        reason: str | None = None,
        *,
        expect: Iterable[str] | None = None,
    ) -> Outcome:
        """available, away (with a reason code) or offline. Becoming available takes the
        best waiting call at once. ``expect``: only from these states (else no change)."""
        state = AgentState(state)
        if state not in (AgentState.AVAILABLE, AgentState.AWAY, AgentState.OFFLINE):
            raise InvalidInput("presence is available, away or offline", field="state")
        away = state is AgentState.AWAY
        reason = AwayReason(reason or AwayReason.BREAK).value if away else ""
        queues = self.queues_of(agent.skills)
        profile = {
            "identity": agent.identity,
            "name": agent.name,
            "skills": dict(agent.skills),
            "queues": [q.name for q in queues],
        }
        for _ in range(RETRIES):
            ready_keys, ready_desc, wait_keys, wait_desc = [], [], [], []
            version, sigs = "0", {}
            if state is AgentState.AVAILABLE:
                version, sigs = self._signatures([q.name for q in queues])
                for q in queues:
                    ready_keys.append(self.keys.ready(q.name))
                    ready_desc.append(
                        {"q": q.name, "st": str(q.strategy), "lv": levels(agent.skills, q, {})}
                    )
                    for sig in sorted(sigs[q.name]):
                        needs = parse_signature(sig)
                        if all(agent.skills.get(s, 0) >= lvl for s, lvl in needs.items()):
                            if sig:
                                ready_keys.append(self.keys.ready(q.name, sig))
                                lv = levels(agent.skills, q, needs)
                                ready_desc.append({"q": q.name, "st": str(q.strategy), "lv": lv})
                            wait_keys.append(self.keys.waiting(q.name, sig))
                            wait_desc.append(
                                {
                                    "q": q.name,
                                    "sig": sig,
                                    "timeout": q.offer_timeout_seconds * 1000,
                                    "st": str(q.strategy),
                                }
                            )
            now, day = self._now()
            reply = self.scripts(
                "presence",
                [
                    self.keys.agents,
                    self.keys.entries,
                    self.keys.deadlines,
                    self.keys.events,
                    self.keys.offers,
                    self.keys.counts,
                    self.keys.signatures_version,
                    *ready_keys,
                    *wait_keys,
                ],
                [
                    now,
                    agent.id,
                    state.value,
                    reason,
                    ",".join(expect) if expect is not None else "*",
                    profile,
                    day,
                    version,
                    len(ready_keys),
                    len(wait_keys),
                    ready_desc,
                    wait_desc,
                ],
            )
            if reply[0] == "stale":
                self._sigs.clear()
                continue
            if reply[0] == "error":
                raise IllegalTransition(f"agent {agent.id}: {reply[2]}", field="state")
            return self._follow(Outcome(reply[1]), reply[2:])
        raise Stale(f"presence of agent {agent.id}: state kept changing")

    def _profile(self, agent_id: str | int) -> AgentProfile | None:
        doc = self.agent(agent_id)
        if doc is None:
            return None
        return AgentProfile(
            id=int(doc["id"]),
            identity=doc.get("identity") or "",
            name=doc.get("name") or "",
            skills=doc.get("skills") or {},
        )

    def make_ready(self, agent_id: str | int, *, expect: Iterable[str] = ("pending",)) -> Outcome:
        """Available again after the router freed the agent (or wrap-up ended)."""
        profile = self._profile(agent_id)
        if profile is None:
            return Outcome("gone")
        return self.set_presence(profile, AgentState.AVAILABLE, expect=expect)

    def end_wrap_up(self, agent_id: int) -> Outcome:
        """The agent (or a supervisor) ends wrap-up early; the ticker ends it on time."""
        return self.make_ready(agent_id, expect=("wrap_up",))

    # ------------------------------------------------------------------ callers
    def enqueue(
        self,
        entry_id: str,
        queue: str,
        *,
        call_sid: str | None = None,
        priority: Priority = Priority.NORMAL,
        needs: Mapping[str, int] | None = None,
        enqueued_at: datetime | None = None,
        kind: str = "call",
        phone: str | None = None,
        language: str = "en-US",
        empty_check: bool | None = None,
    ) -> Outcome:
        """Join ``queue`` (at ``enqueued_at``'s place when re-queued or transferred). State
        "empty" when nobody who could take it is logged in, unless the queue's empty
        behaviour is to wait (``empty_check`` overrides that)."""
        config = self.queue(queue)
        if empty_check is None:
            empty_check = str(config.empty_action) != "wait"
        needs = {k: int(v) for k, v in (needs or {}).items()}
        for skill, level in needs.items():
            if not 1 <= level <= MAX_LEVEL:
                raise InvalidInput(f"skill {skill} level must be 1..{MAX_LEVEL}", field="needs")
        now, _ = self._now()
        entry = {
            "id": entry_id,
            "call_sid": call_sid or False,
            "queue": queue,
            "sig": signature(needs),
            "need": needs,
            "prio": int(Priority(priority)),
            "t0": ms(enqueued_at) if enqueued_at is not None else now,
            "kind": kind,
            "phone": phone or False,
            "lang": language[:16],
        }
        return self._enqueue(config, entry, "new", empty_check)

    def retry(self, entry_id: str) -> Outcome:
        """A waiting entry looks for an agent again (after a release or an escalation)."""
        entry = self.entry(entry_id)
        if entry is None:
            return Outcome("gone")
        config = self._queues().get(entry["queue"])
        if config is None:
            return Outcome(entry["state"])
        return self._enqueue(config, entry, "retry", False)

    def _enqueue(self, config: QueueConfig, entry: dict, mode: str, empty_check: bool) -> Outcome:
        needs = entry.get("need") or {}
        ring_all = str(config.strategy) == "ring_all"
        now, day = self._now()
        reply = self.scripts(
            "enqueue",
            [
                self.keys.agents,
                self.keys.entries,
                self.keys.deadlines,
                self.keys.events,
                self.keys.offers,
                self.keys.counts,
                self.keys.signatures_version,
                self.keys.signatures(config.name),
                self.keys.waiting(config.name, entry["sig"]),
                self.keys.ready(config.name, entry["sig"]),
                self.keys.stats(day),
                self.keys.ready(config.name),
            ],
            [
                now,
                entry,
                config.offer_timeout_seconds * 1000,
                config.max_agents_ring_all if ring_all else 1,
                str(config.strategy),
                (config.max_wait_seconds or 0) * 1000,
                (config.escalation_after_seconds or 0) * 1000 if needs else 0,
                empty_check,
                mode,
                {"required": dict(config.required_skills), "need": needs},
            ],
        )
        if reply[0] == "empty":
            return Outcome("empty")
        return self._follow(Outcome(reply[1]), reply[2:])

    def move(self, entry_id: str, queue: str) -> Outcome:
        """Take a waiting caller to another queue (overflow, a supervisor's move) keeping its
        original enqueue time, priority and needed skills."""
        entry = self.entry(entry_id)
        if entry is None:
            raise NotFound(f"no caller {entry_id} in any queue", field="entry")
        target = self.queue(queue)
        left = self.caller_gone(entry_id, "left")
        if left.state != "gone":
            raise Conflict(f"caller {entry_id} is {left.state}: it cannot be moved now")
        joined = self.enqueue(
            entry_id,
            target.name,
            call_sid=entry.get("call_sid") or None,
            priority=Priority(entry["prio"]),
            needs=entry["need"],
            enqueued_at=from_ms(entry["t0"]),
            kind=entry.get("kind", "call"),
            phone=entry.get("phone") or None,
            language=entry.get("lang") or "en-US",
            empty_check=False,
        )
        joined.actions[:0] = left.actions
        return joined

    def keep_place(self, entry_id: str, phone: str) -> bool:
        """Callback-in-queue: the caller hangs up, the entry waits on as a callback."""
        now, _ = self._now()
        reply = self.scripts(
            "keep_place", [self.keys.entries, self.keys.events], [now, entry_id, phone]
        )
        return reply[0] == "ok"

    def accept(self, agent_id: int, entry_id: str) -> Outcome:
        """The agent answered the offer. State "connected", or "gone" (caller left, offer
        withdrawn): then the agent's leg should be told so and hung up."""
        entry = self.entry(entry_id)
        config = self._queues().get(entry["queue"]) if entry else None
        sl = (config.service_level_seconds if config else 20) * 1000
        now, day = self._now()
        reply = self.scripts(
            "accept",
            [
                self.keys.agents,
                self.keys.entries,
                self.keys.deadlines,
                self.keys.events,
                self.keys.offers,
                self.keys.counts,
                self.keys.stats(day),
            ],
            [now, agent_id, entry_id, sl],
        )
        if reply[0] == "gone":
            return Outcome("gone", detail={"why": reply[1]})
        if reply[0] == "again":
            return Outcome("connected", detail={"waited_ms": int(reply[1]), "again": True})
        outcome = self._follow(Outcome("connected"), reply[2:])
        outcome.detail["waited_ms"] = int(reply[1])
        if entry is not None:  # Asterisk's holdtime, kept to measure our estimates against
            note_answered(self, entry["queue"], int(reply[1]))
        return outcome

    def release(
        self,
        agent_id: int,
        entry_id: str,
        why: str = "rejected",
        *,
        defer_until: datetime | None = None,
    ) -> Outcome:
        """The offer ended without a call: rejected, timeout or failed (the agent's leg), or
        deferred (a callback that may not be placed before ``defer_until``: no miss)."""
        if why not in ("rejected", "timeout", "failed", "deferred"):
            raise InvalidInput("why is rejected, timeout, failed or deferred", field="why")
        if why == "deferred" and defer_until is None:
            raise InvalidInput("a deferred callback needs a time", field="defer_until")
        for _ in range(RETRIES):
            entry = self.entry(entry_id)
            sig = entry["sig"] if entry else ""
            queue = entry["queue"] if entry else ""
            now, _ = self._now()
            reply = self.scripts(
                "release",
                [
                    self.keys.agents,
                    self.keys.entries,
                    self.keys.deadlines,
                    self.keys.events,
                    self.keys.offers,
                    self.keys.counts,
                    self.keys.waiting(queue, sig),
                ],
                [
                    now,
                    agent_id,
                    entry_id,
                    why,
                    self.max_misses,
                    sig,
                    ms(defer_until) if defer_until else 0,
                ],
            )
            if reply[0] == "stale":
                continue
            if reply[0] == "noop":
                return Outcome("noop")
            return self._follow(Outcome(reply[1], detail={"entry": reply[2]}), reply[3:])
        raise Stale(f"release of {entry_id}: state kept changing")

    def caller_gone(self, entry_id: str, why: str = "abandoned") -> Outcome:
        """The caller hung up while waiting or ringing ("abandoned"), or the router takes it
        out of the queue ("left": overflow, voicemail, callback). Ringing agents are freed."""
        for _ in range(RETRIES):
            entry = self.entry(entry_id)
            if entry is None:
                return Outcome("noop")
            now, day = self._now()
            reply = self.scripts(
                "caller_gone",
                [
                    self.keys.agents,
                    self.keys.entries,
                    self.keys.deadlines,
                    self.keys.events,
                    self.keys.offers,
                    self.keys.counts,
                    self.keys.waiting(entry["queue"], entry["sig"]),
                    self.keys.stats(day),
                ],
                [now, entry_id, entry["sig"], why],
            )
            if reply[0] == "stale":
                continue
            if reply[0] in ("noop", "connected"):
                return Outcome(reply[0])
            outcome = Outcome(
                "gone",
                detail={"was": reply[1], "waited_ms": int(reply[2]), "entry": json.loads(reply[3])},
            )
            return self._follow(outcome, reply[4:])
        raise Stale(f"caller_gone of {entry_id}: state kept changing")

    def call_ended(self, entry_id: str, *, callback_status: str | None = None) -> Outcome:
        """The connected call is over: the agent wraps up (for the queue's wrap-up time).

        For a callback, ``callback_status`` is how the customer's leg ended (the Dial's
        DialCallStatus): unanswered, it is tried again ``callback_retry_minutes`` later, up
        to ``callback_attempts`` times; after the last, ``detail["gave_up"]`` is True."""
        entry = self.entry(entry_id)
        if entry is None:
            return Outcome("noop")
        config = self._queues().get(entry["queue"])
        wrap = (config.wrap_up_seconds if config else 0) * 1000
        again, gave_up = 0, False
        if entry.get("kind") == "callback" and callback_status not in (None, "completed"):
            attempts = int(entry.get("attempts") or 0) + 1
            if config is not None and attempts < config.callback_attempts:
                again = config.callback_retry_minutes * 60_000
            else:
                gave_up = True
        now, day = self._now()
        reply = self.scripts(
            "call_ended",
            [
                self.keys.agents,
                self.keys.entries,
                self.keys.deadlines,
                self.keys.events,
                self.keys.counts,
                self.keys.handle_times(entry["queue"]),
                self.keys.stats(day),
            ],
            [now, entry_id, wrap, day, again],
        )
        if reply[0] == "noop":
            return Outcome("noop")
        outcome = Outcome(
            "ended",
            detail={
                "waited_ms": int(reply[1]),
                "talked_ms": int(reply[2]),
                "agent_id": int(reply[3]),
                "agent_state": reply[4],
                "queue": entry["queue"],
                "call_sid": entry.get("call_sid") or None,
                "kind": entry.get("kind", "call"),
                "phone": entry.get("phone") or None,
                "retry": again > 0,
                "gave_up": gave_up,
            },
        )
        return self._follow(outcome, reply[5:])

    # ------------------------------------------------------------------ deadlines
    def tick(self, *, limit: int = 200) -> list[Action]:
        """Handle every deadline that is due: offer timeouts, wrap-up ends, escalations, max
        waits. Safe with any number of tickers: each deadline is claimed by one."""
        now, _ = self._now()
        due = self.scripts("claim_due", [self.keys.deadlines], [now, limit])
        actions: list[Action] = []
        for item in due:
            kind, _, rest = item.partition("|")
            try:
                actions.extend(self._due(kind, rest))
            except Exception:
                log.exception("deadline %s failed; retried in 1 s", item)
                self.redis.zadd(self.keys.deadlines, {item: now + 1000})
        return actions

    def _due(self, kind: str, rest: str) -> list[Action]:
        if kind == "offer":
            entry_id, _, agent_id = rest.rpartition("|")
            outcome = self.release(int(agent_id), entry_id, "timeout")
            if outcome.state == "noop":
                return []
            profile = self._profile(agent_id)
            cancel = Action("cancel", entry_id, int(agent_id), profile.identity if profile else "")
            return [cancel, *outcome.actions]
        if kind == "wrap":
            return self.make_ready(rest, expect=("wrap_up",)).actions
        if kind == "escalate":
            return self._escalate(rest)
        if kind == "maxwait":
            return [Action("overflow", rest, 0, "")]
        if kind == "callback":
            return self._requeue(rest, None)
        log.warning("unknown deadline kind %s", kind)
        return []

    def _escalate(self, entry_id: str) -> list[Action]:
        entry = self.entry(entry_id)
        if entry is None or entry["state"] == "connected":
            return []
        config = self._queues().get(entry["queue"])
        if config is None or not config.escalation_relax_levels:
            return []
        relax = config.escalation_relax_levels
        return self._requeue(
            entry_id, {s: max(1, int(v) - relax) for s, v in entry["need"].items()}
        )

    def _requeue(self, entry_id: str, needs: dict[str, int] | None) -> list[Action]:
        """New needs (aging), or the same (a scheduled callback waits again); then a try."""
        entry = self.entry(entry_id)
        config = self._queues().get(entry["queue"]) if entry else None
        if entry is None or config is None:
            return []
        needs = entry["need"] if needs is None else needs
        new_sig = signature(needs)
        again = 0
        if new_sig != entry["sig"] and any(lvl > 1 for lvl in needs.values()):
            again = (config.escalation_after_seconds or 0) * 1000
        now, _ = self._now()
        reply = self.scripts(
            "requeue",
            [
                self.keys.entries,
                self.keys.waiting(config.name, entry["sig"]),
                self.keys.waiting(config.name, new_sig),
                self.keys.signatures(config.name),
                self.keys.signatures_version,
                self.keys.deadlines,
                self.keys.events,
                self.keys.counts,
            ],
            [now, entry_id, entry["sig"], new_sig, needs, again],
        )
        if reply[0] == "stale":
            return self._requeue(entry_id, needs)
        return self.retry(entry_id).actions if reply[0] == "ok" else []

    # ------------------------------------------------------------------ reading
    def agent(self, agent_id: str | int) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.agents, str(agent_id))
        return json.loads(raw) if raw else None

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.entries, entry_id)
        if not raw:
            return None
        doc = json.loads(raw)
        doc["need"] = doc.get("need") or {}
        return doc

    def estimate(self, entry_id: str) -> tuple[int, float] | None:
        """(position in line, estimated seconds to wait) for a waiting caller, or None
        (routing/estimates.py says how)."""
        return estimate(self, entry_id)

    def when(self, value: int | float) -> datetime:
        return from_ms(value)

    # ------------------------------------------------------------------ follow-ups
    def _follow(self, outcome: Outcome, raw_actions: list[str]) -> Outcome:
        for raw in raw_actions:
            kind, *args = json.loads(raw)
            if kind == "ready":
                outcome.actions.extend(self.make_ready(args[0]).actions)
            elif kind == "retry":
                outcome.actions.extend(self.retry(args[0]).actions)
            elif kind == "offer":
                entry_id, agent_id, identity, call_sid, entry_kind, phone = args
                outcome.actions.append(
                    Action(
                        "offer",
                        entry_id,
                        int(agent_id),
                        identity,
                        call_sid or None,
                        entry_kind,
                        phone or None,
                    )
                )
            elif kind == "wrapped":  # a wrap-up ended: its length, for the call's row
                call_sid, agent_id, waited = args
                outcome.actions.append(
                    Action(
                        "wrapped",
                        call_sid,
                        int(agent_id),
                        "",
                        call_sid,
                        seconds=round(waited / 1000),
                    )
                )
            else:  # cancel, withdraw
                entry_id, agent_id, identity = args
                outcome.actions.append(Action(kind, entry_id, int(agent_id), identity))
        return outcome
