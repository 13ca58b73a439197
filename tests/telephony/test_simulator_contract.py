"""What the app and the local carrier must agree on, each keeping its own copy.

The simulator imports nothing of the app's (DESIGN.md: it knows Twilio's public contract
only), so where the two meet — the demo's number, Twilio's texting keywords, the simulated
account's API key and TwiML App — each side has its own value, and these tests keep them
equal: a change on one side alone fails here instead of in a demo.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from telephony import messaging
from telephony.access_tokens import (
    TOKEN_TTL_SECONDS,
    simulator_app_sid,
    simulator_signing_key,
    voice_token,
)
from telephony.carrier import DEMO_NUMBER
from telephony.simulator import live, tokens
from telephony.simulator import messaging as sim_messaging
from telephony.simulator.errors import InvalidToken

ACCOUNT = "AC" + "1" * 32
AUTH_TOKEN = "secret-auth-token"
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
CHECK = {"account_sid": ACCOUNT, "auth_token": AUTH_TOKEN}
CONFIG = {"CARRIER": "simulator", "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def test_the_simulators_default_number_is_the_one_the_app_calls_from_by_default():
    assert live.DEFAULT_NUMBER == DEMO_NUMBER


def test_both_sides_know_twilios_texting_keywords_alike():
    assert sim_messaging.OPT_OUT == messaging.OPT_OUT
    assert sim_messaging.OPT_IN == messaging.OPT_IN
    assert sim_messaging.HELP == messaging.HELP


def test_the_app_derives_the_simulated_accounts_key_and_app_as_the_simulator_does():
    assert simulator_signing_key(AUTH_TOKEN) == tokens.signing_key(AUTH_TOKEN)
    assert simulator_app_sid(AUTH_TOKEN) == tokens.app_sid(AUTH_TOKEN)


def test_the_simulator_accepts_the_apps_softphone_token_for_its_identity_only():
    token = voice_token(CONFIG, "agent_ana", NOW).token
    assert tokens.verify(token, now=NOW, **CHECK) == "client:agent_ana"
    later = NOW + timedelta(seconds=TOKEN_TTL_SECONDS)
    with pytest.raises(InvalidToken, match="expired") as expired:
        tokens.verify(token, now=later, **CHECK)
    assert expired.value.code == 20104
    for wrong in ({"auth_token": "other"}, {"account_sid": "AC" + "9" * 32}):
        with pytest.raises(InvalidToken) as refused:
            tokens.verify(token, now=NOW, **(CHECK | wrong))
        assert refused.value.code == 20101


def test_a_token_living_longer_than_twilio_allows_is_refused():
    key_sid, secret = tokens.signing_key(AUTH_TOKEN)
    issued = int(NOW.timestamp())
    claims = {
        "iss": key_sid,
        "sub": ACCOUNT,
        "nbf": issued,
        "exp": issued + 86401,
        "grants": {"identity": "agent_ana", "voice": {}},
    }
    with pytest.raises(InvalidToken, match="24 hours"):
        tokens.verify(jwt.encode(claims, secret, algorithm="HS256"), now=NOW, **CHECK)
