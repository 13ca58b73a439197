"""The agent's in-call controls, end to end: a caller and Ana are bridged in the conference
the ACD made; Ana mutes, holds, transfers to another queue and consults Luis through the
JSON API, and the app steers the conference through the carrier's REST API (the real
twilio-python client against the simulator). What the simulator's conference says
(muted, on hold, who is in it) and what the router says (agents' states, the caller's
entry) are asserted, with the Call row and the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.models import Call
from crm_core.schemas import parse
from crm_core.users import create_token
from tests.e2e import test_acd
from tests.e2e.test_acd import CALLER, NUMBER, run

app, sim, agents = test_acd.app, test_acd.sim, test_acd.agents  # the fixtures of whole calls


@pytest.fixture
def service(deps, clock, agents):
    """A second queue any sales agent can take, made before anyone is available."""
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "service", "required_skills": {"sales": 1}}), clock)
    return "service"


@pytest.fixture
def signed_in(api, deps, clock, agents):
    """Ana and Luis can call the API as themselves."""
    with deps.session_factory.begin() as s:
        for name in ("ana", "luis"):
            _, token = create_token(s, agents[name].id, "tests", clock)
            api.tokens[name] = (agents[name].id, token)
    return api


@pytest.fixture
def connected(sim, deps, agents, service):
    """A caller in conversation with Ana."""
    sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(agents["ana"], "available")
    caller = sim.call(CALLER, NUMBER).wait(900).hangup()
    run(sim, deps, 15)
    assert deps.router.entry(caller.call.sid)["state"] == "connected"
    return caller.call.sid


def participants(simulator, entry):
    conference = simulator.conference(entry, create=False)
    if conference is None:
        return {}
    return {
        p.call.to if p.call.sid != entry else "caller": p for p in conference.participants.values()
    }


def actions(api, entry):
    log = api.get(f"/api/audit?target=call:{entry}", as_="supervisor").json["entries"]
    return [e["action"] for e in log]


def test_mute_and_unmute_the_agents_own_leg(sim, deps, signed_in, connected):
    api = signed_in
    muted = api.post("/api/agents/me/call/mute", json={"muted": True}, as_="ana")
    assert muted.status_code == 200, muted.json
    ana = participants(sim, connected)["client:agent_ana"]
    assert ana.muted and not participants(sim, connected)["caller"].muted
    again = api.post(
        "/api/agents/me/call/mute", json={"muted": False, "call": connected}, as_="ana"
    )
    assert again.status_code == 200 and again.json == {"call": connected, "muted": False}
    assert not participants(sim, connected)["client:agent_ana"].muted
    assert actions(api, connected) == ["call.mute", "call.mute"]


def test_hold_plays_music_and_the_time_on_hold_is_counted(sim, deps, signed_in, connected):
    api = signed_in
    held = api.post("/api/agents/me/call/hold", json={"hold": True}, as_="ana")
    assert held.status_code == 200, held.json
    caller = participants(sim, connected)["caller"]
    assert caller.hold and not participants(sim, connected)["client:agent_ana"].hold
    run(sim, deps, 3)
    assert "holdmusic" in " ".join(t for _, _, t in sim.calls[connected].party.transcript)
    twice = api.post("/api/agents/me/call/hold", json={"hold": True}, as_="ana")
    assert twice.status_code == 200  # already on hold: nothing changes
    run(sim, deps, 27)
    back = api.post("/api/agents/me/call/hold", json={"hold": False}, as_="ana")
    assert back.status_code == 200 and back.json["held_seconds"] == 30
    assert not participants(sim, connected)["caller"].hold
    api.post("/api/agents/me/call/hold", json={"hold": True}, as_="ana")
    run(sim, deps, 5)
    api.post("/api/agents/me/call/hold", json={"hold": False}, as_="ana")
    with deps.session_factory() as s:
        assert s.scalars(select(Call.hold_seconds).where(Call.call_sid == connected)).one() == 35
    assert actions(api, connected) == ["call.hold"] * 4
    assert deps.router.entry(connected)["state"] == "connected"


def test_cold_transfer_to_a_queue_keeps_the_place(sim, deps, signed_in, connected, agents):
    api = signed_in
    t0 = deps.router.entry(connected)["t0"]
    deps.router.set_presence(agents["luis"], "away", "break")
    moved = api.post("/api/agents/me/call/transfer", json={"queue": "service"}, as_="ana")
    assert moved.status_code == 200, moved.json
    assert moved.json == {
        "call": connected,
        "queue": "service",
        "state": "waiting",
        "agent_state": "wrap_up",
    }
    assert deps.router.agent(agents["ana"].id)["state"] == "wrap_up"
    assert deps.router.agent(agents["ana"].id)["call"] is False
    run(sim, deps, 2)  # the caller's leg runs /twilio/acd/enqueue?queue=service
    entry = deps.router.entry(connected)
    assert entry["queue"] == "service" and entry["state"] == "waiting" and entry["t0"] == t0
    day = deps.router.now()[1]
    stats = deps.router.redis.hgetall(deps.router.keys.stats(day))
    assert b"sales|abandoned" not in stats and b"service|abandoned" not in stats
    assert stats[b"service|entered"] == b"1"
    with deps.session_factory() as s:
        call = s.scalars(select(Call).where(Call.call_sid == connected)).one()
        assert call.queue == "service" and call.agent_id == agents["ana"].id
        assert 10 <= call.talk_seconds <= 15
    assert actions(api, connected) == ["call.transfer"]
    again = api.post("/api/agents/me/call/transfer", json={"queue": "service"}, as_="ana")
    assert again.status_code == 409  # Ana is on no call now


def test_a_transferred_caller_leaves_the_first_agent_for_the_next(
    sim, deps, signed_in, connected, agents
):
    luis = sim.phone("client:agent_luis", answer_after=3)
    deps.router.set_presence(agents["luis"], "away", "break")
    signed_in.post("/api/agents/me/call/transfer", json={"queue": "service"}, as_="ana")
    run(sim, deps, 3)
    assert "client:agent_ana" not in participants(sim, connected)  # Ana's leg is over
    deps.dispatcher.run(deps.router.set_presence(agents["luis"], "available").actions)
    run(sim, deps, 8)
    assert len(luis.answered) == 1
    entry = deps.router.entry(connected)
    assert entry["state"] == "connected" and entry["agent"] == agents["luis"].id
    assert set(participants(sim, connected)) == {"caller", "client:agent_luis"}


def test_consult_a_colleague_then_cancel(sim, deps, signed_in, connected, agents):
    api = signed_in
    sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["luis"], "available")
    asked = api.post("/api/agents/me/call/consult", json={"agent_id": agents["luis"].id}, as_="ana")
    assert asked.status_code == 201, asked.json
    assert deps.router.agent(agents["luis"].id)["state"] == "away"  # no offers meanwhile
    run(sim, deps, 4)
    people = participants(sim, connected)
    assert "client:agent_luis" in people and people["caller"].hold
    assert not people["client:agent_ana"].hold
    again = api.post("/api/agents/me/call/consult", json={"agent_id": agents["luis"].id}, as_="ana")
    assert again.status_code == 409
    run(sim, deps, 10)
    done = api.post("/api/agents/me/call/consult/cancel", json={}, as_="ana")
    assert done.status_code == 200, done.json
    assert done.json["left"] is True and done.json["held_seconds"] == 14
    run(sim, deps, 2)
    people = participants(sim, connected)
    assert "client:agent_luis" not in people and not people["caller"].hold
    assert deps.router.agent(agents["luis"].id)["state"] == "available"
    assert deps.router.entry(connected)["agent"] == agents["ana"].id
    assert actions(api, connected) == ["call.consult_cancel", "call.consult"]
    nothing = api.post("/api/agents/me/call/consult/cancel", json={}, as_="ana")
    assert nothing.status_code == 409


def test_consulting_an_absent_agent_is_refused(sim, deps, signed_in, connected, agents):
    api = signed_in
    offline = api.post(
        "/api/agents/me/call/consult", json={"agent_id": agents["luis"].id}, as_="ana"
    )
    assert offline.status_code == 404 and offline.json["error"]["field"] == "agent_id"
    myself = api.post("/api/agents/me/call/consult", json={"agent_id": agents["ana"].id}, as_="ana")
    assert myself.status_code == 409


def test_controls_act_only_on_ones_own_call(sim, deps, signed_in, connected, agents):
    api = signed_in
    paths = ["mute", "hold", "transfer", "consult", "consult/cancel", "consult/complete"]
    paths += ["digits", "transfer"]
    bodies = [{"muted": True}, {"hold": True}, {"queue": "service"}, {"agent_id": 1}, {}, {}]
    bodies += [{"digits": "1"}, {"agent": agents["ana"].id}]
    for path, body in zip(paths, bodies, strict=True):
        mine = api.post(f"/api/agents/me/call/{path}", json=body, as_="luis")
        assert mine.status_code == 409, (path, mine.json)  # Luis is on no call
        theirs = api.post(
            f"/api/agents/me/call/{path}", json={**body, "call": connected}, as_="luis"
        )
        assert theirs.status_code == 404, (path, theirs.json)  # Ana's call
        nobody = api.post(f"/api/agents/me/call/{path}", json=body, as_="supervisor")
        assert nobody.status_code == 409
    assert api.client.post("/api/agents/me/call/mute", json={"muted": True}).status_code in (
        400,
        401,
    )
    assert not participants(sim, connected)["caller"].hold
    assert deps.router.entry(connected)["agent"] == agents["ana"].id


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("mute", {}, "muted"),
        ("mute", {"muted": "yes"}, "muted"),
        ("mute", {"muted": True, "extra": 1}, "extra"),
        ("hold", {"hold": 1}, "hold"),
        ("transfer", {}, "queue"),
        ("transfer", {"queue": ""}, "queue"),
        ("transfer", {"queue": "nowhere"}, "queue"),
        ("transfer", {"agent_id": 3}, "agent_id"),
        ("transfer", {"queue": "service", "agent": 2}, "queue"),
        ("transfer", {"agent": "2"}, "agent"),
        ("transfer", {"agent": 0}, "agent"),
        ("transfer", {"agent": 999999}, "agent"),
        ("digits", {}, "digits"),
        ("digits", {"digits": ""}, "digits"),
        ("digits", {"digits": "12a"}, "digits"),
        ("digits", {"digits": 12}, "digits"),
        ("digits", {"digits": "1" * 33}, "digits"),
        ("consult/complete", {"x": 1}, "x"),
        ("consult", {"agent_id": "2"}, "agent_id"),
        ("consult", {"agent_id": 0}, "agent_id"),
        ("mute", {"muted": True, "call": "x" * 65}, "call"),
    ],
)
def test_malformed_bodies_name_the_field(sim, deps, signed_in, connected, path, body, field):
    response = signed_in.post(f"/api/agents/me/call/{path}", json=body, as_="ana")
    assert response.status_code in (400, 404), response.json
    assert response.json["error"]["field"] == field or response.json["error"]["field"].startswith(
        field
    ), response.json
    assert deps.router.entry(connected)["state"] == "connected"


def test_a_body_that_is_not_json_is_refused(signed_in, connected):
    response = signed_in.post("/api/agents/me/call/hold", data="hold", as_="ana")
    assert response.status_code == 400
