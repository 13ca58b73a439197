"""The live ACD API: an agent's presence, offers and wrap-up; supervisors' view and control.
The carrier is the simulator's REST app in this thread (the agent's softphone rings there)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from telephony.simulator.engine import Simulator
from telephony.simulator.rest import make_rest_app
from telephony.simulator.transport import WsgiAdapter, WsgiTransport

API = "http://simulator.test"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    from tests.conftest import make_app

    yield from make_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN="12345",
        TWILIO_API_BASE_URL=API,
    )


@pytest.fixture
def acd(app, deps, clock, api):
    sim = Simulator(
        clock=clock,
        transport=WsgiTransport(app),
        account_sid="AC" + "0" * 32,
        auth_token="12345",
        api_base_url=API,
    )
    deps.carrier.http.session.mount(API, WsgiAdapter(make_rest_app(sim)))
    with deps.session_factory.begin() as s:
        for name in ("sales", "service"):
            data = {"name": name, "required_skills": {name: 1}, "empty_action": "wait"}
            create_queue(s, parse(QueueIn, data), clock)
    api.user("agent", skills={"sales": 5})
    api.user("supervisor")
    return sim


def test_an_agent_goes_available_and_is_offered_the_waiting_caller(api, deps, acd):
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    state = api.post("/api/agents/me/presence", json={"state": "available"})
    assert state.status_code == 200, state.json
    assert state.json["state"] == "reserved" and state.json["offer"]["entry"] == "CA1"
    ringing = [c for c in acd.calls.values() if c.to == "client:agent_agent"]
    assert len(ringing) == 1 and ringing[0].status in ("queued", "ringing")


def test_reject_stops_the_ringing_and_counts_a_miss(api, deps, acd):
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    api.post("/api/agents/me/presence", json={"state": "available"})
    rejected = api.post("/api/agents/me/offers/CA1/reject")
    assert rejected.status_code == 200 and rejected.json["offer"] is None
    assert [c.status for c in acd.calls.values()] == ["canceled"]
    again = api.post("/api/agents/me/offers/CA1/reject")
    assert again.status_code == 404 and again.json["error"]["field"] == "entry"


def test_accept_then_call_end_then_wrap_up_ended_early(api, deps, acd):
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    api.post("/api/agents/me/presence", json={"state": "available"})
    assert api.post("/api/agents/me/offers/CA1/accept").json["state"] == "busy"
    deps.router.call_ended("CA1")
    assert api.get("/api/agents/me/state").json["state"] == "wrap_up"
    assert api.post("/api/agents/me/wrap-up/end").json["state"] == "available"


def test_away_needs_no_offer_in_flight(api, deps, acd):
    api.post("/api/agents/me/presence", json={"state": "available"})
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    busy = api.post("/api/agents/me/presence", json={"state": "away", "reason": "lunch"})
    assert busy.status_code == 409 and busy.json["error"]["id"] == "call_ringing"
    assert busy.json["error"]["message"].startswith("A call is ringing for you")
    api.post("/api/agents/me/offers/CA1/reject")
    away = api.post("/api/agents/me/presence", json={"state": "away", "reason": "lunch"})
    assert away.json["state"] == "away" and away.json["reason"] == "lunch"


def test_supervisor_sees_queues_and_agents_and_moves_a_caller(api, deps, acd, clock):
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    clock.advance(42)
    queues = {q["queue"]: q for q in api.get("/api/acd/queues", as_="supervisor").json["queues"]}
    assert queues["sales"]["waiting"] == 1 and queues["sales"]["longest_wait_seconds"] == 42
    moved = api.post("/api/acd/callers/CA1/move", json={"queue": "service"}, as_="supervisor")
    assert moved.status_code == 200, moved.json
    assert deps.router.entry("CA1")["queue"] == "service"
    queues = {q["queue"]: q for q in api.get("/api/acd/queues", as_="supervisor").json["queues"]}
    assert queues["service"]["waiting"] == 1 and queues["sales"]["waiting"] == 0
    agent_id, _ = api.user("agent")
    forced = api.post(
        f"/api/acd/agents/{agent_id}/presence",
        json={"state": "away", "reason": "meeting"},
        as_="supervisor",
    )
    assert forced.json["state"] == "away"
    agents = api.get("/api/acd/agents", as_="supervisor").json["agents"]
    assert [(a["id"], a["state"], a["reason"]) for a in agents] == [(agent_id, "away", "meeting")]
    # Both actions are in the audit log, newest first, with who did them.
    log = api.get("/api/audit", as_="supervisor").json["entries"]
    supervisor_id, _ = api.user("supervisor")
    assert [(e["action"], e["target"], e["actor_id"]) for e in log] == [
        ("agent.presence", f"agent:{agent_id}", supervisor_id),
        ("caller.move", "call:CA1", supervisor_id),
    ]
    assert log[0]["detail"] == {"state": "away", "reason": "meeting"}  # it was not logged in


def test_agents_may_not_see_or_steer_the_floor(api, acd):
    assert api.get("/api/acd/queues").status_code == 403
    assert api.post("/api/acd/callers/CA1/move", json={"queue": "x"}).status_code == 403


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.none(),
        st.text(max_size=20),
        st.dictionaries(
            st.sampled_from(["state", "reason", "queue", "x"]),
            st.one_of(st.text(max_size=12), st.integers(), st.none()),
            max_size=3,
        ),
    )
)
def test_malformed_bodies_are_clear_400s(api, acd, body):
    for path, as_ in (
        ("/api/agents/me/presence", "agent"),
        ("/api/acd/callers/CA9/move", "supervisor"),
    ):
        response = api.post(path, json=body, as_=as_)
        assert response.status_code in (200, 400, 404, 409), (path, body, response.json)
        if response.status_code == 400:
            assert response.json["error"]["message"]
