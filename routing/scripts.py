"""The ACD's Lua scripts, registered once per Redis client, and their results made Python.

Each ``routing/lua/<name>.lua`` is one state change (DESIGN.md rule 1) and opens with its
KEYS/ARGV header; ``_lib.lua`` is prepended to each (Redis 6.2 has no functions library).
redis-py's ``Script`` runs them with EVALSHA and loads them again after a SCRIPT FLUSH or on
a new server, so nothing here needs to care which Redis it talks to.

A tagged reply (``{'ok', …}``: every script but those in ``UNTAGGED``) comes back with
its tag as a ``routing.results.Reply``, and the tags that mean a retry or a refusal are
raised here, once, as routing/errors.py says (as rq maps its scripts' results).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from routing.errors import raise_for

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
    "estimate_reads",
)
# Scripts whose reply is not a tag and its fields: due deadlines, a number, a scan's cursor,
# the estimate's reads (the one read-only script: one round trip for the hold loop)
UNTAGGED = frozenset({"claim_due", "holdtime", "restore_stats", "sweep_legs", "estimate_reads"})
# Times in the scripts are whole milliseconds since this instant: small enough that a
# priority times 1e12 plus a time stays an exact integer in a double (see _lib.lua).
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def ms(at: datetime) -> int:
    return int((at - BASE).total_seconds() * 1000)


def from_ms(value: int | float) -> datetime:
    from datetime import timedelta

    return BASE + timedelta(milliseconds=float(value))


class Scripts:
    """The registered scripts of one Redis client, callable by name."""

    def __init__(self, connection: redis.Redis) -> None:
        lib = (LUA / "_lib.lua").read_text()
        self._scripts = {
            name: connection.register_script(lib + "\n" + (LUA / f"{name}.lua").read_text())
            for name in NAMES
        }

    def __call__(
        self, name: str, keys: list[str], args: list[Any], *, supervisor: bool = False
    ) -> Any:
        """The script's reply, its bytes as text. Tagged: ``[Reply, …]``, or ``Stale`` or a
        refusal raised (worded for a supervisor when ``supervisor``)."""
        reply = self._scripts[name](keys=keys, args=[_arg(a) for a in args])
        if not isinstance(reply, list):
            return reply
        reply = [_text(v) for v in reply]
        if name not in UNTAGGED:
            reply[0] = raise_for(reply, supervisor=supervisor)
        return reply


def _arg(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value
