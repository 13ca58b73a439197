"""The ACD's Lua scripts, registered once per Redis client, and their results made Python.

Each ``routing/lua/<name>.lua`` is one state change (DESIGN.md rule 1) and opens with its
KEYS/ARGV header; ``_lib.lua`` is prepended to each (Redis 6.2 has no functions library).
redis-py's ``Script`` runs them with EVALSHA and loads them again after a SCRIPT FLUSH or on
a new server, so nothing here needs to care which Redis it talks to.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from crm_core.errors import Conflict

LUA = Path(__file__).with_name("lua")
NAMES = (
    "presence",
    "enqueue",
    "accept",
    "release",
    "caller_gone",
    "call_ended",
    "claim_due",
    "requeue",
    "keep_place",
    "holdtime",
    "handover",
    "restore_call",
    "restore_agent",
    "restore_stats",
    "sweep_legs",
)
# Times in the scripts are whole milliseconds since this instant: small enough that a
# priority times 1e12 plus a time stays an exact integer in a double (see _lib.lua).
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def ms(at: datetime) -> int:
    return int((at - BASE).total_seconds() * 1000)


def from_ms(value: int | float) -> datetime:
    from datetime import timedelta

    return BASE + timedelta(milliseconds=float(value))


class Stale(Exception):
    """The caller built its keys from a state that changed before the script ran: retry."""


class IllegalTransition(Conflict):
    """A state change the agent's state does not allow now. The message is a sentence for
    the person who asked (never the state machine's text); ``error_id`` says which refusal
    it is, stably (``on_a_call``, ``call_ringing``, ``status_busy``)."""

    error_id = "illegal_transition"

    def __init__(self, message: str, *, error_id: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        if error_id:
            self.error_id = error_id


# Why an agent's status cannot change now, by the state the agent is in: (error id, what
# the agent is told, what a supervisor is told).
REFUSALS = {
    "busy": (
        "on_a_call",
        "You are on a call; you can change your status when it ends.",
        "The agent is on a call; their status can change when it ends.",
    ),
    "reserved": (
        "call_ringing",
        "A call is ringing for you; answer or decline it, then change your status.",
        "A call is ringing for the agent; their status can change once it is answered or declined.",
    ),
}
REFUSED = (
    "status_busy",
    "Your status cannot change at this moment; try again in a few seconds.",
    "The agent's status cannot change at this moment; try again in a few seconds.",
)


def refusal(state: str, *, supervisor: bool = False) -> IllegalTransition:
    """The refusal of a status change for an agent in ``state``, as a sentence."""
    error_id, mine, theirs = REFUSALS.get(state, REFUSED)
    return IllegalTransition(theirs if supervisor else mine, error_id=error_id, field="state")


class Scripts:
    """The registered scripts of one Redis client, callable by name."""

    def __init__(self, connection: redis.Redis) -> None:
        lib = (LUA / "_lib.lua").read_text()
        self._scripts = {
            name: connection.register_script(lib + "\n" + (LUA / f"{name}.lua").read_text())
            for name in NAMES
        }

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> list[Any]:
        reply = self._scripts[name](keys=keys, args=[_arg(a) for a in args])
        return [_text(v) for v in reply] if isinstance(reply, list) else reply


def _arg(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
