"""The router's refusals and retries, as exceptions (DESIGN.md: errors carry their HTTP
meaning and are translated once by the app's error handler).

``Stale`` is the router's own business: a script found the state changed since its keys
were built, and the call is made again with fresh keys. The others reach the person who
asked, as a sentence for them: an agent's status that cannot change now
(``IllegalTransition``), a call that cannot be handed to a colleague now (``Conflict``).
"""

from __future__ import annotations

from crm_core.errors import Conflict
from routing.results import Refusal, Reply


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


# Why the colleague cannot take the call now, by their state: a sentence for the agent.
BUSY_NOW = {
    "busy": "Your colleague is on another call now; try someone else or try again later.",
    "reserved": "A call is ringing for your colleague now; try again in a moment.",
    "wrap_up": "Your colleague is finishing their last call; try again in a moment.",
    "offline": "Your colleague is signed out; choose someone who is signed in.",
    "": "Your colleague cannot take the call right now; try someone else.",
}


def raise_for(reply: list, *, supervisor: bool = False) -> Reply:
    """The one place a script's reply tag becomes an exception: ``stale`` → ``Stale`` (the
    router calls again with fresh keys), ``error`` → the refusal as a sentence (for the
    agent, or for a supervisor: ``supervisor``). Any other tag is returned."""
    tag = Reply(reply[0])
    if tag is Reply.STALE:
        raise Stale("the state changed since the script's keys were built")
    if tag is Reply.ERROR:
        why, state = Refusal(reply[1]), reply[2] if len(reply) > 2 else ""
        if why is Refusal.ILLEGAL_TRANSITION:
            raise refusal(state, supervisor=supervisor)
        if why is Refusal.NOT_CONNECTED:
            raise Conflict("You are not connected to this call now.", field="call")
        raise Conflict(BUSY_NOW.get(state, BUSY_NOW[""]), field="agent")
    return tag
