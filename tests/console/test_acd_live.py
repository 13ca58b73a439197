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


# ------------------------------------------------- refusals a person can read

STATE_WORDS = {"offline", "available", "reserved", "pending", "busy", "wrap_up", "away"}


def _plain(message: str) -> bool:
    """A sentence: no arrow, no state-machine value, no id (digits, a CallSid)."""
    words = {w.strip(".,;:!?()'\"").lower() for w in message.split()}
    return (
        "->" not in message
        and "→" not in message
        and not words & STATE_WORDS
        and not any(ch.isdigit() for ch in message)
        and "CA" not in message
    )


def _ringing(api, deps):
    deps.router.enqueue("CA1", "sales", call_sid="CA1")
    api.post("/api/agents/me/presence", json={"state": "available"})


def _talking(api, deps):
    _ringing(api, deps)
    api.post("/api/agents/me/offers/CA1/accept")


@pytest.mark.parametrize("situation", ["ringing", "talking"])
@pytest.mark.parametrize("target", ["available", "away", "offline"])
def test_every_refused_status_change_is_a_plain_sentence(api, deps, acd, situation, target):
    """The agent's own refusals (the page once showed 'agent 1: busy -> available')."""
    (_ringing if situation == "ringing" else _talking)(api, deps)
    body = {"state": target} | ({"reason": "lunch"} if target == "away" else {})
    refused = api.post("/api/agents/me/presence", json=body)
    assert refused.status_code == 409, refused.json
    error = refused.json["error"]
    assert error["id"] == {"ringing": "call_ringing", "talking": "on_a_call"}[situation]
    assert _plain(error["message"]), error["message"]
    if situation == "talking":
        assert error["message"] == "You are on a call; you can change your status when it ends."


@pytest.mark.parametrize("situation", ["ringing", "talking"])
@pytest.mark.parametrize("target", ["available", "away"])
def test_a_supervisors_refusals_are_plain_sentences_too(api, deps, acd, situation, target):
    agent_id, _ = api.user("agent")
    (_ringing if situation == "ringing" else _talking)(api, deps)
    refused = api.post(
        f"/api/acd/agents/{agent_id}/presence", json={"state": target}, as_="supervisor"
    )
    assert refused.status_code == 409, refused.json
    assert refused.json["error"]["message"].startswith(("The agent is on", "A call is ringing"))
    assert _plain(refused.json["error"]["message"]), refused.json["error"]["message"]


def test_moving_a_connected_caller_is_refused_in_words(api, deps, acd):
    _talking(api, deps)
    refused = api.post("/api/acd/callers/CA1/move", json={"queue": "service"}, as_="supervisor")
    assert refused.status_code == 409 and _plain(refused.json["error"]["message"])


# ------------------------------------------- a supervisor signs an agent out, any state


def _sign_out(api, agent_id):
    return api.post(
        f"/api/acd/agents/{agent_id}/presence", json={"state": "offline"}, as_="supervisor"
    )


@pytest.mark.parametrize("start", ["available", "away"])
def test_a_supervisor_signs_out_an_idle_agent(api, deps, acd, start):
    agent_id, _ = api.user("agent")
    api.post("/api/agents/me/presence", json={"state": start})
    out = _sign_out(api, agent_id)
    assert out.status_code == 200 and out.json["state"] == "offline", out.json


def test_signing_out_a_ringing_agent_offers_the_caller_to_the_next(api, deps, acd):
    agent_id, _ = api.user("agent")
    api.user("agent", username="luis", skills={"sales": 5})
    api.post("/api/agents/me/presence", json={"state": "available"})
    rung = deps.router.enqueue("CA1", "sales", call_sid="CA1")  # the agent came first
    deps.dispatcher.run(rung.actions)  # the agent's softphone rings
    assert deps.router.agent(agent_id)["offer"] == "CA1"
    api.post("/api/agents/me/presence", json={"state": "available"}, as_="luis")
    out = _sign_out(api, agent_id)
    assert out.status_code == 200 and out.json["state"] == "offline", out.json
    assert deps.router.agent(agent_id)["misses"] == 0  # withdrawn, not missed
    luis = api.get("/api/agents/me/state", as_="luis").json
    assert luis["state"] == "reserved" and luis["offer"]["entry"] == "CA1"
    legs = [c for c in acd.calls.values() if c.to == "client:agent_agent"]
    assert [c.status for c in legs] == ["canceled"]  # the signed-out phone stopped ringing


def test_signing_out_an_agent_on_a_call_takes_effect_when_it_ends(api, deps, acd, clock):
    from routing import ending

    agent_id, _ = api.user("agent")
    _talking(api, deps)
    out = _sign_out(api, agent_id)
    assert out.status_code == 200, out.json
    assert out.json["offline_after_call"] is True and out.json["state"] == "busy"
    assert out.json["call_sid"] == "CA1" and _plain(out.json["message"])
    assert api.get("/api/agents/me/state").json["offline_after_call"] is True
    clock.advance(30)
    ending.call_ended(deps, "CA1")
    assert deps.router.agent(agent_id)["state"] == "offline"  # no wrap-up
    log = api.get("/api/audit", as_="supervisor").json["entries"]
    assert log[0]["detail"]["offline_after_call"] is True and log[0]["detail"]["before"] == "busy"


def test_signing_out_in_wrap_up_ends_it(api, deps, acd, clock):
    agent_id, _ = api.user("agent")
    _talking(api, deps)
    deps.router.call_ended("CA1")
    out = _sign_out(api, agent_id)
    assert out.status_code == 200 and out.json["state"] == "offline", out.json
    assert deps.router.agent(agent_id).get("last_call") in (None, False)


# ------------------------------------------------------------ a supervisor ends a call


def test_a_supervisor_ends_a_connected_call(api, deps, acd):
    agent_id, _ = api.user("agent")
    _talking(api, deps)
    ended = api.post("/api/acd/calls/CA1/end", as_="supervisor")
    assert ended.status_code == 200 and ended.json["was"] == "connected", ended.json
    assert deps.router.agent(agent_id)["state"] == "wrap_up"


def test_ending_calls_is_for_supervisors_and_unknown_calls_are_404(api, acd):
    assert api.post("/api/acd/calls/CA1/end").status_code == 403
    missing = api.post("/api/acd/calls/CA404/end", as_="supervisor")
    assert missing.status_code == 404 and missing.json["error"]["field"] == "call_sid"
