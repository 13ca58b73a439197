"""The softphone's server side: its access token (/api) and its outgoing calls (/twilio/client).

Tokens are decoded with PyJWT, as Twilio reads them; TwiML is read by structure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core import customers
from crm_core.models import Call, CallDirection, CallStatus
from crm_core.schemas import CustomerIn, parse
from telephony.access_tokens import (
    REFRESH_MARGIN_SECONDS,
    TOKEN_TTL_SECONDS,
    InvalidSoftphoneToken,
    simulator_app_sid,
    simulator_signing_key,
    verify_simulator_token,
)
from telephony.models import TelephonyError
from tests.console.test_auth import login
from tests.telephony.conftest import PUBLIC, TOKEN, Twilio, twilio_app

ACCOUNT = "AC" + "0" * 32
KEY_SID, KEY_SECRET = "SK" + "1" * 32, "a-32-character-api-key-secret-00"
APP_SID = "AP" + "2" * 32
NUMBER = "+13135550100"  # the center's caller ID
CUSTOMER = "+13135550142"  # Detroit: America/Detroit
TOKEN_PATH = "/api/agents/me/softphone-token"


@pytest.fixture
def app(database_url, redis_url, clock, tmp_path):
    yield from twilio_app(
        database_url,
        redis_url,
        clock,
        tmp_path,
        CARRIER="twilio",
        TWILIO_API_KEY_SID=KEY_SID,
        TWILIO_API_KEY_SECRET=KEY_SECRET,
        TWILIO_TWIML_APP_SID=APP_SID,
        TWILIO_CALLER_ID=NUMBER,
    )


@pytest.fixture
def twilio(client) -> Twilio:
    return Twilio(client)


def claims(token: str, secret: str = KEY_SECRET) -> dict:
    # The tests' clock is not the wall clock: the validity window is checked by hand.
    return jwt.decode(
        token, secret, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )


# ------------------------------------------------------------------------------ the token


def test_twilio_token_is_an_access_token_for_my_identity_only(api, clock):
    api.user("agent", "ana")
    api.user("agent", "luis")
    response = api.get(TOKEN_PATH, as_="ana")
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["identity"] == "agent_ana" and body["carrier"] == "twilio"
    assert body["refresh_after_seconds"] == TOKEN_TTL_SECONDS - REFRESH_MARGIN_SECONDS
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires.tzinfo is not None and expires.utcoffset().total_seconds() == 0
    assert (expires - clock.now()).total_seconds() == TOKEN_TTL_SECONDS
    header = jwt.get_unverified_header(body["token"])
    assert header["cty"] == "twilio-fpa;v=1" and header["alg"] == "HS256"
    c = claims(body["token"])
    assert c["iss"] == KEY_SID and c["sub"] == ACCOUNT
    assert c["grants"]["identity"] == "agent_ana"
    assert c["grants"]["voice"] == {
        "incoming": {"allow": True},
        "outgoing": {"application_sid": APP_SID},
    }
    assert c["nbf"] == int(clock.now().timestamp())
    assert c["exp"] - c["nbf"] == TOKEN_TTL_SECONDS <= 86400  # Twilio's limit (error 20157)
    # Luis gets his own, whatever he sends along.
    other = api.get(TOKEN_PATH + "?identity=agent_ana", as_="luis").json
    assert claims(other["token"])["grants"]["identity"] == "agent_luis"


def test_every_role_has_a_softphone(api):
    for role in ("supervisor", "admin"):
        assert api.get(TOKEN_PATH, as_=role).json["identity"] == f"agent_{role}"


def test_a_token_needs_a_login(client):
    response = client.get(TOKEN_PATH)
    assert response.status_code == 401 and response.json["error"]["id"] == "unauthorized"


def test_a_session_login_works_too(app, api):
    api.user("agent", "ana")
    browser = app.test_client()
    login(browser, "ana", "pw-123456")
    assert browser.get(TOKEN_PATH).json["identity"] == "agent_ana"


@pytest.mark.parametrize(
    "setting", ["TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET", "TWILIO_TWIML_APP_SID"]
)
def test_missing_twilio_settings_are_named_with_503(api, deps, monkeypatch, setting):
    monkeypatch.setitem(deps.config, setting, None)
    response = api.get(TOKEN_PATH)
    assert response.status_code == 503
    error = response.json["error"]
    assert error["id"] == "softphone-not-configured" and error["field"] == setting
    assert setting in error["message"]


def test_simulator_token_has_the_same_shape_and_the_simulator_can_check_it(
    api, deps, clock, monkeypatch
):
    monkeypatch.setitem(deps.config, "CARRIER", "simulator")
    monkeypatch.setitem(deps.config, "TWILIO_TWIML_APP_SID", None)
    monkeypatch.setitem(deps.config, "TWILIO_API_KEY_SECRET", None)
    body = api.get(TOKEN_PATH, as_="agent").json
    assert body["carrier"] == "simulator" and body["identity"] == "agent_agent"
    key_sid, secret = simulator_signing_key(TOKEN)
    assert secret != TOKEN and TOKEN not in body["token"]  # the auth token stays home
    c = claims(body["token"], secret)
    assert c["iss"] == key_sid and c["grants"]["identity"] == "agent_agent"
    assert c["grants"]["voice"]["outgoing"]["application_sid"] == simulator_app_sid(TOKEN)
    check = {"account_sid": ACCOUNT, "auth_token": TOKEN}
    now = clock.now()
    assert verify_simulator_token(body["token"], now=now, **check) == "client:agent_agent"
    clock.advance(TOKEN_TTL_SECONDS)
    with pytest.raises(InvalidSoftphoneToken, match="expired"):
        verify_simulator_token(body["token"], now=clock.now(), **check)
    with pytest.raises(InvalidSoftphoneToken):
        verify_simulator_token(body["token"], now=now, account_sid=ACCOUNT, auth_token="other")
    with pytest.raises(InvalidSoftphoneToken):
        verify_simulator_token(
            body["token"], now=now, account_sid="AC" + "9" * 32, auth_token=TOKEN
        )
    with pytest.raises(InvalidSoftphoneToken):  # a Twilio-mode token is not the simulator's
        verify_simulator_token(api.get(TOKEN_PATH).json["token"], now=now, **check)


# ----------------------------------------------------------------------- /twilio/client


def xml(response) -> ET.Element:
    assert response.status_code == 200 and response.mimetype == "text/xml", response.data
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return root


def said(root: ET.Element) -> str:
    return " ".join(s.text or "" for s in root.iter("Say"))


def refused(root: ET.Element) -> bool:
    return [v.tag for v in root] == ["Say", "Hangup"]


def client_call(
    identity: str = "agent_ana", to: str = "(313) 555-0142", sid: str = "CA" + "a" * 32
):
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": f"client:{identity}",
        "Caller": f"client:{identity}",
        "To": to,
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApplicationSid": APP_SID,
        "ApiVersion": "2010-04-01",
    }


def calls(deps) -> list[Call]:
    with deps.session_factory() as s:
        return list(s.scalars(select(Call)))


def test_a_click_to_call_dials_the_number_from_the_center_and_logs_the_call(
    api, deps, twilio, clock
):
    ana_id, _ = api.user("agent", "ana")
    with deps.session_factory.begin() as s:
        customer_id = customers.create_customer(
            s, parse(CustomerIn, {"first_name": "Rosa", "phones": [CUSTOMER]}), clock
        ).id
    root = xml(twilio.post("/twilio/client", client_call()))
    (dial,) = root
    assert dial.tag == "Dial" and dial.get("callerId") == NUMBER
    assert dial.get("action") == f"{PUBLIC}/twilio/client/done"
    assert dial.get("answerOnBridge") == "true" and "record" not in dial.attrib
    assert [(n.tag, n.text) for n in dial] == [("Number", CUSTOMER)]
    (call,) = calls(deps)
    assert call.call_sid == "CA" + "a" * 32 and call.direction is CallDirection.OUTBOUND_DIAL
    assert (call.from_number, call.to_number) == (NUMBER, CUSTOMER)
    assert call.agent_id == ana_id and call.customer_id == customer_id
    assert call.status is CallStatus.IN_PROGRESS
    # Twilio retries: still one row.
    xml(twilio.post("/twilio/client", client_call()))
    assert len(calls(deps)) == 1


def test_an_unknown_number_is_called_with_no_customer(api, deps, twilio):
    api.user("agent", "ana")
    root = xml(twilio.post("/twilio/client", client_call(to="+1 313 555 0177")))
    assert root[0].tag == "Dial" and root[0][0].text == "+13135550177"
    (call,) = calls(deps)
    assert call.customer_id is None and call.to_number == "+13135550177"


def test_the_dial_action_keeps_the_customer_leg_and_tells_the_agent_why_not(api, deps, twilio):
    api.user("agent", "ana")
    twilio.post("/twilio/client", client_call())
    done = client_call() | {
        "DialCallStatus": "completed",
        "DialCallSid": "CA" + "b" * 32,
        "DialCallDuration": "95",
    }
    assert [v.tag for v in xml(twilio.post("/twilio/client/done", done))] == ["Hangup"]
    twilio.post("/twilio/client/done", done)  # repeated
    (call,) = calls(deps)
    assert call.leg_sids == ["CA" + "b" * 32] and call.talk_seconds == 95
    busy = client_call() | {"DialCallStatus": "busy", "DialCallSid": "CA" + "c" * 32}
    root = xml(twilio.post("/twilio/client/done", busy))
    assert refused(root) and "busy" in said(root)


def test_do_not_call_is_refused(api, deps, twilio, clock):
    api.user("agent", "ana")
    with deps.session_factory.begin() as s:
        c = customers.create_customer(s, parse(CustomerIn, {"phones": [CUSTOMER]}), clock)
        c.do_not_call = True
    root = xml(twilio.post("/twilio/client", client_call()))
    assert refused(root) and "do-not-call" in said(root)
    assert calls(deps) == []


def test_outside_the_calling_window_is_refused_with_the_local_time(api, deps, twilio, clock):
    api.user("agent", "ana")
    clock.set(datetime(2026, 1, 6, 2, 42, tzinfo=UTC))  # 9:42 PM in Detroit
    root = xml(twilio.post("/twilio/client", client_call()))
    assert refused(root)
    text = said(root)
    assert "9:42 PM" in text and "8:00 AM to 9:00 PM" in text and "8:00 AM Tuesday" in text
    assert calls(deps) == []


def test_a_los_angeles_number_is_judged_by_its_own_time(api, deps, twilio, clock):
    api.user("agent", "ana")
    clock.set(datetime(2026, 1, 5, 14, 0, tzinfo=UTC))  # 9 AM in Detroit, 6 AM in LA
    root = xml(twilio.post("/twilio/client", client_call(to="+12135550142")))
    assert refused(root) and "6:00 AM" in said(root)
    assert xml(twilio.post("/twilio/client", client_call()))[0].tag == "Dial"


@pytest.mark.parametrize(
    "form",
    [
        client_call(identity="agent_nobody"),
        client_call() | {"From": "+13135550101", "Caller": "+13135550101"},  # not a softphone
        {k: v for k, v in client_call().items() if k not in ("From", "Caller")},
        {k: v for k, v in client_call().items() if k != "CallSid"},
    ],
    ids=["unknown identity", "a phone", "no From", "no CallSid"],
)
def test_only_an_active_softphone_may_call_out(api, deps, twilio, form):
    api.user("agent", "ana")
    root = xml(twilio.post("/twilio/client", form))
    assert refused(root) and "not signed in" in said(root)
    assert calls(deps) == []


def test_a_disabled_user_cannot_call_out(api, deps, twilio):
    ana_id, _ = api.user("agent", "ana")
    with deps.session_factory.begin() as s:
        from crm_core.models import User

        s.get(User, ana_id).active = False
    assert refused(xml(twilio.post("/twilio/client", client_call())))


@pytest.mark.parametrize("to", ["", "123", "911", "+1 555", "client:agent_luis", "not a number"])
def test_an_invalid_number_is_refused(api, deps, twilio, to):
    api.user("agent", "ana")
    root = xml(twilio.post("/twilio/client", client_call(to=to)))
    assert refused(root) and "not a valid phone number" in said(root)
    assert calls(deps) == []


def test_an_unsigned_request_is_forbidden(api, twilio):
    api.user("agent", "ana")
    assert twilio.post("/twilio/client", client_call(), signature="bad").status_code == 403


def test_twilio_mode_without_a_caller_id_says_so(api, deps, twilio, app, monkeypatch):
    api.user("agent", "ana")
    monkeypatch.setitem(app.config, "TWILIO_CALLER_ID", None)
    root = xml(twilio.post("/twilio/client", client_call()))
    assert refused(root) and "caller ID" in said(root)


TEXT = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(
        ["client:agent_ana", "client:", "client:agent_ana\x00", "+13135550142", "3135550142",
         "tel:+13135550142", "client:" + "x" * 400, "\ud7ff", "+1 (313) 555-0142 ext. 9"]
    ),
)  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(from_=TEXT, to=TEXT, sid=TEXT, path=st.sampled_from(["", "/done"]), status=TEXT)
def test_fuzzed_forms_always_answer_twiml_and_never_an_error(
    app, api, deps, from_, to, sid, path, status
):
    api.user("agent", "ana")
    twilio = Twilio(app.test_client())
    form = {
        name: value
        for name, value in (
            ("From", from_),
            ("To", to),
            ("CallSid", sid),
            ("DialCallStatus", status),
            ("DialCallSid", sid),
        )
        if value is not None
    }
    response = twilio.post("/twilio/client" + path, form)
    root = xml(response)
    assert len(root) >= 1
    with deps.session_factory() as s:
        assert s.scalars(select(TelephonyError)).all() == [], form
