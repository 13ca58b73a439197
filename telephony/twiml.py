"""TwiML helpers: the response type, absolute callback URLs, and the safe answers."""

from __future__ import annotations

from functools import lru_cache

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
    return _voicemail(response, prompt, language, public("telephony.voicemail_recorded"))


def voicemail_document(prompt: str, *, language: str = "en-US") -> str:
    """``voicemail`` as a whole TwiML document, built once per prompt and action URL.

    The voice webhook answers a handful of prompts (the greeting, with or without the
    caller's first name) to every caller; building and serialising the XML tree each time
    cost as much as the database work.
    """
    return _voicemail_document(prompt, language, public("telephony.voicemail_recorded"))


@lru_cache(maxsize=1024)
def _voicemail_document(prompt: str, language: str, action: str) -> str:
    return str(_voicemail(VoiceResponse(), prompt, language, action))


def _voicemail(response: VoiceResponse, prompt: str, language: str, action: str) -> VoiceResponse:
    response.say(prompt, language=language)
    response.record(
        action=action,
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
    return voicemail_document(
        "We're sorry, we can't connect your call right now. Please leave your name, "
        "number and a short message after the tone, and we will call you back."
    )
