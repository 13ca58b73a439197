"""Transfers to an agent (cold and warm), the keypad, transfer targets and "why this agent",
end to end: the simulator plays the caller and the softphones, the app steers the
conference through the carrier's REST API (the real twilio-python client against the
simulator). Asserted: who is in the simulator's conference, what the caller heard, the
router's state and counts, the Call row and the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.models import Call
from tests.e2e import test_incall
from tests.e2e.test_acd import run
from tests.e2e.test_incall import actions, participants

app, sim, agents = test_incall.app, test_incall.sim, test_incall.agents
service, signed_in, connected = test_incall.service, test_incall.signed_in, test_incall.connected


def stats(deps):
    day = deps.router.now()[1]
    raw = deps.router.redis.hgetall(deps.router.keys.stats(day))
    return {k.decode(): int(v) for k, v in raw.items()}


def call_row(deps, sid):
    with deps.session_factory() as s:
        return s.scalars(select(Call).where(Call.call_sid == sid)).one()


def test_cold_transfer_to_an_agent_rings_them_and_the_call_goes_on(
    sim, deps, signed_in, connected, agents
):
    api, ana, luis = signed_in, agents["ana"].id, agents["luis"].id
    phone = sim.phone("client:agent_luis", answer_after=3)
    deps.router.set_presence(agents["luis"], "available")
    run(sim, deps, 5)  # Ana has talked 5 s more
    moved = api.post("/api/agents/me/call/transfer", json={"agent": luis}, as_="ana")
    assert moved.status_code == 200, moved.json
    assert moved.json == {
        "call": connected,
        "agent": luis,
        "queue": "sales",
        "state": "offered",
        "agent_state": "wrap_up",
    }
    assert call_row(deps, connected).agent_id == ana  # Ana's part, recorded now
    run(sim, deps, 1)
    assert "client:agent_ana" not in participants(sim, connected)  # Ana's leg is over
    run(sim, deps, 5)
    assert len(phone.answered) == 1
    entry = deps.router.entry(connected)
    assert entry["state"] == "connected" and entry["agent"] == luis
    assert set(participants(sim, connected)) == {"caller", "client:agent_luis"}
    assert deps.router.agent(ana)["state"] == "wrap_up"
    counted = stats(deps)
    assert counted["sales|answered"] == 1 and "sales|abandoned" not in counted
    assert actions(api, connected) == ["call.transfer"]
    run(sim, deps, 10)
    sim.end_call(sim.calls[connected], "completed")  # the caller hangs up
    run(sim, deps, 2)
    assert deps.router.agent(luis)["state"] == "wrap_up"
    row = call_row(deps, connected)
    assert row.agent_id == luis and 28 <= row.talk_seconds <= 36  # Ana's part and Luis's


def test_a_late_conference_end_does_not_end_the_new_connection(
    sim, deps, signed_in, connected, agents
):
    """The old conference's end arriving after the caller was connected to Luis."""
    luis = agents["luis"].id
    sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["luis"], "available")
    signed_in.post("/api/agents/me/call/transfer", json={"agent": luis}, as_="ana")
    run(sim, deps, 6)
    assert deps.router.entry(connected)["agent"] == luis
    old = [c for c in sim.conferences.values() if c.name == connected and c.status == "completed"]
    assert len(old) == 1
    sim._conference_event(old[0], "conference-end")  # delivered again, late
    run(sim, deps, 1)
    assert deps.router.entry(connected)["state"] == "connected"
    assert deps.router.agent(luis)["state"] == "busy"
    assert sim.errors == []


def test_an_unanswered_cold_transfer_puts_the_caller_back_in_the_queue(
    sim, deps, signed_in, connected, agents
):
    api, ana, luis = signed_in, agents["ana"].id, agents["luis"].id
    t0 = deps.router.entry(connected)["t0"]
    sim.phone("client:agent_luis", answer_after=None)
    deps.router.set_presence(agents["luis"], "available")
    moved = api.post("/api/agents/me/call/transfer", json={"agent": luis}, as_="ana")
    assert moved.status_code == 200, moved.json
    run(sim, deps, 18)  # Luis's offer times out after 15 s
    entry = deps.router.entry(connected)
    assert entry["state"] == "waiting" and entry["queue"] == "sales" and entry["t0"] == t0
    assert deps.router.agent(luis)["misses"] == 1
    heard = " ".join(t for _, _, t in sim.calls[connected].party.transcript)
    assert "place in line" in heard.lower()  # the queue's hold, not silence
    run(sim, deps, 16)  # Ana's wrap-up (30 s) ends: she is offered the caller again
    entry = deps.router.entry(connected)
    assert entry["state"] == "connected" and entry["agent"] == ana
    counted = stats(deps)
    assert counted["sales|answered"] == 1 and "sales|abandoned" not in counted


def test_transfer_to_an_agent_who_cannot_take_it(sim, deps, signed_in, connected, agents):
    api, luis = signed_in, agents["luis"].id
    offline = api.post("/api/agents/me/call/transfer", json={"agent": luis}, as_="ana")
    assert offline.status_code == 404 and offline.json["error"]["field"] == "agent"
    deps.router.set_presence(agents["luis"], "away", "lunch")
    away = api.post("/api/agents/me/call/transfer", json={"agent": luis}, as_="ana")
    assert away.status_code == 409 and away.json["error"]["field"] == "agent"
    me = api.post("/api/agents/me/call/transfer", json={"agent": agents["ana"].id}, as_="ana")
    assert me.status_code == 409
    assert deps.router.entry(connected)["agent"] == agents["ana"].id
    assert actions(api, connected) == []


def _consulting(sim, deps, api, agents):
    sim.phone("client:agent_luis", answer_after=2)
    deps.router.set_presence(agents["luis"], "available")
    asked = api.post("/api/agents/me/call/consult", json={"agent_id": agents["luis"].id}, as_="ana")
    assert asked.status_code == 201, asked.json
    run(sim, deps, 4)
    return asked.json["participant"]


def test_warm_transfer_hands_the_call_to_the_consulted_colleague(
    sim, deps, signed_in, connected, agents
):
    api, ana, luis = signed_in, agents["ana"].id, agents["luis"].id
    leg = _consulting(sim, deps, api, agents)
    run(sim, deps, 6)
    done = api.post("/api/agents/me/call/consult/complete", json={"call": connected}, as_="ana")
    assert done.status_code == 200, done.json
    assert done.json == {
        "call": connected,
        "agent_id": luis,
        "agent_state": "wrap_up",
        "held_seconds": 10,
    }
    run(sim, deps, 1)
    people = participants(sim, connected)
    assert set(people) == {"caller", "client:agent_luis"}
    assert not people["caller"].hold and people["client:agent_luis"].end_on_exit
    entry = deps.router.entry(connected)
    assert entry["agent"] == luis and entry["state"] == "connected"
    assert deps.router.agent(luis)["state"] == "busy"
    assert deps.router.agent(ana)["state"] == "wrap_up"
    assert deps.dispatcher.leg(connected, luis) == leg
    assert call_row(deps, connected).agent_id == luis
    assert api.post("/api/agents/me/call/mute", json={"muted": True}, as_="luis").status_code == 200
    assert api.post("/api/agents/me/call/hold", json={"hold": True}, as_="ana").status_code == 409
    assert actions(api, connected) == ["call.mute", "call.consult_complete", "call.consult"]
    run(sim, deps, 20)
    sim.end_call(sim.calls[leg], "completed")  # Luis hangs up: that ends the call
    run(sim, deps, 2)
    assert deps.router.entry(connected) is None
    assert deps.router.agent(luis)["state"] == "wrap_up"
    assert sim.calls[connected].ended
    row = call_row(deps, connected)
    assert row.agent_id == luis and row.hold_seconds == 10 and 40 <= row.talk_seconds <= 48
    assert stats(deps)["sales|answered"] == 1


def test_complete_needs_a_consult_and_a_colleague_still_there(
    sim, deps, signed_in, connected, agents
):
    api = signed_in
    nothing = api.post("/api/agents/me/call/consult/complete", json={}, as_="ana")
    assert nothing.status_code == 409
    leg = _consulting(sim, deps, api, agents)
    sim.end_call(sim.calls[leg], "completed")  # Luis hung up on the consult
    run(sim, deps, 1)
    gone = api.post("/api/agents/me/call/consult/complete", json={}, as_="ana")
    assert gone.status_code == 409 and "no longer" in gone.json["error"]["message"]
    assert deps.router.entry(connected)["agent"] == agents["ana"].id
    assert deps.router.agent(agents["ana"].id)["state"] == "busy"
    cancel = api.post("/api/agents/me/call/consult/cancel", json={}, as_="ana")
    assert cancel.status_code == 200 and cancel.json["left"] is False


def test_transfer_is_refused_while_consulting(sim, deps, signed_in, connected, agents):
    _consulting(sim, deps, signed_in, agents)
    busy = signed_in.post("/api/agents/me/call/transfer", json={"queue": "service"}, as_="ana")
    assert busy.status_code == 409


def test_the_keypad_plays_tones_to_the_caller(sim, deps, signed_in, connected):
    api = signed_in
    keyed = api.post("/api/agents/me/call/digits", json={"digits": "12w#"}, as_="ana")
    assert keyed.status_code == 200 and keyed.json == {"call": connected, "digits": 4}
    run(sim, deps, 2)
    heard = [t for _, kind, t in sim.calls[connected].party.transcript if kind == "heard digits"]
    assert heard == ["12w#"]
    log = api.get(f"/api/audit?target=call:{connected}", as_="supervisor").json["entries"]
    assert log[0]["action"] == "call.digits" and log[0]["detail"] == {"keys": 4}
    assert deps.router.entry(connected)["state"] == "connected"
    assert sim.errors == []


def test_transfer_targets_are_the_queues_and_the_free_colleagues(
    sim, deps, signed_in, connected, agents
):
    deps.router.set_presence(agents["luis"], "available")
    got = signed_in.get("/api/agents/me/transfer-targets", as_="ana")
    assert got.status_code == 200
    assert {"name": "sales"} in got.json["queues"] and {"name": "service"} in got.json["queues"]
    assert [(a["id"], a["transfer"]) for a in got.json["agents"]] == [(agents["luis"].id, True)]
    deps.router.set_presence(agents["luis"], "away", "lunch")
    got = signed_in.get("/api/agents/me/transfer-targets", as_="ana")
    assert got.json["agents"][0]["state"] == "away" and not got.json["agents"][0]["transfer"]
    luis = signed_in.get("/api/agents/me/transfer-targets", as_="luis")
    assert [a["id"] for a in luis.json["agents"]] == []  # Ana is busy


def test_why_this_agent_for_supervisors(sim, deps, signed_in, connected, agents):
    api = signed_in
    why = api.get(f"/api/acd/calls/{connected}/why", as_="supervisor")
    assert why.status_code == 200, why.json
    body = why.json
    assert set(body) == {
        "entry",
        "queue",
        "agent_id",
        "agent",
        "strategy",
        "offered_at",
        "eligible",
        "reasons",
        "reason_parts",  # the reasons with their clock times apart, for the viewer's zone
    }
    assert body["entry"] == connected and body["agent_id"] == agents["ana"].id
    assert body["queue"] == "sales" and body["strategy"] == "longest_idle"
    assert body["eligible"] == 1 and any("idle since" in r for r in body["reasons"])
    assert any("sales 8 (needs 1)" in r for r in body["reasons"])
    assert api.get(f"/api/acd/calls/{connected}/why", as_="ana").status_code == 403
    unknown = api.get("/api/acd/calls/CA" + "9" * 32 + "/why", as_="admin")
    assert unknown.status_code == 404
    _consulting(sim, deps, api, agents)
    api.post("/api/agents/me/call/consult/complete", json={}, as_="ana")
    after = api.get(f"/api/acd/calls/{connected}/why", as_="supervisor").json
    assert after["agent_id"] == agents["luis"].id and "transferred" in after["reasons"][0]


@pytest.mark.parametrize("body", [{"agent": True}, {"agent": 1.5}, {"queue": None}])
def test_a_transfer_body_must_name_one_target(signed_in, connected, body):
    response = signed_in.post("/api/agents/me/call/transfer", json=body, as_="ana")
    assert response.status_code == 400 and response.json["error"]["field"] in ("agent", "queue")
