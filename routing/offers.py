"""What the router decides, done on the phone network through the Carrier.

``Dispatcher.run(actions)`` carries out the router's actions: ring an agent's softphone for
an offer (a call to ``client:<identity>`` whose answer is the accept), stop ringing it
(the caller left, another agent took the ring-all call, the offer timed out), and move a
caller who waited too long to the queue's overflow. A carrier failure on an offer is the
agent's leg failing: the offer is released, and what the router does next is run in turn.

URLs are built from PUBLIC_BASE_URL and the fixed paths of routing/urls.py (routing/views.py
serves them), so the ticker can dispatch outside any request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import urlencode

from routing.gate import Verdict
from routing.service import Action, Router
from routing.urls import AGENT_ANSWERED, AGENT_STATUS, OVERFLOW
from telephony.carrier import Carrier, CarrierError

log = logging.getLogger("callcenter.routing")

RING_GRACE_SECONDS = 5  # the carrier rings a little longer than the offer: the ticker ends it
AGENT_EVENTS = ("initiated", "ringing", "answered", "completed")


class Dispatcher:
    def __init__(
        self,
        router: Router,
        carrier: Carrier,
        *,
        base_url: str,
        caller_id: str,
        gate: Callable[[str, datetime], Verdict] | None = None,
        on_wrapped: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.router = router
        self.carrier = carrier
        self.base_url = base_url.rstrip("/")
        self.caller_id = caller_id
        self.gate = gate
        self.on_wrapped = on_wrapped  # (call_sid, agent_id, seconds): the Call row's wrap time

    def url(self, path: str, **params: object) -> str:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def run(self, actions: Iterable[Action]) -> None:
        pending = list(actions)
        while pending:
            action = pending.pop(0)
            try:
                pending.extend(self._one(action))
            except Exception:  # one failed action must not strand the others
                log.exception("routing action %s failed", action)

    def _one(self, action: Action) -> list[Action]:
        if action.kind == "offer":
            return self._ring(action)
        if action.kind in ("cancel", "withdraw"):
            self.stop_ringing(action.entry_id, action.agent_id)
            return []
        if action.kind == "overflow":
            return self._overflow(action.entry_id)
        if action.kind == "wrapped":
            if self.on_wrapped is not None and action.call_sid:
                self.on_wrapped(action.call_sid, action.agent_id, action.seconds or 0)
            return []
        log.warning("unknown routing action %s", action)
        return []

    def _ring(self, action: Action) -> list[Action]:
        if action.entry_kind == "callback" and action.phone and self.gate is not None:
            verdict = self.gate(action.phone, self.router.clock.now())
            if verdict.reason == "do_not_call":  # never placed: the entry goes
                log.info(
                    "callback %s dropped: %s is on the do-not-call list",
                    action.entry_id,
                    action.phone,
                )
                return self.router.caller_gone(action.entry_id, "left").actions
            if not verdict.ok:
                return self.router.release(
                    action.agent_id, action.entry_id, "deferred", defer_until=verdict.not_before
                ).actions
        entry = self.router.entry(action.entry_id)
        queue = self.router.queues().get(entry["queue"]) if entry else None
        timeout = (queue.offer_timeout_seconds if queue else 15) + RING_GRACE_SECONDS
        params = {"entry": action.entry_id, "agent": action.agent_id}
        try:
            leg = self.carrier.create_call(
                f"client:{action.identity}",
                self.caller_id,
                self.url(AGENT_ANSWERED, **params),
                status_callback=self.url(AGENT_STATUS, **params),
                status_callback_events=AGENT_EVENTS,
                timeout=timeout,
            )
        except CarrierError as exc:
            log.warning("offer of %s to agent %s failed: %s", action.entry_id, action.agent_id, exc)
            return self.router.release(action.agent_id, action.entry_id, "failed").actions
        self.note_leg(action.entry_id, action.agent_id, leg)
        log.info(
            "offered %s (CallSid=%s) to agent %s, leg %s",
            action.entry_id,
            action.call_sid,
            action.agent_id,
            leg,
        )
        return []

    def note_leg(self, entry_id: str, agent_id: int, leg: str) -> None:
        """``leg`` is the agent's part of the call now (the ring's, or a re-joined one)."""
        self.router.redis.hset(self.router.keys.legs, f"{entry_id}|{agent_id}", leg)

    def leg(self, entry_id: str, agent_id: int) -> str | None:
        raw = self.router.redis.hget(self.router.keys.legs, f"{entry_id}|{agent_id}")
        return raw.decode() if raw else None

    def forget_leg(self, entry_id: str, agent_id: int) -> None:
        self.router.redis.hdel(self.router.keys.legs, f"{entry_id}|{agent_id}")

    def stop_ringing(self, entry_id: str, agent_id: int) -> None:
        leg = self.leg(entry_id, agent_id)
        if leg is None:
            return
        try:
            self.carrier.hang_up(leg)
        except CarrierError as exc:  # already over: nothing is ringing
            log.info("leg %s of %s was already over: %s", leg, entry_id, exc)
        self.forget_leg(entry_id, agent_id)

    def _overflow(self, entry_id: str) -> list[Action]:
        """Max wait reached: the queue's overflow (another queue, voicemail or a callback)."""
        entry = self.router.entry(entry_id)
        if entry is None or entry["state"] == "connected":
            return []
        if entry["state"] == "offered":  # ringing an agent now: let that offer finish first
            self.router.redis.zadd(
                self.router.keys.deadlines,
                {f"maxwait|{entry_id}": self.router.now()[0] + 5000},
            )
            return []
        queue = self.router.queues().get(entry["queue"])
        target = getattr(queue, "overflow_queue", None)
        action = str(getattr(queue, "overflow_action", None) or "voicemail")
        if action == "queue" and target:
            return self.router.move(entry_id, target).actions
        call_sid = entry.get("call_sid")
        if (
            action == "callback"
            and entry.get("phone")
            and self.router.keep_place(entry_id, entry["phone"])
        ):  # keeps its place, as a callback; the caller hears so and hangs up
            self._redirect(call_sid, self.url(OVERFLOW, action="callback", lang=entry.get("lang")))
            return []
        gone = self.router.caller_gone(entry_id, "left")
        self._redirect(call_sid, self.url(OVERFLOW, action="voicemail", lang=entry.get("lang")))
        return gone.actions

    def _redirect(self, call_sid: str | None, url: str) -> None:
        if call_sid:
            try:
                self.carrier.redirect_call(call_sid, url)
            except CarrierError as exc:
                log.warning("overflow of %s: the caller could not be moved: %s", call_sid, exc)
