"""The agent's in-call controls: mute, hold and the keypad here; transfers and consults in
console/transfer.py (the same blueprint).

Each view parses the request, acts through routing/control.py (which finds the call, its
conference and its legs, and steers the carrier) and writes the audit log
(``crm_core.audit``). Every control acts on the call the signed-in user is connected to
now, as the router says: no call is 409, and a body naming another agent's call
(``"call": "CA…"``, optional, so a stale page cannot act on the wrong call) is 404.

- mute: the agent's own leg, muted or not (the agent still hears the caller);
- hold: the caller on conference hold, hearing the carrier's default hold music (no
  ``HoldUrl``: Twilio plays its classical bucket, the simulator a stand-in); the time on
  hold is added to the Call row's ``hold_seconds`` when the caller comes back (or is
  transferred). When the hold began is read back from the audit log, so it survives a
  restart and any worker can end it;
- keypad (digits): DTMF tones played to the caller (to steer an IVR the agent called, or a
  bank's line), as a participant announcement whose TwiML is ``<Play digits>``
  (``/twilio/acd/digits``). The audit log keeps how many keys, never which: they may be a
  PIN. A callback (the agent's leg dials the customer, no conference) has no keypad here.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from console.api import _body
from console.auth import require_role
from crm_core.audit import audit, recent
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.schemas import parse
from crm_core.users import get_user
from routing import control
from routing.lifecycle import CallParts
from routing.offers import Dispatcher
from routing.service import Router
from telephony.carrier import Carrier
from telephony.context import need

bp = Blueprint("incall", __name__)
HOLD_ACTIONS = (
    "call.hold",
    "call.consult",
    "call.consult_cancel",
    "call.consult_complete",
    "call.transfer",
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call: str | None = Field(default=None, max_length=64)  # the call the page shows


class MuteIn(_In):
    muted: StrictBool


class HoldIn(_In):
    hold: StrictBool


class KeepIn(_In):
    keep: StrictBool
    resume: StrictBool = False  # keep=false: take the caller off the hold that keep began


class DigitsIn(_In):
    digits: str = Field(min_length=1, max_length=32, pattern=r"^[0-9*#w]+$")


def _parts() -> CallParts:
    sessions = need(Database).session_factory
    return CallParts(need(Router), need(Dispatcher), need(Carrier), sessions, need(Clock))


def _my_call(named: str | None) -> dict:
    """The ACD entry the signed-in agent is connected to now."""
    return control.my_call(need(Router), g.principal.id, named)


def _conference(entry: dict) -> str:
    return control.conference(need(Carrier), entry["id"])


_caller_leg = control.caller_leg


def audit_call(action: str, entry_id: str, **detail) -> None:
    """The signed-in user's action on a live call, in the audit log."""
    with need(Database).session_factory.begin() as session:
        audit(
            session,
            need(Clock),
            actor_id=g.principal.id,
            action=action,
            target=f"call:{entry_id}",
            **detail,
        )


def _log(action: str, entry: dict, **detail) -> None:
    audit_call(action, entry["id"], **detail)


def _held_since(entry_id: str) -> datetime | None:
    """When the caller was put on hold, if they are on hold now (the audit log says)."""
    with need(Database).read_session_factory() as session:
        for e in recent(session, target=f"call:{entry_id}", limit=500):
            if e.action in HOLD_ACTIONS and "caller_hold" in e.detail:
                return e.at if e.detail["caller_hold"] else None
    return None


def _add_hold_time(call_sid: str, since: datetime | None) -> int:
    """The hold that began at ``since`` is over: its seconds go to the Call row."""
    return control.add_hold_time(_parts(), call_sid, since)


def _set_caller_hold(entry: dict, conference: str, hold: bool) -> int:
    """Hold or resume the caller; the seconds just spent on hold (on resume)."""
    since = None if hold else _held_since(entry["id"])
    return control.hold(_parts(), entry, conference, hold, since)


def controls_of(entry: dict, agent_id: int) -> dict:
    """Mute, hold and consult on ``entry`` as they stand, for a desk rebuilt after a
    reload: mute from the agent's last mute in the audit log (the conference keeps it),
    hold and an open consult as the controls themselves read them. The agent's softphone
    leg (its CallSid) comes too, so the reloaded softphone can take the call back."""
    from console.transfer import _open_consult

    muted = False
    with need(Database).read_session_factory() as session:
        for e in recent(session, target=f"call:{entry['id']}", limit=500):
            if e.action == "call.mute" and e.actor_id == agent_id:
                muted = bool(e.detail.get("muted"))
                break
    return {
        "muted": muted,
        "held": _held_since(entry["id"]) is not None,
        "consulting": _open_consult(entry["id"]) is not None,
        "leg": need(Dispatcher).leg(entry["id"], agent_id),
    }


@bp.post("/agents/me/call/mute")
@require_role()
def mute():
    """The agent's own leg muted (or not) in the conference."""
    data = parse(MuteIn, _body())
    entry = _my_call(data.call)
    leg = control.mute(_parts(), entry, g.principal.id, data.muted)
    _log("call.mute", entry, muted=data.muted, participant=leg)
    return {"call": entry["id"], "muted": data.muted}


@bp.post("/agents/me/call/hold")
@require_role()
def hold():
    """The caller on hold with music, or back; the time on hold goes to the Call row."""
    data = parse(HoldIn, _body())
    entry = _my_call(data.call)
    conference = _conference(entry)
    if (_held_since(entry["id"]) is not None) == data.hold:  # already so: nothing to do
        return {"call": entry["id"], "hold": data.hold, "held_seconds": 0}
    seconds = _set_caller_hold(entry, conference, data.hold)
    _log("call.hold", entry, caller_hold=data.hold, held_seconds=seconds or None)
    return {"call": entry["id"], "hold": data.hold, "held_seconds": seconds}


@bp.post("/agents/me/call/digits")
@require_role()
def digits():
    """Keypad: the tones of ``digits`` (0-9, *, #; w waits half a second) to the caller."""
    data = parse(DigitsIn, _body())
    entry = _my_call(data.call)
    control.digits(_parts(), entry, data.digits)
    _log("call.digits", entry, keys=len(data.digits))
    return {"call": entry["id"], "digits": len(data.digits)}


# ------------------------------------------------------------- a reload mid-call (Twilio)
#
# With Twilio the agent's leg is the browser's WebRTC call: it ends with the page. The leg
# joined the conference with endConferenceOnExit (routing/views.py), so a reload would end
# the call for the caller. Before the page goes (beforeunload), the desk asks to keep the
# call: the leg stops ending the conference and the caller waits on hold with music (the
# time counts as hold time); the reloaded desk re-joins (a new participant call to the
# agent's softphone, which answers it by itself), then re-arms the end-on-exit. A page
# that stays after all ("Stay on page") takes the keep back and the caller off hold.
KEPT = "page_left"  # the audit reason of a hold begun by keep


def _held_by_keep(entry_id: str) -> bool:
    with need(Database).read_session_factory() as session:
        for e in recent(session, target=f"call:{entry_id}", limit=500):
            if e.action in HOLD_ACTIONS and "caller_hold" in e.detail:
                return bool(e.detail["caller_hold"]) and e.detail.get("reason") == KEPT
    return False


@bp.post("/agents/me/call/keep")
@require_role()
def keep():
    """``keep: true``: my page is going away; the call stays up without my leg, the caller
    on hold. ``keep: false``: my leg ends the call again when it leaves (``resume: true``
    also takes the caller off the hold ``keep`` began)."""
    data = parse(KeepIn, _body())
    entry = _my_call(data.call)
    conference, leg = control.keep(_parts(), entry, g.principal.id, data.keep)
    held = _held_since(entry["id"]) is not None
    if data.keep and not held:
        _set_caller_hold(entry, conference, True)
        _log("call.hold", entry, caller_hold=True, reason=KEPT)
        held = True
    elif not data.keep and data.resume and _held_by_keep(entry["id"]):
        seconds = _set_caller_hold(entry, conference, False)
        _log("call.hold", entry, caller_hold=False, held_seconds=seconds or None, reason=KEPT)
        held = False
    _log("call.keep", entry, keep=data.keep, participant=leg)
    return {"call": entry["id"], "keep": data.keep, "hold": held}


@bp.post("/agents/me/call/rejoin")
@require_role()
def rejoin():
    """My softphone is back but its leg of the call is gone (a reloaded page on Twilio): a
    new leg to my softphone joins the call's conference; it becomes the leg my controls act
    on. 409 when the call is over or is not a conference."""
    data = parse(_In, _body())
    entry = _my_call(data.call)
    with need(Database).read_session_factory() as session:
        identity = get_user(session, g.principal.id).softphone_identity
    leg = control.rejoin(_parts(), entry, g.principal.id, identity)
    _log("call.rejoin", entry, participant=leg)
    return {"call": entry["id"], "leg": leg}


from console import transfer  # noqa: E402, F401  (its views join this blueprint)
