"""A call's life in the ACD, written in one place: enqueue, accept, bridge, end, wrap-up.

The router keeps the live side in Redis (routing/service.py); this module carries each step
of a call's life out on the other two sides: the carrier (the caller is redirected into
the agent's conference: the bridge) and SQL, where it is the only writer of the Call row's
routing columns (its queue, the agent who has it, the wait, talk and wrap-up times, who
ended it) and of what follows the end of a call (a callback the router gave up on becomes
a person's task; a wrap-up's end settles the outcome's draft). The TwiML flow
(routing/views.py), the Dispatcher's wrap-up actions (swept by the ticker), the
supervisor's end (routing/ending.py), the agent's transfers (routing/transfers.py) and
click-to-call's customer leg (routing/client.py) call these functions.

Each function takes the collaborators it uses: SQL alone (a ``sessionmaker``, the clock),
or ``Parts`` when a step moves the router, the carrier and SQL together. The app's bag of
collaborators has the same attributes, so commands and tests may hand it over as it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from crm_core.calls import insert_call_if_new, record_routing, unanswered_callback_task
from crm_core.clock import Clock
from crm_core.drafts import settle_draft
from crm_core.models import Call, CallDirection, CallStatus
from routing.model import Outcome
from routing.offers import Dispatcher
from routing.results import Result
from routing.service import Router
from routing.urls import BRIDGE
from telephony.carrier import Carrier

log = logging.getLogger("callcenter.routing")


class Parts(Protocol):
    """What a step moving the router, the carrier and SQL together is written through."""

    @property
    def router(self) -> Router: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def carrier(self) -> Carrier: ...
    @property
    def session_factory(self) -> sessionmaker: ...
    @property
    def clock(self) -> Clock: ...


@dataclass(frozen=True)
class CallParts:
    """``Parts`` as a view gathers them (``need(Router)``, ``need(Dispatcher)``…). With
    the reading sessions too, they are also what a rebuild after a Redis loss is done with
    (routing/recovery.py ``Parts``)."""

    router: Router
    dispatcher: Dispatcher
    carrier: Carrier
    session_factory: sessionmaker
    clock: Clock
    read_session_factory: sessionmaker | None = None


# ------------------------------------------------------------------ the Call row's columns


def enqueued(
    session_factory: sessionmaker,
    clock: Clock,
    call_sid: str,
    *,
    queue: str,
    direction: CallDirection | None,
    from_number: str | None,
    to_number: str | None,
) -> None:
    """The caller joins ``queue``: the Call row, if the IVR has not made it, or the queue
    it chose on the IVR's row (kept even if the caller hangs up while holding)."""
    with session_factory.begin() as session:
        created = insert_call_if_new(
            session,
            call_sid=call_sid[:64],
            direction=direction or CallDirection.INBOUND,
            from_number=(from_number or "")[:64] or None,
            to_number=(to_number or "")[:64] or None,
            clock=clock,
            status=CallStatus.IN_PROGRESS,
            queue=queue,
        )
        if created is None:
            record_routing(session, call_sid, queue=queue)


def answered_by(session_factory: sessionmaker, call_sid: str, agent_id: int) -> None:
    """``agent_id`` has the call now (accepted, or took it over in a consult): SQL knows at
    once, since a rebuild of the router's state after a Redis loss reads it from there."""
    with session_factory.begin() as session:
        record_routing(session, call_sid, agent_id=agent_id)


def agent_part_over(
    session_factory: sessionmaker,
    call_sid: str,
    *,
    queue: str,
    agent_id: int,
    waited_ms: int,
    talked_ms: int,
) -> None:
    """An agent's part of the call is over (the call ended, or the agent transferred it):
    the row's queue, agent, wait and talk are that part's."""
    with session_factory.begin() as session:
        record_routing(
            session,
            call_sid,
            queue=queue,
            agent_id=agent_id,
            wait_seconds=round(waited_ms / 1000),
            talk_seconds=round(talked_ms / 1000),
        )


def customer_leg(
    session_factory: sessionmaker, call_sid: str, leg_sid: str, *, talk_seconds: int | None
) -> None:
    """An agent's click-to-call reached the customer's leg ``leg_sid`` (routing/client.py):
    the leg joins the row's ``leg_sids``, and its length is the talk time. Written once,
    however often the Dial's action is repeated."""
    with session_factory.begin() as session:
        call = session.scalars(
            select(Call).where(Call.call_sid == call_sid[:64]).with_for_update()
        ).one_or_none()
        if call is not None and leg_sid[:64] not in (call.leg_sids or []):
            call.leg_sids = [*(call.leg_sids or []), leg_sid[:64]]
            if talk_seconds is not None and talk_seconds >= 0:
                call.talk_seconds = talk_seconds


def ended_by(session_factory: sessionmaker, call_sids: list[str], by: str) -> int:
    """The Call rows of these calls say who ended them (``supervisor``, ``system``); rows
    that already say so are left. Returns how many rows changed."""
    if not call_sids:
        return 0
    with session_factory.begin() as session:
        calls = session.scalars(
            select(Call).where(Call.call_sid.in_(call_sids), Call.ended_by.is_(None))
        ).all()
        for call in calls:
            call.ended_by = by
        return len(calls)


def record_wrap(
    session_factory: sessionmaker, clock: Clock, call_sid: str, agent_id: int, seconds: int
) -> None:
    """The ACD ended an agent's wrap-up: its length goes on the call's row, and an outcome
    not saved by then is stored from the draft, marked incomplete (crm_core/drafts.py).
    The Dispatcher's ``on_wrapped``: the ticker sweeps the wrap-up's deadline."""
    with session_factory.begin() as session:
        record_routing(session, call_sid, wrap_seconds=seconds)
        settle_draft(session, call_sid, clock)


# ------------------------------------------------------------------------- the steps


class Accepted(NamedTuple):
    """What the agent's answer came to: ``bridged`` (the caller is on the way into the
    agent's conference), ``callback`` (the agent's leg is to dial the customer), ``gone``
    (nobody to take: the caller left, or the offer was withdrawn) or ``caller_left`` (the
    caller hung up in the instant of the bridge; the call is over)."""

    state: Literal["bridged", "callback", "gone", "caller_left"]
    entry: dict[str, Any] | None


def accept(parts: Parts, agent_id: int, entry_id: str) -> Accepted:
    """The agent's softphone answered the offer of ``entry_id``: the router connects them,
    SQL learns who has the call, and the caller is redirected into the conference named
    after the entry (``/bridge``)."""
    entry = parts.router.entry(entry_id)
    outcome = parts.router.accept(agent_id, entry_id)
    if outcome.state != Result.CONNECTED or entry is None:
        return Accepted("gone", entry)
    parts.dispatcher.run(outcome.actions)
    if entry.get("kind") == "callback":
        return Accepted("callback", entry)
    answered_by(parts.session_factory, entry["call_sid"], agent_id)
    try:
        bridge = parts.dispatcher.url(BRIDGE, entry=entry_id, lang=entry.get("lang"))
        parts.carrier.redirect_call(entry["call_sid"], bridge)
    except Exception:  # the caller left in that instant: the agent is told and freed
        log.warning("could not bring caller %s to agent %s", entry_id, agent_id, exc_info=True)
        call_ended(parts, entry_id)
        return Accepted("caller_left", entry)
    return Accepted("bridged", entry)


def caller_left(parts: Parts, call_sid: str) -> Outcome:
    """The caller hung up while holding, ringing or talking (the Enqueue action): the
    router lets them go as abandoned (an agent ringing is freed at once); a call already
    connected ends."""
    gone = parts.router.caller_gone(call_sid, "abandoned")
    parts.dispatcher.run(gone.actions)
    if gone.state == Result.CONNECTED:
        call_ended(parts, call_sid)
    return gone


def call_ended(parts: Parts, entry_id: str, *, callback_status: str | None = None) -> Outcome:
    """The connected call is over: the router's side (the agent wraps up), then the Call
    row's figures, and a callback the router gave up on becomes a person's task."""
    outcome = parts.router.call_ended(entry_id, callback_status=callback_status)
    detail = outcome.detail
    if outcome.state == Result.ENDED and detail.get("call_sid"):
        # The row's figures first: a wrap-up that ends at once (none, or the agent signed
        # out) settles the outcome of a call that must read as over.
        agent_part_over(
            parts.session_factory,
            detail["call_sid"],
            queue=detail["queue"],
            agent_id=detail["agent_id"],
            waited_ms=detail["waited_ms"],
            talked_ms=detail["talked_ms"],
        )
    parts.dispatcher.run(outcome.actions)
    if outcome.state == Result.ENDED and detail.get("gave_up") and detail.get("phone"):
        with parts.session_factory.begin() as session:
            unanswered_callback_task(
                session, detail["phone"], queue=detail["queue"], clock=parts.clock
            )
    return outcome
