"""Call control on a connected ACD call: the agent's mute, hold, keypad, keep and re-join, and
a supervisor's listen, whisper and barge.

A connected ACD call is a conference named after the caller's CallSid (routing/views.py):
the caller and the agent's softphone leg (``client:<identity>``, the leg the Dispatcher
placed and keeps in the router's legs hash) are its participants. These functions find the
call, its conference and its legs through the router and the Dispatcher, and steer them
through the carrier; a carrier refusal is ``CarrierFailed`` (502, telephony.carrier.attempt).
Who may do what, and the audit log, stay with the screens that call them
(console/incall.py, console/supervise.py); transfers and consults are routing/transfers.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, update

from crm_core.errors import Conflict, NotFound
from crm_core.models import Call
from routing.lifecycle import Parts
from routing.offers import Dispatcher
from routing.service import Router
from routing.urls import DIGITS
from telephony.carrier import Carrier, attempt


class Mode(StrEnum):
    """How a supervisor is on a call."""

    LISTEN = "listen"  # muted, hears both sides
    WHISPER = "whisper"  # heard by the agent only (Twilio's coaching of the agent's leg)
    BARGE = "barge"  # a full participant everyone hears


# ------------------------------------------------------------------ finding the call
def my_call(router: Router, agent_id: int, named: str | None) -> dict[str, Any]:
    """The ACD entry the agent is connected to now: 409 when none, 404 when ``named`` (the
    call the agent's page shows) is another call, so a stale page cannot act on it."""
    current = (router.agent(agent_id) or {}).get("call") or None
    if named and named != current:
        raise NotFound(
            "That call is no longer yours; reload the page to see your call.", field="call"
        )
    entry = router.entry(str(current)) if current else None
    if (
        entry is None
        or entry.get("state") != "connected"
        or str(entry.get("agent")) != str(agent_id)
    ):
        raise Conflict("You are not connected to a call now.", field="call")
    return entry


def connected(router: Router, entry_id: str) -> dict[str, Any]:
    """The ACD entry of a call an agent is on now (a supervisor's view of it); 404 when the
    call is over, 409 when no agent is on it."""
    entry = router.entry(entry_id)
    if entry is None:
        raise NotFound("That call is no longer going on.", field="entry")
    if entry.get("state") != "connected" or not entry.get("agent"):
        raise Conflict("That call is not connected to an agent now.", field="entry")
    return entry


def conference(carrier: Carrier, entry_id: str, *, field: str = "call") -> str:
    """The SID of the call's conference; 409 when it has ended."""
    sid = attempt(carrier.find_conference, entry_id)
    if sid is None:
        raise Conflict("the call's conference has ended", field=field)
    return sid


def caller_leg(entry: dict[str, Any]) -> str:
    """The caller's CallSid in the conference; 409 for a callback (the agent's leg dialled
    the customer: there is no conference)."""
    if entry.get("kind") == "callback" or not entry.get("call_sid"):
        raise Conflict("a callback placed from the agent's leg has no conference", field="call")
    return entry["call_sid"]


def agent_leg(dispatcher: Dispatcher, entry: dict[str, Any]) -> str:
    """The softphone leg of the call's agent (409 when it is not known), for a supervisor."""
    leg = dispatcher.leg(entry["id"], int(entry["agent"]))
    if leg is None:
        raise Conflict("the agent's leg of this call is not known", field="entry")
    return leg


def my_leg(dispatcher: Dispatcher, entry: dict[str, Any], agent_id: int) -> str:
    """The agent's own softphone leg of the call (409 when it is not known)."""
    leg = dispatcher.leg(entry["id"], agent_id)
    if leg is None:
        raise Conflict("Your softphone's part of this call is not known.", field="call")
    return leg


# ------------------------------------------------------------------ the agent's controls
def mute(parts: Parts, entry: dict[str, Any], agent_id: int, muted: bool) -> str:
    """The agent's own leg muted (or not): they still hear the caller. Returns the leg."""
    leg = my_leg(parts.dispatcher, entry, agent_id)
    attempt(parts.carrier.mute, conference(parts.carrier, entry["id"]), leg, muted)
    return leg


def hold(
    parts: Parts, entry: dict[str, Any], conference_sid: str, on: bool, since: datetime | None
) -> int:
    """The caller on conference hold (the carrier's hold music), or back. Back from a hold
    that began at ``since``: its seconds go to the Call row's ``hold_seconds`` and are
    returned (0 otherwise)."""
    caller = caller_leg(entry)
    attempt(parts.carrier.hold, conference_sid, caller, on)
    return 0 if on else add_hold_time(parts, caller, since)


def add_hold_time(parts: Parts, call_sid: str, since: datetime | None) -> int:
    """The hold that began at ``since`` is over: its seconds go to the Call row."""
    if since is None:
        return 0
    seconds = max(0, round((parts.clock.now() - since).total_seconds()))
    with parts.session_factory.begin() as session:
        session.execute(
            update(Call)
            .where(Call.call_sid == call_sid[:64])
            .values(hold_seconds=func.coalesce(Call.hold_seconds, 0) + seconds)
        )
    return seconds


def digits(parts: Parts, entry: dict[str, Any], tones: str) -> None:
    """Keypad: the DTMF ``tones`` played to the caller, as a participant announcement whose
    TwiML is ``<Play digits>`` (routing/urls.py DIGITS)."""
    caller = caller_leg(entry)
    sid = conference(parts.carrier, entry["id"])
    attempt(parts.carrier.announce, sid, caller, parts.dispatcher.url(DIGITS, d=tones))


def keep(parts: Parts, entry: dict[str, Any], agent_id: int, on: bool) -> tuple[str, str]:
    """``on``: the agent's page is going away, so their leg stops ending the conference when
    it leaves (the call stays up without it); off: it ends the call again. Returns (the
    conference, the agent's leg); holding the caller meanwhile is ``hold``'s."""
    caller_leg(entry)
    leg = my_leg(parts.dispatcher, entry, agent_id)
    sid = conference(parts.carrier, entry["id"])
    attempt(parts.carrier.end_conference_on_exit, sid, leg, not on)
    return sid, leg


def rejoin(parts: Parts, entry: dict[str, Any], agent_id: int, identity: str) -> str:
    """A new leg to the agent's softphone joins the call's conference (a reloaded page on
    Twilio lost the old one); it becomes the leg the agent's controls act on."""
    caller_leg(entry)
    conference(parts.carrier, entry["id"])
    leg = attempt(
        parts.carrier.add_participant,
        entry["id"],
        f"client:{identity}",
        parts.dispatcher.caller_id,
        label=f"agent-{agent_id}",
    )
    parts.dispatcher.note_leg(entry["id"], agent_id, leg)
    return leg


# ------------------------------------------------------------------ supervisors
def _settings(dispatcher: Dispatcher, mode: Mode, entry: dict[str, Any]) -> tuple[bool, str | None]:
    """(muted, the CallSid to coach) for a mode."""
    if mode is Mode.LISTEN:
        return True, None
    if mode is Mode.WHISPER:
        return False, agent_leg(dispatcher, entry)
    return False, None


def monitor(
    parts: Parts, entry: dict[str, Any], supervisor_id: int, identity: str, mode: Mode | str
) -> str:
    """The supervisor's softphone joins the live call in ``mode``. Returns their leg."""
    muted, coach = _settings(parts.dispatcher, Mode(mode), entry)
    return attempt(
        parts.carrier.add_participant,
        entry["id"],
        f"client:{identity}",
        parts.dispatcher.caller_id,
        muted=muted,
        coach_call_sid=coach,
        label=f"supervisor-{supervisor_id}",
    )


def change_mode(parts: Parts, entry: dict[str, Any], participant: str, mode: Mode | str) -> None:
    """Listen → whisper → barge (or back) without leaving the call."""
    muted, coach = _settings(parts.dispatcher, Mode(mode), entry)
    sid = conference(parts.carrier, entry["id"], field="entry")
    attempt(parts.carrier.coach, sid, participant, coach)
    attempt(parts.carrier.mute, sid, participant, muted)


def leave(carrier: Carrier, entry_id: str, participant: str) -> bool:
    """The supervisor's leg hangs up; the call goes on. False when it was already over."""
    sid = attempt(carrier.find_conference, entry_id)
    return bool(sid) and attempt(carrier.remove_participant, sid, participant)
