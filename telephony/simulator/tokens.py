"""The simulated account's API key, and the check of a softphone's access token.

Twilio signs nothing for a browser: the app mints a Voice access token (a JWT, HS256,
issued by an API key SID of the account, ``sub`` the account SID, ``grants.identity`` and
``grants.voice``) with the key's secret, and Twilio checks it. The simulator has no console
in which to create API keys, so its account has one, derived from the auth token both sides
already share (an HMAC, which cannot be worked back to the auth token); its one TwiML App
(``/twilio/client``) has a SID derived the same way. The app derives the same two values to
mint tokens for this carrier; tests/telephony/test_simulator_contract.py keeps the two equal.

The check is Twilio's: signature, issuer (the key), subject (the account), a Voice grant for
an identity, a lifetime of at most 24 hours, and the validity window against the
simulator's clock (hence not PyJWT's own clock).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import jwt

from telephony.simulator.errors import InvalidToken

CLIENT_PREFIX = "client:"
MAX_LIFETIME_SECONDS = 86400  # Twilio's limit (error 20157 beyond it)
CLOCK_SKEW_SECONDS = 60  # a token issued a moment "in the future" by a clock a little ahead


def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


def signing_key(auth_token: str) -> tuple[str, str]:
    """(API key SID, secret) of the simulated account, derived from its auth token."""
    secret = hmac.new(auth_token.encode(), b"softphone-key-secret", hashlib.sha256).hexdigest()
    return "SK" + _derive(auth_token, "softphone-key-sid"), secret


def app_sid(auth_token: str) -> str:
    """The SID of the simulated account's one TwiML App (the softphones' outgoing calls)."""
    return "AP" + _derive(auth_token, "softphone-twiml-app")


def verify(token: str, *, account_sid: str, auth_token: str, now: datetime) -> str:
    """The ``client:<identity>`` a softphone's access token speaks for, or InvalidToken."""
    key_sid, secret = signing_key(auth_token)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=key_sid,
            options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "nbf"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"not a softphone token of this carrier: {exc}") from None
    grants = claims.get("grants")
    if claims.get("sub") != account_sid or not isinstance(grants, dict):
        raise InvalidToken("a softphone token of another account")
    identity = grants.get("identity")
    if not isinstance(identity, str) or not identity or not isinstance(grants.get("voice"), dict):
        raise InvalidToken("the token carries no Voice grant for an identity")
    moment = now.timestamp()
    if not (claims["nbf"] - CLOCK_SKEW_SECONDS <= moment < claims["exp"]):
        raise InvalidToken("the softphone token has expired or is not valid yet", code=20104)
    if claims["exp"] - claims["nbf"] > MAX_LIFETIME_SECONDS:
        raise InvalidToken("the softphone token lives longer than 24 hours")
    return CLIENT_PREFIX + identity
