"""Recording consent and control, whole calls through the simulator: the caller hears the
auto-attendant's notice (or is asked to agree), the agent answers, the caller's leg is
recorded dual-channel at the simulated carrier, the agent's script pauses it on the
sensitive step and resumes it after, the agent pauses and resumes by hand, and every pause
and resume is in the audit log. Outbound, the called party hears the notice before the
agent's leg is recorded. The app drives the simulator's REST API with the real
twilio-python client (WsgiAdapter), as it would Twilio's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.audit import AuditEntry
from crm_core.models import RecordingConsent, User
from crm_core.schemas import UserIn, parse
from crm_core.users import create_token, create_user
from recording.models import Recording, RecordingStatus
from routing.config import profile
from tests.e2e import test_ivr
from tests.e2e.test_ivr import NUMBER, call_row, run
from tests.telephony.conftest import PUBLIC

app, queues = test_ivr.app, test_ivr.queues  # the auto-attendant's app and default queues
MICHIGAN = "+13135550101"  # one-party consent: the notice is enough
CALIFORNIA = "+14155550101"  # all-party consent: a yes is needed
CUSTOMER = "+13135550142"
FLORIDA_CUSTOMER = "+13055550142"  # all-party, and in calling hours at 10:00 Eastern


@pytest.fixture
def sim(app, deps, clock):
    sim = test_ivr.make_sim(app, deps, clock)
    # A softphone's click-to-call, as the TwiML App would request it (test_click_to_call.py).
    for number in (CUSTOMER, FLORIDA_CUSTOMER):
        sim.add_number(
            number, f"{PUBLIC}/twilio/client", status_callback=f"{PUBLIC}/twilio/voice/status"
        )
    return sim


@pytest.fixture
def ana(deps, clock, queues, api):
    """An agent for every queue, signed in to the API, her softphone answering in 2 s."""
    skills = {"sales": 5, "service": 5, "finance": 5, "spanish": 5}
    with deps.session_factory.begin() as s:
        user = create_user(
            s, parse(UserIn, {"username": "ana", "password": "x" * 12, "skills": skills}), clock
        )
        _, token = create_token(s, user.id, "tests", clock)
        api.tokens["ana"] = (user.id, token)
    with deps.session_factory() as s:
        return profile(s.scalars(select(User)).one())


def connect(sim, deps, ana, caller_number, *keys, consent=None):
    """A caller through the menu (``keys``) to Ana, who answers; ``consent``: the key the
    caller presses when asked to agree to recording (None: silence)."""
    sim.phone("client:agent_ana", answer_after=2)
    deps.router.set_presence(ana, "available")
    caller = sim.call(caller_number, NUMBER).expect_say("may be recorded")
    for key in keys:
        caller.press(key).wait(1)
    if consent is not None:
        caller.expect_say("press 1 or say yes").press(consent)
    caller.wait(900).hangup()
    for _ in range(200):
        run(sim, deps, 1)
        entry = deps.router.entry(caller.call.sid)
        if entry is not None and entry.get("state") == "connected":
            return caller
    raise AssertionError(f"never connected: {caller.transcript}")


def recordings_of(sim, call_sid):
    return [r for r in sim.recordings.values() if r.call_sid == call_sid]


def audit_rows(deps, call_sid):
    with deps.session_factory() as s:
        rows = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.target == f"call:{call_sid}")
            .order_by(AuditEntry.id)
        ).all()
    return [(r.action, r.actor_id, r.detail.get("reason"), r.detail.get("step")) for r in rows]


def test_a_notified_call_is_recorded_paused_on_the_sensitive_step_and_resumed(sim, deps, api, ana):
    caller = connect(sim, deps, ana, MICHIGAN, "1", "1")  # sales, new vehicles
    sid, began = caller.call.sid, sim.elapsed()
    row = call_row(deps, sid)
    assert row.recording_consent is RecordingConsent.NOTIFIED
    assert row.recording_consent_rule == "state MI: notice played"
    (recording,) = recordings_of(sim, sid)  # the caller's leg, from the agent's answer
    assert recording.channels == 2 and recording.status == "in-progress"
    assert recording.source == "StartCallRecordingAPI"
    with deps.session_factory() as s:
        stored = s.scalars(select(Recording)).one()
    assert (stored.recording_sid, stored.call_sid, stored.call_id) == (recording.sid, sid, row.id)
    assert stored.status is RecordingStatus.PENDING and stored.channels == 2
    shown = api.get("/api/agents/me/call/recording", as_="ana").json
    assert shown["state"] == "recording" and shown["consent"] == "notified"

    run(sim, deps, 10)
    # The script moves into the card-details step: paused, and the pause is skipped.
    answer = {"call_sid": sid, "step": "deposit_offer", "answer": "deposit-yes"}
    moved = api.post(
        "/api/agents/me/script/answer", json=answer | {"script": "outbound_sales"}, as_="ana"
    )
    assert moved.status_code == 200, moved.json
    assert moved.json["recording"]["state"] == "paused"
    assert moved.json["recording"]["paused_by"] == "script"
    assert recording.status == "paused" and recording.pause_behavior == "skip"
    run(sim, deps, 20)  # the card number is read: not in the file
    # "Next" on the card step: the script leaves it, recording resumes.
    step = {"call_sid": sid, "step": "confirm_appointment", "script": "outbound_sales"}
    left = api.post("/api/agents/me/script/step", json=step, as_="ana")
    assert left.status_code == 200, left.json
    assert left.json["recording"]["state"] == "recording" and recording.status == "in-progress"
    again = api.post("/api/agents/me/script/step", json=step, as_="ana")
    assert again.json["recording"]["state"] == "recording"  # nothing to resume twice

    run(sim, deps, 5)
    paused = api.post("/api/agents/me/call/recording/pause", json={"call": sid}, as_="ana")
    assert paused.status_code == 200 and paused.json["paused_by"] == "manual"
    assert recording.status == "paused"
    twice = api.post("/api/agents/me/call/recording/pause", json={}, as_="ana")
    assert twice.status_code == 200 and twice.json["state"] == "paused"  # audited once
    run(sim, deps, 5)
    resumed = api.post("/api/agents/me/call/recording/resume", json={}, as_="ana")
    assert resumed.status_code == 200 and resumed.json["state"] == "recording"
    other = api.post("/api/agents/me/call/recording/pause", json={"call": "CA123"}, as_="ana")
    assert other.status_code == 404 and other.json["error"]["field"] == "call"
    bad = api.post("/api/agents/me/script/step", json={"call_sid": sid, "step": 5}, as_="ana")
    assert bad.status_code == 400

    assert audit_rows(deps, sid) == [
        ("recording.start", ana.id, None, None),
        ("recording.pause", ana.id, "script", "take_deposit"),
        ("recording.resume", ana.id, "script", "confirm_appointment"),
        ("recording.pause", ana.id, "manual", None),
        ("recording.resume", ana.id, "manual", None),
    ]
    while not caller.call.ended:  # the caller hangs up: the recording ends with the call
        run(sim, deps, 1)
    assert recording.status == "completed"
    # The 25 s of pauses are skipped: not in the file.
    assert abs(recording.duration - (sim.elapsed() - began - 25)) <= 3
    assert caller.failures == [] and sim.errors == [], caller.transcript


def test_an_all_party_state_caller_who_says_yes_is_recorded(sim, deps, api, ana):
    caller = connect(sim, deps, ana, CALIFORNIA, "1", "1", consent="1")
    row = call_row(deps, caller.call.sid)
    assert row.recording_consent is RecordingConsent.GRANTED
    assert row.recording_consent_rule == "state CA: all-party consent: said yes"
    (recording,) = recordings_of(sim, caller.call.sid)
    assert recording.channels == 2 and recording.status == "in-progress"
    assert "thank you" in caller.heard_text().lower()


def test_no_answer_to_the_consent_question_is_declined_and_not_recorded(sim, deps, api, ana):
    caller = connect(sim, deps, ana, CALIFORNIA, "1", "1")  # silence when asked
    row = call_row(deps, caller.call.sid)
    assert row.recording_consent is RecordingConsent.DECLINED
    assert row.recording_consent_rule == "state CA: all-party consent: no yes"
    assert recordings_of(sim, caller.call.sid) == []  # still reached the agent, unrecorded
    shown = api.get("/api/agents/me/call/recording", as_="ana").json
    assert shown["state"] == "not_recorded" and shown["consent"] == "declined"
    refused = api.post("/api/agents/me/call/recording/pause", json={}, as_="ana")
    assert refused.status_code == 409 and refused.json["error"]["id"] == "not-recording"
    assert "will not be recorded" in caller.heard_text().lower()


def test_a_payments_call_starts_paused_until_the_agent_resumes_it(sim, deps, api, ana):
    caller = connect(sim, deps, ana, MICHIGAN, "3")  # payments and finance: sensitive
    sid = caller.call.sid
    assert call_row(deps, sid).sensitive
    (recording,) = recordings_of(sim, sid)
    assert recording.status == "paused"
    shown = api.get("/api/agents/me/call/recording", as_="ana").json
    assert shown["state"] == "paused" and shown["paused_by"] == "path"
    # A script leaving a sensitive step does not resume a payments call's pause...
    step = {"call_sid": sid, "step": "confirm_appointment", "script": "outbound_sales"}
    api.post("/api/agents/me/script/step", json=step, as_="ana")
    assert recording.status == "paused"
    # ...the agent does, to record the ACH authorisation statement.
    resumed = api.post("/api/agents/me/call/recording/resume", json={}, as_="ana")
    assert resumed.status_code == 200 and recording.status == "in-progress"
    assert audit_rows(deps, sid) == [
        ("recording.start", ana.id, None, None),
        ("recording.pause", None, "path", None),
        ("recording.resume", ana.id, "manual", None),
    ]


def test_an_outbound_callee_hears_the_notice_before_recording_starts(sim, deps, api, ana):
    rosa = sim.phone(CUSTOMER, answer_after=4)
    rosa.expect_say("may be recorded").wait(40).hangup()
    agent = sim.call("client:agent_ana", CUSTOMER).wait(120)
    sim.advance(3)
    assert recordings_of(sim, agent.call.sid) == []  # ringing: nothing recorded yet
    sim.advance(15)
    (person,) = rosa.answered
    assert "may be recorded" in person.heard_text().lower()
    (recording,) = recordings_of(sim, agent.call.sid)  # the agent's leg, both sides
    assert recording.channels == 2 and recording.status == "in-progress"
    notice = next(t for t, kind, text in person.transcript if "may be recorded" in text)
    assert recording.running_since > notice + 2  # started once the notice was said
    row = call_row(deps, agent.call.sid)
    assert row.recording_consent is RecordingConsent.NOTIFIED
    assert row.recording_consent_rule == "state MI: notice played"
    shown = api.get("/api/agents/me/call/recording", as_="ana").json
    assert shown["state"] == "recording"  # the click-to-call is "my call" too
    paused = api.post("/api/agents/me/call/recording/pause", json={}, as_="ana")
    assert paused.status_code == 200 and recording.status == "paused"
    sim.advance(60)
    assert person.failures == [] and agent.failures == [] and sim.errors == []


@pytest.mark.parametrize(("key", "consent"), [("1", "granted"), (None, "declined")])
def test_an_outbound_callee_in_an_all_party_state_is_asked(sim, deps, api, ana, key, consent):
    callee = sim.phone(FLORIDA_CUSTOMER, answer_after=4)
    callee.expect_say("press 1")
    if key:
        callee.press(key)
    callee.wait(40).hangup()
    agent = sim.call("client:agent_ana", FLORIDA_CUSTOMER).wait(120)
    sim.advance(30)
    row = call_row(deps, agent.call.sid)
    assert row.recording_consent is RecordingConsent(consent)
    assert row.recording_consent_rule.startswith("state FL: all-party consent")
    assert len(recordings_of(sim, agent.call.sid)) == (1 if key else 0)
    sim.advance(60)
    (person,) = callee.answered
    assert person.failures == [] and agent.failures == [] and sim.errors == []
