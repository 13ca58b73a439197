"""Who may write a call's outcome (``POST /api/calls/<sid>/outcome``): an agent only for a
call that is theirs (the Call row names them, or the router has them on it or wrapping it
up), supervisors and admins for any. An agent must not take a call nobody took, and with it
its recording (recording/access.py shows an agent the recordings of their own calls).

Real Redis and database; the carrier is the simulator's REST app, as in test_wrapup."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.calls import log_call
from crm_core.models import Call, CallDirection, CallStatus
from recording.models import Recording, RecordingStatus
from tests.console.test_acd_live import acd as floor  # noqa: F401  (the same floor)
from tests.console.test_acd_live import app  # noqa: F401
from tests.console.test_wrapup import hang_up, on_a_call

pytestmark = pytest.mark.usefixtures("floor")
NOBODYS = "CA" + "5" * 32


def a_call(deps, clock, sid=NOBODYS, agent_id=None):
    """A call the ACD never gave to anyone (voicemail, an abandoned caller), recorded."""
    with deps.session_factory.begin() as s:
        call = log_call(
            s,
            call_sid=sid,
            direction=CallDirection.INBOUND,
            from_number="+13135550101",
            to_number="+13135550100",
            clock=clock,
            status=CallStatus.COMPLETED,
            agent_id=agent_id,
        )
        s.add(
            Recording(
                recording_sid="RE" + sid[2:],
                call_sid=sid,
                call_id=call.id,
                status=RecordingStatus.STORED,
                created_at=clock.now(),
            )
        )


def agent_of(deps, sid=NOBODYS):
    with deps.session_factory() as s:
        return s.scalar(select(Call.agent_id).where(Call.call_sid == sid))


def recordings_seen(api, as_):
    return [r["call_sid"] for r in api.get("/api/recordings", as_=as_).json["recordings"]]


def test_an_agent_cannot_take_a_call_nobody_took(api, deps, clock):
    a_call(deps, clock)
    taken = api.post(f"/api/calls/{NOBODYS}/outcome", json={"disposition": "interested"})
    assert taken.status_code == 403, taken.json
    assert taken.json["error"]["id"] == "not-your-call"
    assert taken.json["error"]["message"].endswith(".")
    assert agent_of(deps) is None
    assert recordings_seen(api, "agent") == []


def test_an_agent_cannot_write_another_agents_call(api, deps, clock):
    luis, _ = api.user("agent", username="luis", skills={"sales": 5})
    a_call(deps, clock, agent_id=luis)
    theirs = api.post(f"/api/calls/{NOBODYS}/outcome", json={"disposition": "interested"})
    assert theirs.status_code == 403 and theirs.json["error"]["id"] == "not-your-call"
    assert agent_of(deps) == luis


def test_an_agent_writes_their_own_call(api, deps, clock):
    me, _ = api.user("agent")
    a_call(deps, clock, agent_id=me)
    mine = api.post(f"/api/calls/{NOBODYS}/outcome", json={"disposition": "interested"})
    assert mine.status_code == 200, mine.json
    assert recordings_seen(api, "agent") == [NOBODYS]


def test_an_agent_writes_the_call_they_are_wrapping_up(api, deps, clock):
    """Whatever the Call row says yet, the call the router has them on is theirs."""
    me, _ = api.user("agent")
    on_a_call(api, deps, clock)
    hang_up(deps, clock)
    with deps.session_factory.begin() as s:  # as if the row had not caught up
        s.scalars(select(Call).where(Call.call_sid == "CA1")).one().agent_id = None
    done = api.post("/api/calls/CA1/outcome", json={"disposition": "interested"})
    assert done.status_code == 200, done.json
    assert agent_of(deps, "CA1") == me


def test_a_supervisor_writes_any_call_and_it_stays_nobodys(api, deps, clock):
    a_call(deps, clock)
    done = api.post(
        f"/api/calls/{NOBODYS}/outcome", json={"disposition": "interested"}, as_="supervisor"
    )
    assert done.status_code == 200, done.json
    assert agent_of(deps) is None
