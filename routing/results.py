"""What the ACD's scripts answer and what a routing call comes to, as ``str`` enums (as rq's
``JobStatus``): compared and serialised as the plain strings they are, but named once.

A script's reply is a list whose first field is a ``Reply`` tag (routing/lua/*.lua:
``return {'ok', …}``); routing/errors.py ``raise_for`` turns the tags that mean a retry or a
refusal into exceptions, in one place. ``Outcome.state`` is either an agent's new state
(``routing.model.AgentState``) or one of the ``Result`` values.
"""

from __future__ import annotations

from enum import StrEnum


class Reply(StrEnum):
    """The tag a script's reply opens with."""

    OK = "ok"
    NOOP = "noop"  # nothing to do: the state already moved on
    STALE = "stale"  # keys built from an older state: call again with fresh keys
    ERROR = "error"  # refused: ``Refusal`` then the state that refused it
    EMPTY = "empty"  # enqueue: nobody who could take the call is logged in
    GONE = "gone"  # accept: the offer is no longer there
    AGAIN = "again"  # accept: the same answer twice
    CONNECTED = "connected"  # caller_gone: the caller is talking to an agent already


class Refusal(StrEnum):
    """Why a script refused (the second field of an ``error`` reply)."""

    ILLEGAL_TRANSITION = "illegal_transition"  # presence: not from the agent's state
    NOT_CONNECTED = "not_connected"  # handover: the call is not the first agent's now
    UNAVAILABLE = "unavailable"  # handover: the colleague cannot take it now


class Result(StrEnum):
    """What a routing call came to, when it is not an agent's new state."""

    CONNECTED = "connected"  # the agent and the caller are talking
    OFFERED = "offered"  # the call rings for an agent
    GONE = "gone"  # the caller (or the offer, or the agent) is no longer there
    ENDED = "ended"  # the call is over; its agent wraps up
    EMPTY = "empty"  # nobody who could take the call is logged in
    NOOP = "noop"  # nothing changed: the state had already moved on


class Release(StrEnum):
    """How an offer ends without a call (``Router.release``)."""

    REJECTED = "rejected"  # the agent declined
    TIMEOUT = "timeout"  # nobody answered in time
    FAILED = "failed"  # the agent's leg failed
    DEFERRED = "deferred"  # a callback that may not be placed yet (no miss)
    WITHDRAWN = "withdrawn"  # a supervisor signed the agent out (no miss)


class Left(StrEnum):
    """How a caller leaves a queue (``Router.caller_gone``)."""

    ABANDONED = "abandoned"  # hung up while waiting or ringing
    LEFT = "left"  # taken out by the router: overflow, voicemail, a callback
    SUPERVISOR = "supervisor"  # a supervisor ended the call (no abandon)
    SYSTEM = "system"  # the system ended the call (no abandon)
