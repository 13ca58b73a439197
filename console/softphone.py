"""The softphone's server side under /api: the access token the agent's page connects with.

``GET /api/agents/me/softphone-token`` answers the signed-in user's own token, never anyone
else's (the identity comes from their user row, not from the request). The token and its
two kinds (Twilio's, the simulator's) are telephony.access_tokens'; this view only finds
who is asking. Outgoing calls from the softphone arrive at ``/twilio/client``
(routing.client).
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from console.api import ANY
from console.auth import require_role
from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.settings import Settings
from crm_core.users import get_user
from telephony.access_tokens import voice_token
from telephony.context import need

bp = Blueprint("softphone", __name__)


@bp.get("/agents/me/softphone-token")
@require_role(*ANY)
def my_softphone_token():
    """A short-lived Voice token for my softphone; the page asks again after
    ``refresh_after_seconds`` (Device.updateToken), before ``expires_at``."""
    with need(Database).read_session_factory() as session:
        identity = get_user(session, g.principal.id).softphone_identity
    token = voice_token(need(Settings).as_config(), identity, need(Clock).now())
    response = jsonify(token.as_dict())
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache may keep it
    return response


# The official Twilio Voice JavaScript SDK, vendored (no CDN at run time): the built browser
# bundle of `npm pack @twilio/voice-sdk@<version>` (dist/twilio.min.js) and its LICENSE.md,
# under console/static/vendor/ with the version in the names. To update: pack the new
# release, copy both files under the new names, change this constant, delete the old pair.
TWILIO_VOICE_SDK_VERSION = "2.18.5"
SDK_FILE = f"vendor/twilio-voice-sdk-{TWILIO_VOICE_SDK_VERSION}.min.js"
SIMULATOR_DEVICE_PATH = "/simulator/softphone"  # telephony/simulator/softphones.py


def page_settings(config: Settings) -> dict[str, str | None]:
    """What the desk's softphone.js needs: where its token comes from, and either the SDK
    (Twilio) or the local carrier's device API (the simulator; same origin when embedded
    in the app, as ``callcenter run`` does, else the separate simulator's address)."""
    settings = {
        "token": url_for("softphone.my_softphone_token"),
        "carrier": config.carrier,
        "sdk": None,
        "simulator": None,
    }
    if config.carrier == "twilio":
        settings["sdk"] = url_for("desk.static", filename=SDK_FILE)
    else:
        base = (config.twilio_api_base_url or "").rstrip("/")
        embedded = base == (config.public_base_url or "").rstrip("/")
        settings["simulator"] = ("" if embedded else base) + SIMULATOR_DEVICE_PATH
    return settings
