"""The router's callers: joining a queue, trying again, moving, keeping a place as a
callback, and how an offer ends (accepted, released, the caller gone, the call over).

A part of ``routing.service.Router`` (``router.callers``), which offers each of these as its
own method too. It holds the router it serves: a script's follow-ups (an agent freed, a
caller to try again) go back through the router's presence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from crm_core.acd import QueueConfig
from crm_core.errors import Conflict, InvalidInput, NotFound
from routing.errors import Stale
from routing.estimates import note_answered
from routing.model import MAX_LEVEL, Outcome, Priority, signature
from routing.results import Left, Release, Reply, Result
from routing.scripts import from_ms, ms

if TYPE_CHECKING:
    from routing.service import Router

RETRIES = 5


class Callers:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.keys = router.keys
        self.scripts = router.scripts

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
        config = self.router.queue(queue)
        if empty_check is None:
            empty_check = str(config.empty_action) != "wait"
        needs = {k: int(v) for k, v in (needs or {}).items()}
        for skill, level in needs.items():
            if not 1 <= level <= MAX_LEVEL:
                raise InvalidInput(f"skill {skill} level must be 1..{MAX_LEVEL}", field="needs")
        now, _ = self.router.now()
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
        entry = self.router.entry(entry_id)
        if entry is None:
            return Outcome(Result.GONE)
        config = self.router.queues().get(entry["queue"])
        if config is None:
            return Outcome(entry["state"])
        return self._enqueue(config, entry, "retry", False)

    def _enqueue(self, config: QueueConfig, entry: dict, mode: str, empty_check: bool) -> Outcome:
        needs = entry.get("need") or {}
        ring_all = str(config.strategy) == "ring_all"
        now, day = self.router.now()
        reply = self.scripts(
            "enqueue",
            [
                *self.keys.core,
                self.keys.signatures_version,
                self.keys.signatures(config.name),
                self.keys.waiting(config.name, entry["sig"]),
                self.keys.ready(config.name, entry["sig"]),
                self.keys.stats(day),
                self.keys.ready(config.name),
                self.keys.why(day),
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
        if reply[0] is Reply.EMPTY:
            return Outcome(Result.EMPTY)
        return self.router.follow(Outcome(reply[1]), reply[2:])

    def move(self, entry_id: str, queue: str) -> Outcome:
        """Take a waiting caller to another queue (overflow, a supervisor's move) keeping its
        original enqueue time, priority and needed skills."""
        entry = self.router.entry(entry_id)
        if entry is None:
            raise NotFound("That caller is no longer waiting in any queue.", field="entry")
        target = self.router.queue(queue)
        left = self.caller_gone(entry_id, Left.LEFT)
        if left.state != Result.GONE:
            raise Conflict(
                "That caller is already talking to an agent, so they can no longer be moved.",
                field="entry",
            )
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
        now, _ = self.router.now()
        reply = self.scripts(
            "keep_place",
            [self.keys.entries, self.keys.events],
            [now, entry_id, phone],
        )
        return reply[0] is Reply.OK

    def accept(self, agent_id: int, entry_id: str) -> Outcome:
        """The agent answered the offer. State "connected", or "gone" (caller left, offer
        withdrawn): then the agent's leg should be told so and hung up."""
        entry = self.router.entry(entry_id)
        config = self.router.queues().get(entry["queue"]) if entry else None
        sl = (config.service_level_seconds if config else 20) * 1000
        now, day = self.router.now()
        reply = self.scripts(
            "accept",
            [
                *self.keys.core,
                self.keys.stats(day),
            ],
            [now, agent_id, entry_id, sl],
        )
        if reply[0] is Reply.GONE:
            return Outcome(Result.GONE, detail={"why": reply[1]})
        if reply[0] is Reply.AGAIN:
            return Outcome(Result.CONNECTED, detail={"waited_ms": int(reply[1]), "again": True})
        outcome = self.router.follow(Outcome(Result.CONNECTED), reply[2:])
        outcome.detail["waited_ms"] = int(reply[1])
        # Asterisk's holdtime, kept to measure our estimates against (a transferred call
        # was answered before: its wait counted then).
        if entry is not None and not entry.get("transfer"):
            note_answered(self.router, entry["queue"], int(reply[1]))
        return outcome

    def release(
        self,
        agent_id: int,
        entry_id: str,
        why: Release | str = Release.REJECTED,
        *,
        defer_until: datetime | None = None,
    ) -> Outcome:
        """The offer ended without a call: rejected, timeout or failed (the agent's leg), or
        deferred (a callback that may not be placed before ``defer_until``: no miss)."""
        if why not in set(Release):
            raise InvalidInput(f"why is {', '.join(Release)}", field="why")
        why = Release(why)
        if why is Release.DEFERRED and defer_until is None:
            raise InvalidInput("a deferred callback needs a time", field="defer_until")
        for _ in range(RETRIES):
            entry = self.router.entry(entry_id)
            sig = entry["sig"] if entry else ""
            queue = entry["queue"] if entry else ""
            now, _ = self.router.now()
            try:
                reply = self.scripts(
                    "release",
                    [
                        *self.keys.core,
                        self.keys.waiting(queue, sig),
                    ],
                    [
                        now,
                        agent_id,
                        entry_id,
                        why,
                        self.router.max_misses,
                        sig,
                        ms(defer_until) if defer_until else 0,
                    ],
                )
            except Stale:
                continue
            if reply[0] is Reply.NOOP:
                return Outcome(Result.NOOP)
            return self.router.follow(Outcome(reply[1], detail={"entry": reply[2]}), reply[3:])
        raise Stale(f"release of {entry_id}: state kept changing")

    def caller_gone(self, entry_id: str, why: Left | str = Left.ABANDONED) -> Outcome:
        """The caller hung up while waiting or ringing ("abandoned"), or the router takes it
        out of the queue ("left": overflow, voicemail, callback), or a supervisor or the
        system ended the call ("supervisor", "system": no abandon). Ringing agents are
        freed."""
        if why not in set(Left):
            raise InvalidInput(f"why is {', '.join(Left)}", field="why")
        for _ in range(RETRIES):
            entry = self.router.entry(entry_id)
            if entry is None:
                return Outcome(Result.NOOP)
            now, day = self.router.now()
            try:
                reply = self.scripts(
                    "caller_gone",
                    [
                        *self.keys.core,
                        self.keys.waiting(entry["queue"], entry["sig"]),
                        self.keys.stats(day),
                    ],
                    [now, entry_id, entry["sig"], str(why)],
                )
            except Stale:
                continue
            if reply[0] is Reply.NOOP:
                return Outcome(Result.NOOP)
            if reply[0] is Reply.CONNECTED:
                return Outcome(Result.CONNECTED)
            outcome = Outcome(
                Result.GONE,
                detail={"was": reply[1], "waited_ms": int(reply[2]), "entry": json.loads(reply[3])},
            )
            return self.router.follow(outcome, reply[4:])
        raise Stale(f"caller_gone of {entry_id}: state kept changing")

    def call_ended(self, entry_id: str, *, callback_status: str | None = None) -> Outcome:
        """The connected call is over: the agent wraps up (for the queue's wrap-up time).

        For a callback, ``callback_status`` is how the customer's leg ended (the Dial's
        DialCallStatus): unanswered, it is tried again ``callback_retry_minutes`` later, up
        to ``callback_attempts`` times; after the last, ``detail["gave_up"]`` is True."""
        entry = self.router.entry(entry_id)
        if entry is None:
            return Outcome(Result.NOOP)
        config = self.router.queues().get(entry["queue"])
        wrap = (config.wrap_up_seconds if config else 0) * 1000
        if wrap == 0 and config is not None and config.disposition_required:
            wrap = 1  # held in wrap-up until the disposition is saved, even with no wrap time
        again, gave_up = 0, False
        if entry.get("kind") == "callback" and callback_status not in (None, "completed"):
            attempts = int(entry.get("attempts") or 0) + 1
            if config is not None and attempts < config.callback_attempts:
                again = config.callback_retry_minutes * 60_000
            else:
                gave_up = True
        now, day = self.router.now()
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
        if reply[0] is Reply.NOOP:
            return Outcome(Result.NOOP)
        outcome = Outcome(
            Result.ENDED,
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
        return self.router.follow(outcome, reply[5:])
