"""A supervisor on a live ACD call, end to end: the caller and Ana are bridged in the
conference the ACD made; the supervisor's softphone joins it through the carrier's REST API
(the real twilio-python client against the simulator) to listen, whisper and barge, then
leaves; every step is in the audit log, and only the supervisor who joined can change it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.models import User
from crm_core.users import softphone_identity
from tests.e2e.test_acd import CALLER, NUMBER, agents, app, run, sim  # noqa: F401  (fixtures)


@pytest.fixture
def connected(sim, deps, agents):  # noqa: F811
    """A caller in conversation with Ana."""
    sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["ana"], "available")
    caller = sim.call(CALLER, NUMBER).wait(600).hangup()
    run(sim, deps, 15)
    assert deps.router.entry(caller.call.sid)["state"] == "connected"
    return caller.call.sid


def participants(simulator, entry):
    conference = simulator.conference(entry, create=False)
    return {p.call.to: p for p in conference.participants.values()}


def test_listen_whisper_barge_and_leave(sim, deps, api, connected):  # noqa: F811
    sup = f"client:{softphone_identity('supervisor')}"
    sim.phone(sup, answer_after=1)
    joined = api.post(
        f"/api/acd/calls/{connected}/monitor", json={"mode": "listen"}, as_="supervisor"
    )
    assert joined.status_code == 201, joined.json
    leg = joined.json["participant"]
    run(sim, deps, 5)
    me = participants(sim, connected)[sup]
    assert me.muted and not me.coaching

    ana_leg = deps.dispatcher.leg(connected, deps.router.entry(connected)["agent"])
    whisper = api.post(
        f"/api/acd/calls/{connected}/monitor/{leg}", json={"mode": "whisper"}, as_="supervisor"
    )
    assert whisper.status_code == 200, whisper.json
    me = participants(sim, connected)[sup]
    assert not me.muted and me.coaching and me.call_sid_to_coach == ana_leg

    barge = api.post(
        f"/api/acd/calls/{connected}/monitor/{leg}", json={"mode": "barge"}, as_="supervisor"
    )
    assert barge.status_code == 200
    me = participants(sim, connected)[sup]
    assert not me.muted and not me.coaching

    left = api.post(f"/api/acd/calls/{connected}/monitor/{leg}/leave", as_="supervisor")
    assert left.status_code == 200 and left.json["left"] is True
    run(sim, deps, 3)
    assert deps.router.entry(connected)["state"] == "connected"  # the call goes on

    log = api.get(f"/api/audit?target=call:{connected}", as_="supervisor").json["entries"]
    assert [e["action"] for e in log] == [
        "call.monitor_leave",
        "call.monitor_mode",
        "call.monitor_mode",
        "call.monitor",
    ]
    assert log[-1]["detail"]["mode"] == "listen" and log[-1]["detail"]["participant"] == leg


def test_only_supervisors_and_only_their_own_leg(sim, deps, api, connected):  # noqa: F811
    sim.phone(f"client:{softphone_identity('supervisor')}", answer_after=1)
    refused = api.post(f"/api/acd/calls/{connected}/monitor", json={"mode": "barge"}, as_="agent")
    assert refused.status_code == 403
    leg = api.post(
        f"/api/acd/calls/{connected}/monitor", json={"mode": "listen"}, as_="supervisor"
    ).json["participant"]
    api.user("supervisor", "other")  # a second supervisor
    other = api.post(
        f"/api/acd/calls/{connected}/monitor/{leg}", json={"mode": "barge"}, as_="other"
    )
    assert other.status_code == 404
    assert api.get("/api/audit", as_="agent").status_code == 403


@pytest.mark.parametrize(
    ("entry", "body", "status"),
    [
        ("CA" + "9" * 32, {"mode": "listen"}, 404),  # no such call
        (None, {"mode": "shout"}, 400),
        (None, {}, 400),
        (None, {"mode": "listen", "extra": 1}, 400),
    ],
)
def test_bad_requests_are_clear(sim, deps, api, connected, entry, body, status):  # noqa: F811
    response = api.post(f"/api/acd/calls/{entry or connected}/monitor", json=body, as_="supervisor")
    assert response.status_code == status, response.json
    assert response.json["error"]["message"]


def test_a_waiting_caller_cannot_be_monitored(sim, deps, api, agents):  # noqa: F811
    deps.router.set_presence(agents["ana"], "away", "lunch")
    caller = sim.call(CALLER, NUMBER).wait(60).hangup()
    run(sim, deps, 5)
    response = api.post(
        f"/api/acd/calls/{caller.call.sid}/monitor", json={"mode": "listen"}, as_="supervisor"
    )
    assert response.status_code == 409
    with deps.session_factory() as s:
        assert s.scalars(select(User).where(User.username == "supervisor")).one()
