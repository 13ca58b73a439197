"""An agent's call moves on: a cold transfer to a queue or to a colleague, a consult (the
colleague's softphone joins while the caller holds) that is cancelled or ends with the
colleague taking the call over, and where a call can go.

Each transfer moves three sides in one order: the router (Redis, its Lua scripts), the
carrier (the caller's leg, the conference's participants) and SQL (the Call row, through
the call's lifecycle, routing/lifecycle.py). The agent's screens (console/transfer.py)
check who may do what, account the caller's time on hold and write the audit log; they
never touch the router's keys, only these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from crm_core.errors import Conflict, NotFound
from routing import lifecycle, snapshot
from routing.errors import BUSY_NOW
from routing.lifecycle import Parts
from routing.model import Action, AgentProfile, AgentState, AwayReason, Outcome, Priority
from routing.results import Result
from routing.service import Router
from routing.urls import ENQUEUE
from telephony.carrier import CarrierError, attempt
from telephony.errors import CarrierFailed


class CallerHungUp(Conflict):
    """The caller hung up in the instant of the transfer: nothing is left to transfer (409).
    ``reason``: the carrier's answer, for the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__("the caller hung up before the transfer", field="call")
        self.reason = reason


def to_queue(parts: Parts, entry: dict[str, Any], agent_id: int, queue: str) -> dict[str, Any]:
    """Cold transfer to ``queue``: the agent's part ends as if the call had (the agent wraps
    up, the Call row gets that part's queue, wait and talk); the caller joins ``queue`` at
    the ORIGINAL enqueue time, not counted as abandoned, and holds there. ``detail``: the
    new entry's ``state`` and the agent's ``agent_state``."""
    router, dispatcher = parts.router, parts.dispatcher
    target = router.queue(queue)  # 404 naming "queue" if not an active queue
    caller = entry["call_sid"]
    ended = router.call_ended(entry["id"])  # the agent wraps up; nobody abandoned
    if ended.state != Result.ENDED:
        raise Conflict("the call ended in the meantime", field="call")
    dispatcher.run(ended.actions)
    dispatcher.forget_leg(entry["id"], agent_id)
    _first_part(parts, entry, agent_id, ended)
    joined = router.enqueue(
        entry["id"],
        target.name,
        call_sid=caller,
        priority=Priority(entry.get("prio", 0)),
        needs=entry.get("need") or {},
        enqueued_at=router.when(entry["t0"]),
        kind=entry.get("kind", "call"),
        phone=entry.get("phone") or None,
        language=entry.get("lang") or "en-US",
        empty_check=False,
    )
    _to_queue_hold(parts, entry, target.name)
    dispatcher.run(joined.actions)
    return {"queue": target.name, "state": joined.state, "agent_state": ended.detail["agent_state"]}


def to_agent(parts: Parts, entry: dict[str, Any], agent_id: int, colleague: int) -> dict[str, Any]:
    """Cold transfer to an available colleague: the router hands the entry over (the first
    agent wraps up, the colleague's softphone rings like any offer) while the caller holds
    in the original queue at the original enqueue time. ``detail``: the entry's ``state``
    and the first agent's ``agent_state``."""
    router, dispatcher = parts.router, parts.dispatcher
    handed = router.handover(entry["id"], agent_id, colleague, mode="offer")
    dispatcher.forget_leg(entry["id"], agent_id)
    _first_part(parts, entry, agent_id, handed)
    _to_queue_hold(parts, entry, entry["queue"], handed.actions)
    dispatcher.run(handed.actions)  # the colleague's softphone rings
    return {
        "state": (router.entry(entry["id"]) or {}).get("state", "gone"),
        "agent_state": handed.detail["agent_state"],
    }


def colleague(
    router: Router, me: int, agent_id: int, *, states: tuple[str, ...], field: str
) -> tuple[AgentProfile, str]:
    """The logged-in colleague a call may go to: their router profile and state; 404 /
    409 naming ``field`` (oneself, logged out, or not in one of ``states`` now)."""
    if agent_id == me:
        raise Conflict("That is you; choose a colleague.", field=field)
    other = router.profile(agent_id)
    state = (router.agent(agent_id) or {}).get("state")
    if other is None or not other.identity or state == AgentState.OFFLINE:
        raise NotFound(BUSY_NOW["offline"], field=field)
    if state not in states:
        raise Conflict(BUSY_NOW.get(state, BUSY_NOW[""]), field=field)
    return other, state


def consult(
    parts: Parts,
    entry: dict[str, Any],
    other: AgentProfile,
    state: str,
    *,
    conference: str,
    hold_caller: bool,
) -> tuple[str, bool]:
    """The colleague's softphone joins ``conference`` (warm transfer); the caller is put
    on hold if ``hold_caller``. An available colleague is made away (a meeting) first, so
    the router offers them nothing else meanwhile: ``restore`` undoes it. Returns the
    colleague's participant and whether they were made away."""
    router = parts.router
    made_away = False
    if state == AgentState.AVAILABLE:  # no offers while consulted
        router.set_presence(other, "away", AwayReason.MEETING, expect=("available",))
        made_away = (router.agent(other.id) or {}).get("state") == AgentState.AWAY
        if not made_away:
            raise Conflict(f"agent {other.id} just took another call", field="agent_id")
    try:
        participant = parts.carrier.add_participant(
            conference,
            f"client:{other.identity}",
            parts.dispatcher.caller_id,
            label=f"consult-{other.id}",
        )
    except CarrierError as exc:
        if made_away:
            restore(parts, other.id)
        raise CarrierFailed(f"the carrier refused: {exc}") from exc
    if hold_caller:
        attempt(parts.carrier.hold, conference, entry["call_sid"], True)
    return participant, made_away


def cancel_consult(
    parts: Parts,
    conference: str,
    participant: str,
    agent_id: int,
    *,
    made_away: bool,
    caller_back: Callable[[], int],
) -> tuple[bool, int]:
    """The consulted colleague's leg is hung up, ``caller_back()`` takes the caller off
    hold (its seconds on hold), and a colleague made away for the consult is available
    again. Returns whether the leg was still there to leave, and the seconds on hold."""
    left = attempt(parts.carrier.remove_participant, conference, participant)
    seconds = caller_back()
    if made_away:
        restore(parts, agent_id)
    return left, seconds


def restore(parts: Parts, agent_id: int) -> None:
    """A colleague made away for a consult is available again (if still away)."""
    profile = parts.router.profile(agent_id)
    if profile is not None:
        actions = parts.router.set_presence(profile, "available", expect=("away",)).actions
        parts.dispatcher.run(actions)


def take_over(
    parts: Parts,
    entry: dict[str, Any],
    agent_id: int,
    colleague: int,
    *,
    conference: str,
    leg: str,
    caller_back: Callable[[], int],
) -> tuple[Outcome, int]:
    """The consulted colleague (their leg ``leg`` in ``conference``) takes the call over in
    place: their exit ends the conference from now on, the router hands the entry to them
    (the first agent wraps up), ``caller_back()`` takes the caller off hold (its seconds
    on hold are returned beside the handover), and the first agent's leg leaves the
    conference without ending it. 409 when the colleague already left."""
    router, dispatcher, carrier = parts.router, parts.dispatcher, parts.carrier
    mine = dispatcher.leg(entry["id"], agent_id)
    try:  # the colleague's exit ends the call from now on; fails if they already left
        carrier.end_conference_on_exit(conference, leg, True)
    except CarrierError as exc:
        raise Conflict("your colleague is no longer on the call", field="call") from exc
    try:
        handed = router.handover(
            entry["id"], agent_id, colleague, mode="connect", conference=conference
        )
    except Conflict:
        attempt(carrier.end_conference_on_exit, conference, leg, False)
        raise
    dispatcher.note_leg(entry["id"], colleague, leg)  # the leg the colleague's controls use
    dispatcher.forget_leg(entry["id"], agent_id)
    seconds = caller_back()
    if mine is not None:  # leave without ending the call
        attempt(carrier.end_conference_on_exit, conference, mine, False)
        attempt(carrier.remove_participant, conference, mine)
    lifecycle.answered_by(parts.session_factory, entry["call_sid"], colleague)
    dispatcher.run(handed.actions)
    return handed, seconds


def colleagues(router: Router, me: int) -> list[dict[str, Any]]:
    """The agents a call can go to, without ``me``: available ones (transfer or consult)
    first, then away ones (consult only), by name."""
    out = []
    for agent in snapshot.agents(router):
        if agent["id"] == me or agent["state"] not in (AgentState.AVAILABLE, AgentState.AWAY):
            continue
        out.append(
            {
                "id": agent["id"],
                "name": agent["name"] or "",
                "state": agent["state"],
                "reason": agent["reason"],
                "transfer": agent["state"] == AgentState.AVAILABLE,
            }
        )
    out.sort(key=lambda a: (not a["transfer"], a["name"].lower(), a["id"]))
    return out


def _first_part(parts: Parts, entry: dict[str, Any], agent_id: int, over: Outcome) -> None:
    lifecycle.agent_part_over(
        parts.session_factory,
        entry["call_sid"],
        queue=entry["queue"],
        agent_id=agent_id,
        waited_ms=over.detail["waited_ms"],
        talked_ms=over.detail["talked_ms"],
    )


def _to_queue_hold(
    parts: Parts, entry: dict[str, Any], queue: str, skipped: Iterable[Action] = ()
) -> None:
    """The caller's leg goes to the queue's hold (``/twilio/acd/enqueue``, whose enqueue of
    an entry already there changes nothing). Hung up in that instant, the caller is gone
    (a colleague's ringing stops): ``CallerHungUp``. ``skipped``: the router's actions not
    run yet, of which all but offers are run then."""
    dispatcher = parts.dispatcher
    url = dispatcher.url(ENQUEUE, queue=queue, lang=entry.get("lang") or None)
    try:
        parts.carrier.redirect_call(entry["call_sid"], url)
    except CarrierError as exc:
        dispatcher.run([a for a in skipped if a.kind != "offer"])
        dispatcher.run(parts.router.caller_gone(entry["id"], "abandoned").actions)
        raise CallerHungUp(str(exc)[:200]) from exc
