"""Recording consent rules (recording/consent.py): the setting, the queue's rule, the
caller's state from the area code, and what is stored on the Call; and the queue setting
through the ACD's API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.acd import create_queue, get_queue, queue_config
from crm_core.acd_schemas import QueueIn
from crm_core.errors import InvalidInput
from crm_core.models import Call, CallDirection, RecordingConsent
from crm_core.schemas import parse
from recording import consent
from recording.consent import Decision, all_party_states, decide, enabled, state_of

DEFAULTS = {
    "RECORDING_ENABLED": True,
    "RECORDING_ALL_PARTY_STATES": "CA,CT,DE,FL,IL,MD,MA,MT,NV,NH,PA,WA",
}
CALIFORNIA = "+14155550101"  # San Francisco
MICHIGAN = "+13135550101"  # Detroit


@pytest.mark.parametrize(
    ("phone", "state"),
    [
        ("+14155550101", "CA"),  # "San Francisco, CA"
        ("+13105550123", "CA"),  # "California"
        ("+12065550100", "WA"),  # "Washington State"
        ("+13055550100", "FL"),
        ("+17735550100", "IL"),
        ("+12125550100", "NY"),
        ("+13135550101", "MI"),
        ("+18005550100", None),  # toll-free: no state
        ("+442071838750", None),  # London
        ("client:agent_ana", None),
        ("+1", None),
        ("", None),
        (None, None),
        ("+1" + "9" * 40, None),
    ],
)
def test_the_state_comes_from_the_area_code(phone, state):
    assert state_of(phone) == state


def test_a_one_party_state_needs_only_the_notice():
    decision = decide(DEFAULTS, phone=MICHIGAN, queue="sales")
    assert decision == Decision(RecordingConsent.NOTIFIED, "state MI: notice played")
    assert decision.recorded and not decision.ask


def test_an_all_party_state_asks_for_a_yes():
    decision = decide(DEFAULTS, phone=CALIFORNIA, queue="sales")
    assert decision.ask and decision.consent is None and not decision.recorded
    assert decision.rule == "state CA: all-party consent"
    assert consent.answered(decision.rule, True) == Decision(
        RecordingConsent.GRANTED, "state CA: all-party consent: said yes"
    )
    no = consent.answered(decision.rule, False)
    assert no.consent is RecordingConsent.DECLINED and not no.recorded


def test_an_unknown_state_gets_the_notice():
    decision = decide(DEFAULTS, phone="+18005550100")
    assert decision.consent is RecordingConsent.NOTIFIED
    assert decision.rule == "state unknown: notice played"


def test_the_queue_can_ask_everyone_or_record_nobody():
    explicit = decide(DEFAULTS, phone=MICHIGAN, queue="payments", queue_rule="explicit")
    assert explicit.ask and explicit.rule == "queue payments: explicit consent"
    off = decide(DEFAULTS, phone=CALIFORNIA, queue="hr", queue_rule="off")
    assert off == Decision(RecordingConsent.NOT_RECORDED, "queue hr: recording off")
    unknown = decide(DEFAULTS, phone=MICHIGAN, queue="sales", queue_rule="bogus")
    assert unknown.consent is RecordingConsent.NOTIFIED  # read as the default, notice


def test_the_setting_turns_recording_off_before_any_other_rule():
    for value in (False, "false", "0", "off", " No "):
        off = decide(
            {**DEFAULTS, "RECORDING_ENABLED": value}, phone=CALIFORNIA, queue_rule="explicit"
        )
        assert off == Decision(RecordingConsent.NOT_RECORDED, "RECORDING_ENABLED is off")
    assert enabled({"RECORDING_ENABLED": "true"}) and enabled({})


def test_the_states_setting_is_read_leniently():
    assert all_party_states({"RECORDING_ALL_PARTY_STATES": " ca, fl ,XX,,Oregon"}) == {"CA", "FL"}
    assert all_party_states({"RECORDING_ALL_PARTY_STATES": ["WA", "mi"]}) == {"WA", "MI"}
    assert all_party_states({"RECORDING_ALL_PARTY_STATES": None}) == frozenset()
    # Michigan made all-party by the setting: Detroit callers are asked.
    assert decide({**DEFAULTS, "RECORDING_ALL_PARTY_STATES": "MI"}, phone=MICHIGAN).ask


def test_an_emergency_caller_is_never_asked_but_not_recorded_without_a_yes():
    decision = decide(DEFAULTS, phone=CALIFORNIA, queue="roadside", emergency=True)
    assert decision.consent is RecordingConsent.NOT_RECORDED and not decision.ask
    assert decision.rule == "state CA: all-party consent, emergency: not asked"
    assert decide(DEFAULTS, phone=MICHIGAN, emergency=True).recorded  # the notice is enough


def test_the_decision_is_stored_on_the_call(deps, clock):
    with deps.session_factory.begin() as s:
        s.add(Call(call_sid="CA1", direction=CallDirection.INBOUND, created_at=clock.now()))
    with deps.session_factory.begin() as s:
        consent.store(s, "CA1", decide(DEFAULTS, phone=CALIFORNIA))  # still to ask: nothing
        consent.store(s, None, decide(DEFAULTS, phone=MICHIGAN))  # no call: nothing
    with deps.session_factory() as s:
        assert s.scalars(select(Call.recording_consent)).one() is None
    with deps.session_factory.begin() as s:
        consent.store(s, "CA1", consent.answered("state CA: all-party consent", True))
    with deps.session_factory() as s:
        call = s.scalars(select(Call)).one()
        assert call.recording_consent is RecordingConsent.GRANTED
        assert call.recording_consent_rule == "state CA: all-party consent: said yes"


def test_the_queue_setting_defaults_to_notice_and_is_checked(deps, clock):
    with deps.session_factory.begin() as s:
        create_queue(s, parse(QueueIn, {"name": "sales"}), clock)
        create_queue(
            s, parse(QueueIn, {"name": "payments", "recording_consent": "explicit"}), clock
        )
    with deps.session_factory() as s:
        assert queue_config(get_queue(s, "sales")).recording_consent == "notice"
        assert queue_config(get_queue(s, "payments")).recording_consent == "explicit"
    with pytest.raises(InvalidInput) as bad:
        parse(QueueIn, {"name": "x", "recording_consent": "maybe"})
    assert bad.value.field == "recording_consent"


def test_the_queue_api_sets_and_refuses_the_consent_rule(api):
    made = api.post("/api/queues", json={"name": "sales", "recording_consent": "off"}, as_="admin")
    assert made.status_code == 201, made.json
    assert made.json["recording_consent"] == "off"
    changed = api.patch("/api/queues/sales", json={"recording_consent": "explicit"}, as_="admin")
    assert changed.status_code == 200 and changed.json["recording_consent"] == "explicit"
    bad = api.patch("/api/queues/sales", json={"recording_consent": "sometimes"}, as_="admin")
    assert bad.status_code == 400
    assert bad.json["error"]["field"] == "recording_consent"
    null = api.patch("/api/queues/sales", json={"recording_consent": None}, as_="admin")
    assert null.status_code == 400
