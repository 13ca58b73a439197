"""TwiML helpers: the response type, absolute callback URLs, and the safe answers."""

from __future__ import annotations

from flask import Response, current_app, url_for
from twilio.twiml.voice_response import VoiceResponse

TWIML_TYPE = "text/xml"
VOICEMAIL_SECONDS = 120


def twiml(body: str | VoiceResponse) -> Response:
    return Response(str(body), status=200, mimetype=TWIML_TYPE)


def public(endpoint: str, **values) -> str:
    """An absolute URL under PUBLIC_BASE_URL, for TwiML action and callback attributes."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + url_for(endpoint, **values)


def voicemail(response: VoiceResponse, prompt: str, *, language: str = "en-US") -> VoiceResponse:
    """Prompt, beep, record up to two minutes; the recording goes to the voicemail task."""
    response.say(prompt, language=language)
    response.record(
        action=public("telephony.voicemail_recorded"),
        method="POST",
        max_length=VOICEMAIL_SECONDS,
        play_beep=True,
        finish_on_key="#",
        timeout=5,
    )
    # Record falls through here only when nothing was recorded.
    response.say("We did not receive a message. Goodbye.", language=language)
    response.hangup()
    return response


def apology_then_voicemail() -> str:
    """What a caller hears when anything fails: never an error, always a way to be heard."""
    return str(
        voicemail(
            VoiceResponse(),
            "We're sorry, we can't connect your call right now. Please leave your name, "
            "number and a short message after the tone, and we will call you back.",
        )
    )
