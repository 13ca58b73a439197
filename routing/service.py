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
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from crm_core.acd import QueueConfig
from crm_core.clock import Clock
from crm_core.errors import InvalidInput, NotFound
from routing.callers import RETRIES, Callers
from routing.deadlines import Deadlines
from routing.errors import IllegalTransition, Stale, refusal
from routing.estimates import estimate
from routing.handover import Handover
from routing.keys import Keys
from routing.model import (
    Action,
    AgentProfile,
    AgentState,
    AwayReason,
    Outcome,
    Priority,
    levels,
    parse_signature,
    signature,
)
from routing.results import Release, Result
from routing.scripts import Scripts, from_ms, ms

log = logging.getLogger("callcenter.routing")
__all__ = [
    "Action",
    "AgentProfile",
    "AgentState",
    "AwayReason",
    "Outcome",
    "Priority",
    "Router",
    "parse_signature",
    "signature",
]


class Router:
    """The ACD's one entry point. Agents' presence and wrap-up live here; callers, deadlines
    and handovers are its parts (``self.callers``, ``self.deadlines``, ``self.handovers``),
    whose methods the router offers as its own (``router.enqueue``, ``router.tick``,
    ``router.handover``…) so that a caller of the router never needs to know the split."""

    def __init__(
        self,
        connection: redis.Redis,
        clock: Clock,
        queues: Callable[[], Mapping[str, QueueConfig]],
        *,
        keys: Keys | None = None,
        max_misses: int = 2,
        time_zone: str = "America/New_York",
        outcome_pending: Callable[[str], bool] | None = None,
    ) -> None:
        self.redis = connection
        self.clock = clock
        self.keys = keys or Keys()
        self.scripts = Scripts(connection)
        # Every queue's configuration by name, active or not (cached; see config.py)
        self.queues = queues
        self.max_misses = max_misses
        self.zone = ZoneInfo(time_zone)
        # CallSid → the call's outcome is not saved yet (from SQL; None: never held)
        self.outcome_pending = outcome_pending
        self._sigs: dict[str, set[str]] = {}
        self._sigver = "0"
        self.callers = Callers(self)
        self.deadlines = Deadlines(self)
        self.handovers = Handover(self)
        # The parts' methods, as the router's own
        self.enqueue = self.callers.enqueue
        self.retry = self.callers.retry
        self.move = self.callers.move
        self.keep_place = self.callers.keep_place
        self.accept = self.callers.accept
        self.release = self.callers.release
        self.caller_gone = self.callers.caller_gone
        self.call_ended = self.callers.call_ended
        self.tick = self.deadlines.tick
        self.handover = self.handovers.handover

    # ------------------------------------------------------------------ configuration
    def queue(self, name: str) -> QueueConfig:
        config = self.queues().get(name)
        if config is None or not config.active:
            raise NotFound("There is no queue by that name taking calls.", field="queue")
        return config

    def queues_of(self, skills: Mapping[str, int]) -> list[QueueConfig]:
        """The active queues whose required skills the agent has, at their levels."""
        return [
            q
            for q in self.queues().values()
            if q.active and all(skills.get(s, 0) >= lvl for s, lvl in q.required_skills.items())
        ]

    def now(self) -> tuple[int, str]:
        """(now in the scripts' milliseconds, today's local date): what every script takes."""
        now = self.clock.now()
        return ms(now), now.astimezone(self.zone).date().isoformat()

    def signatures(
        self, queues: list[str], *, seen: str | None = None
    ) -> tuple[str, dict[str, set[str]]]:
        """The signatures of these queues and the version they were read at, read together
        (one MULTI) and cached until a script reports the version moved on, or a reader
        saw another version (``seen``: the hold loop's estimate reads it beside the sets)."""
        if seen is not None and seen != self._sigver:
            self._sigs.clear()
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
                return self.signatures(queues)
        return self._sigver, {q: self._sigs[q] for q in queues}

    # ------------------------------------------------------------------ agents
    def set_presence(
        self,
        agent: AgentProfile,
        state: AgentState | str,
        reason: str | None = None,
        *,
        expect: Iterable[str] | None = None,
        force: bool = False,
        supervisor: bool = False,
    ) -> Outcome:
        """available, away (with a reason code) or offline. Becoming available takes the
        best waiting call at once. ``expect``: only from these states (else no change).
        ``force`` (a supervisor signing the agent out): an agent on a call goes offline when
        it ends (state "offline_after_call"). A refusal is an IllegalTransition worded for
        the agent, or for a supervisor (``supervisor``)."""
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
                version, sigs = self.signatures([q.name for q in queues])
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
            now, day = self.now()
            try:
                reply = self.scripts(
                    "presence",
                    [
                        *self.keys.core,
                        self.keys.signatures_version,
                        *ready_keys,
                        *wait_keys,
                        self.keys.why(day),
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
                        force,
                    ],
                    supervisor=supervisor,
                )
            except Stale:  # a queue gained a signature: read them again
                self._sigs.clear()
                continue
            except IllegalTransition as refused:
                log.info("agent %s: presence %s refused (%s)", agent.id, state, refused.error_id)
                raise
            return self.follow(Outcome(reply[1]), reply[2:])
        raise Stale(f"presence of agent {agent.id}: state kept changing")

    def profile(self, agent_id: str | int) -> AgentProfile | None:
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
        profile = self.profile(agent_id)
        if profile is None:
            return Outcome(Result.GONE)
        return self.set_presence(profile, AgentState.AVAILABLE, expect=expect)

    def end_wrap_up(self, agent_id: int) -> Outcome:
        """The agent (or a supervisor) ends wrap-up early; the ticker ends it on time."""
        return self.make_ready(agent_id, expect=("wrap_up",))

    # ------------------------------------------------------------------ wrap-up rules
    def wrap_up_call(self, agent_id: int | str) -> tuple[str, QueueConfig | None] | None:
        """(CallSid, its queue's configuration) of the call the agent is wrapping up, or
        None when the agent is not in wrap-up."""
        doc = self.agent(agent_id)
        if doc is None or doc.get("state") != AgentState.WRAP_UP or not doc.get("last_call"):
            return None
        return doc["last_call"], self.queues().get(doc.get("last_queue") or "")

    def disposition_pending(self, agent_id: int | str) -> bool:
        """The agent is in wrap-up on a call of a queue with ``disposition_required`` and
        the call's outcome is not saved (``outcome_pending``, given by the app, answers
        that from SQL): wrap-up does not end by itself, nor by the agent's choice."""
        found = self.wrap_up_call(agent_id)
        if found is None or self.outcome_pending is None:
            return False
        call_sid, config = found
        entry = self.entry(call_sid)
        if entry is not None and str(entry.get("agent")) != str(agent_id):
            return False  # handed over: the call goes on, its last agent disposes of it
        return bool(config is not None and config.disposition_required) and self.outcome_pending(
            call_sid
        )

    def wrap_overdue(self, doc: Mapping[str, Any] | None) -> bool:
        """The agent's wrap-up is past its time (held there for a disposition)."""
        if not doc or doc.get("state") != AgentState.WRAP_UP or not doc.get("wrap_until"):
            return False
        return self.now()[0] > int(doc["wrap_until"])

    # ------------------------------------------------------------------ supervisors
    def force_offline(self, agent: AgentProfile) -> Outcome:
        """A supervisor signs the agent out whatever the state: ringing, the offer is
        withdrawn (no miss) and the caller offered to the next agent (``detail["entry"]``:
        the offer to stop ringing); on a call, out when it ends ("offline_after_call");
        in wrap-up, it ends (its "wrapped" action keeps the draft)."""
        for _ in range(RETRIES):
            doc = self.agent(agent.id) or {}
            if doc.get("state") == AgentState.RESERVED and doc.get("offer"):
                entry_id = str(doc["offer"])
                outcome = self.release(agent.id, entry_id, Release.WITHDRAWN)
                if outcome.state == Result.NOOP:  # answered or gone in that instant: again
                    continue
                outcome.state = AgentState.OFFLINE.value
                outcome.detail["entry"] = entry_id
                return outcome
            try:
                return self.set_presence(agent, AgentState.OFFLINE, force=True, supervisor=True)
            except IllegalTransition:  # it moved (e.g. an offer came): look again
                continue
        log.warning("sign-out of agent %s: the state kept changing", agent.id)
        raise refusal("", supervisor=True)  # "… cannot change at this moment; try again"

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

    def estimate(self, entry_id: str, entry: dict | None = None) -> tuple[int, float] | None:
        """(position in line, estimated seconds to wait) for a waiting caller, or None
        (routing/estimates.py says how). ``entry``: the caller's entry, if just read."""
        return estimate(self, entry_id, entry=entry)

    def when(self, value: int | float) -> datetime:
        return from_ms(value)

    # ------------------------------------------------------------------ follow-ups
    def follow(self, outcome: Outcome, raw_actions: list[str]) -> Outcome:
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
