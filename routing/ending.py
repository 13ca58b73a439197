"""Calls ended by someone other than the caller or the agent: a supervisor (``POST
/api/acd/calls/<sid>/end``) or the system (the demo stopping). What any connected call's end
writes (the Call row's queue, agent, wait and talk; a callback given up) is the call's
lifecycle's (routing/lifecycle.py).

The router forgets the call first, saying who ended it, so that the hang-up's webhooks that
follow (the Enqueue action, the conference's end) find nothing left to end and nobody counts
the caller as abandoned: a waiting caller's wait ends as ``supervisor`` or ``system``
(routing_waits), never ``abandoned``. The Call row says who ended it (``ended_by``).
"""

from __future__ import annotations

import logging

from routing import lifecycle
from routing.lifecycle import Parts, call_ended
from routing.model import Outcome
from routing.results import Result
from telephony.carrier import CarrierError

log = logging.getLogger("callcenter.routing")
ENDERS = ("supervisor", "system")


def end_entry(d: Parts, entry_id: str, by: str) -> Outcome:
    """End the router's part of a call ``by`` a supervisor or the system: a waiting or
    ringing caller leaves its queue (no abandon), a connected call ends (the agent wraps
    up). State "gone" (was waiting), "ended" (was connected) or "noop" (not in the ACD)."""
    if by not in ENDERS:
        raise ValueError(f"by is supervisor or system, not {by!r}")
    entry = d.router.entry(entry_id)
    if entry is None:
        return Outcome("noop")
    if entry.get("state") != "connected":
        gone = d.router.caller_gone(entry_id, by)
        d.dispatcher.run(gone.actions)
        if gone.state != Result.CONNECTED:
            return gone
    return call_ended(d, entry_id)


def mark_ended_by(d: Parts, call_sids: list[str], by: str) -> int:
    """The Call rows of these calls say who ended them (calls already over are left)."""
    return lifecycle.ended_by(d.session_factory, call_sids, by)


def end_call(d: Parts, call_sid: str, by: str) -> Outcome:
    """A supervisor ends the call: the router forgets it (no abandon), the Call row says so,
    and the carrier hangs the caller up (the call's update to status completed)."""
    outcome = end_entry(d, call_sid, by)
    entry_sid = (outcome.detail.get("entry") or {}).get("call_sid") if outcome.detail else None
    sid = outcome.detail.get("call_sid") or entry_sid or call_sid
    mark_ended_by(d, [sid], by)
    try:
        d.carrier.hang_up(sid)
    except CarrierError as exc:  # already over at the carrier: nothing left to hang up
        log.info("call %s was already over at the carrier: %s", sid, exc)
    return outcome


def end_all(d: Parts, by: str = "system") -> list[str]:
    """End every live call in the ACD (the system stopping): waiting and ringing callers
    leave their queues, connected calls end. A place kept as a callback, with nobody on
    the line, stays for the next start. Returns the CallSids ended."""
    ended = []
    for raw_id in d.router.redis.hkeys(d.router.keys.entries):
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
        entry = d.router.entry(entry_id)
        if entry is None:
            continue
        if entry.get("kind") == "callback" and entry.get("state") != "connected":
            continue
        try:
            end_entry(d, entry_id, by)
        except Exception:  # one call that cannot be ended must not keep the others
            log.exception("could not end %s for the %s", entry_id, by)
            continue
        if entry.get("call_sid"):
            ended.append(entry["call_sid"])
    mark_ended_by(d, ended, by)
    return ended
