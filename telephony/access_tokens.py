"""Softphone access tokens: what a browser needs to be ``client:<identity>``, and no more.

With ``CARRIER=twilio`` the token is Twilio's own Access Token (``twilio.jwt.access_token``
with a VoiceGrant: outgoing calls through the TwiML App, incoming calls allowed), signed
with an API key as Twilio requires; the account's auth token never leaves the server.

With ``CARRIER=simulator`` the token is the very same kind of JWT, built by the same code,
signed with a key *derived* from the account's auth token (``simulator_signing_key``). The
local carrier already knows that token (it signs its webhooks with it), so it can check a
softphone's token with ``verify_simulator_token`` and nothing new to configure, while the
browser holds only a short-lived credential for one identity: the derived secret is an HMAC
of the auth token, which cannot be worked back from it, and the token itself expires.

Neither kind of token is an app login: it lets the page talk to the carrier as one softphone,
the app's API still takes the session cookie or a bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from crm_core.errors import CallCenterError

# Twilio allows up to 24 hours (error 20157 beyond it); it advises the shortest lifetime
# feasible. An hour, refreshed five minutes before it ends, means a token lost with a laptop
# is good for an hour at most and an agent's page renews it about once an hour.
TOKEN_TTL_SECONDS = 3600
REFRESH_MARGIN_SECONDS = 300
TWILIO_SETTINGS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_TWIML_APP_SID",
)
CLIENT_PREFIX = "client:"


class SoftphoneNotConfigured(CallCenterError):
    """A setting the softphone needs is missing: the installation's fault, not the user's."""

    status = 503
    error_id = "softphone-not-configured"


class InvalidSoftphoneToken(CallCenterError):
    status = 401
    error_id = "invalid-softphone-token"


@dataclass(frozen=True)
class SoftphoneToken:
    token: str
    identity: str
    expires_at: datetime
    refresh_after_seconds: int
    carrier: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "identity": self.identity,
            "expires_at": self.expires_at.isoformat(),
            "refresh_after_seconds": self.refresh_after_seconds,
            "carrier": self.carrier,
        }


def _derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


def simulator_signing_key(auth_token: str) -> tuple[str, str]:
    """(API key SID, secret) the app and the local carrier both derive from the auth token."""
    secret = hmac.new(auth_token.encode(), b"softphone-key-secret", hashlib.sha256).hexdigest()
    return "SK" + _derive(auth_token, "softphone-key-sid"), secret


def simulator_app_sid(auth_token: str) -> str:
    """The simulator has no TwiML Apps to configure: its one app is ``/twilio/client``."""
    return "AP" + _derive(auth_token, "softphone-twiml-app")


def voice_token(config: dict[str, Any], identity: str, now: datetime) -> SoftphoneToken:
    """A Voice access token for ``identity`` issued at ``now`` (the injected clock)."""
    carrier = config["CARRIER"]
    if carrier == "twilio":
        missing = [name for name in TWILIO_SETTINGS if not config.get(name)]
        if missing:
            raise SoftphoneNotConfigured(
                f"the softphone needs {', '.join(missing)} (see the README, Configuration)",
                field=missing[0],
            )
        account = config["TWILIO_ACCOUNT_SID"]
        key_sid, secret = config["TWILIO_API_KEY_SID"], config["TWILIO_API_KEY_SECRET"]
        app_sid = config["TWILIO_TWIML_APP_SID"]
    else:
        account, auth_token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
        if not account or not auth_token:
            raise SoftphoneNotConfigured(
                "the simulator's softphone needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
                field="TWILIO_AUTH_TOKEN" if account else "TWILIO_ACCOUNT_SID",
            )
        key_sid, secret = simulator_signing_key(auth_token)
        app_sid = config.get("TWILIO_TWIML_APP_SID") or simulator_app_sid(auth_token)
    issued = int(now.timestamp())
    token = AccessToken(
        account,
        key_sid,
        secret,
        identity=identity,
        nbf=issued,
        valid_until=issued + TOKEN_TTL_SECONDS,
    )
    token.add_grant(VoiceGrant(outgoing_application_sid=app_sid, incoming_allow=True))
    return SoftphoneToken(
        token=token.to_jwt(),
        identity=identity,
        expires_at=datetime.fromtimestamp(issued + TOKEN_TTL_SECONDS, UTC),
        refresh_after_seconds=TOKEN_TTL_SECONDS - REFRESH_MARGIN_SECONDS,
        carrier=carrier,
    )


def verify_simulator_token(token: str, *, account_sid: str, auth_token: str, now: datetime) -> str:
    """The ``client:<identity>`` a simulator-mode softphone token speaks for.

    For the local carrier's API: a page in simulator mode sends this token instead of the
    account's credentials, and may then act only as that one client. Checked like Twilio
    checks its own: signature, issuer (the key), subject (the account), a Voice grant, and
    the validity window against ``now`` (the injected clock, hence not PyJWT's own clock).
    """
    key_sid, secret = simulator_signing_key(auth_token)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            issuer=key_sid,
            options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "nbf"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidSoftphoneToken(f"not a softphone token of this carrier: {exc}") from None
    grants = claims.get("grants")
    if claims.get("sub") != account_sid or not isinstance(grants, dict):
        raise InvalidSoftphoneToken("a softphone token of another account")
    identity = grants.get("identity")
    if not isinstance(identity, str) or not identity or not isinstance(grants.get("voice"), dict):
        raise InvalidSoftphoneToken("the token carries no Voice grant for an identity")
    moment = now.timestamp()
    if not (claims["nbf"] - 60 <= moment < claims["exp"]):
        raise InvalidSoftphoneToken("the softphone token has expired or is not valid yet")
    if claims["exp"] - claims["nbf"] > 86400:
        raise InvalidSoftphoneToken("the softphone token lives longer than 24 hours")
    return CLIENT_PREFIX + identity


def identity_of(address: str | None) -> str | None:
    """``agent_ana`` from ``client:agent_ana``; None for numbers and anything else."""
    if not address or not address.startswith(CLIENT_PREFIX):
        return None
    identity = address[len(CLIENT_PREFIX) :]
    return identity if 0 < len(identity) <= 121 else None
