"""Whatever a caller presses or says, and whatever arrives in the flow's own query string,
every auto-attendant URL answers a TwiML document a caller can hear, without an exception
(a TelephonyError row would mean the apology was played instead)."""

from __future__ import annotations

import importlib
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from telephony.models import TelephonyError
from tests.telephony.conftest import Twilio
from tests.telephony.test_webhooks import INBOUND

DEFAULT_QUEUES = importlib.import_module(
    "migrations.versions.0005_business_hours_holidays_default_queues"
).DEFAULT_QUEUES
STEPS = ["menu", "submenu", "shortcut", "appointment", "roadside", "closed", "voicemail"]
KEYS = st.text(alphabet="0123456789*#", max_size=4)
TEXT = st.text(max_size=120)
PARAM = st.one_of(
    st.sampled_from(["", "0", "1", "2", "3", "-1", "99", "sales", "lead", "appointment"]),
    st.sampled_from(["en-US", "es-MX", "es-US", "fr-FR", "EN-us", "2026-01-05T12:30+00:00"]),
    st.text(max_size=30),
)


@pytest.fixture
def twilio(app, deps, clock):
    with deps.session_factory.begin() as s:
        for name, display, skills, hours, empty in DEFAULT_QUEUES:
            data = {"name": name, "display_name": display, "required_skills": skills}
            create_queue(s, parse(QueueIn, data | {"hours": hours, "empty_action": empty}), clock)
    deps.router.queues.invalidate()
    twilio = Twilio(app.test_client())
    assert twilio.post("/twilio/voice", INBOUND).status_code == 200
    return twilio


def _heard(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response" and len(root)
    return [e.text or "" for e in root.iter("Say")]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    step=st.sampled_from(STEPS),
    query=st.dictionaries(
        st.sampled_from(["lang", "tries", "option", "kind", "appt", "queue", "at"]),
        PARAM,
        max_size=5,
    ),
    digits=st.none() | KEYS | TEXT,
    speech=st.none() | TEXT,
)
def test_any_answer_at_any_step_is_heard_not_failed(deps, twilio, step, query, digits, speech):
    form = dict(INBOUND)
    if digits is not None:
        form["Digits"] = digits
    if speech is not None:
        form["SpeechResult"] = speech
    path = f"/twilio/ivr/{step}" + (f"?{urlencode(query)}" if query else "")
    for said in _heard(twilio.post(path, form)):
        assert "{" not in said and "}" not in said, said
    with deps.session_factory.begin() as s:
        errors = s.scalars(select(TelephonyError)).all()
        assert errors == [], [e.message for e in errors]
        s.execute(delete(TelephonyError))


def test_the_flows_urls_are_signed_like_any_webhook(twilio):
    response = twilio.client.post("/twilio/ivr/menu?lang=en-US", data={"Digits": "1"})
    assert response.status_code == 403
