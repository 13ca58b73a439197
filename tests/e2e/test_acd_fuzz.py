"""Every /twilio/acd URL, and /twilio/conference, with hypothesis-made forms and query
strings: never a 500, TwiML wherever Twilio expects TwiML, and nothing broken after."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crm_core.acd import create_queue
from crm_core.acd_schemas import QueueIn
from crm_core.schemas import parse
from tests.telephony.conftest import Twilio, twilio_app


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    """Signed as Twilio signs; the carrier points at a closed loopback port (nothing here
    should reach it, and if something did it would fail fast, not hang)."""
    yield from twilio_app(
        database_url, redis_url, clock, tmp_path, TWILIO_API_BASE_URL="http://127.0.0.1:9"
    )


VOICE = [
    "/twilio/acd/enqueue",
    "/twilio/acd/hold",
    "/twilio/acd/hold/key",
    "/twilio/acd/left",
    "/twilio/acd/agent",
    "/twilio/acd/bridge",
    "/twilio/acd/done",
    "/twilio/acd/callback/done",
    "/twilio/acd/overflow",
]
CALLBACK = ["/twilio/acd/agent/status", "/twilio/conference"]
FIELDS = [
    "CallSid",
    "From",
    "To",
    "CallStatus",
    "Digits",
    "QueueResult",
    "DialCallStatus",
    "StatusCallbackEvent",
    "FriendlyName",
]
QUERY = ["queue", "entry", "agent", "lang", "priority", "needs", "action"]
VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            "sales",
            "CA" + "1" * 32,
            "+13135550101",
            "1",
            "-1",
            "es-MX",
            "spanish:5",
            "hangup",
            "completed",
            "busy",
            "conference-end",
            "vip",
            "queue",
            "callback",
            "\x00",
            "999999999999",
        ]
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(VOICE + CALLBACK),
    form=st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=10), VALUES), max_size=8),
    query=st.dictionaries(st.sampled_from(QUERY), VALUES, max_size=4),
)
def test_fuzzed_acd_webhooks_never_500(app, deps, clock, path, form, query):
    if deps.router.queues().get("sales") is None:
        with deps.session_factory.begin() as s:
            create_queue(s, parse(QueueIn, {"name": "sales", "empty_action": "wait"}), clock)
        deps.router.queues.invalidate()
    twilio = Twilio(app.test_client())
    full = path + ("?" + urlencode(query) if query else "")
    data = MultiDict(form)
    response = twilio.client.post(
        full, data=data, headers={"X-Twilio-Signature": twilio.sign(full, data)}
    )
    assert response.status_code in (200, 204), (full, form, response.data[:300])
    if path in VOICE:
        assert ET.fromstring(response.data).tag == "Response"
