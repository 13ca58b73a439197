"""The public Twilio URLs (DESIGN.md, the telephony contract) that are not the
auto-attendant's: status callbacks, the fallback, the safe answer's voicemail, and texts.
``/twilio/voice`` itself is ``ivr.views``. Each view: parse → service → TwiML.
"""

from __future__ import annotations

from flask import Blueprint, request
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from crm_core.clock import Clock
from crm_core.db import Database
from crm_core.settings import Settings
from telephony import messaging, service
from telephony.context import need
from telephony.events import CallEvent
from telephony.twiml import apology_then_voicemail, caller_language, sentence
from telephony.webhooks import callback_webhook, message_webhook, public_url, voice_webhook

bp = Blueprint("telephony", __name__, url_prefix="/twilio")


@bp.post("/voice/status")
@callback_webhook
def status() -> None:
    with need(Database).session_factory.begin() as session:
        service.apply_status(session, CallEvent.from_request(), need(Clock))


@bp.post("/voice/fallback")
@voice_webhook
def fallback() -> str:
    """Twilio could not fetch or run our TwiML: keep the error, and still take a message."""
    event = CallEvent.from_request()
    with need(Database).session_factory.begin() as session:
        service.record_error(
            session,
            need(Clock),
            source="twilio",
            url=event.error_url or public_url(),
            call_sid=event.call_sid,
            error_code=event.error_code,
            message=f"Twilio reported error {event.error_code or 'unknown'} "
            f"on {event.error_url or 'an unknown URL'}",
            params=request.form.to_dict(),
        )
    return apology_then_voicemail()


@bp.post("/voice/voicemail")
@voice_webhook
def voicemail_recorded() -> str:
    """The action of every voicemail ``<Record>``: the message becomes a task."""
    event = CallEvent.from_request()
    response = VoiceResponse()
    with need(Database).session_factory.begin() as session:
        task = service.take_voicemail(session, event, need(Clock))
    language = caller_language()
    response.say(sentence("no_message" if task is None else "thanks", language), language=language)
    response.hangup()
    return str(response)


@bp.post("/sms")
@message_webhook
def sms() -> str:
    """The number's Messaging webhook: keywords into the consent ledger, texts to agents."""
    region = need(Settings).default_region
    event = messaging.MessageEvent.from_form(request.form, region=region)
    with need(Database).session_factory.begin() as session:
        messaging.receive_text(session, event, need(Clock), region=region)
    return str(MessagingResponse())
