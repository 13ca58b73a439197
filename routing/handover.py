"""A connected call handed from its agent to another: the router's side of transfers.
A part of ``routing.service.Router`` (``router.handovers``; ``router.handover`` runs it).

``handover(entry, from_agent, to_agent, mode)`` runs routing/lua/handover.lua, one state
change: the first agent's part ends as a call does for them (it counts as their call, with
its talk time, then wrap-up), and

* ``connect`` (warm transfer): the colleague, already on the line, is the call's agent now
  (busy); the call goes on in the same conference, whose SID the entry keeps so that its
  end still ends the call (routing/views.py);
* ``offer`` (cold transfer): the colleague's softphone rings like any offer, with the
  queue's offer timeout. Declined or unanswered, the caller waits in its queue again at its
  original enqueue time (release.lua does that for every offer).

The call was answered once, so the queue's answered count and service level do not move;
the Call row's talk time is the sum of the agents' parts (call_ended.lua).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_core.errors import NotFound
from routing.model import Outcome
from routing.results import Result

if TYPE_CHECKING:
    from routing.service import Router

MODES = {"connect": "away,available", "offer": "available"}


class Handover:
    def __init__(self, router: Router) -> None:
        self.router = router
        self.keys = router.keys
        self.scripts = router.scripts

    def handover(
        self,
        entry_id: str,
        from_agent: int,
        to_agent: int,
        *,
        mode: str,
        conference: str = "",
    ) -> Outcome:
        """Hand the call over; ``detail``: the first agent's ``talked_ms`` and
        ``agent_state``. Conflict when the call is not connected to ``from_agent`` or the
        other agent cannot take it now (``connect``: available or away, ``offer``:
        available, and neither ringing nor on a call)."""
        if mode not in MODES:
            raise ValueError(f"mode is connect or offer, not {mode!r}")
        entry = self.router.entry(entry_id)
        if entry is None:
            raise NotFound("That call is no longer going on.", field="call")
        config = self.router.queues().get(entry["queue"])
        wrap = (config.wrap_up_seconds if config else 0) * 1000
        timeout = (config.offer_timeout_seconds if config else 15) * 1000
        strategy = str(config.strategy) if config else "longest_idle"
        now, day = self.router.now()
        reply = self.scripts(
            "handover",
            [
                *self.keys.core,
                self.keys.handle_times(entry["queue"]),
                self.keys.stats(day),
                self.keys.why(day),
            ],
            [
                now,
                entry_id,
                from_agent,
                to_agent,
                mode,
                wrap,
                day,
                timeout,
                MODES[mode],
                strategy,
                conference,
            ],
        )
        outcome = Outcome(  # a refusal was raised by the script's call (routing/errors.py)
            Result.CONNECTED if mode == "connect" else Result.OFFERED,
            detail={
                "talked_ms": int(reply[1]),
                "agent_state": reply[2],
                "queue": entry["queue"],
                "waited_ms": int(entry["answered"]) - int(entry["qt"]),
            },
        )
        return self.router.follow(outcome, reply[3:])


def late_end(entry: dict | None, agent: int, conference_sid: str | None) -> bool:
    """Whether the end of a conference whose agent was ``agent`` comes too late to end the
    call: the caller was transferred out of it and is connected to another agent by now.
    Not late when the call was handed over inside that very conference (a warm transfer:
    the entry keeps its SID)."""
    return (
        entry is not None
        and entry.get("state") == "connected"
        and str(entry.get("agent")) != str(agent)
        and entry.get("conference") != conference_sid
    )
