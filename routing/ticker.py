"""The ticker: deadlines swept within a second, and the router's records drained into SQL.

Every ``interval`` (0.25 s) it claims the deadlines that are due (offer timeouts, wrap-up
ends, escalations, max waits, callback times) and carries out what they lead to; every
``drain_every`` (2 s) it moves the explained offers, their outcomes and the announced
estimates from the router's Redis stream into SQL (routing_offers, routing_wait_estimates).
What a due deadline ends is written by the call's lifecycle (routing/lifecycle.py): a
wrap-up's end comes back as the Dispatcher's ``wrapped`` action, whose ``on_wrapped`` is
``lifecycle.record_wrap`` (the wrap time on the Call row, the outcome's draft settled).

Any number of tickers may run (one per host, or inside each ``callcenter run``): a deadline
is claimed by exactly one (claim_due.lua), and the stream is read through one consumer
group, so each record is written once. A record whose write failed stays pending and is
claimed again after ``RECLAIM_MS``. With each drain it also forgets the agents' legs of
calls the router no longer has (sweep_legs.lua), so no key of the router grows without end.

Beside the sweep, a thread of its own looks for the router's epoch every
``recovery.CHECK_SECONDS``: a Redis flushed or restarted without its data is noticed within
a second, whatever the sweep is doing (a long drain, a Redis that is still away), and
rebuilt from SQL and the carrier (routing/recovery.py).
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
from typing import Any

import redis

from crm_core.acd import record_estimates, record_offers, set_actual_wait, set_offer_outcome
from crm_core.acd_records import record_waits
from crm_core.acd_schemas import EstimateRow, OfferOutcome, OfferRow, WaitOutcome, valid_rows
from crm_core.errors import InvalidInput
from routing.recovery import CHECK_SECONDS, Parts, epoch_lost
from routing.scripts import from_ms

log = logging.getLogger("callcenter.routing.ticker")
GROUP = "sql"
RECLAIM_MS = 60_000
OUTCOMES = {o.value for o in OfferOutcome} | {"deferred"}
WAIT_OUTCOMES = {
    "abandoned": WaitOutcome.ABANDONED,
    "left": WaitOutcome.OVERFLOWED,
    "supervisor": WaitOutcome.SUPERVISOR,  # a supervisor ended the call: no abandon
    "system": WaitOutcome.SYSTEM,  # the demo stopping ended it: no abandon
}


class Ticker:
    def __init__(
        self,
        deps: Parts,
        *,
        interval: float = 0.25,
        drain_every: float = 2.0,
        check_every: float = CHECK_SECONDS,
    ) -> None:
        self.deps = deps
        self.interval = interval
        self.drain_every = drain_every
        self.check_every = check_every
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._legs_cursor = 0

    def once(self) -> int:
        """One sweep of the due deadlines; returns how many actions it carried out."""
        actions = self.deps.router.tick()
        self.deps.dispatcher.run(actions)
        return len(actions)

    def drain(self, count: int = 500) -> int:
        handled = drain(self.deps, self.consumer, count=count)
        self.sweep_legs()
        return handled

    def sweep_legs(self, count: int = 500) -> int:
        """Forget up to about ``count`` legs of calls the router no longer has; the next
        call carries on where this one stopped (HSCAN's cursor)."""
        router = self.deps.router
        now, _ = router.now()
        cursor, removed = router.scripts(
            "sweep_legs",
            [router.keys.legs, router.keys.entries],
            [now, self._legs_cursor, count],
        )
        self._legs_cursor = int(cursor)
        return int(removed)

    def check(self) -> bool:
        """Is the epoch gone? Then this process (if first) rebuilds; True if it did."""
        return epoch_lost(self.deps, consumer=self.consumer)

    def run(self) -> None:
        """Until ``stop()``: sweep every interval, drain every drain_every seconds; the
        epoch is looked for beside it (``watch``, on its own thread)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self.watch, name="acd-epoch", daemon=True)
            self._watcher.start()
        since_drain = self.drain_every
        while not self.stopped.is_set():
            try:
                self.once()
                since_drain += self.interval
                if since_drain >= self.drain_every:
                    self.drain()
                    since_drain = 0.0
            except redis.RedisError:
                log.exception("ticker: Redis unavailable; trying again")
            except Exception:
                log.exception("ticker: sweep failed; trying again")
            self.stopped.wait(self.interval)

    def watch(self) -> None:
        """Until ``stop()``: look for the epoch every check_every seconds, on this thread
        alone, so that nothing the sweep does delays noticing a Redis that lost its data."""
        down = False
        while not self.stopped.is_set():
            try:
                self.check()
                if down:
                    log.info("ticker: Redis is back")
                down = False
            except redis.RedisError as exc:
                if not down:  # once per outage, not twice a second
                    log.warning("ticker: Redis unavailable (%s); looking again", exc)
                down = True
            except Exception:
                log.exception("ticker: the rebuild after a Redis loss failed; trying again")
            self.stopped.wait(self.check_every)

    def start(self) -> Ticker:
        self._thread = threading.Thread(target=self.run, name="acd-ticker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        for thread in (self._watcher, self._thread):
            if thread is not None:
                thread.join(timeout=5)


def drain(deps: Parts, consumer: str, *, count: int = 500) -> int:
    """Write the router's stream records into SQL; returns how many were handled."""
    r, stream = deps.router.redis, deps.router.keys.offers
    try:
        r.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    # Redis 6.2 answers [next, messages], 7 adds the deleted ids: the messages are second.
    reclaimed = r.xautoclaim(stream, GROUP, consumer, RECLAIM_MS, "0-0", count=count)[1]
    fresh = r.xreadgroup(GROUP, consumer, {stream: ">"}, count=count) or []
    messages = list(reclaimed) + [m for _, batch in fresh for m in batch]
    if not messages:
        return 0
    records = []
    for message_id, fields in messages:
        try:
            records.append(json.loads(fields[b"e"]))
        except (KeyError, ValueError):
            log.warning("unreadable router record %s dropped", message_id)
    with deps.session_factory.begin() as session:
        write(session, records)
    r.xack(stream, GROUP, *[m for m, _ in messages])
    return len(messages)


def write(session: Any, records: list[dict[str, Any]]) -> None:
    """Offers first (so outcomes find them), then outcomes and waits, in stream order. A
    record that cannot be read is logged and skipped: it must not hold back the others."""
    offers = _valid(OfferRow, [_offer_row(r) for r in records if r.get("kind") == "offer"])
    if offers:
        record_offers(session, offers)
    estimates = [_estimate_row(r) for r in records if r.get("kind") == "estimate"]
    estimates = _valid(EstimateRow, [e for e in estimates if e is not None])
    if estimates:
        record_estimates(session, estimates)
    for record in records:
        try:
            _settle(session, record)
        except InvalidInput as exc:
            log.warning("router record %s skipped: %s", record, exc.message)
        except (KeyError, TypeError, ValueError) as exc:  # e.g. a wait that is not a number
            log.warning("router record %s skipped: unreadable (%r)", record, exc)
    waits = [_wait_row(r) for r in records if r.get("kind") in ("outcome", "wait_end")]
    waits = [w for w in waits if w is not None]
    if waits:
        record_waits(session, waits)


def _settle(session: Any, record: dict[str, Any]) -> None:
    kind = record.get("kind")
    at = from_ms(record.get("at") or 0)
    if kind == "outcome" and record.get("outcome") in OUTCOMES:
        outcome = record["outcome"]
        outcome = "withdrawn" if outcome == "deferred" else outcome
        set_offer_outcome(session, str(record["entry"]), _int(record.get("agent")), outcome, at)
        if outcome == "accepted" and record.get("call_sid"):
            waited = round((record.get("waited_ms") or 0) / 1000)
            set_actual_wait(session, record["call_sid"], waited, WaitOutcome.ANSWERED)
    elif kind == "wait_end" and record.get("call_sid"):
        waited = round((record.get("waited_ms") or 0) / 1000)
        outcome = WAIT_OUTCOMES.get(record.get("outcome"), WaitOutcome.ABANDONED)
        set_actual_wait(session, record["call_sid"], waited, outcome)
        set_offer_outcome(session, str(record["entry"]), None, "caller_gone", at)


def _valid(model: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        try:
            valid_rows(model, [row])
        except InvalidInput as exc:
            log.warning("router record %s skipped: %s", row, exc.message)
        else:
            out.append(row)
    return out


def _offer_row(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "offered_at": from_ms(record.get("at") or 0),
        "queue_name": record.get("queue") or "",
        "call_sid": record.get("call_sid") or str(record.get("entry")),
        "entry_id": str(record.get("entry")),
        "agent_id": _int(record.get("agent")),
        "strategy": record.get("strategy"),
        "rule": record.get("rule") or "",
        "candidates": [
            {
                "agent_id": _int(c.get("agent")),
                "score": c.get("score"),
                "eligible_reason": "eligible" if c.get("eligible", True) else "not eligible",
            }
            for c in (record.get("candidates") or [])
            if isinstance(c, dict)
        ],
    }


def _estimate_row(record: dict[str, Any]) -> dict[str, Any] | None:
    if not record.get("call_sid") and not record.get("entry"):
        return None
    return {
        "call_sid": record.get("call_sid") or str(record.get("entry")),
        "queue_name": record.get("queue") or "",
        "announced_at": from_ms(record.get("at") or 0),
        "position": record.get("position") or 1,
        "waited_seconds": round((record.get("waited_ms") or 0) / 1000),
        "estimate_seconds": round(record.get("estimate_seconds") or 0),
        "asterisk_estimate_seconds": record.get("asterisk_seconds"),
    }


def _wait_row(record: dict[str, Any]) -> dict[str, Any] | None:
    """The wait a record ends, or None: not an end of a wait (another outcome, a transferred
    call's), or unreadable (logged)."""
    if record.get("transfer"):
        return None
    if record.get("kind") == "outcome":
        if record.get("outcome") != "accepted":
            return None
        callback = record.get("entry_kind") == "callback"
        outcome = WaitOutcome.CALLBACK if callback else WaitOutcome.ANSWERED
    else:
        outcome = WAIT_OUTCOMES.get(record.get("outcome"), WaitOutcome.ABANDONED)
    waited, at, entry, queue = (record.get(k) for k in ("waited_ms", "at", "entry", "queue"))
    if not (_whole(waited) and waited >= 0 and _whole(at) and entry and queue):
        log.warning("router record %s has no readable wait: not counted", record)
        return None
    return {
        "queue_name": str(queue),
        "call_sid": record.get("call_sid") or str(entry),
        "entry_id": str(entry),
        "ended_at": from_ms(at),
        "waited_ms": int(waited),
        "outcome": outcome,
    }


def _whole(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value == int(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
