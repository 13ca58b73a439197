"""The softphone's server side under /api: the access token the agent's page connects with.

``GET /api/agents/me/softphone-token`` answers the signed-in user's own token, never anyone
else's (the identity comes from their user row, not from the request). The token and its
two kinds (Twilio's, the simulator's) are telephony.access_tokens'; this view only finds
who is asking. Outgoing calls from the softphone arrive at ``/twilio/client``
(routing.client).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from console.api import ANY
from console.auth import require_role
from crm_core.users import get_user
from telephony.access_tokens import voice_token

bp = Blueprint("softphone", __name__)


@bp.get("/agents/me/softphone-token")
@require_role(*ANY)
def my_softphone_token():
    """A short-lived Voice token for my softphone; the page asks again after
    ``refresh_after_seconds`` (Device.updateToken), before ``expires_at``."""
    d = current_app.extensions["callcenter"]
    with d.read_session_factory() as session:
        identity = get_user(session, g.principal.id).softphone_identity
    response = jsonify(voice_token(d.config, identity, d.clock.now()).as_dict())
    response.headers["Cache-Control"] = "no-store"  # a credential: no cache may keep it
    return response
