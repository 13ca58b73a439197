"""A call's life in the ACD, written in one place: accept, bridge, end, wrap-up.

The router keeps the live side in Redis (routing/service.py); what a call's life leaves in
SQL is written here: the Call row's routing columns (its queue, the agent who has it, the
wait, talk and wrap-up times) and what follows the end of a call (a callback the router
gave up on becomes a person's task, a wrap-up's end settles the outcome's draft). The TwiML
flow (routing/views.py), the Dispatcher's wrap-up actions (swept by the ticker) and the
agent's transfers (routing/transfers.py) call these functions; nothing else writes those
columns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import sessionmaker

from crm_core.calls import record_routing, unanswered_callback_task
from crm_core.clock import Clock
from crm_core.drafts import settle_draft
from routing.model import Outcome


def call_ended(d: Any, entry_id: str, *, callback_status: str | None = None) -> Outcome:
    """The connected call is over: the router's side (the agent wraps up), then the Call
    row's figures, and a callback the router gave up on becomes a person's task."""
    outcome = d.router.call_ended(entry_id, callback_status=callback_status)
    detail = outcome.detail
    if outcome.state == "ended" and detail.get("call_sid"):
        # The row's figures first: a wrap-up that ends at once (none, or the agent signed
        # out) settles the outcome of a call that must read as over.
        with d.session_factory.begin() as session:
            record_routing(
                session,
                detail["call_sid"],
                queue=detail["queue"],
                agent_id=detail["agent_id"],
                wait_seconds=round(detail["waited_ms"] / 1000),
                talk_seconds=round(detail["talked_ms"] / 1000),
            )
    d.dispatcher.run(outcome.actions)
    if outcome.state == "ended" and detail.get("gave_up") and detail.get("phone"):
        with d.session_factory.begin() as session:
            unanswered_callback_task(session, detail["phone"], queue=detail["queue"], clock=d.clock)
    return outcome


def record_wrap(
    session_factory: sessionmaker, clock: Clock, call_sid: str, agent_id: int, seconds: int
) -> None:
    """The ACD ended an agent's wrap-up: its length goes on the call's row, and an outcome
    not saved by then is stored from the draft, marked incomplete (crm_core/drafts.py)."""
    with session_factory.begin() as session:
        record_routing(session, call_sid, wrap_seconds=seconds)
        settle_draft(session, call_sid, clock)
