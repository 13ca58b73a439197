"""The router's deadlines: offer timeouts, wrap-up ends, escalations (aging), max waits
and callback times, claimed by exactly one ticker each.

A part of ``routing.service.Router`` (``router.deadlines``; ``router.tick`` runs it): what a
deadline does is the router's own business (release an offer, end a wrap-up, re-queue).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from routing.errors import Stale
from routing.model import Action, signature
from routing.results import Release, Reply, Result

if TYPE_CHECKING:
    from routing.service import Router

log = logging.getLogger("callcenter.routing")
HELD_RECHECK_MS = 5000  # a wrap-up held for its disposition is looked at again this often


class Deadlines:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.keys = router.keys
        self.scripts = router.scripts

    def tick(self, *, limit: int = 200) -> list[Action]:
        """Handle every deadline that is due: offer timeouts, wrap-up ends, escalations, max
        waits. Safe with any number of tickers: each deadline is claimed by one."""
        now, _ = self.router.now()
        due = self.scripts("claim_due", [self.keys.deadlines], [now, limit])
        actions: list[Action] = []
        for item in due:
            kind, _, rest = item.partition("|")
            try:
                actions.extend(self._due(kind, rest))
            except Exception:
                log.exception("deadline %s failed; retried in 1 s", item)
                self.router.redis.zadd(self.keys.deadlines, {item: now + 1000})
        return actions

    def offer_due(self, entry_id: str, agent_id: int | str) -> float | None:
        """When the offer of ``entry_id`` to the agent times out (the scripts' ms), or None
        when no such offer waits: the desk counts down to it."""
        return self.router.redis.zscore(self.keys.deadlines, f"offer|{entry_id}|{agent_id}")

    def _due(self, kind: str, rest: str) -> list[Action]:
        if kind == "offer":
            entry_id, _, agent_id = rest.rpartition("|")
            outcome = self.router.release(int(agent_id), entry_id, Release.TIMEOUT)
            if outcome.state == Result.NOOP:
                return []
            profile = self.router.profile(agent_id)
            cancel = Action("cancel", entry_id, int(agent_id), profile.identity if profile else "")
            return [cancel, *outcome.actions]
        if kind == "wrap":
            if self.router.disposition_pending(rest):  # held, overdue, until the outcome is saved
                # Looked at again shortly, so an outcome saved by any path frees the agent
                # (the outcome API frees them at once). Left over if the agent leaves
                # wrap-up meanwhile, it finds nobody in wrap-up and does nothing.
                now, _ = self.router.now()
                self.router.redis.zadd(self.keys.deadlines, {f"wrap|{rest}": now + HELD_RECHECK_MS})
                log.info("agent %s stays in wrap-up: the disposition is not saved", rest)
                return []
            return self.router.make_ready(rest, expect=("wrap_up",)).actions
        if kind == "escalate":
            return self._escalate(rest)
        if kind == "maxwait":
            return [Action("overflow", rest, 0, "")]
        if kind == "callback":
            return self._requeue(rest, None)
        log.warning("unknown deadline kind %s", kind)
        return []

    def _escalate(self, entry_id: str) -> list[Action]:
        entry = self.router.entry(entry_id)
        if entry is None or entry["state"] == "connected":
            return []
        config = self.router.queues().get(entry["queue"])
        if config is None or not config.escalation_relax_levels:
            return []
        relax = config.escalation_relax_levels
        return self._requeue(
            entry_id, {s: max(1, int(v) - relax) for s, v in entry["need"].items()}
        )

    def _requeue(self, entry_id: str, needs: dict[str, int] | None) -> list[Action]:
        """New needs (aging), or the same (a scheduled callback waits again); then a try."""
        entry = self.router.entry(entry_id)
        config = self.router.queues().get(entry["queue"]) if entry else None
        if entry is None or config is None:
            return []
        needs = entry["need"] if needs is None else needs
        new_sig = signature(needs)
        again = 0
        if new_sig != entry["sig"] and any(lvl > 1 for lvl in needs.values()):
            again = (config.escalation_after_seconds or 0) * 1000
        now, _ = self.router.now()
        try:
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
        except Stale:
            return self._requeue(entry_id, needs)
        return self.router.retry(entry_id).actions if reply[0] is Reply.OK else []
